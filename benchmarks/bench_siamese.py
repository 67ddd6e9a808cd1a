"""Siamese training throughput: graham's step (each clip of the batch embedded once, balanced
pairs formed from the embeddings) against a twin-network step that runs the backbone on both
sides of every pair, on the same batch, pairs and model, in one process.

Prints training pairs/s of each and the ratio (goal: >= 10x).
Usage: python benchmarks/bench_siamese.py [--threads 2] [--classes 8] [--per-class 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import median_time, set_threads  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--classes", type=int, default=8, help="classes per batch")
    ap.add_argument("--per-class", type=int, default=8, help="clips per class (8 x 8 = the paper's batch of 64)")
    ap.add_argument("--frames", type=int, default=130, help="crop length in frames (3 s)")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    set_threads(args.threads)
    import numpy as np
    import torch
    from torch import nn

    from graham.nn import PRESETS, SiameseNet
    from graham.train.pairs import sample_pairs

    torch.manual_seed(0)
    model = SiameseNet(PRESETS[args.preset])
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    loss_fn = nn.BCEWithLogitsLoss()
    labels = np.repeat(np.arange(args.classes), args.per_class)
    x = torch.randn(len(labels), 128, args.frames)
    i, j, y = sample_pairs(labels, np.random.default_rng(0))
    it, jt, yt = torch.from_numpy(i), torch.from_numpy(j), torch.from_numpy(y)

    def ours():
        emb = model.embed(x)
        loss = loss_fn(model.pair_logits(emb, it, jt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def twin():
        fi, fj = model.embed(x[it]), model.embed(x[jt])
        loss = loss_fn(model.head(fi, fj), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()

    t_ours = median_time(ours, repeats=args.repeats)
    t_twin = median_time(twin, repeats=max(1, args.repeats // 2))
    p = len(y)
    print(f"preset={args.preset}, batch {len(labels)} clips ({args.classes} classes x {args.per_class}), "
          f"{p} balanced pairs ({int(y.sum())} positive), {args.frames} frames, threads={args.threads}")
    print(f"graham (embed each clip once): {t_ours:7.3f} s/step, {p / t_ours:8.1f} pairs/s, {len(labels)} backbone passes")
    print(f"twin network (both sides/pair): {t_twin:7.3f} s/step, {p / t_twin:8.1f} pairs/s, {2 * p} backbone passes")
    print(f"ratio: {t_twin / t_ours:.1f}x more training pairs per second")


if __name__ == "__main__":
    main()
