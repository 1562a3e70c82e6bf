"""Proxy keywords HAProxy removed or haproxy-py does not support, with the advice to give.

Removed keywords get HAProxy's own advice (the replacement to use), so that a configuration
written for an old HAProxy fails here the way it fails on HAProxy 2.6. Out-of-scope keywords
say so by name instead of looking like typos.
"""

from __future__ import annotations

_REQREP = "Use 'http-request replace-path', 'http-request replace-uri' or 'http-request replace-header' instead."
_RSPREP = "Use 'http-response replace-header' instead."
_ADD_REQ = "Use 'http-request add-header' instead."
_ADD_RSP = "Use 'http-response add-header' instead."
_DEL_REQ = "Use 'http-request del-header' instead."
_DEL_RSP = "Use 'http-response del-header' instead."
_DENY_REQ = "Use 'http-request deny' instead."
_DENY_RSP = "Use 'http-response deny' instead."
_ALLOW_REQ = "Use 'http-request allow' instead."
_TARPIT = "Use 'http-request tarpit' instead."


def _since_21(keyword: str, advice: str) -> str:
    return f"The '{keyword}' directive is not supported anymore since HAProxy 2.1. {advice}"


def _old_option(name: str, version: str, advice: str) -> str:
    return (
        f"The 'option {name}' directive is not supported anymore since HAProxy {version}. {advice}"
    )


_REMOVED_21 = {
    "reqrep": _REQREP, "reqirep": _REQREP, "reqadd": _ADD_REQ, "reqdel": _DEL_REQ,
    "reqidel": _DEL_REQ, "reqdeny": _DENY_REQ, "reqideny": _DENY_REQ, "reqpass": _ALLOW_REQ,
    "reqipass": _ALLOW_REQ, "reqallow": _ALLOW_REQ, "reqiallow": _ALLOW_REQ,
    "reqtarpit": _TARPIT, "reqitarpit": _TARPIT, "rsprep": _RSPREP, "rspirep": _RSPREP,
    "rspadd": _ADD_RSP, "rspdel": _DEL_RSP, "rspidel": _DEL_RSP, "rspdeny": _DENY_RSP,
    "rspideny": _DENY_RSP,
    "block": "Use 'http-request deny' instead.",
    "clitimeout": "Use 'timeout client' instead.", "contimeout": "Use 'timeout connect' instead.",
    "srvtimeout": "Use 'timeout server' instead.", "redispatch": "Use 'option redispatch' instead.",
    "timeout clitimeout": "Use 'timeout client' instead.",
    "timeout contimeout": "Use 'timeout connect' instead.",
    "timeout srvtimeout": "Use 'timeout server' instead.",
}  # fmt: skip

_OUT = "out of haproxy-py's scope"

# HAProxy 2.6's own wording where it differs from the common form (typos included).
_AS_HAPROXY_SAYS = {
    "reqirep": _since_21("reqirep", "Use 'http-request replace-header' instead."),
    "reqdeny": "The 'reqdeny' not supported anymore since HAProxy 2.1. Use 'http-request deny'"
    " instead.",
    "reqpass": "The 'reqpass' not supported anymore since HAProxy 2.1.",
    "reqipass": "The 'reqipass' directive is not supported anymore since HAProxy 2.1.",
    "rspdel": _since_21("rspdel", "Use 'http-response del-header' ."),
    "block": _since_21("block", "Use 'http-request deny' which uses the exact same syntax."),
}

REMOVED_PROXY_KEYWORDS: dict[str, str] = {
    **{kw: _since_21(kw, advice) for kw, advice in _REMOVED_21.items()},
    **_AS_HAPROXY_SAYS,
    "appsession": "'appsession' is not supported anymore since HAProxy 1.6.",
    "monitor-net": "'monitor-net' doesn't exist anymore. Please use"
    " 'http-request return status 200 if { src <network> }' instead.",
    "compression": _OUT,
    "filter": _OUT,
    "stick-table": "stick tables are not supported yet",
    "stick on": "stick tables are not supported yet",
    "stick match": "stick tables are not supported yet",
    "stick store-request": "stick tables are not supported yet",
    "stick store-response": "stick tables are not supported yet",
    "email-alert": _OUT,
    "external-check": _OUT,
    "option external-check": _OUT,
    "option spop-check": _OUT,
    "use-fcgi-app": _OUT,
    "server-template": "server templates (DNS service discovery) are out of haproxy-py's scope",
    "dispatch": _OUT,
    "transparent": _OUT,
    "option transparent": _OUT,
    "source": _OUT,
    "bind-process": "workers are chosen by the master, not per proxy",
    "persist": "'persist rdp-cookie' is " + _OUT,
    "hash-balance-factor": "bounded-load consistent hashing is not implemented yet",
    "option forceclose": _old_option("forceclose", "2.0", "Remove it, or use 'option httpclose'."),
    "option http-tunnel": _old_option("http-tunnel", "2.1", "Remove it: it is not needed."),
    "option http_proxy": _old_option(
        "http_proxy", "2.5", "Use 'http-request set-dst' and 'http-request set-uri' instead."
    ),
    "stats show-modules": "not implemented yet",
    "max-keep-alive-queue": _OUT,
    "load-server-state-from-file": "server state is carried across reloads automatically",
    "server-state-file-name": "server state is carried across reloads automatically",
    "http-send-name-header": "not implemented yet",
    "option h1-case-adjust-bogus-client": _OUT,
    "option h1-case-adjust-bogus-server": _OUT,
    "option disable-h2-upgrade": "HTTP/2 is out of haproxy-py's scope",
    "option http-use-proxy-header": _OUT,
    "option http-restrict-req-hdr-names": "not implemented yet",
    "option tcp-smart-accept": _OUT,
    "option tcp-smart-connect": _OUT,
    "clitcpka-cnt": _OUT,
    "clitcpka-idle": _OUT,
    "clitcpka-intvl": _OUT,
    "srvtcpka-cnt": _OUT,
    "srvtcpka-idle": _OUT,
    "srvtcpka-intvl": _OUT,
    "tcp-request session": "not implemented yet",
    "http-check send-state": "not implemented yet",
    "http-check set-var": "not implemented yet",
    "http-check unset-var": "not implemented yet",
    "http-check comment": "not implemented yet",
    "tcp-check comment": "not implemented yet",
    "tcp-check send-lf": "not implemented yet",
    "tcp-check send-binary-lf": "not implemented yet",
    "tcp-check set-var": "not implemented yet",
    "tcp-check unset-var": "not implemented yet",
    "stats http-request": "not implemented yet",
    "stats show-desc": "not implemented yet",
}
