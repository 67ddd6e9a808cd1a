"""Artists of the synthetic corpus: each genre's clips come from a few artists, and an artist is
a narrower style inside its genre's.

Real genre data sets hold several songs of each artist, and an artist's songs share what a
classifier can latch on to without learning the genre: the same instruments, timbre, tempo
range and production. A random split of clips then puts an artist on both sides and
flattens every method's test score (the leakage of GTZAN's usual protocol; Sturm 2013). An
artist here fixes, from its own seed, one choice of each instrument and drum pattern, one or two
comping styles, progressions and scales, and sub-ranges of the genre's tempo, swing and
production ranges; its clips then draw everything else (key, notes, mix) per clip as before.
Over many artists the genre's distribution is the genre's own: the genres are not made easier,
only clustered by artist.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import ParameterError
from .styles import GENRES, STYLES, GenreStyle

__all__ = ["artist_style", "artist_of", "artist_seed"]


def artist_seed(seed: int, genre: str, artist: int) -> np.random.SeedSequence:
    """The seed of one artist of ``genre`` (independent of every clip's own seeds)."""
    return np.random.SeedSequence([seed, GENRES.index(genre), 1_000_000 + artist])


def artist_of(index: int, artists: int) -> int:
    """Which artist plays clip ``index`` of a genre: clips are dealt to artists in turn."""
    if artists < 1:
        raise ParameterError(f"artists must be >= 1, got {artists}")
    return index % artists


def _sub_range(lo: float, hi: float, width: float, rng: np.random.Generator) -> tuple[float, float]:
    """A random sub-range of (lo, hi) holding ``width`` of it."""
    span = (hi - lo) * width
    start = float(rng.uniform(lo, hi - span)) if hi > lo else lo
    return (start, start + span)


def _some(options: tuple, k: int, rng: np.random.Generator) -> tuple:
    """``k`` of ``options`` (fewer when there are fewer), drawn without replacement."""
    idx = rng.choice(len(options), size=min(k, len(options)), replace=False)
    return tuple(options[int(i)] for i in sorted(idx))


def artist_style(genre: str, seed: np.random.SeedSequence | int) -> GenreStyle:
    """The style of one artist of ``genre``: the genre's style narrowed by the artist's seed."""
    if genre not in STYLES:
        raise ParameterError(f"unknown genre {genre!r}; known: {sorted(STYLES)}")
    s, rng = STYLES[genre], np.random.default_rng(seed)
    return replace(
        s,
        tempo=_sub_range(*s.tempo, 0.3, rng),
        meters=_some(s.meters, 1, rng),
        swing=_sub_range(*s.swing, 0.4, rng),
        drums=_some(s.drums, 1, rng),
        bass=_some(s.bass, 1, rng),
        bass_patch=_some(s.bass_patch, 1, rng),
        comp=_some(s.comp, 2, rng),
        comp_patch=_some(s.comp_patch, 1, rng),
        progressions=_some(s.progressions, 2, rng),
        scales=_some(s.scales, 2, rng),
        lead_patch=_some(s.lead_patch, 1, rng),
        pad_patch=_some(s.pad_patch, 1, rng),
        distortion=_sub_range(*s.distortion, 0.35, rng),
        reverb=_sub_range(*s.reverb, 0.35, rng),
        compression=_sub_range(*s.compression, 0.35, rng),
        brightness=_sub_range(*s.brightness, 0.35, rng),
    )
