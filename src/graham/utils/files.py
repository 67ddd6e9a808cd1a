"""Atomic file writes: write to a temporary file beside the target, fsync, then rename."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Sequence

__all__ = ["atomic_path", "write_bytes", "write_text", "write_json", "compact_json", "csv_text", "writable_folder"]


@contextmanager
def atomic_path(target: str | os.PathLike, *, suffix: str = ""):
    """Yield a temporary path in ``target``'s folder; on success rename it onto ``target``.

    A crash or exception leaves ``target`` as it was (old content or absent), never half written.
    The file gets the mode a plain ``open`` would give it (0666 less the umask), not
    ``mkstemp``'s private 0600.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix + ".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    """The process's umask (read by setting it and restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once, at import: os.umask is process-wide, not safe to toggle from threads


def write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike, text: str) -> None:
    write_bytes(target, text.encode("utf-8"))


def csv_text(rows: Iterable[Sequence]) -> str:
    """Rows as CSV text (RFC 4180 quoting, "\\n" line ends), the first row the header."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def compact_json(obj, indent: int = 2) -> str:
    """JSON with objects indented for reading and lists of numbers and strings on one line (a
    confusion matrix one row per line, not one number per line: files 5-10x smaller)."""
    def fmt(o, level):
        pad, inner = " " * (indent * level), " " * (indent * (level + 1))
        if isinstance(o, dict) and o:
            items = [f"{inner}{json.dumps(str(k))}: {fmt(v, level + 1)}" for k, v in o.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(o, (list, tuple)) and o and any(isinstance(x, (dict, list, tuple)) and x for x in o):
            if all(isinstance(x, (list, tuple)) and not any(isinstance(y, (dict, list, tuple)) for y in x) for x in o):
                return "[\n" + ",\n".join(inner + json.dumps(list(x)) for x in o) + "\n" + pad + "]"
            return "[\n" + ",\n".join(inner + fmt(x, level + 1) for x in o) + "\n" + pad + "]"
        return json.dumps(o)
    return fmt(obj, 0)


def write_json(target: str | os.PathLike, obj) -> None:
    """``obj`` as :func:`compact_json`, written atomically."""
    write_text(target, compact_json(obj) + "\n")


def writable_folder(path: str | os.PathLike, *, option: str = "--out") -> Path:
    """``path`` as a folder graham can write into, created if missing; a
    :class:`~graham.errors.ParameterError` naming ``option`` when it is a file, or when the file
    system or the permissions refuse (checked by writing and removing a file there), so that a
    run fails before any work, not after it."""
    from ..errors import ParameterError

    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ParameterError(f"{option} {path}: is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".graham-write-check.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ParameterError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from exc
    return path
