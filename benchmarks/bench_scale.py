"""Scale: what graham costs as corpora grow to AudioSet's size. Prints a table; not a test.

Each measure runs in its own child process, so its peak RSS (the whole process, torch
included) is its own:

- ``gnn``: one epoch (forward + backward + Adam) of the default GrahAM GNN on the exact
  complete graph, N nodes of d = 128 (goal at N = 1,000,000: <= 30 s, <= 4 GB).
- ``csv``: reading an AudioSet segments CSV of 2 million rows (the unbalanced set's size) with
  a folder that holds a few of its clips (goal: <= 10 s, <= 1 GB).
- ``predict``: ``graham predict``'s path (``predict_many``) over 30-s WAV files with 1 and 2
  decode workers, in files per second, with a trained bundle (``make demo`` writes one).
- ``embed``: log-mel extraction and Siamese embedding (``cpu`` preset) of N synthetic 10-s
  clips, from files to a (N, 128) array (goal: peak RSS flat, <= 1.5 GB at every N; time per
  clip within 10 % of the smallest N's). The clips are a few synthesised ones with random gain
  and shift, written as WAV files: synthesising 50,000 distinct clips would take hours.

Usage: python benchmarks/bench_scale.py [--only gnn csv predict embed] [--gnn-nodes 1000000]
       [--embed-sizes 1000 10000] [--threads 2]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import cpu_name, run_in_child, set_threads  # noqa: E402


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _gnn(n: int, threads: int, q) -> None:
    set_threads(threads)
    import torch
    from torch import nn

    from graham.nn import GNNConfig, GrahamGNN

    torch.manual_seed(0)
    x, y = torch.randn(n, 128), torch.randint(0, 10, (n,))
    model = GrahamGNN(128, 10, GNNConfig())
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    q.put({"seconds": sorted(times)[1], "peak_mb": _peak_mb()})


def write_audioset_csv(path: Path, rows: int, *, seed: int = 0) -> list[tuple[str, int]]:
    """An AudioSet-shaped segments CSV of ``rows`` rows: 11-character ids, 10-s segments,
    1-4 labels mixing music genres with other classes. Returns the (id, start) of every row."""
    import numpy as np

    from graham.data.audioset import AUDIOSET_GENRES

    rng = np.random.default_rng(seed)
    genres, others = list(AUDIOSET_GENRES), ["/m/04rlf", "/m/09x0r", "/m/0jbk", "/m/07yv9", "/m/015lz1"]
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
    ids = ["".join(r) for r in alphabet[rng.integers(0, len(alphabet), size=(rows, 11))]]
    starts = rng.integers(0, 300, rows) * 10
    n_labels = rng.integers(1, 5, rows)
    out = []
    with open(path, "w") as f:
        f.write("# Segments csv created Sun Mar  5 10:54:31 2017\n# num_ytids=%d, num_segs=%d, num_unique_labels=527, "
                "num_positive_labels=%d\n# YTID, start_seconds, end_seconds, positive_labels\n" % (rows, rows, rows))
        for i in range(rows):
            labels = [genres[k] if k < len(genres) else others[k - len(genres)]
                      for k in rng.integers(0, len(genres) + len(others), n_labels[i])]
            f.write(f'{ids[i]}, {starts[i]}.000, {starts[i] + 10}.000, "{",".join(labels)}"\n')
            out.append((ids[i], int(starts[i])))
    return out


def _write_csv(folder: str, rows: int, q) -> None:
    import numpy as np
    import soundfile as sf

    csv_path, clips = Path(folder) / "unbalanced_train_segments.csv", Path(folder) / "clips"
    segments = write_audioset_csv(csv_path, rows)
    clips.mkdir()
    silence = np.zeros(2205, np.float32)
    for ytid, start in segments[:: max(1, rows // 200)]:  # a few hundred clips on disk, the rest missing
        sf.write(str(clips / f"{ytid}_{start}.wav"), silence, 22050)
    q.put(None)


def _read_csv(folder: str, q) -> None:
    from graham.data.audioset import read_audioset

    base = _peak_mb()
    t0 = time.perf_counter()
    corpus = read_audioset(Path(folder) / "unbalanced_train_segments.csv", Path(folder) / "clips", multi_label="first")
    seconds = time.perf_counter() - t0
    q.put({"seconds": seconds, "peak_mb": _peak_mb(), "base_mb": base, "kept": len(corpus), "notes": corpus.notes[0]})


def _embed(n: int, threads: int, q) -> None:
    set_threads(threads)
    import numpy as np
    import soundfile as sf
    import torch

    from graham.data import FeatureStore, read_folder
    from graham.nn import PRESETS, SiameseNet
    from graham.synth import GENRES, synthesize_clip
    from graham.train.embed_store import embed_features

    rng = np.random.default_rng(0)
    bases = [synthesize_clip(GENRES[k], k, seconds=12.0)[1] for k in range(4)]
    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "music"
        for i in range(n):
            g = i % len(bases)
            shift = int(rng.integers(0, 2 * 22050))
            y = np.clip(bases[g][shift:shift + 10 * 22050] * rng.uniform(0.3, 1.0), -1, 1)
            folder = root / GENRES[g] / f"album{i // 100}"
            folder.mkdir(parents=True, exist_ok=True)
            sf.write(str(folder / f"clip{i:06d}.wav"), y, 22050, subtype="PCM_16")
        corpus = read_folder(root)
        base = _peak_mb()
        t0 = time.perf_counter()
        fs = FeatureStore(Path(d) / "features").extract(corpus, progress=False)
        t1 = time.perf_counter()
        torch.manual_seed(0)
        emb = embed_features(SiameseNet(PRESETS["cpu"]), fs, crop_frames=130, batch_size=64, progress=False)
        t2 = time.perf_counter()
    q.put({"features_s": t1 - t0, "embed_s": t2 - t1, "peak_mb": _peak_mb(), "base_mb": base, "clips": len(emb)})


def _predict(bundle: str, files: int, workers: int, threads: int, q) -> None:
    set_threads(threads)
    import soundfile as sf

    from graham.inference.predict import load
    from graham.synth import GENRES, synthesize_clip

    model = load(bundle, device="cpu")
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for k in range(files):
            p = Path(d) / f"clip{k:03d}.wav"
            sf.write(str(p), synthesize_clip(GENRES[k % 10], 2000 + k, seconds=30.0, seed=7)[1], 22050, subtype="PCM_16")
            paths.append(p)
        list(model.predict_many(paths[:2], workers=workers))  # warm-up
        t0 = time.perf_counter()
        n = sum(1 for _ in model.predict_many(paths, workers=workers))
        seconds = time.perf_counter() - t0
    q.put({"files_per_s": n / seconds, "peak_mb": _peak_mb()})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", default=["gnn", "csv", "embed", "predict"])
    ap.add_argument("--gnn-nodes", type=int, nargs="*", default=[1_000_000])
    ap.add_argument("--csv-rows", type=int, default=2_000_000)
    ap.add_argument("--embed-sizes", type=int, nargs="*", default=[1000, 10_000])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bundle", default="runs/demo/bundle", help="for the predict measure (make demo writes it)")
    ap.add_argument("--predict-files", type=int, default=40)
    args = ap.parse_args()
    print(f"{cpu_name()}; threads={args.threads}; peak RSS is the whole child process's, torch included")
    print(f"{'measure':<52} {'time':>22} {'peak RSS':>10}")
    if "gnn" in args.only:
        for n in args.gnn_nodes:
            r = run_in_child(_gnn, n, args.threads)
            print(f"{f'GNN epoch, N = {n:,}, d = 128, default GNN':<52} {r['seconds']:>20.1f} s {r['peak_mb']:>7.0f} MB")
    if "csv" in args.only:
        with tempfile.TemporaryDirectory() as d:  # written by one process, read by another: the peak is the reader's
            run_in_child(_write_csv, d, args.csv_rows)
            r = run_in_child(_read_csv, d)
        print(f"{f'AudioSet CSV, {args.csv_rows:,} rows':<52} {r['seconds']:>20.1f} s {r['peak_mb']:>7.0f} MB"
              f"   ({r['peak_mb'] - r['base_mb']:.0f} MB above the process's start; {r['notes']})")
    if "predict" in args.only:
        if not Path(args.bundle, "config.json").exists():
            print(f"predict: no bundle at {args.bundle} (run `make demo` or pass --bundle)")
        else:
            for workers in (1, 2):
                r = run_in_child(_predict, args.bundle, args.predict_files, workers, args.threads)
                print(f"{f'predict, {args.predict_files} files of 30 s, {workers} decode worker(s)':<52} "
                      f"{r['files_per_s']:>13.1f} files/s {r['peak_mb']:>7.0f} MB")
    if "embed" in args.only:
        first = None
        for n in args.embed_sizes:
            r = run_in_child(_embed, n, args.threads)
            per = 1000 * (r["features_s"] + r["embed_s"]) / n
            first = first or per
            print(f"{f'features + embed, {n:,} clips of 10 s':<52} {per:>12.1f} ms/clip ({per / first:.2f}x) "
                  f"{r['peak_mb']:>7.0f} MB   (features {r['features_s']:.0f} s, embed {r['embed_s']:.0f} s)")


if __name__ == "__main__":
    main()
