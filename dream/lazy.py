"""Packages whose public names load on first use (PEP 562 module `__getattr__`): a process that needs
one module of a package does not pay for the imports of the others."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """The `__getattr__` of `package`: each name in `where` comes from the submodule it maps to."""

    def getattr_(name: str) -> Any:
        if name not in where:
            raise AttributeError(name)
        return getattr(importlib.import_module(f"{package}.{where[name]}"), name)

    return getattr_
