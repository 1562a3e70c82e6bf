"""Global keywords HAProxy 2.6 has and haproxy-py refuses, with the reason given to the user.

TLS and Lua keywords wait for features that may come; the others have no meaning in
haproxy-py's process model (threads, pollers, CPU maps), belong to features out of its scope
(device detection, e-mail, QUIC), or are tuning knobs of HAProxy internals.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

_OUT = "out of haproxy-py's scope"
_TLS = "TLS is not supported yet"
_LUA = "Lua is not supported"
_QUIC = "QUIC and HTTP/3 are out of haproxy-py's scope"

UNSUPPORTED_GLOBAL_KEYWORDS: Mapping[str, str] = MappingProxyType(
    {
        **{
            k: _TLS
            for k in (
                "ca-base",
                "crt-base",
                "ssl-default-bind-ciphers",
                "ssl-default-bind-ciphersuites",
                "ssl-default-bind-curves",
                "ssl-default-bind-options",
                "ssl-default-server-ciphers",
                "ssl-default-server-ciphersuites",
                "ssl-default-server-options",
                "ssl-dh-param-file",
                "ssl-engine",
                "ssl-mode-async",
                "ssl-server-verify",
                "ssl-propquery",
                "ssl-provider",
                "ssl-provider-path",
                "ssl-skip-self-issued-ca",
                "ssl-load-extra-files",
                "ssl-load-extra-del-ext",
                "issuers-chain-path",
                "maxsslconn",
                "maxsslrate",
                "tune.ssl.cachesize",
                "tune.ssl.lifetime",
                "tune.ssl.maxrecord",
                "tune.ssl.default-dh-param",
                "tune.ssl.force-private-cache",
                "httpclient.ssl.ca-file",
                "httpclient.ssl.verify",
                "tune.ssl.capture-buffer-size",
                "tune.ssl.capture-cipherlist-size",
                "tune.ssl.hard-maxrecord",
                "tune.ssl.keylog",
                "tune.ssl.ssl-ctx-cache-size",
            )
        },
        **{
            k: _LUA
            for k in (
                "lua-load",
                "lua-load-per-thread",
                "lua-prepend-path",
                "tune.lua.forced-yield",
                "tune.lua.maxmem",
                "tune.lua.session-timeout",
                "tune.lua.task-timeout",
                "tune.lua.service-timeout",
            )
        },
        **{
            k: _OUT
            for k in (
                "51degrees-data-file",
                "51degrees-property-name-list",
                "51degrees-property-separator",
                "51degrees-cache-size",
                "deviceatlas-json-file",
                "deviceatlas-log-level",
                "deviceatlas-separator",
                "deviceatlas-properties-cookie",
                "wurfl-data-file",
                "wurfl-information-list",
                "wurfl-information-list-separator",
                "wurfl-cache-size",
                "cpu-map",
                "numa-cpu-mapping",
                "thread-group",
                "thread-groups",
                "busy-polling",
                "set-dumpable",
                "external-check",
                "cluster-secret",
                "unix-bind",
                "default-path",
                "h2-workaround-bogus-websocket-clients",
                "h1-case-adjust-file",
                "h1-accept-payload-with-any-method",
                "pp2-never-send-local",
                "server-state-base",
                "server-state-file",
                "set-var",
                "set-var-fmt",
                "maxcomprate",
                "maxcompcpuusage",
                "maxzlibmem",
                "no-memory-trimming",
                "noepoll",
                "noevports",
                "nokqueue",
                "nopoll",
                "nogetaddrinfo",
                "httpclient.resolvers.id",
                "httpclient.resolvers.prefer",
                "presetenv-file",
                "stats bind-process",
                "node-id",
                "wurfl-patch-file",
                "profiling.memory",
            )
        },
        **{
            k: "tuning knob without meaning in haproxy-py"
            for k in (
                "tune.buffers.limit",
                "tune.buffers.reserve",
                "tune.comp.maxlevel",
                "tune.fail-alloc",
                "tune.fd.edge-triggered",
                "tune.h2.header-table-size",
                "tune.h2.initial-window-size",
                "tune.h2.max-concurrent-streams",
                "tune.http.cookielen",
                "tune.http.logurilen",
                "tune.idle-pool.shared",
                "tune.idletimer",
                "tune.maxaccept",
                "tune.maxpollevents",
                "tune.maxrewrite",
                "tune.pattern.cache-size",
                "tune.peers.max-updates-at-once",
                "tune.pool-high-fd-ratio",
                "tune.pool-low-fd-ratio",
                "tune.rcvbuf.client",
                "tune.rcvbuf.server",
                "tune.recv_enough",
                "tune.runqueue-depth",
                "tune.sched.low-latency",
                "tune.sndbuf.client",
                "tune.sndbuf.server",
                "tune.vars.global-max-size",
                "tune.vars.proc-max-size",
                "tune.vars.reqres-max-size",
                "tune.vars.sess-max-size",
                "tune.vars.txn-max-size",
                "tune.zlib.memlevel",
                "tune.zlib.windowsize",
                "tune.listener.multi-queue",
                "tune.h2.max-frame-size",
            )
        },
        **{
            k: _QUIC
            for k in (
                "tune.quic.frontend.conn-tx-buffers.limit",
                "tune.quic.frontend.max-idle-timeout",
                "tune.quic.frontend.max-streams-bidi",
                "tune.quic.retry-threshold",
            )
        },
    }
)
