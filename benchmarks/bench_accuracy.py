"""Accuracy of every Table 1 method, and of GrahAM's graph variants, over seeds and labelled
fractions: a table, not a timed test.

Two settings (issue 10's goals):
- the default synthetic corpus (``synthetic``), the paper's random 70:30 split;
- the corpus with artists (``synthetic:artists``), a grouped split (no artist on both sides).

Each run trains one Siamese network and scores every method of the registry on its test clips,
plus the GNN on each graph kind (and without early stopping), on the same embeddings. Every run's
result is saved under ``--out`` as soon as it is done, so a killed benchmark resumes.

    OMP_NUM_THREADS=2 python benchmarks/bench_accuracy.py [--seeds 0 1 2] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from _util import set_threads


VARIANTS = {  # GNN variants scored on every run's embeddings: (graph, k, early stopping)
    "gnn complete": ("complete", 10, True),
    "gnn complete, no early stop": ("complete", 10, False),
    "gnn knn k=10": ("knn", 10, True),
    "gnn similarity": ("similarity", 10, True),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.3, 0.5, 1.0])
    ap.add_argument("--settings", nargs="+", default=["random", "grouped"], choices=["random", "grouped"])
    ap.add_argument("--out", default="runs/bench_accuracy")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="one seed, 30 %% and 100 %% only, random setting")
    args = ap.parse_args()
    set_threads(args.threads)
    if args.quick:
        args.seeds, args.fractions, args.settings = [0], [0.3, 1.0], ["random"]

    from graham.evaluate.metrics import classification_metrics
    from graham.evaluate.methods import METHODS, RunData, run_gnn
    from graham.evaluate.splits import labelled_subset, make_splits
    from graham.nn.gnn import GNNConfig
    from graham.pipeline import _features, load_features
    from graham.train.gnn import GNNTrainConfig
    from graham.train.siamese import SiameseConfig

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    datasets = {"random": "synthetic", "grouped": "synthetic:artists"}
    rows = []
    for setting in args.settings:
        fr = _features(datasets[setting], cache=None, clips=None, progress=False)
        corpus = fr.features.corpus
        labels, mels = np.asarray(corpus.targets()), load_features(fr.features)
        for seed in args.seeds:
            split = make_splits(setting, labels, seed=seed, groups=corpus.groups)[0]
            for frac in args.fractions:
                path = out / f"{setting}-seed{seed}-frac{int(frac * 100)}.json"
                if path.exists():
                    rows.append(json.loads(path.read_text()))
                    continue
                t0 = time.perf_counter()
                lab = labelled_subset(split.train, labels, frac, seed=seed)
                data = RunData(mels, labels, corpus.classes, split, lab, SiameseConfig(seed=seed), GNNConfig(),
                               GNNTrainConfig(seed=seed), seed=seed)
                acc = {}
                for key, method in METHODS.items():
                    pred = method.run(data).pred
                    acc[method.title] = classification_metrics(labels[split.test], pred, corpus.classes)["accuracy"]
                for name, (graph, k, early) in VARIANTS.items():
                    variant = dataclasses.replace(data, gnn_config=GNNConfig(graph=graph, k=k),
                                                  gnn_train=GNNTrainConfig(seed=seed) if early else
                                                  GNNTrainConfig(seed=seed, val_fraction=0.0, patience=None))
                    variant.__dict__.update(siamese=data.siamese, embeddings=data.embeddings)  # same embeddings
                    acc[name] = classification_metrics(labels[split.test], run_gnn(variant).pred,
                                                       corpus.classes)["accuracy"]
                row = {"setting": setting, "corpus": corpus.name, "split": split.name, "seed": seed, "fraction": frac,
                       "accuracy": acc, "seconds": round(time.perf_counter() - t0, 1)}
                path.write_text(json.dumps(row, indent=1))
                rows.append(row)
                print(json.dumps(row), flush=True)
    for setting in args.settings:
        print(f"\n### {setting} split ({datasets[setting]}), accuracy % (mean ± std over seeds {args.seeds})\n")
        names = list(rows[0]["accuracy"])
        print("| method | " + " | ".join(f"{f:.0%}" for f in args.fractions) + " |")
        print("| --- |" + " --- |" * len(args.fractions))
        for name in names:
            cells = []
            for frac in args.fractions:
                a = [100 * r["accuracy"][name] for r in rows if r["setting"] == setting and r["fraction"] == frac]
                cells.append(f"{np.mean(a):.1f} ± {np.std(a):.1f}" if a else "")
            print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
