"""How ``graham predict`` writes its results: a table for people, JSON lines and CSV for
programs. One function per format turns a file's :class:`graham.inference.predict.Prediction` into
lines, so the command only chooses the format and prints."""

from __future__ import annotations

import csv
import io
import json

from ..errors import ParameterError

__all__ = ["FORMATS", "csv_header", "format_prediction"]

FORMATS = ("table", "json", "csv")


def csv_header(per_window: bool, neighbours: int = 0) -> str:
    """The CSV columns: ``file, scope, rank, label, score[, window_start, window_end][, clip_id]``
    (``scope``: clip, window or neighbour; a neighbour's score is its similarity)."""
    return _csv_line(["file", "scope", "rank", "label", "score"] + (["window_start", "window_end"] if per_window else [])
                     + (["clip_id"] if neighbours else []))


def format_prediction(source, pred, fmt: str, *, top_k: int, per_window: bool, neighbours: int = 0) -> list[str]:
    """The lines of one file's result in ``fmt`` (table, json or csv), without line ends."""
    if fmt == "json":
        return [json.dumps(pred.to_dict())]
    if fmt == "csv":
        blank, tail = (["", ""] if per_window else []), ([""] if neighbours else [])
        rows = [[str(source), "clip", r, g.label, f"{g.score:.4f}"] + blank + tail for r, g in enumerate(pred.top, 1)]
        for w in pred.windows:  # the window's own top k, ranked like the clip's
            rows += [[str(source), "window", r, g.label, f"{g.score:.4f}", w.start, w.end] + tail
                     for r, g in enumerate(sorted(w.scores, key=lambda g: -g.score)[:top_k], 1)]
        rows += [[str(source), "neighbour", r, n.label or "", f"{n.similarity:.4f}"] + blank + [n.clip_id]
                 for r, n in enumerate(pred.neighbours, 1)]
        return [_csv_line(row) for row in rows]
    if fmt != "table":
        raise ParameterError(f"format must be one of {FORMATS}, got {fmt!r}")
    tops = "  ".join(f"{g.label} {100 * g.score:5.1f} %" for g in pred.top)
    lines = [f"{source}  ({pred.duration:.1f} s)  {tops}"]
    for w in pred.windows:
        best = max(w.scores, key=lambda g: g.score)
        lines.append(f"    {w.start:7.2f}-{w.end:7.2f} s  {best.label} {100 * best.score:5.1f} %")
    if pred.neighbours:
        lines.append("    nearest training clips: " + ", ".join(
            f"{n.clip_id} ({n.label or 'unlabelled'}, {n.similarity:.3f})" for n in pred.neighbours))
    return lines


def _csv_line(row: list) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(row)
    return buf.getvalue()
