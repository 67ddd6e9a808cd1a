"""Package attributes resolved on first use (PEP 562), so importing one light submodule of a
package (a reader, the decoder) does not load torch through the package's other modules."""

from __future__ import annotations

import sys
from importlib import import_module
from typing import Callable

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, where: dict[str, str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package``'s ``__init__``: each name of ``where`` is
    imported from its submodule (``".mel"``) the first time it is asked for, then kept."""

    def __getattr__(name: str):
        if name in where:
            value = getattr(import_module(where[name], package), name)
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
