"""Version numbers: haproxy-py's own, and the HAProxy level whose language it implements.

Scripts grep `HAProxy version X` and compare X with HAProxy's rules, so the version we print
starts with the HAProxy level and carries our own version as a suffix that comparisons ignore.
"""

__version__ = "0.1.0"

# The HAProxy release whose configuration language, command line and formats we follow.
HAPROXY_LEVEL = "2.6.12"

# What `haproxy-py -v`, `show info` and `show version` report.
VERSION = f"{HAPROXY_LEVEL}-haproxy-py-{__version__}"
RELEASE_DATE = "2026/11/21"
