"""Report: figures (matplotlib) and one self-contained HTML page per run."""
from ..utils.lazy import lazy_attributes

_WHERE = {
    "Section": ".html",
    "write_report": ".html",
}

__all__ = list(_WHERE)
__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)
