"""Accuracy of every Table 1 method, and of GrahAM's variants, over splits, seeds and labelled
fractions: a table of balanced accuracy (mean per-class recall) and accuracy, not a timed test.

Settings (``--settings``), each a data set and a split protocol:
- ``random``: the default synthetic corpus, the paper's random 70:30 split;
- ``grouped``: the synthetic corpus with artists, a grouped split (no artist on both sides);
- ``--dataset KIND:PATH --protocol kfold --k 5``: any data set graham reads, e.g. a real-music
  folder laid out as ``<class>/<source track>/<clip>.wav`` (the source track is the group, so
  ``kfold`` keeps a track in one fold); this replaces ``--settings``.

Each run trains one Siamese network and scores every method of the registry on its test clips,
then the variants (``--variants``) on the same embeddings. Every run's result is saved under
``--out`` as soon as it is done, with its embeddings and Siamese network, so that
``--variants-only`` scores new variants without training anything else, and a killed benchmark
resumes where it stopped.

    OMP_NUM_THREADS=2 python benchmarks/bench_accuracy.py [--seeds 0 1 2] [--quick]
    python benchmarks/bench_accuracy.py --dataset folder:DEVSET --protocol kfold --k 5 --seeds 0 1 \
        --fractions 0.3 1.0 --features runs/devset-features
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from _util import set_threads


def _variants():
    """Named variants scored on every run's embeddings: name -> function(RunData) -> predicted
    classes of the test clips."""
    from graham.evaluate.methods import run_gnn
    from graham.nn.gnn import GNNConfig
    from graham.train.gnn import GNNTrainConfig

    def gnn(graph="complete", k=10, refit=False):
        def run(d):
            train = (GNNTrainConfig(seed=d.seed, val_fraction=0.2, patience=300, refit=True) if refit
                     else GNNTrainConfig(seed=d.seed))
            v = dataclasses.replace(d, gnn_config=dataclasses.replace(d.gnn_config, graph=graph, k=k), gnn_train=train)
            v.__dict__.update(siamese=d.siamese, embeddings=d.embeddings)  # the same embeddings
            return run_gnn(v).pred
        return run

    def smoothed(base, graph="complete"):
        def run(d):
            import torch
            from graham.nn.propagate import correct_and_smooth

            if base == "gnn":
                v = dataclasses.replace(d, gnn_config=dataclasses.replace(d.gnn_config, graph=graph))
                v.__dict__.update(siamese=d.siamese, embeddings=d.embeddings)
                proba = run_gnn(v).extras["proba"]
            else:
                from graham.evaluate.baselines import fit_baseline
                proba = fit_baseline(base, d.embeddings[d.labelled], d.labels[d.labelled], seed=d.seed) \
                    .predict_proba(d.embeddings)
            z = d.embeddings - d.embeddings[d.labelled].mean(0)
            z = z / (d.embeddings[d.labelled].std(0) + 1e-6)
            out = correct_and_smooth(torch.as_tensor(proba, dtype=torch.float32), torch.as_tensor(z, dtype=torch.float32),
                                     d.labels[d.labelled], d.labelled)
            return out[d.split.test].argmax(1).numpy()
        return run

    def classifier_proba(d):
        """The Siamese run's own identification classifier, windows averaged (as the CNN)."""
        from torch import nn
        from graham.train.supervised import predict_proba_clips

        net = nn.Sequential(d.siamese.model.backbone, d.siamese.classifier)
        return predict_proba_clips(net, d.mels, crop_frames=d.siamese_config.crop_frames)

    def classifier(smooth):
        def run(d):
            import torch
            from graham.nn.propagate import correct_and_smooth

            proba = classifier_proba(d)
            if not smooth:
                return proba[d.split.test].argmax(1)
            z = (d.embeddings - d.embeddings[d.labelled].mean(0)) / (d.embeddings[d.labelled].std(0) + 1e-6)
            out = correct_and_smooth(torch.as_tensor(proba, dtype=torch.float32), torch.as_tensor(z, dtype=torch.float32),
                                     d.labels[d.labelled], d.labelled)
            return out[d.split.test].argmax(1).numpy()
        return run

    def gnn_with_proba(d):
        import numpy as np
        proba = classifier_proba(d)
        v = dataclasses.replace(d)
        v.__dict__.update(siamese=d.siamese, embeddings=np.concatenate([d.embeddings, np.log(proba + 1e-4)], 1))
        return run_gnn(v).pred

    def self_training(d):
        """GrahAM's graph labels the unlabelled training clips (GNN + correct & smooth); the
        Siamese network and the GNN then train again on labelled + pseudo-labelled clips."""
        import numpy as np
        import torch
        from graham.nn.propagate import correct_and_smooth

        unl = np.setdiff1d(d.split.train, d.labelled)
        if len(unl) == 0:
            return run_gnn(d).pred
        proba = run_gnn(d).extras["proba"]
        z = (d.embeddings - d.embeddings[d.labelled].mean(0)) / (d.embeddings[d.labelled].std(0) + 1e-6)
        g = correct_and_smooth(torch.as_tensor(proba, dtype=torch.float32), torch.as_tensor(z, dtype=torch.float32),
                               d.labels[d.labelled], d.labelled).numpy()
        labels = d.labels.copy()
        labels[unl] = g[unl].argmax(1)
        both = np.sort(np.concatenate([d.labelled, unl]))
        v = dataclasses.replace(d, labels=labels, labelled=both)
        return run_gnn(v).pred

    return {
        "gnn self-training (graph pseudo-labels)": self_training,
        "siamese classifier, windows averaged": classifier(False),
        "siamese classifier + correct & smooth": classifier(True),
        "gnn on [embedding, classifier log-proba]": gnn_with_proba,
        "gnn + correct & smooth": smoothed("gnn"),
        "gnn knn + correct & smooth": smoothed("gnn", "knn"),
        "2-layer NN + correct & smooth": smoothed("mlp_2layer"),
        "gnn complete, 1000 epochs (paper)": gnn("complete"),
        "gnn knn k=10, 1000 epochs": gnn("knn"),
        "gnn complete, early stop + refit": gnn("complete", refit=True),
    }


