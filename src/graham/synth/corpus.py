"""Write the synthetic genre corpus as a GTZAN-shaped folder: ``<out>/<genre>/<genre>.000NN.wav``.

Clip ``n`` of genre ``g`` is fully determined by (seed, g, n, seconds, sample rate): the same
settings give byte-identical files whatever the number of workers or the order of work.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf

from ..errors import ParameterError
from ..utils.files import atomic_path, write_json
from .artists import artist_of, artist_seed, artist_style
from .score import Score, compose
from .styles import GENRES

__all__ = ["clip_group", "SynthSpec", "clip_seeds", "synthesize_clip", "generate_corpus"]


@dataclass(frozen=True)
class SynthSpec:
    """Size and settings of a synthetic corpus. Its ``key()`` names a cache folder."""

    per_genre: int = 100
    seconds: float = 30.0
    seed: int = 0
    genres: tuple[str, ...] = GENRES
    sample_rate: int = 22050
    artists: int = 0  # artists per genre (0: every clip drawn from the genre's whole style)

    def __post_init__(self) -> None:
        if self.per_genre <= 0 or self.seconds <= 0 or self.sample_rate <= 0 or self.artists < 0:
            raise ParameterError("per_genre, seconds and sample_rate must be > 0, artists >= 0")
        unknown = set(self.genres) - set(GENRES)
        if unknown:
            raise ParameterError(f"unknown genres {sorted(unknown)}; known: {list(GENRES)}")
        if len(set(self.genres)) != len(self.genres) or not self.genres:
            raise ParameterError("genres must be distinct and not empty")

    def key(self) -> str:
        g = "all" if tuple(self.genres) == GENRES else "-".join(self.genres)
        a = f"-a{self.artists}" if self.artists else ""
        return f"synth-{g}-n{self.per_genre}-s{self.seconds:g}-sr{self.sample_rate}-seed{self.seed}{a}"

    def group(self, genre: str, index: int) -> str:
        """Clip ``index`` of ``genre``'s group for grouped splits: its artist, or itself."""
        return clip_group(genre, index, self.artists)


def clip_group(genre: str, index: int, artists: int) -> str:
    """``<genre>-artist<a>`` for a corpus with artists, else the clip id ``<genre>.<NNNNN>``."""
    return f"{genre}-artist{artist_of(index, artists)}" if artists else f"{genre}.{index:05d}"


def clip_seeds(seed: int, genre: str, index: int) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """Independent seeds for the score and the renderer of one clip."""
    ss = np.random.SeedSequence([seed, GENRES.index(genre), index])
    score_seed, render_seed = ss.spawn(2)
    return score_seed, render_seed


def synthesize_clip(genre: str, index: int, *, seconds: float = 30.0, seed: int = 0,
                    sample_rate: int = 22050, artists: int = 0) -> tuple[Score, np.ndarray]:
    """Compose and render clip ``index`` of ``genre``: (its score, float32 samples). With
    ``artists`` > 0 the clip is played by artist ``index % artists`` of the genre, in that
    artist's narrower style (:mod:`graham.synth.artists`)."""
    score_seed, render_seed = clip_seeds(seed, genre, index)
    style = artist_style(genre, artist_seed(seed, genre, artist_of(index, artists))) if artists else None
    from .render import render  # here: scipy.signal takes a second to import, and a spec needs none of it

    score = compose(genre, seconds=seconds, seed=score_seed, style=style)
    return score, render(score, sr=sample_rate, seed=render_seed)


def _write_clip(args) -> str:
    out, genre, index, seconds, seed, sr, artists = args
    path = Path(out) / genre / f"{genre}.{index:05d}.wav"
    score, y = synthesize_clip(genre, index, seconds=seconds, seed=seed, sample_rate=sr, artists=artists)
    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(str(tmp), y, sr, subtype="PCM_16", format="WAV")
    return (f"{genre}.{index:05d}\t{clip_group(genre, index, artists)}\t{score.tempo:.2f}\t{score.meter}\t"
            f"{score.swing:.3f}\t{score.progression}")


def generate_corpus(out: str | os.PathLike, spec: SynthSpec | None = None, *, workers: int | None = None,
                    progress: bool = True, skip_existing: bool = True) -> Path:
    """Write ``spec``'s corpus under ``out`` and return ``out``.

    Also writes ``synth.json`` (the spec) and ``scores.tsv`` (each clip's group, tempo, meter, swing
    and progression). With ``skip_existing``, a folder already holding a complete corpus of the
    same spec is left untouched, so callers can use ``out`` as a cache.
    """
    spec = spec or SynthSpec()
    out = Path(out).expanduser()
    marker = out / "synth.json"
    spec_dict = {"per_genre": spec.per_genre, "seconds": spec.seconds, "seed": spec.seed,
                 "genres": list(spec.genres), "sample_rate": spec.sample_rate, "artists": spec.artists}
    if skip_existing and marker.exists():
        try:
            if json.loads(marker.read_text()) == spec_dict:
                return out
        except json.JSONDecodeError:
            pass
    jobs = [(str(out), g, i, spec.seconds, spec.seed, spec.sample_rate, spec.artists)
            for g in spec.genres for i in range(spec.per_genre)]
    workers = workers if workers is not None else min(len(jobs), os.cpu_count() or 1)
    it: Iterator[str]
    if workers <= 1:
        it = map(_write_clip, jobs)
        pool = None
    else:
        pool = ProcessPoolExecutor(max_workers=workers)
        it = pool.map(_write_clip, jobs, chunksize=max(1, len(jobs) // (8 * workers)))
    try:
        if progress:
            from tqdm.auto import tqdm
            it = tqdm(it, total=len(jobs), desc="synth", unit="clip")
        rows = list(it)
    finally:
        if pool is not None:
            pool.shutdown()
    (out).mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "scores.tsv") as tmp:
        tmp.write_text("clip_id\tgroup\ttempo\tmeter\tswing\tprogression\n" + "\n".join(rows) + "\n")
    write_json(marker, spec_dict)
    return out
