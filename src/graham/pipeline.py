"""The steps the CLI runs, as plain functions: each takes settings and paths and returns results.

The CLI only parses arguments and prints; everything a step does lives here or below.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .audio.mel import MelConfig
from .data.corpus import Corpus
from .data.features import FeatureSet, FeatureStore
from .data.spec import open_dataset
from .io import write_json, write_text

__all__ = ["FeatureRun", "extract_features", "run_demo"]

log = logging.getLogger(__name__)


@dataclass
class FeatureRun:
    """What :func:`extract_features` did: the features, the skipped files, how long it took."""

    features: FeatureSet
    skipped: list
    seconds: float
    out: Path


def extract_features(dataset: str, out: str | os.PathLike, *, clips: str | None = None, config: MelConfig | None = None,
                     workers: int = 2, progress: bool = True, genres: list[str] | None = None) -> FeatureRun:
    """Read ``dataset`` (``KIND:PATH``), cache the log-mel of every readable clip under ``out``
    and write ``out/corpus.csv`` (the clips that have features), ``out/skipped.txt`` (every
    file left out, by name, with the reason) and ``out/features.json`` (settings, counts)."""
    out = Path(out).expanduser()
    t0 = time.perf_counter()
    corpus: Corpus = open_dataset(dataset, clips=clips, genres=genres, progress=progress)
    store = FeatureStore(out, config)
    fs = store.extract(corpus, workers=workers, progress=progress)
    skipped = list(corpus.skipped) + list(fs.failed)
    seconds = time.perf_counter() - t0
    write_text(out / "corpus.csv", fs.corpus.to_csv())
    write_text(out / "skipped.txt", "".join(f"{s}\n" for s in skipped))
    write_json(out / "features.json", {
        "dataset": str(dataset), "corpus": fs.corpus.name, "clips": len(fs), "classes": fs.corpus.classes,
        "skipped": len(skipped), "mel": store.config.to_dict(), "cache": str(store.dir), "seconds": round(seconds, 2),
        "notes": list(corpus.notes),
    })
    return FeatureRun(fs, skipped, seconds, out)


def run_demo(out: str | os.PathLike, *, dataset: str = "synthetic", workers: int = 2, progress: bool = True) -> dict:
    """The newcomer's first run, on the built-in synthetic corpus: everything graham can do so
    far, end to end. Returns (and writes to ``out/summary.json``) what it did."""
    out = Path(out)
    t0 = time.perf_counter()
    run = extract_features(dataset, out / "features", workers=workers, progress=progress)
    fs = run.features
    summary = {
        "dataset": dataset, "corpus": fs.corpus.name, "clips": len(fs), "classes": fs.corpus.classes,
        "skipped": [str(s) for s in run.skipped], "feature_cache": str(fs.paths[0].parent.parent),
        "mel_shape_of_first_clip": list(fs[0].shape), "seconds": round(time.perf_counter() - t0, 1),
        "steps": ["synthesise the corpus (cached)", "log-mel features (cached)"],
    }
    write_json(out / "summary.json", summary)
    return summary
