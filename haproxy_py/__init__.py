"""haproxy-py's shared core: pure, sans-IO code used by both the master and the workers.

Nothing under this package imports trio or opens a socket (haproxy_py.process aside);
tests/unit/test_layering.py walks the imports to keep it so.
"""
