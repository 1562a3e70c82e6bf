"""`python -m master` is the `haproxy-py` command."""

from master.cmdline import main

main()
