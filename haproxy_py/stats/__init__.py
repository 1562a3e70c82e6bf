"""Statistics: the shared counter and server-state layout (layout.py); the renderers (CSV,
typed, JSON, HTML, Prometheus) come next. Pure like the rest of haproxy_py: the table itself
is mapped by haproxy_py/process/shm.py.
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
