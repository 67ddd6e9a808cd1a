"""Prediction latency with a trained bundle (``cpu`` preset): ms per 30-s clip end to end
(decode, resample, log-mel, backbone over the windows, attaching the windows to the reference
graph, GNN), split into its stages, and files/s over a folder. Goal: <= 40 ms per 30-s clip on 2 cores
(issue 12). Also end to end with the frozen backbone (``graham.nn.frozen``) against the module itself,
interleaved.

Usage: python benchmarks/bench_predict.py [--bundle runs/demo/bundle] [--files 20] [--threads 2]
(``make demo`` writes runs/demo/bundle.)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import median_time, set_threads  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", default="runs/demo/bundle")
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    set_threads(args.threads)
    import soundfile as sf
    import torch

    from graham.audio import load_audio
    from graham.inference.predict import load
    from graham.synth import GENRES, synthesize_clip

    if not Path(args.bundle, "config.json").exists():
        sys.exit(f"no bundle at {args.bundle}: run `make demo` first or pass --bundle")
    model = load(args.bundle)
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for k in range(args.files):
            _, y = synthesize_clip(GENRES[k % 10], 1000 + k, seconds=30.0, seed=5)
            p = Path(d) / f"clip{k:03d}.wav"
            sf.write(str(p), y, 22050, subtype="PCM_16")
            paths.append(p)
        one = paths[0]
        t_total = median_time(lambda: model.predict(one), repeats=args.repeats)
        t_decode = median_time(lambda: load_audio(one, sr=model.bundle.mel.sr), repeats=args.repeats)
        mel = model.mel(one)
        t_mel = median_time(lambda: model.mel(one), repeats=args.repeats) - t_decode
        t_embed = median_time(lambda: model.window_embeddings(mel), repeats=args.repeats)
        emb, _ = model.window_embeddings(mel)
        stats = model.clip_statistics(mel)
        t_graph = median_time(lambda: model.node_logits(torch.from_numpy(emb), stats), repeats=args.repeats)
        t0 = time.perf_counter()
        for p in paths:
            model.predict(p)
        folder = time.perf_counter() - t0
        # The same predict with the backbone module itself instead of its frozen copy,
        # interleaved with the frozen one so both see the same machine (a shared VM's speed
        # drifts by up to 2x within minutes).
        fast, plain = model.front.backbone, model.siamese.backbone
        times = {"frozen": [], "module": []}
        for r in range(2 * args.repeats + 2):
            name = ("frozen", "module")[(r + r // 2) % 2]  # ABBA order
            model.front.backbone = fast if name == "frozen" else plain
            t0 = time.perf_counter()
            model.predict(one)
            if r >= 2:
                times[name].append(time.perf_counter() - t0)
        model.front.backbone = fast
    print(f"bundle {args.bundle}: {model.graph.reference.shape[0]} reference nodes, crop {model.crop_frames} frames, "
          f"{len(emb)} windows per 30-s clip, threads={args.threads}")
    print(f"end to end: {1000 * t_total:6.1f} ms per 30-s clip (median of {args.repeats})")
    print(f"  decode {1000 * t_decode:5.1f} ms | log-mel {1000 * t_mel:5.1f} ms | backbone {1000 * t_embed:5.1f} ms | "
          f"graph + GNN {1000 * t_graph:5.1f} ms")
    print(f"folder of {len(paths)} files: {len(paths) / folder:5.1f} files/s")
    f, m = (1000 * statistics.median(times[k]) for k in ("frozen", "module"))
    print(f"interleaved end to end: frozen backbone {f:5.1f} ms, the module itself {m:5.1f} ms ({m / f:.2f}x)")


if __name__ == "__main__":
    main()