def _setting_runs(dataset: str, protocol: str, k: int, seeds, fractions, features):
    from graham.evaluate.splits import make_splits
    from graham.pipeline import _features

    fr = _features(dataset, cache=features, clips=None, progress=False)
    corpus = fr.features.corpus
    labels = np.asarray(corpus.targets())
    for seed in seeds:
        for split in make_splits(protocol, labels, seed=seed, groups=corpus.groups, k=k,
                                 splits=[c.split for c in corpus]):
            for frac in fractions:
                yield corpus, fr.features.mels, labels, seed, split, frac


def _score(labels_true, pred, classes) -> dict:
    from graham.evaluate.metrics import classification_metrics

    m = classification_metrics(labels_true, pred, classes)
    return {"accuracy": m["accuracy"], "balanced_accuracy": m["balanced_accuracy"], "macro_f1": m["macro_f1"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.3, 0.5, 1.0])
    ap.add_argument("--settings", nargs="+", default=["random", "grouped"], choices=["random", "grouped"])
    ap.add_argument("--dataset", help="a data set spec (KIND:PATH); replaces --settings")
    ap.add_argument("--protocol", default="kfold", choices=["random", "grouped", "kfold", "given"],
                    help="split protocol for --dataset (default kfold)")
    ap.add_argument("--k", type=int, default=5, help="folds for --protocol kfold")
    ap.add_argument("--features", help="feature folder (log-mels are cached there; default: graham's cache)")
    ap.add_argument("--methods", nargs="+", help="registry methods to score (default: all)")
    ap.add_argument("--out", default="runs/bench_accuracy")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="one seed, 30 %% and 100 %% only, random setting")
    ap.add_argument("--variants-only", action="store_true", help="score --variants on the saved runs only")
    ap.add_argument("--variants", nargs="*", default=None, help="variants to score (default: all; none: --variants)")
    args = ap.parse_args()
    set_threads(args.threads)
    if args.quick:
        args.seeds, args.fractions, args.settings = [0], [0.3, 1.0], ["random"]

    import torch

    from graham.evaluate.methods import METHODS, RunData
    from graham.evaluate.splits import labelled_subset
    from graham.nn.gnn import GNNConfig
    from graham.nn.siamese import SiameseNet
    from graham.train.checkpoint import load_checkpoint, save_checkpoint
    from graham.train.gnn import GNNTrainConfig
    from graham.train.siamese import SiameseConfig, SiameseResult

    variants = _variants()
    chosen = list(variants) if args.variants is None else args.variants
    unknown = set(chosen) - set(variants)
    if unknown:
        ap.error(f"unknown variants {sorted(unknown)}; known: {list(variants)}")
    methods = args.methods or list(METHODS)
    if args.dataset:
        settings = {args.protocol: (args.dataset, args.protocol)}
    else:
        settings = {s: ({"random": "synthetic", "grouped": "synthetic:artists"}[s], s) for s in args.settings}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for setting, (dataset, protocol) in settings.items():
        tag = hashlib.sha1(f"{dataset}|{protocol}|{args.k}".encode()).hexdigest()[:8]
        for corpus, mels, labels, seed, split, frac in _setting_runs(dataset, protocol, args.k, args.seeds,
                                                                     args.fractions, args.features):
            name = f"{setting}-{tag}-seed{seed}-{hashlib.sha1(split.name.encode()).hexdigest()[:6]}-frac{int(frac * 100)}"
            path, saved = out / f"{name}.json", out / f"{name}.safetensors"
            row = json.loads(path.read_text()) if path.exists() else None
            if row is None and args.variants_only:
                continue
            todo = [v for v in chosen if row is None or v not in row["scores"]]
            if row is not None and not todo:
                rows.append(row)
                continue
            t0 = time.perf_counter()
            lab = labelled_subset(split.train, labels, frac, seed=seed)
            data = RunData(mels, labels, corpus.classes, split, lab, SiameseConfig(seed=seed), GNNConfig(),
                           GNNTrainConfig(seed=seed), seed=seed)
            test_y = labels[split.test]
            if row is None:
                scores = {}
                for key in methods:
                    scores[METHODS[key].title] = _score(test_y, METHODS[key].run(data).pred, corpus.classes)
                clf = data.siamese.classifier
                save_checkpoint(saved, {"embeddings": torch.from_numpy(data.embeddings),
                                        **{f"model/{k}": v for k, v in data.siamese.model.state_dict().items()},
                                        **({} if clf is None else {f"ident/{k}": v for k, v in clf.state_dict().items()})},
                                {"split": split.name})
                row = {"setting": setting, "dataset": dataset, "protocol": protocol, "split": split.name,
                       "seed": seed, "fraction": frac, "scores": scores}
            else:  # the saved Siamese network and embeddings: only the variants are new
                tensors, _ = load_checkpoint(saved)
                model = SiameseNet(data.siamese_config.backbone, head_hidden=data.siamese_config.head_hidden)
                model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")})
                clf = None
                if any(k.startswith("ident/") for k in tensors):
                    clf = torch.nn.Linear(model.embedding_dim, len(corpus.classes))
                    clf.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("ident/")})
                data.__dict__.update(siamese=SiameseResult(model.eval(), classifier=clf),
                                     embeddings=tensors["embeddings"].numpy())
            for v in todo:
                row["scores"][v] = _score(test_y, variants[v](data), corpus.classes)
            row["seconds"] = round(row.get("seconds", 0) + time.perf_counter() - t0, 1)
            path.write_text(json.dumps(row, indent=1))
            rows.append(row)
            print(json.dumps({"run": name, **{k: round(v["balanced_accuracy"], 3) for k, v in row["scores"].items()}}),
                  flush=True)
    for setting, (dataset, protocol) in settings.items():
        mine = [r for r in rows if r["setting"] == setting]
        if not mine:
            continue
        for metric in ("balanced_accuracy", "accuracy"):
            print(f"\n### {dataset}, {protocol} split: {metric.replace('_', ' ')} % (mean ± std over "
                  f"{'folds and ' if protocol == 'kfold' else ''}seeds {args.seeds})\n")
            names = list(dict.fromkeys(n for r in mine for n in r["scores"]))
            print("| method | " + " | ".join(f"{f:.0%}" for f in args.fractions) + " |")
            print("| --- |" + " --- |" * len(args.fractions))
            for n in names:
                cells = []
                for frac in args.fractions:
                    at = [r for r in mine if r["fraction"] == frac]
                    a = [100 * r["scores"][n][metric] for r in at if n in r["scores"]]
                    cells.append((f"{np.mean(a):.1f} ± {np.std(a):.1f}" + ("" if len(a) == len(at) else f" ({len(a)} runs)"))
                                 if a else "")
                print(f"| {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
