"""Accuracy of every Table 1 method, and of GrahAM's variants, over splits, seeds and labelled
fractions: a table of balanced accuracy (mean per-class recall) and accuracy, not a timed test.

Settings (``--settings``), each a data set and a split protocol:
- ``random``: the default synthetic corpus, the paper's random 70:30 split;
- ``grouped``: the synthetic corpus with artists, a grouped split (no artist on both sides);
- ``--dataset KIND:PATH --protocol kfold --k 5``: any data set graham reads, e.g. a real-music
  folder laid out as ``<class>/<source track>/<clip>.wav`` (the source track is the group, so
  ``kfold`` keeps a track in one fold); this replaces ``--settings``.

Each run is a run of ``graham experiment``: planned, seeded, trained and scored by the same
functions (:func:`graham.evaluate.protocol.plan_runs`, ``run_data``, ``score_run``) with the same
defaults (the ``cpu`` preset), so its scores and predictions are the command's (a test checks
this). Then the variants (``--variants``) are scored on the same embeddings. Every run's result
is saved under ``--out`` as soon as it is done, with its predictions, the code version (git
commit) and settings it came from, its embeddings and Siamese network: ``--variants-only``
scores new variants without training anything else, a killed benchmark resumes where it
stopped, and saved runs of other code are refused unless ``--any-commit`` says otherwise.
Results differ with the thread count (floating-point sums in another order train another
network): the default is one thread, and a table names the count it used.

    python benchmarks/bench_accuracy.py [--seeds 0 1 2] [--quick]
    python benchmarks/bench_accuracy.py --dataset folder:DEVSET --protocol kfold --k 5 --seeds 0 1 2 \
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

from _util import set_threads, setting_changes


def _variants():
    """Named variants scored on every run's embeddings: name -> function(RunData) -> predicted
    classes of the test clips. Their names say their settings outright, so a table keeps its
    meaning whatever the defaults of the day. The variants measured and dropped (window nodes,
    labels as inputs, GNN ensembles, graphs over the node features, cross-fitted residuals, ...)
    are gone from the code; their figures stay in docs/benchmarks-archive.md."""
    from graham.evaluate.baselines import fit_baseline, label_spreading
    from graham.evaluate.methods import run_gnn
    from graham.nn.node_features import clip_node_features

    def gnn(graph, band_statistics, smooth, standardise):
        def run(d):
            v = dataclasses.replace(d, gnn_config=dataclasses.replace(d.gnn_config, graph=graph,
                                                                      band_statistics=band_statistics, smooth=smooth),
                                    gnn_train=dataclasses.replace(d.gnn_train, standardise=standardise))
            v.__dict__.update(siamese=d.siamese, embeddings=d.embeddings)  # the same Siamese network and embeddings
            return run_gnn(v).pred
        return run

    def balanced_gnn(d):
        v = dataclasses.replace(d, gnn_train=dataclasses.replace(d.gnn_train, balanced=True))
        v.__dict__.update(siamese=d.siamese, embeddings=d.embeddings)
        return run_gnn(v).pred

    def balanced_baseline(kind):
        def run(d):
            if kind == "label_spreading":  # transductive, as bench runs are
                return label_spreading(d.embeddings, d.labels, d.labelled, d.split.test, balanced=True)
            clf = fit_baseline(kind, d.embeddings[d.labelled], d.labels[d.labelled], seed=d.seed, balanced=True)
            return clf.predict(d.embeddings[d.split.test])
        return run

    def on_node_features(kind):
        def run(d):
            x = clip_node_features(d.embeddings, d.mels, True)
            return fit_baseline(kind, x[d.labelled], d.labels[d.labelled], seed=d.seed).predict(x[d.split.test])
        return run

    return {
        "GrahAM of graham 0.1: complete graph, embedding only": gnn("complete", False, False, "labelled"),
        "GrahAM of graham 0.2: kNN graph, embedding + band statistics standardised with the labelled nodes' "
        "statistics, + correct & smooth": gnn("knn", True, True, "labelled"),
        "GrahAM, class-balanced GNN loss (each labelled node weighs 1 / its class's count)": balanced_gnn,
        "Random Forest, class-balanced": balanced_baseline("random_forest"),
        "2-layer NN, class-balanced (sample weights)": balanced_baseline("mlp_2layer"),
        "Label spreading, class-balanced (mass / labelled share)": balanced_baseline("label_spreading"),
        "Random Forest on [embedding, band statistics]": on_node_features("random_forest"),
        "2-layer NN on [embedding, band statistics]": on_node_features("mlp_2layer"),
    }


def _setting_runs(dataset: str, protocol: str, k: int, seeds, fractions, features, methods):
    """The runs of one setting exactly as ``graham experiment`` plans them: the data set's
    features, the protocol resolved by its groups, and :func:`~graham.evaluate.protocol.plan_runs`."""
    from graham.evaluate.protocol import ProtocolConfig, plan_runs
    from graham.evaluate.splits import choose_protocol
    from graham.workflows.features import extract_features
    from graham.workflows.requests import DataSource

    fr = extract_features(DataSource(dataset, cache=features), progress=False)
    corpus = fr.features.corpus
    labels = np.asarray(corpus.targets())
    chosen, _ = choose_protocol(protocol, corpus.groups, grouped="kfold")
    config = ProtocolConfig(protocol=chosen, seeds=tuple(seeds), fractions=tuple(fractions), k=k, methods=tuple(methods))
    runs = plan_runs(config, labels, groups=corpus.groups, splits=[c.split for c in corpus], classes=corpus.classes)
    return corpus, fr.features.mels, labels, runs


def _score(labels_true, pred, classes) -> dict:
    from graham.evaluate.metrics import classification_metrics

    m = classification_metrics(labels_true, pred, classes)
    return {"accuracy": m["accuracy"], "balanced_accuracy": m["balanced_accuracy"], "macro_f1": m["macro_f1"]}


def settings(siamese_changes: dict) -> dict:
    """The settings of every run: ``graham experiment``'s defaults (the ``cpu`` preset), with
    ``siamese_changes`` over the Siamese network's."""
    from graham.presets import gnn_config, gnn_train_config, siamese_config

    return {"siamese": siamese_config("cpu", **siamese_changes), "gnn": gnn_config("cpu"),
            "gnn_train": gnn_train_config("cpu")}


