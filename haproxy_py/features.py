"""What this build of haproxy-py supports, in the names of HAProxy's `-vv` feature list.

`.if feature(NAME)` and the `Feature list :` line of `-vv` both read this table, so a
configuration guarded by `feature(OPENSSL)` is skipped exactly when we cannot serve it.
A feature is listed as present only when it is implemented here, not merely planned.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from types import MappingProxyType


def _has_crypt() -> bool:
    # Looked up, not imported: importing costs start-up time and a DeprecationWarning (3.11).
    return importlib.util.find_spec("crypt") is not None


FEATURES: Mapping[str, bool] = MappingProxyType(
    {
        "EPOLL": True,  # trio's Linux backend
        "POLL": True,
        "GETADDRINFO": True,
        "PRCTL": True,  # python-prctl
        "SYSTEMD": True,  # sd_notify (master/notify.py)
        "LINUX_SPLICE": hasattr(os, "splice"),
        "LIBCRYPT": _has_crypt(),
        "CRYPT_H": _has_crypt(),
        "NS": False,
        "THREAD": False,  # workers are processes, not threads
        "OPENSSL": False,  # TLS is not supported yet
        "QUIC": False,
        "LUA": False,
        "PCRE": False,  # regular expressions are Python's re
        "PCRE2": False,
        "PROMEX": False,
        "ZLIB": False,
        "SLZ": False,
        "TPROXY": False,
        "LINUX_TPROXY": False,
        "DEVICEATLAS": False,
        "51DEGREES": False,
        "WURFL": False,
    }
)


def feature_line() -> str:
    """The `Feature list :` value of `-vv`, present features with '+', the others with '-'."""
    return " ".join(("+" if on else "-") + name for name, on in sorted(FEATURES.items()))
