"""Accuracy of every Table 1 method, and of GrahAM's graph variants, over seeds and labelled
fractions: a table, not a timed test.

Two settings (issue 10's goals):
- the default synthetic corpus (``synthetic``), the paper's random 70:30 split;
- the corpus with artists (``synthetic:artists``), a grouped split (no artist on both sides).

Each run trains one Siamese network and scores every method of the registry on its test clips,
plus the GNN on each graph kind and training scheme, on the same embeddings. Every run's result
is saved under ``--out`` as soon as it is done (with its embeddings and pair head, so that
``--gnn-only`` can score new GNN variants without training anything else), and a killed
benchmark resumes.

    OMP_NUM_THREADS=2 python benchmarks/bench_accuracy.py [--seeds 0 1 2] [--quick] [--gnn-only]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from _util import set_threads


VARIANTS = {  # GNN variants scored on every run's embeddings: (graph, k, training)
    "gnn complete, 1000 epochs (paper)": ("complete", 10, "plain"),
    "gnn complete, early stop + refit": ("complete", 10, "refit"),
    "gnn knn k=10, 1000 epochs": ("knn", 10, "plain"),
    "gnn knn k=10, early stop + refit": ("knn", 10, "refit"),
    "gnn similarity, early stop + refit": ("similarity", 10, "refit"),
}
#: Scored unless --variants says otherwise: the similarity graph is dense (O(N^2 h) per layer,
#: 80 ms an epoch at N = 300 against 12 ms), so it is left to an explicit --variants run.
DEFAULT_VARIANTS = [v for v in VARIANTS if "similarity" not in v]


def _gnn_train(kind: str, seed: int):
    from graham.train.gnn import GNNTrainConfig

    if kind == "plain":
        return GNNTrainConfig(seed=seed, val_fraction=0.0, patience=None, refit=False)
    return GNNTrainConfig(seed=seed, refit=kind == "refit")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.3, 0.5, 1.0])
    ap.add_argument("--settings", nargs="+", default=["random", "grouped"], choices=["random", "grouped"])
    ap.add_argument("--out", default="runs/bench_accuracy")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="one seed, 30 %% and 100 %% only, random setting")
    ap.add_argument("--gnn-only", action="store_true", help="rescore the GNN variants on the saved embeddings")
    ap.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, choices=list(VARIANTS),
                    help="GNN variants to score on every run's embeddings")
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
    import torch

    from graham.nn.siamese import SiameseNet
    from graham.train.checkpoint import load_checkpoint, save_checkpoint
    from graham.train.siamese import SiameseConfig, SiameseResult

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
                saved = path.with_suffix(".safetensors")
                if path.exists() and not (args.gnn_only and saved.exists()):
                    rows.append(json.loads(path.read_text()))
                    continue
                t0 = time.perf_counter()
                lab = labelled_subset(split.train, labels, frac, seed=seed)
                data = RunData(mels, labels, corpus.classes, split, lab, SiameseConfig(seed=seed), GNNConfig(),
                               GNNTrainConfig(seed=seed), seed=seed)
                acc = {}
                if args.gnn_only:
                    acc = json.loads(path.read_text())["accuracy"]
                    tensors, _ = load_checkpoint(saved)
                    model = SiameseNet(data.siamese_config.backbone, head_hidden=data.siamese_config.head_hidden)
                    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")})
                    data.__dict__.update(siamese=SiameseResult(model.eval()), embeddings=tensors["embeddings"].numpy())
                else:
                    for key, method in METHODS.items():
                        pred = method.run(data).pred
                        acc[method.title] = classification_metrics(labels[split.test], pred, corpus.classes)["accuracy"]
                    save_checkpoint(saved, {"embeddings": torch.from_numpy(data.embeddings),
                                            **{f"model/{k}": v for k, v in data.siamese.model.state_dict().items()}},
                                    {"split": split.name})
                for name in args.variants:
                    graph, k, kind = VARIANTS[name]
                    variant = dataclasses.replace(data, gnn_config=GNNConfig(graph=graph, k=k),
                                                  gnn_train=_gnn_train(kind, seed))
                    variant.__dict__.update(siamese=data.siamese, embeddings=data.embeddings)  # same embeddings
                    acc[name] = classification_metrics(labels[split.test], run_gnn(variant).pred,
                                                       corpus.classes)["accuracy"]
                row = {"setting": setting, "corpus": corpus.name, "split": split.name, "seed": seed, "fraction": frac,
                       "accuracy": acc, "seconds": round(time.perf_counter() - t0, 1)}
                path.write_text(json.dumps(row, indent=1))
                rows.append(row)
                print(json.dumps(row), flush=True)
    for setting in args.settings:
        if not any(r["setting"] == setting for r in rows):
            continue
        print(f"\n### {setting} split ({datasets[setting]}), accuracy % (mean ± std over seeds {args.seeds})\n")
        names = list(dict.fromkeys(n for r in rows for n in r["accuracy"]))
        print("| method | " + " | ".join(f"{f:.0%}" for f in args.fractions) + " |")
        print("| --- |" + " --- |" * len(args.fractions))
        for name in names:
            cells = []
            for frac in args.fractions:
                a = [100 * r["accuracy"][name] for r in rows
                     if r["setting"] == setting and r["fraction"] == frac and name in r["accuracy"]]
                n = sum(r["setting"] == setting and r["fraction"] == frac for r in rows)
                cells.append((f"{np.mean(a):.1f} ± {np.std(a):.1f}" + ("" if len(a) == n else f" ({len(a)} runs)"))
                             if a else "")
            print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
