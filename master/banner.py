"""The `-v` / `-vv` banners and the usage text, in HAProxy's layout.

The first line is what scripts read: `HAProxy version <X> <date> - <home>`, where X starts
with the HAProxy level we implement and ends with haproxy-py's own version.
"""

from __future__ import annotations

import os
import platform
import sys

from haproxy_py.features import feature_line
from haproxy_py.version import HAPROXY_LEVEL, RELEASE_DATE, VERSION, __version__


def version_banner() -> str:
    uname = os.uname()
    return (
        f"HAProxy version {VERSION} {RELEASE_DATE} - haproxy-py {__version__}\n"
        f"Status: haproxy-py {__version__}, implementing HAProxy {HAPROXY_LEVEL}'s configuration"
        " language, command line and formats.\n"
        "Known bugs: see the project's issue tracker.\n"
        f"Running on: {uname.sysname} {uname.release} {uname.version} {uname.machine}\n"
    )


def build_banner() -> str:
    import ssl  # imported here: only -vv needs these, and they cost start-up time

    import trio

    try:
        import psutil

        psutil_version = psutil.__version__
    except ImportError:  # pragma: no cover - a broken install; say so instead of failing
        psutil_version = "missing"
    return (
        version_banner()
        + "Build options :\n"
        + f"  PYTHON  = {platform.python_implementation()} {platform.python_version()}"
        + f" ({sys.executable})\n"
        + f"  TRIO    = {trio.__version__}\n"
        + f"  PSUTIL  = {psutil_version}\n"
        + "\n"
        + f"Feature list : {feature_line()}\n"
        + "\n"
        + "Default settings :\n"
        + "  bufsize = 16384, maxrewrite = 1024, maxpollevents = 200\n"
        + "\n"
        + "Workers are processes (nbthread/nbproc set how many), not threads.\n"
        + f"Built with OpenSSL version : {ssl.OPENSSL_VERSION} (not used: TLS is not supported"
        " yet)\n"
        + "Built with Python regular expressions (re) instead of PCRE.\n"
        + "\n"
        + "Available polling systems :\n"
        + "      epoll : pref=300,  test result OK (trio)\n"
        + "\n"
        + "Available multiplexer protocols :\n"
        + "              h1 : mode=HTTP  side=FE|BE\n"
        + "\n"
        + "Available services : none\n"
        + "\n"
        + "Available filters : none\n"
    )


USAGE = """\
Usage : haproxy-py [-f <cfgfile|cfgdir>]* [ -vdVD ] [ -n <maxconn> ] [ -N <maxpconn> ]
        [ -p <pidfile> ] [ -m <max megs> ] [ -C <dir> ] [-- <cfgfile>*]
        -v prints the version ; -vv also prints build details and features.
        -d foreground with debug output ; -db stays in the foreground.
        -V verbose ; -q quiet (prints nothing).
        -D runs as a daemon ; -C changes to <dir> before reading files.
        -W master-worker mode ; -Ws master-worker mode with systemd notify.
        -c only checks the configuration ; -cc <cond> evaluates a .if condition.
        -n <maxconn> global connection limit ; -N <maxpconn> default per-proxy limit.
        -m <megs> memory limit ; -L <name> local peer name ; -p <file> pid file.
        -dS no splice ; -dR no SO_REUSEPORT ; -dr ignore server name resolution failures.
        -dV no SSL verify on servers ; -dW warnings are fatal ; -dD diagnostic mode.
        -dM, -dI, -dG, -de, -dp, -dk, -dL, -dK<class> accepted for compatibility.
        -sf/-st [pid ]* soft-stops/terminates old processes once started.
        -x <unix_socket> takes listening sockets from a running process.
        -S <bind>[,<bind options>...] master CLI socket.
        --show-config prints the configuration as haproxy-py understood it.
"""
