"""Where a long track is listened to: a few excerpts spread over it, so that embedding a track
costs the same whatever its length and still hears more of it than one window."""

from __future__ import annotations

import numpy as np

__all__ = ["EXCERPTS", "EXCERPT_SECONDS", "excerpt_offsets"]

#: A track is embedded from this many excerpts of ``EXCERPT_SECONDS`` spread over it: bounded
#: cost whatever its length, and more of it than one window.
EXCERPTS = 3
EXCERPT_SECONDS = 30.0


def excerpt_offsets(duration: float, *, excerpts: int = EXCERPTS, seconds: float = EXCERPT_SECONDS) -> list[float]:
    """Where the excerpts start [s]: spread evenly from the start to the last full excerpt; one,
    the whole track, when it is no longer than an excerpt.

    Examples
    --------
    >>> from graham.audio.excerpts import excerpt_offsets
    >>> excerpt_offsets(20.0), excerpt_offsets(90.0), excerpt_offsets(330.0)
    ([0.0], [0.0, 30.0, 60.0], [0.0, 150.0, 300.0])
    """
    if duration <= seconds:
        return [0.0]
    return sorted({round(float(t), 3) for t in np.linspace(0.0, duration - seconds, excerpts)})
