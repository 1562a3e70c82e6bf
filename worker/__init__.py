"""The trio runtime of haproxy-py's worker processes: accept loops, sessions, relays, checks.

The data plane arrives with the TCP and HTTP issues. Imports point one way:
worker -> haproxy_py; worker never imports master.
"""
