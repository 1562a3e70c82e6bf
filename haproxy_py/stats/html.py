"""The stats page's HTML: a header with process information, then one table per proxy.

Each table has HAProxy's column groups (Queue, Session rate, Sessions, Bytes, Denied, Errors,
Warnings, Server) and its rows in `show stat` order: FRONTEND, the servers, BACKEND. The
values are the records of haproxy_py/stats/records.py (the same numbers as `show stat`);
this file only lays them out. Rules of this file: every text that comes from the
configuration or the counters goes through `html.escape`; the page is plain HTML and CSS (no
script), and stays readable in a narrow window (tables scroll inside their own box, the
header wraps). Pure: a `PageView` in, a string out.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

Record = Mapping[str, object]

# (group title, ((column title, renderer key), ...)); a key names a record column or one of
# the computed cells of `_cell`.
GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Queue", (("Cur", "qcur"), ("Max", "qmax"), ("Limit", "qlimit"))),
    ("Session rate", (("Cur", "rate"), ("Max", "rate_max"), ("Limit", "rate_lim"))),
    ("Sessions", (("Cur", "scur"), ("Max", "smax"), ("Limit", "slim"), ("Total", "stot"),
                  ("LbTot", "lbtot"), ("Last", "@last"))),
    ("Bytes", (("In", "bin"), ("Out", "bout"))),
    ("Denied", (("Req", "dreq"), ("Resp", "dresp"))),
    ("Errors", (("Req", "ereq"), ("Conn", "econ"), ("Resp", "eresp"))),
    ("Warnings", (("Retr", "wretr"), ("Redis", "wredis"))),
    ("Server", (("Status", "@status"), ("LastChk", "@lastchk"), ("Wght", "weight"),
                ("Act", "@act"), ("Bck", "@bck"), ("Chk", "chkfail"), ("Dwn", "chkdown"),
                ("Dwntme", "@downtime"), ("Thrtle", "throttle"))),
)  # fmt: skip

# What an admin may ask from the page's form: HAProxy's action names.
ADMIN_ACTIONS = (
    ("ready", "Set state to READY"),
    ("drain", "Set state to DRAIN"),
    ("maint", "Set state to MAINT"),
)
# The answer to an admin POST, shown once after its redirect (`;st=CODE`).
STATUS_MESSAGES = {
    "DONE": ("ok", "Action processed successfully."),
    "PART": ("warn", "Action processed for some servers only."),
    "NONE": ("warn", "Nothing has changed."),
    "DENY": ("fail", "Action denied: this page does not grant admin rights to you."),
    "ERRP": ("fail", "Action not processed: invalid parameters."),
    "EXCD": ("fail", "Action not processed: the request was too large."),
    "UNKN": ("fail", "Unexpected result."),
}
# State colours: a CSS class per server situation, and its legend text.
LEGEND = (
    ("s-up", "active UP"),
    ("s-bup", "backup UP"),
    ("s-going-down", "UP, going down"),
    ("s-going-up", "DOWN, going up"),
    ("s-down", "DOWN"),
    ("s-drain", "DRAIN / NOLB"),
    ("s-maint", "MAINT"),
    ("s-nocheck", "not checked"),
)

_CSS = """
:root{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1d2733}
body{margin:0;padding:.6rem;background:#f4f6f8;font-size:14px}
header{display:flex;flex-wrap:wrap;gap:.6rem 1.5rem;align-items:flex-start}
h1{font-size:1.3rem;margin:0 0 .3rem}
h2{font-size:1rem;margin:0;padding:.35rem .6rem;background:#2f4858;color:#fff}
.box{background:#fff;border:1px solid #ccd5dd;border-radius:4px;padding:.5rem .7rem}
.info dl{display:grid;grid-template-columns:max-content auto;gap:.1rem .7rem;margin:0}
.info dt{font-weight:600}.info dd{margin:0}
.legend ul{list-style:none;margin:0;padding:0;columns:2 11rem}
.legend li{margin:.1rem 0}.legend span{display:inline-block;width:1.2em;border:1px solid #999}
.options a{display:block}
.msg{margin:.6rem 0;padding:.4rem .7rem;border-radius:4px;font-weight:600}
.msg.ok{background:#d6f5d6}.msg.warn{background:#fdf1c7}.msg.fail{background:#f9d0d0}
section{margin:.8rem 0;background:#fff;border:1px solid #ccd5dd;border-radius:4px}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.8rem;white-space:nowrap}
th,td{border:1px solid #d5dde4;padding:.1rem .25rem;text-align:right}
th{background:#e7edf2;text-align:center;font-weight:600}
td.name{text-align:left;font-weight:600;position:sticky;left:0;background:inherit}
td.name small{display:block;font-weight:400;color:#4c5a66}
tr.frontend,tr.backend{background:#eef1f4}
tr.backend td{font-weight:600}
.s-up{background:#c8f0c8}.s-bup{background:#b7d9f2}.s-going-down{background:#ffd9a0}
.s-going-up{background:#fff3a0}.s-down{background:#f7b2b2}.s-drain{background:#a9c8ff}
.s-maint{background:#d4b8a0}.s-nocheck{background:#e4f2e4}
.actions{padding:.4rem .6rem;display:flex;flex-wrap:wrap;gap:.4rem;align-items:center}
@media (max-width:640px){body{font-size:13px;padding:.3rem}table{font-size:.78rem}}
"""


@dataclass
class PageView:
    """What one rendering of the page shows."""

    records: Sequence[Record]
    uri: str  # the stats URI, without options
    pid: int
    uptime: str
    version: str | None = None  # None: `stats hide-version`
    release_date: str = ""
    node: str | None = None  # `stats show-node`
    description: str | None = None
    limits: Mapping[str, object] = field(default_factory=dict)  # maxconn, ulimit-n, ...
    refresh: int | None = None  # seconds, None: no refresh
    up_only: bool = False  # `;up`
    norefresh: bool = False  # `;norefresh`
    admin: bool = False  # the client may change server states
    legends: bool = False  # `stats show-legends`
    status: str | None = None  # `;st=CODE` after an admin POST


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def render_page(view: PageView) -> str:
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
    ]
    if view.refresh and not view.norefresh:
        parts.append(f'<meta http-equiv="refresh" content="{view.refresh}">')
    title = "Statistics Report for pid " + esc(view.pid)
    if view.node:
        title += " on " + esc(view.node)
    parts += [f"<title>{title}</title><style>{_CSS}</style></head><body>"]
    parts.append(_header(view, title))
    if view.status:
        kind, text = STATUS_MESSAGES.get(view.status, STATUS_MESSAGES["UNKN"])
        parts.append(f'<p class="msg {kind}" id="status">{esc(text)}</p>')
    for name, rows in _by_proxy(view.records):
        parts.append(_proxy_table(view, name, rows))
    parts.append("</body></html>\n")
    return "".join(parts)


def _header(view: PageView, title: str) -> str:
    product = "haproxy-py"
    if view.version is not None:
        product += f" version {esc(view.version)}, released {esc(view.release_date)}"
    info = [("pid", view.pid), ("uptime", view.uptime)]
    info += list(view.limits.items())
    if view.node:
        info.append(("node", view.node))
    if view.description:
        info.append(("description", view.description))
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in info)
    legend = "".join(f'<li><span class="{c}">&nbsp;</span> {esc(t)}</li>' for c, t in LEGEND)
    return (
        f"<header><div><h1>{esc(product)}</h1><p>{title}</p></div>"
        f'<div class="box info"><dl>{items}</dl></div>'
        f'<div class="box legend"><ul>{legend}</ul></div>'
        f'<div class="box options">{_options(view)}</div></header>'
    )


def _link(view: PageView, *, up: bool, norefresh: bool, suffix: str = "") -> str:
    return esc(view.uri + (";up" if up else "") + (";norefresh" if norefresh else "") + suffix)


def _options(view: PageView) -> str:
    up, norefresh = view.up_only, view.norefresh
    links = []
    if up:
        links.append((_link(view, up=False, norefresh=norefresh), "Show all servers"))
    else:
        links.append((_link(view, up=True, norefresh=norefresh), "Hide DOWN servers"))
    if view.refresh:
        if norefresh:
            links.append((_link(view, up=up, norefresh=False), "Enable refresh"))
        else:
            links.append((_link(view, up=up, norefresh=True), "Disable refresh"))
    links.append((_link(view, up=up, norefresh=norefresh), "Refresh now"))
    links.append((_link(view, up=up, norefresh=False, suffix=";csv"), "CSV export"))
    links.append((_link(view, up=up, norefresh=False, suffix=";json"), "JSON export"))
    return "".join(f'<a href="{href}">{esc(text)}</a>' for href, text in links)


def _by_proxy(records: Sequence[Record]) -> list[tuple[str, list[Record]]]:
    grouped: dict[str, list[Record]] = {}
    for record in records:
        grouped.setdefault(str(record["pxname"]), []).append(record)
    return list(grouped.items())


def _proxy_table(view: PageView, name: str, rows: list[Record]) -> str:
    servers = [r for r in rows if str(r.get("type")) == "2"]
    admin = view.admin and bool(servers)
    head_one = ['<tr><th rowspan="2">&#10003;</th>'] if admin else ["<tr>"]
    head_one.append('<th rowspan="2">Name</th>')
    head_two = ["<tr>"]
    for group, columns in GROUPS:
        head_one.append(f'<th colspan="{len(columns)}">{esc(group)}</th>')
        head_two += [f"<th>{esc(title)}</th>" for title, _ in columns]
    body = "".join(_row(view, record, admin) for record in rows)
    table = (
        f'<div class="scroll"><table><thead>{"".join(head_one)}</tr>{"".join(head_two)}</tr>'
        f"</thead><tbody>{body}</tbody></table></div>"
    )
    anchor = esc(name)
    section = f'<section id="{anchor}"><h2><a id="px-{anchor}"></a>{anchor}</h2>'
    if admin:
        iid = esc(servers[0]["iid"])
        options = "".join(f'<option value="{a}">{esc(t)}</option>' for a, t in ADMIN_ACTIONS)
        action = _link(view, up=view.up_only, norefresh=view.norefresh)
        return (
            f'{section}<form method="post" action="{action}">{table}'
            f'<div class="actions"><label>Choose the action to perform on the checked'
            f' servers: <select name="action">{options}</select></label>'
            f'<input type="hidden" name="b" value="#{iid}">'
            f'<input type="submit" value="Apply"></div></form></section>'
        )
    return f"{section}{table}</section>"


def _row(view: PageView, record: Record, admin: bool) -> str:
    kind = str(record.get("type"))
    svname = str(record["svname"])
    if kind == "2":
        css = state_class(record)
        check = (
            f'<td><input type="checkbox" name="s" value="{esc(svname)}"'
            f' aria-label="select {esc(svname)}"></td>'
        )
        label = f'<td class="name">{esc(svname)}'
        if view.legends and record.get("addr"):
            label += f"<small>{esc(record['addr'])}</small>"
        label += "</td>"
    else:
        css = "frontend" if kind == "0" else "backend"
        check = "<td></td>"  # only servers can be selected
        label = f'<td class="name">{"Frontend" if kind == "0" else "Backend"}'
        if view.legends and record.get("algo"):
            label += f"<small>balance {esc(record['algo'])}</small>"
        label += "</td>"
    cells = [_cell(record, key) for _, columns in GROUPS for _, key in columns]
    return f'<tr class="{css}">{check if admin else ""}{label}{"".join(cells)}</tr>'


def state_class(record: Record) -> str:
    """The colour class of a server row, from its `status` column."""
    status = str(record.get("status", ""))
    backup = str(record.get("bck", "0")) == "1"
    if status == "MAINT" or status.startswith("MAINT"):
        return "s-maint"
    if status.startswith(("DRAIN", "NOLB")):
        return "s-drain"
    if status == "no check":
        return "s-nocheck"
    if status.startswith("UP "):
        return "s-going-down"
    if status.startswith("DOWN "):
        return "s-going-up"
    if status == "UP":
        return "s-bup" if backup else "s-up"
    return "s-down"


def _cell(record: Record, key: str) -> str:
    if key == "@status":
        text = str(record.get("status", ""))
        lastchg = record.get("lastchg", "")
        if lastchg not in ("", None):
            text = f"{human_duration(int(str(lastchg)))} {text}"
        return f"<td>{esc(text)}</td>"
    if key == "@lastchk":
        status = str(record.get("check_status", ""))
        if not status:
            return "<td></td>"
        code = record.get("check_code", "")
        if code not in ("", None):
            status += f"/{code}"
        duration = record.get("check_duration", "")
        if duration not in ("", None):
            status += f" in {duration}ms"
        desc = esc(record.get("check_desc", ""))
        return f'<td title="{desc}">{esc(status)}</td>'
    if key == "@last":
        last = record.get("lastsess", "")
        if last in ("", None):
            return "<td></td>"
        seconds = int(str(last))
        return f"<td>{esc(human_duration(seconds) if seconds >= 0 else 'never')}</td>"
    if key in ("@act", "@bck"):
        value = record.get(key[1:], "")
        if str(record.get("type")) == "2" and value not in ("", None):
            return f"<td>{'Y' if str(value) == '1' else '-'}</td>"
        return f"<td>{esc(value if value is not None else '')}</td>"
    if key == "@downtime":
        value = record.get("downtime", "")
        return f"<td>{esc(human_duration(int(str(value))))}</td>" if value != "" else "<td></td>"
    value = record.get(key, "")
    return f"<td>{esc('' if value is None else value)}</td>"


def human_duration(seconds: int) -> str:
    """`3d4h`, `2h5m`, `5m3s`, `12s`: the two largest units, as the page's ages read."""
    seconds = max(0, seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
