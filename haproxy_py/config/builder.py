"""Mutable builders that keyword parsers fill in, and the context they are given.

A builder holds one section's values by model field name while the section is being read;
`assemble` turns it into the frozen model object, so keyword parsers never construct model
objects by hand and the model stays the only shape the rest of the code sees. A proxy builder
starts as a copy of its defaults section's builder: that copy is how defaults are inherited.

Builders hold plain dicts, lists and sets of immutable values (strings, numbers, Where, frozen
model objects), which is what lets `inherit` and `freeze_value` be short purpose-made walks
instead of generic deep copies: with 10,000 proxies they run 10,000 times each.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

from haproxy_py.config.diagnostics import Diagnostics, Where


@dataclass
class SectionBuilder:
    kind: str  # "global", "frontend", "userlist", ...
    name: str
    where: Where
    values: dict[str, Any] = field(default_factory=dict)
    # Where each field was last set, for "already specified at ..." messages.
    set_at: dict[str, Where] = field(default_factory=dict)
    # Working state for parsers that is not part of the model (e.g. default-server options).
    scratch: dict[str, Any] = field(default_factory=dict)
    # Which defaults section this one inherited from, if any.
    parent: str | None = None

    @property
    def label(self) -> str:
        """How HAProxy names a section in messages: "frontend 'fe'", "global"."""
        return f"{self.kind} '{self.name}'" if self.name else self.kind

    def set(self, name: str, value: Any, where: Where) -> None:
        self.values[name] = value
        self.set_at[name] = where

    def set_item(self, name: str, key: str, value: Any, where: Where) -> None:
        mapping = self.values.setdefault(name, {})
        mapping[key] = value
        self.set_at[f"{name}.{key}"] = where

    def append(self, name: str, value: Any) -> None:
        self.values.setdefault(name, []).append(value)

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def inherit(self, kind: str, name: str, where: Where) -> SectionBuilder:
        """A new builder for a section that takes this (defaults) builder's values."""
        return SectionBuilder(
            kind=kind,
            name=name,
            where=where,
            values=copy_value(self.values),
            set_at=dict(self.set_at),
            scratch=copy_value(self.scratch),
            parent=self.name,
        )


# Types whose instances are never changed once made, so copies may share them; frozen
# dataclasses (the model's objects, Where, Address) and enums are shared too.
_IMMUTABLE = frozenset({str, int, float, bool, bytes, type(None), frozenset, MappingProxyType})


@functools.cache  # a pure function of the type: remembering the answer changes nothing
def _is_shared(cls: type) -> bool:
    if cls in _IMMUTABLE or issubclass(cls, Enum):
        return True
    params = getattr(cls, "__dataclass_params__", None)
    return params is not None and params.frozen and dataclasses.is_dataclass(cls)


def copy_value(value: Any) -> Any:
    """A copy of builder data in which every dict, list, set and tuple is new, and immutable
    values are shared; anything unforeseen falls back to copy.deepcopy."""
    cls = type(value)
    if cls is dict:
        return {
            key: item if type(item) in _IMMUTABLE else copy_value(item)
            for key, item in value.items()
        }
    if cls is list:
        return [item if type(item) in _IMMUTABLE else copy_value(item) for item in value]
    if cls is set:
        return set(value)  # members are names and other hashable values
    if cls is tuple:
        return tuple([item if type(item) in _IMMUTABLE else copy_value(item) for item in value])
    if _is_shared(cls):
        return value
    return copy.deepcopy(value)


def freeze_value(value: Any) -> Any:
    """Lists become tuples and dicts read-only mappings, recursively, for the frozen model."""
    if isinstance(value, list):
        return tuple(
            [freeze_value(item) if isinstance(item, (list, dict)) else item for item in value]
        )
    if isinstance(value, dict):
        return MappingProxyType(
            {
                key: freeze_value(item) if isinstance(item, (list, dict)) else item
                for key, item in value.items()
            }
        )
    return value


@dataclass
class ParseContext:
    """What a keyword parser may look at and act on besides its own statement.

    The loader makes one context per configuration and moves its `section` and `where` from
    statement to statement, so a parser must not keep `ctx` for later: a deferred action
    copies what it needs (the builder, `stmt.where`) when it is created.
    """

    section: SectionBuilder
    diagnostics: Diagnostics
    env: MutableMapping[str, str]
    where: Where
    # All sections read so far, by kind then name (for references such as 'from' or 'track').
    sections: Mapping[str, Mapping[str, SectionBuilder]]
    # Command-line settings that keywords consult (e.g. -dS, -N); keys documented in loader.
    cmdline: Mapping[str, Any] = field(default_factory=dict)
    # Actions run after the whole configuration is read (for cross-section checks).
    deferred: list[Callable[[], None]] = field(default_factory=list)

    def warn(self, message: str) -> None:
        self.diagnostics.warning(message, self.where)

    def notice(self, message: str) -> None:
        self.diagnostics.notice(message, self.where)
