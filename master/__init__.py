"""The supervisor side of haproxy-py: the command line, and (later) the master process that
binds listeners, spawns and reaps workers, reloads, and answers the master CLI.

Imports point one way: master -> haproxy_py; master never imports worker.
"""
