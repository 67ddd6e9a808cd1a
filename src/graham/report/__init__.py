"""Report: figures (matplotlib) and one self-contained HTML page per run."""
# Names resolve on first use (PEP 562): importing one light submodule (a reader, the decoder)
# does not load torch through this package's other modules.
from importlib import import_module as _import_module

_WHERE = {
    "Section": ".html",
    "write_report": ".html",
}

__all__ = list(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(_import_module(_WHERE[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
