"""Lazy re-exports: a package names its public objects without importing TensorFlow or Optuna
until one of them is used, so ``automl --help`` and the dashboard start fast."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_getattr(package: str, modules: dict[str, tuple[str, ...]]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` (PEP 562) that imports a name's module on first access.

    ``modules`` maps each private module to the public names it defines.
    """
    where = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name in where:
            return getattr(importlib.import_module(where[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
