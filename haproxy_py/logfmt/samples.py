"""`%[sample,conv]` in log formats: a sample expression read at log time from the record.

The expression is compiled by the rules engine (haproxy_py.sample) and evaluated on the
record's `ctx` (the connection's SampleContext, set by the worker when the format needs it).
At log time the request and response heads and the request buffer are gone in HAProxy, so
it refuses fetches that read them; the same fetches are refused here, in HAProxy's words.
"""

from __future__ import annotations

from collections.abc import Callable

from haproxy_py.logfmt.record import LogRecord
from haproxy_py.sample.args import split_expression
from haproxy_py.sample.env import CompileEnv
from haproxy_py.sample.expr import compile_expression
from haproxy_py.sample.fmt import sample_bytes
from haproxy_py.sample.types import SampleError

_REQUEST = "HTTP request headers"
_RESPONSE = "HTTP response headers"
_BUFFER = "request buffer"
_BOTH = f"{_REQUEST},{_RESPONSE}"
# What each fetch needs that a log line cannot have (fetches not listed are fine).
_NEEDS = {
    **dict.fromkeys(
        ("base", "cook", "cook_cnt", "cook_val", "http_auth", "http_auth_group", "path",
         "pathq", "query", "req.cook", "req.cook_cnt", "req.cook_val", "req.fhdr",
         "req.fhdr_cnt", "req.hdr", "req.hdr_cnt", "req.hdr_ip", "req.hdr_val", "req.ver",
         "req_ver", "url", "url_ip", "url_param", "url_port", "urlp", "urlp_val"),
        _REQUEST,
    ),
    **dict.fromkeys(
        ("res.cook", "res.cook_cnt", "res.cook_val", "res.fhdr", "res.hdr", "res.hdr_cnt",
         "res.hdr_val", "res.ver", "resp_ver", "scook", "scook_cnt", "scook_val", "shdr",
         "shdr_cnt", "shdr_val"),
        _RESPONSE,
    ),
    **dict.fromkeys(("hdr", "hdr_cnt", "hdr_ip", "hdr_val", "cookie"), _BOTH),
    **dict.fromkeys(
        ("payload", "req.len", "req.payload", "req.proto_http", "req.ssl_sni", "req_len",
         "req_proto_http", "req_ssl_sni"),
        _BUFFER,
    ),
}  # fmt: skip

Read = Callable[[LogRecord], "str | None"]


def compile_sample(text: str, env: object = None, unique_id: bool = False) -> Read:
    """A reader of `text` (what is inside `%[...]`); ValueError in HAProxy's words.
    `unique_id`: for `unique-id-format`, made while the request is there (only fetches of
    the response are refused then)."""
    try:
        calls = split_expression(text)
        needs = _NEEDS.get(calls[0].name) if calls else None
        if unique_id and needs != _RESPONSE:
            needs = None
        if needs is not None:
            raise ValueError(
                f"sample fetch <{text}> may not be reliably used here because it needs "
                f"'{needs}' which is not available here"
            )
        expression = compile_expression(text, env if isinstance(env, CompileEnv) else None)
    except SampleError as exc:
        raise ValueError(f"failed to parse sample expression <{text}> : {exc}") from None
    get = expression.get

    def read(record: LogRecord) -> str | None:
        ctx = record.ctx
        if ctx is None:
            return None
        try:
            value = get(ctx)
        except (SampleError, LookupError, ValueError, TypeError, AttributeError):
            return None  # a fetch that finds nothing to read writes "-", as HAProxy's
        if value is None:
            return None
        return sample_bytes(value).decode("latin-1")

    return read
