"""Catch what a C decoder prints on the process's stderr, so that it reaches graham's own report.

libsndfile decodes MP3 with libmpg123, which writes notes such as "Illegal Audio-MPEG-Header"
straight to file descriptor 2, past Python's logging and past the list of skipped files. While
such a file is read, :func:`capture_native_stderr` points descriptor 2 at a temporary file; the
decoder's lines are handed back to the caller, and everything else written there meanwhile (a
progress bar from another thread) is written to the real stderr afterwards, so nothing is lost.
Captures are serialised by a lock, so each line belongs to the file being read.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from contextlib import contextmanager
from typing import Iterator

__all__ = ["capture_native_stderr", "DECODER_LINE"]

#: What libmpg123 prints: "Note: ...", "Warning: ...", "[src/libmpg123/parse.c:...] error: ...".
DECODER_LINE = re.compile(r"^(?:Note|Warning|Error|error): |^\[src/libmpg123/")

_LOCK = threading.Lock()


def _split(text: str) -> tuple[list[str], str]:
    """The decoder's lines, and the rest of ``text`` byte for byte (other writers' output)."""
    ours, rest = [], []
    for line in text.splitlines(keepends=True):
        if DECODER_LINE.match(line):
            ours.append(line.strip())
        else:
            rest.append(line)
    return ours, "".join(rest)


@contextmanager
def capture_native_stderr() -> Iterator[list[str]]:
    """Within the block, C-level writes to fd 2 are captured; the list it yields receives the
    decoder's lines when the block ends. Falls back to no capture where fd 2 cannot be duplicated."""
    lines: list[str] = []
    with _LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            yield lines
            return
        with tempfile.TemporaryFile() as tmp:
            os.dup2(tmp.fileno(), 2)
            try:
                yield lines
            finally:
                try:
                    sys.stderr.flush()
                except (OSError, ValueError):
                    pass
                os.dup2(saved, 2)
                os.close(saved)
                tmp.seek(0)
                ours, rest = _split(tmp.read().decode("utf-8", errors="replace"))
                lines.extend(ours)
                if rest:
                    os.write(2, rest.encode("utf-8"))
