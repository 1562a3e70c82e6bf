"""Statistics: the shared counter and server-state layout (layout.py) and the renderers:
csv.py (`show stat`), records.py + typed.py (typed/JSON forms), html.py + page.py (the stats
page). Pure like the rest of haproxy_py: the table itself is mapped by haproxy_py/process/shm.py.
"""

from haproxy_py.stats.layout import (
    COUNTER_FIELDS,
    GLOBAL_FIELDS,
    LAYOUT_VERSION,
    CounterField,
    Layout,
    Row,
    ServerSlot,
    layout_for,
)

__all__ = [
    "COUNTER_FIELDS",
    "GLOBAL_FIELDS",
    "LAYOUT_VERSION",
    "CounterField",
    "Layout",
    "Row",
    "ServerSlot",
    "layout_for",
]
