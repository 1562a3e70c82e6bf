"""The trio runtime of haproxy-py's workers: accept loops, sessions, relays (TCP mode today).

`python -m worker` (worker/__main__.py) is started by haproxy-py with a hand-off; see
docs/ARCHITECTURE.md. Imports point one way: worker -> haproxy_py; never master.
"""
