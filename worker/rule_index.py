"""use_backend's index: a run of consecutive `use_backend NAME if { FETCH [-i] V1 V2... }`
rules on the same string fetch answered with dict probes (worker/rules.py builds it from
`RulesCompiler.exact_shape()`), so that 10,000 such rules cost what one costs (measured in
docs/PERFORMANCE.md), with the rules' own answer: the first matching rule wins."""

from __future__ import annotations

from haproxy_py.sample import SampleContext
from haproxy_py.sample.acls import ExactShape


class ExactIndex:
    """Consecutive `use_backend NAME if { FETCH [-i] V1 V2... }` rules on the same fetch,
    evaluated with one dict probe per value the fetch gives instead of one ACL per rule: each
    pattern keeps the first rule that has it, and of the values' hits the earliest rule
    wins, so the answer is the one the rules in order would give (first match wins)."""

    __slots__ = ("fetch", "fold", "rules", "table", "values")

    def __init__(self, shape: ExactShape) -> None:
        self.fetch = shape.fetch
        self.fold = shape.fold
        self.values = shape.values
        self.table: dict[bytes, tuple[int, str]] = {}
        self.rules = 0

    def takes(self, shape: ExactShape) -> bool:
        return shape.fetch == self.fetch and shape.fold == self.fold

    def add(self, shape: ExactShape, backend: str) -> None:
        order = self.rules
        self.rules += 1
        for pattern in shape.patterns:
            self.table.setdefault(pattern, (order, backend))

    def __call__(self, ctx: SampleContext) -> str | None:
        table = self.table
        best: tuple[int, str] | None = None
        for value in self.values(ctx):
            hit = table.get(value.lower() if self.fold else value)
            if hit is not None and (best is None or hit[0] < best[0]):
                best = hit
        return best[1] if best is not None else None
