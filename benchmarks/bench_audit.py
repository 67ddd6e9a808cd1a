"""How good and how fast ``graham audit`` is (issue 22), on the synthetic corpus with faults
the benchmark injects itself:

- duplicates: copies of some clips at another gain, cut 1.5 s later, re-encoded as MP3, and
  pairs of overlapping excerpts of one longer render; precision and recall of the duplicate
  pairs found (goal: at least 0.95 each);
- flipped labels: 5 % of the clips filed under another genre; the share of them among the
  2 x (number of flips) most suspect clips of the ranking (goal: at least 0.7);
- time of the audit with the features cached, and its peak memory (goal: 1,000 clips of 30 s
  under 5 minutes on 2 cores; memory linear in the corpus).

Usage: python benchmarks/bench_audit.py [--per-genre 100] [--seconds 30] [--out runs/bench_audit]
"""

from __future__ import annotations

import argparse
import io
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _util import cpu_name, set_threads  # noqa: E402


def _write(path: Path, y: np.ndarray, sr: int = 22050) -> None:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, sr, subtype="PCM_16")


def _mp3(y: np.ndarray, sr: int = 22050) -> np.ndarray:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, y, sr, format="MP3")
    buf.seek(0)
    return sf.read(buf, dtype="float32")[0]


def build(root: Path, per_genre: int, seconds: float, dup_rate: float, flip_rate: float, seed: int):
    """The corpus as a folder (``<genre>/<clip>.wav``); (duplicate pairs by clip id, flipped ids)."""
    from graham.synth import GENRES, synthesize_clip

    rng = np.random.default_rng(seed)
    sr = 22050
    pairs, flipped = set(), set()
    ids = [(g, k) for g in GENRES for k in range(per_genre)]
    dup = set(rng.choice(len(ids), int(round(dup_rate * len(ids))), replace=False).tolist())
    flip = set(rng.choice(len(ids), int(round(flip_rate * len(ids))), replace=False).tolist()) - dup
    kinds = ("gain", "offset", "mp3", "excerpt")
    for n, (g, k) in enumerate(ids):
        filed = g
        if n in flip:  # filed under another genre
            filed = GENRES[(GENRES.index(g) + 1 + int(rng.integers(len(GENRES) - 1))) % len(GENRES)]
            flipped.add(f"{filed}/{g}{k}")
        cid = f"{filed}/{g}{k}"
        if n in dup and kinds[n % 4] == "excerpt":  # two overlapping excerpts of one longer render
            _, y = synthesize_clip(g, k, seconds=seconds * 1.5, seed=seed)
            _write(root / filed / f"{g}{k}.wav", y[: int(seconds * sr)])
            _write(root / filed / f"{g}{k}-excerpt.wav", y[int(seconds * 0.5 * sr):])
            pairs.add(frozenset((cid, f"{cid}-excerpt")))
            continue
        _, y = synthesize_clip(g, k, seconds=seconds, seed=seed)
        _write(root / filed / f"{g}{k}.wav", y)
        if n in dup:
            kind = kinds[n % 4]
            z = {"gain": 0.4 * y, "offset": y[int(1.5 * sr):], "mp3": _mp3(y)}[kind]
            _write(root / filed / f"{g}{k}-{kind}.wav", z)
            pairs.add(frozenset((cid, f"{cid}-{kind}")))
    return pairs, flipped


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-genre", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--dup-rate", type=float, default=0.05)
    ap.add_argument("--flip-rate", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="runs/bench_audit")
    args = ap.parse_args()
    set_threads(args.threads)
    from graham.workflows.audit import run_audit
    from graham.workflows.features import extract_features
    from graham.workflows.requests import DataSource

    out = Path(args.out)
    root = out / f"corpus-{args.per_genre}x{args.seconds:g}-seed{args.seed}"
    t0 = time.perf_counter()
    pairs, flipped = build(root, args.per_genre, args.seconds, args.dup_rate, args.flip_rate, args.seed)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    source = DataSource(f"folder:{root}", cache=out / "features")
    extract_features(source, progress=False)
    t_feat = time.perf_counter() - t0
    t0 = time.perf_counter()
    result, page = run_audit(source, out / "audit", seed=args.seed, progress=False)
    t_audit = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    ids = result.corpus.clip_ids
    found = {frozenset((ids[d.a], ids[d.b])) for d in result.duplicates}
    hits = len(found & pairs)
    precision = hits / max(1, len(found))
    recall = hits / max(1, len(pairs))
    ranking = np.argsort(-result.labels.suspicion)
    top = {ids[i] for i in ranking[: 2 * len(flipped)]}
    caught = len(top & flipped) / max(1, len(flipped))
    flagged = {ids[i] for i in result.suspects}
    print(f"CPU: {cpu_name()}, {args.threads} threads; {len(ids)} clips of {args.seconds:g} s "
          f"({len(pairs)} duplicate pairs, {len(flipped)} flipped labels injected)")
    print("| measure | value | goal |")
    print("| --- | --- | --- |")
    print(f"| duplicate pairs: precision | {precision:.3f} ({hits} of {len(found)} found) | >= 0.95 |")
    print(f"| duplicate pairs: recall | {recall:.3f} ({hits} of {len(pairs)}) | >= 0.95 |")
    print(f"| flipped labels in the top 2x of the ranking | {caught:.3f} ({len(top & flipped)} of {len(flipped)}) | >= 0.7 |")
    print(f"| flipped labels flagged by confident learning | {len(flagged & flipped)} of {len(flipped)} "
          f"({len(flagged)} flagged) | |")
    print(f"| audit, features cached | {t_audit:.1f} s | < 300 s for 1,000 clips of 30 s |")
    print(f"| peak resident memory of the process | {peak:.0f} MB | linear in the corpus |")
    print(f"(building the corpus {t_build:.0f} s, log-mels {t_feat:.0f} s; page: {page})")
    missed = pairs - found
    if missed:
        print("missed pairs:", sorted(tuple(sorted(p)) for p in missed)[:10])
    wrong = found - pairs
    if wrong:
        print("pairs found that were not injected:", sorted(tuple(sorted(p)) for p in wrong)[:10])


if __name__ == "__main__":
    main()
