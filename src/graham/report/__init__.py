"""Report: figures (matplotlib) and one self-contained HTML page per run."""

from .html import Section, write_report

__all__ = ["Section", "write_report"]
