"""HAProxy's configuration language: reading files, words, keyword tables, the frozen model.

The one entry point is `load_configuration()`: `-c`, the master, the workers and reload all
produce their model through it, so they can never disagree about what a file means.

The loader (and its keyword tables) is imported on first use only: a worker receives a
finished model and needs `model` and `address`, not the parser, and starts faster without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from haproxy_py.config.loader import LoadResult, load_configuration

__all__ = ["LoadResult", "load_configuration"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from haproxy_py.config import loader

        return getattr(loader, name)
    raise AttributeError(f"module 'haproxy_py.config' has no attribute {name!r}")
