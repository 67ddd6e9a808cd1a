"""How well do Siamese embeddings alone separate genres? Train the Siamese network (``cpu``
preset) on the training part of a stratified 70:30 split of a data set, embed every clip, and
classify the held-out clips by a 5-nearest-neighbour vote over the training embeddings.

Usage: python scripts/siamese_knn.py [--dataset synthetic] [--seed 0] [--epochs 30]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.neighbors import KNeighborsClassifier

from graham.evaluate.splits import random_split
from graham.paths import cache_dir
from graham.pipeline import extract_features
from graham.presets import siamese_config
from graham.train.siamese import embed_clips, train_siamese


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="synthetic")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None)
    args = ap.parse_args()
    fr = extract_features(args.dataset, cache_dir() / "features", progress=False)
    corpus, mels = fr.features.corpus, fr.features.mels
    y = np.asarray(corpus.targets())
    split = random_split(y, seed=args.seed)
    cfg = siamese_config("cpu", seed=args.seed, **({"epochs": args.epochs} if args.epochs else {}))
    t0 = time.perf_counter()
    res = train_siamese([mels[i] for i in split.train], y[split.train], cfg, progress=False)
    emb = embed_clips(res.model, mels, crop_frames=cfg.crop_frames)
    knn = KNeighborsClassifier(5).fit(emb[split.train], y[split.train])
    acc = knn.score(emb[split.test], y[split.test])
    print(f"{corpus.name}: {len(split.train)} training / {len(split.test)} held-out clips, cpu preset, "
          f"{cfg.epochs} epochs ({time.perf_counter() - t0:.0f} s); 5-NN accuracy on held-out clips: {acc:.3f} "
          f"(chance {1 / len(corpus.classes):.3f})")


if __name__ == "__main__":
    main()
