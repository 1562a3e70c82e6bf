"""HAProxy's configuration language: reading files, words, keyword tables, the frozen model.

The one entry point is `load_configuration()`: `-c`, the master, the workers and reload all
produce their model through it, so they can never disagree about what a file means.
"""

from haproxy_py.config.loader import LoadResult, load_configuration

__all__ = ["LoadResult", "load_configuration"]
