"""How ``graham predict`` writes its results: a table for people, JSON lines and CSV for
programs. One function per format turns a file's :class:`graham.predict.Prediction` into
lines, so the command only chooses the format and prints."""

from __future__ import annotations

import csv
import io
import json

from .errors import ParameterError

__all__ = ["FORMATS", "csv_header", "format_prediction"]

FORMATS = ("table", "json", "csv")


def csv_header(per_window: bool) -> str:
    """The CSV columns: ``file, scope, rank, label, score[, window_start, window_end]``."""
    return _csv_line(["file", "scope", "rank", "label", "score"] + (["window_start", "window_end"] if per_window else []))


def format_prediction(source, pred, fmt: str, *, top_k: int, per_window: bool) -> list[str]:
    """The lines of one file's result in ``fmt`` (table, json or csv), without line ends."""
    if fmt == "json":
        return [json.dumps(pred.to_dict())]
    if fmt == "csv":
        rows = [[str(source), "clip", r, g.label, f"{g.score:.4f}"] + (["", ""] if per_window else [])
                for r, g in enumerate(pred.top, 1)]
        for w in pred.windows:  # the window's own top k, ranked like the clip's
            rows += [[str(source), "window", r, g.label, f"{g.score:.4f}", w.start, w.end]
                     for r, g in enumerate(sorted(w.scores, key=lambda g: -g.score)[:top_k], 1)]
        return [_csv_line(row) for row in rows]
    if fmt != "table":
        raise ParameterError(f"format must be one of {FORMATS}, got {fmt!r}")
    tops = "  ".join(f"{g.label} {100 * g.score:5.1f} %" for g in pred.top)
    lines = [f"{source}  ({pred.duration:.1f} s)  {tops}"]
    for w in pred.windows:
        best = max(w.scores, key=lambda g: g.score)
        lines.append(f"    {w.start:7.2f}-{w.end:7.2f} s  {best.label} {100 * best.score:5.1f} %")
    return lines


def _csv_line(row: list) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(row)
    return buf.getvalue()