def run_setting(setting: str, dataset: str, protocol: str, *, k: int = 5, seeds=(0,), fractions=(1.0,),
                features=None, methods=None, variants=(), variants_only: bool = False, rescore=(),
                siamese_changes: dict | None = None, out: Path, any_commit: bool = False, log=print) -> list[dict]:
    """Every run of one setting: new runs through graham experiment's own functions
    (:func:`~graham.evaluate.protocol.run_data` and :func:`~graham.evaluate.protocol.score_run`),
    saved as soon as each is done (scores, predictions, the code version and settings, and
    beside them the embeddings and Siamese network); saved runs get the ``variants`` and the
    ``rescore`` methods they lack, on their own embeddings, only when they came from this very
    code (``any_commit`` overrides). Returns the rows."""
    import torch

    from graham.evaluate.methods import METHODS
    from graham.evaluate.protocol import run_data, score_run
    from graham.nn.siamese import SiameseNet
    from graham.train.siamese import SiameseResult
    from graham.utils.provenance import code_version, same_code
    from graham.utils.tensorfile import load_checkpoint, save_checkpoint

    all_variants = _variants()
    methods = list(methods or METHODS)
    config = settings(siamese_changes or {})
    recorded = {"siamese": config["siamese"].to_dict(), "gnn": config["gnn"].to_dict(),
                "gnn_train": config["gnn_train"].to_dict()}
    tag = hashlib.sha1(f"{dataset}|{protocol}|{k}".encode()).hexdigest()[:8]
    corpus, mels, labels, runs = _setting_runs(dataset, protocol, k, seeds, fractions, features, methods)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for planned in runs:
        seed, split, frac = planned.seed, planned.split, planned.fraction
        name = f"{setting}-{tag}-seed{seed}-{hashlib.sha1(split.name.encode()).hexdigest()[:6]}-frac{int(frac * 100)}"
        path, saved = out / f"{name}.json", out / f"{name}.safetensors"
        row = json.loads(path.read_text()) if path.exists() else None
        if row is None and variants_only:
            continue
        todo = [v for v in variants if row is None or v not in row["scores"]]
        if row is not None and not todo and not rescore:
            rows.append(row)
            continue
        if row is not None and not any_commit and not same_code(row.get("code")):
            raise SystemExit(f"{path} was made by other code ({row.get('code') or 'not recorded'}; this is "
                             f"{code_version()}): its embeddings are not what today's code trains. Rerun it (another "
                             "--out), or pass --any-commit to score it anyway and say so.")
        t0 = time.perf_counter()
        data = run_data(mels, labels, corpus.classes, planned, groups=corpus.groups, **config)
        test_y = labels[split.test]
        if row is None:
            metrics, _, _, _ = score_run(data, methods)
            save_checkpoint(saved, {"embeddings": torch.from_numpy(data.embeddings),
                                    **{f"model/{k}": v for k, v in data.siamese.model.state_dict().items()}},
                            {"split": split.name})
            row = {"setting": setting, "dataset": dataset, "protocol": protocol, "split": split.name, "seed": seed,
                   "fraction": frac, "code": code_version(), "settings": recorded,
                   "scores": {METHODS[m].title: {k: metrics[m][k] for k in ("accuracy", "balanced_accuracy", "macro_f1")}
                              for m in methods},
                   "predicted": {METHODS[m].title: metrics[m]["predicted"] for m in methods}}
        else:  # the saved Siamese network and embeddings: only the variants are new
            tensors, _ = load_checkpoint(saved)
            model = SiameseNet(data.siamese_config.backbone, head_hidden=data.siamese_config.head_hidden)
            model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")})
            data.__dict__.update(siamese=SiameseResult(model.eval()), embeddings=tensors["embeddings"].numpy())
            for key in rescore:
                row["scores"][METHODS[key].title] = _score(test_y, METHODS[key].run(data).pred, corpus.classes)
        for v in todo:
            row["scores"][v] = _score(test_y, all_variants[v](data), corpus.classes)
        row["seconds"] = round(row.get("seconds", 0) + time.perf_counter() - t0, 1)
        path.write_text(json.dumps(row, indent=1))
        rows.append(row)
        log(json.dumps({"run": name, **{k: round(v["balanced_accuracy"], 3) for k, v in row["scores"].items()}}))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.3, 0.5, 1.0])
    ap.add_argument("--settings", nargs="+", default=["random", "grouped"], choices=["random", "grouped"])
    ap.add_argument("--dataset", help="a data set spec (KIND:PATH); replaces --settings")
    ap.add_argument("--protocol", default="kfold", choices=["auto", "random", "grouped", "kfold", "given"],
                    help="split protocol for --dataset (default kfold)")
    ap.add_argument("--k", type=int, default=5, help="folds for --protocol kfold")
    ap.add_argument("--features", help="feature folder (log-mels are cached there; default: graham's cache)")
    ap.add_argument("--methods", nargs="+", help="registry methods to score (default: all)")
    ap.add_argument("--against", default="Supervised CNN",
                    help="method the paired differences are taken against (default: the supervised CNN)")
    ap.add_argument("--out", default="runs/bench_accuracy")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: results differ with the thread count; say which one a table used)")
    ap.add_argument("--siamese", nargs="*", default=[], metavar="KEY=VALUE",
                    help="Siamese settings over the cpu preset's (e.g. contrastive=0.5); use another --out")
    ap.add_argument("--quick", action="store_true", help="one seed, 30 %% and 100 %% only, random setting")
    ap.add_argument("--variants-only", action="store_true", help="score --variants on the saved runs only")
    ap.add_argument("--variants", nargs="*", default=None, help="variants to score (default: all; none: --variants)")
    ap.add_argument("--rescore", nargs="*", default=[], metavar="METHOD",
                    help="registry methods to score again on the saved runs (their Siamese network and embeddings "
                         "are reused), e.g. grahams_gnn after its defaults changed; refused for runs of other code")
    ap.add_argument("--any-commit", action="store_true",
                    help="score saved runs made by other code too (their embeddings are not today's)")
    args = ap.parse_args()
    set_threads(args.threads)
    if args.quick:
        args.seeds, args.fractions, args.settings = [0], [0.3, 1.0], ["random"]
    variants = _variants()
    chosen = list(variants) if args.variants is None else args.variants
    unknown = set(chosen) - set(variants)
    if unknown:
        ap.error(f"unknown variants {sorted(unknown)}; known: {list(variants)}")
    siamese_changes = setting_changes(args.siamese)
    if args.dataset:
        settings_ = {args.protocol: (args.dataset, args.protocol)}
    else:
        settings_ = {s: ({"random": "synthetic", "grouped": "synthetic:artists"}[s], s) for s in args.settings}
    rows = []
    for setting, (dataset, protocol) in settings_.items():
        rows += run_setting(setting, dataset, protocol, k=args.k, seeds=args.seeds, fractions=args.fractions,
                            features=args.features, methods=args.methods, variants=chosen,
                            variants_only=args.variants_only, rescore=args.rescore, siamese_changes=siamese_changes,
                            out=Path(args.out), any_commit=args.any_commit, log=lambda line: print(line, flush=True))
    for setting, (dataset, protocol) in settings_.items():
        mine = [r for r in rows if r["setting"] == setting]
        if not mine:
            continue
        commits = sorted({(r.get("code") or {}).get("commit") or "unrecorded" for r in mine})
        print(f"\nruns of {dataset}: code {', '.join(c[:10] for c in commits)}, {args.threads} thread(s)")
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
        _paired(mine, args.fractions, args.against, names)


def _paired(rows, fractions, against: str, names) -> None:
    """Each method against ``against`` run by run (same split, seed and fraction): the mean
    paired difference of balanced accuracy with its standard error, and wins / ties / losses.
    Folds differ far more than methods do; paired differences show what the spread hides."""
    print(f"\n### Paired difference to {against}, balanced accuracy points (mean ± standard error over runs; "
          "wins / ties / losses)\n")
    print("| method | " + " | ".join(f"{f:.0%}" for f in fractions) + " |")
    print("| --- |" + " --- |" * len(fractions))
    for n in names:
        if n == against:
            continue
        cells = []
        for frac in fractions:
            d = np.array([100 * (r["scores"][n]["balanced_accuracy"] - r["scores"][against]["balanced_accuracy"])
                          for r in rows if r["fraction"] == frac and n in r["scores"] and against in r["scores"]])
            if len(d) == 0:
                cells.append("")
                continue
            sem = f" ± {d.std(ddof=1) / np.sqrt(len(d)):.1f}" if len(d) > 1 else ""  # one run: no error to show
            cells.append(f"{d.mean():+.1f}{sem} ({(d > 1e-9).sum()}/{(abs(d) <= 1e-9).sum()}/{(d < -1e-9).sum()})")
        print(f"| {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
