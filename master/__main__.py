"""`python -m master` is the `haproxy-py` command."""

from master.entry import main

main()
