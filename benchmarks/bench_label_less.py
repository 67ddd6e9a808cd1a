"""Label less: active labelling against random labelling, and a new genre added to a bundle
from a handful of clips against a full retrain. Accuracy, not a timed test.

``active``: on every grouped fold of every seed, start from 2 labelled training clips a class
(drawn at random), then label in rounds of 5 % of the training clips up to ``--until``: each
round trains what ``graham train --labels`` trains (the Siamese network on the labelled clips
and, by its contrastive loss, on every training clip's audio; the GNN over every clip, correct &
smooth; ``--siamese contrastive=0``: the labelled clips alone, as before 2026-12-06), scores the
test clips, and picks the next round's clips
by ``--strategy`` (:func:`graham.labelling.select.select_batch`, the function ``graham suggest``
runs). The 2-layer NN and label spreading are scored on the same embeddings and labels.

``new-genre``: on every grouped fold, hold one class out of training (each class in turn), train
the ``cpu`` preset on the other classes' training clips (the Siamese network, the GNN, the
bundle: what ``graham train`` makes; ``--siamese contrastive=1.0`` for the contrastive loss),
extend the bundle with ``--shots`` training clips of the held-out class
(:func:`graham.workflows.extend.extend_bundle`: only the graph part is refit) and score every test clip
as ``graham predict`` does; the full retrain that saw every class is the same fold at 100 %
labels.

``report``: the figure (balanced accuracy against labels spent), the tables and the page.

Each round or run is saved as soon as it is done (``--out``), so a killed benchmark resumes.
Results differ with the thread count: the default is one thread.

    python benchmarks/bench_label_less.py active --dataset folder:DEVSET --features FEATURES \
        --seeds 0 1 2 --strategy typical --until 0.2 --out runs/label-less
    python benchmarks/bench_label_less.py active ... --strategy random --until 0.3
    python benchmarks/bench_label_less.py new-genre --dataset folder:DEVSET --features FEATURES --out runs/label-less
    python benchmarks/bench_label_less.py report --out runs/label-less --reference runs/dev-30
    python benchmarks/bench_label_less.py extend-time --bundle runs/demo/bundle --to 300
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from _util import set_threads, setting_changes

#: The labelled fractions of the training clips each round reaches, after the start of 2 a class.
ROUNDS = (0.05, 0.10, 0.15, 0.20, 0.25, 0.30)


def _setting(dataset: str, features, seeds, k: int, only=()):
    from graham.evaluate.protocol import ProtocolConfig, plan_runs
    from graham.evaluate.splits import choose_protocol
    from graham.workflows.features import extract_features
    from graham.workflows.requests import DataSource

    fr = extract_features(DataSource(dataset, cache=features), progress=False)
    corpus = fr.features.corpus
    labels = np.asarray(corpus.targets())
    chosen, _ = choose_protocol("auto", corpus.groups, grouped="kfold")
    config = ProtocolConfig(protocol=chosen, seeds=tuple(seeds), fractions=(1.0,), k=k)
    runs = plan_runs(config, labels, groups=corpus.groups, classes=corpus.classes)
    return corpus, fr.features.mels, labels, [r for i, r in enumerate(runs) if not only or i in only]


def _run_data(mels, labels, classes, split, labelled, seed, groups, siamese_changes=None):
    from graham.evaluate.methods import RunData
    from graham.presets import GNNTrainConfig, SiameseConfig, gnn_config, gnn_train_config, siamese_config

    sia = SiameseConfig.from_dict({**siamese_config("cpu", **(siamese_changes or {})).to_dict(), "seed": seed})
    g_train = GNNTrainConfig(**{**gnn_train_config("cpu").to_dict(), "seed": seed})
    return RunData(mels, labels, list(classes), split, np.sort(np.asarray(labelled)), sia, gnn_config("cpu"), g_train,
                   seed=seed, groups=groups)


def _balanced(y_true, pred, classes) -> float:
    from graham.evaluate.metrics import classification_metrics

    return float(classification_metrics(np.asarray(y_true), np.asarray(pred), list(classes))["balanced_accuracy"])


def _start(pool: np.ndarray, labels: np.ndarray, seed: int, per_class: int = 2) -> np.ndarray:
    rng = np.random.default_rng([seed, 2])
    return np.sort(np.concatenate([rng.permutation(pool[labels[pool] == c])[:per_class]
                                     for c in np.unique(labels[pool])]))


def active(args) -> None:
    from graham.evaluate.methods import METHODS, run_gnn
    from graham.labelling.select import select_batch

    corpus, mels, labels, runs = _setting(args.dataset, args.features, args.seeds, args.k, args.runs)
    groups = np.asarray(corpus.groups)
    classes = corpus.classes
    out = Path(args.out) / "active"
    out.mkdir(parents=True, exist_ok=True)
    from graham.workflows.label_less import LABELS_CONTRASTIVE

    # what train --labels trains: its contrastive weight unless --siamese sets one (contrastive=0: the runs before it)
    changes = {"contrastive": LABELS_CONTRASTIVE["cpu"], **setting_changes(args.siamese)}
    for planned in runs:
        seed, split = planned.seed, planned.split
        tag = hashlib.sha1(split.name.encode()).hexdigest()[:6]
        path = out / f"{args.strategy}-seed{seed}-{tag}.json"
        rule = args.strategy != "random" and not args.any_group  # new groups first (random ignores it)
        doc = json.loads(path.read_text()) if path.exists() else {
            "strategy": args.strategy, "seed": seed, "split": split.name, "pool": int(len(split.train)),
            "test": int(len(split.test)), "new_groups_first": rule, "siamese": changes, "rounds": []}
        if doc.get("new_groups_first", False) != rule:  # files from before the rule have no key
            raise SystemExit(f"{path} was made with new groups first {'on' if not rule else 'off'}; this run has it "
                             f"{'on' if rule else 'off'}: use another --out")
        made = doc.get("siamese", {})
        if {"contrastive": 0.0, **made} != {"contrastive": 0.0, **changes}:  # files without the key: plain
            raise SystemExit(f"{path} was made with Siamese settings {made}, this run has {changes}: "
                             "use another --out")
        if doc["rounds"] and "next" not in doc["rounds"][-1]:
            continue  # finished: its last round labelled nothing more
        pool = np.sort(split.train)
        labelled = (np.asarray(doc["rounds"][-1]["next"], dtype=np.int64) if doc["rounds"]
                    else _start(pool, labels, seed))
        targets = [f for f in ROUNDS if f <= args.until + 1e-9]
        while True:
            n_round = len(doc["rounds"])
            if n_round > len(targets):
                break
            t0 = time.perf_counter()
            d = _run_data(mels, labels, classes, split, labelled, seed, groups, changes)
            g = run_gnn(d)
            row = {"labelled": [int(i) for i in labelled], "n_labelled": int(len(labelled)),
                   "fraction": len(labelled) / len(pool),
                   "balanced_accuracy": {"grahams_gnn": _balanced(labels[split.test], g.pred, classes)}}
            for m in ("mlp_2layer", "label_spreading"):
                row["balanced_accuracy"][m] = _balanced(labels[split.test], METHODS[m].run(d).pred, classes)
            if n_round < len(targets):
                want = int(round(targets[n_round] * len(pool)))
                budget = max(1, want - len(labelled))
                picks = select_batch(d.embeddings, g.extras["proba"], labelled, pool, budget, groups=groups,
                                       per_group=args.per_group, strategy=args.strategy,
                                       new_groups_first=rule, seed=seed * 100 + n_round)
                row["next"] = [int(i) for i in np.sort(np.concatenate([labelled, [p.index for p in picks]]))]
                labelled = np.asarray(row["next"], dtype=np.int64)
            row["seconds"] = round(time.perf_counter() - t0, 1)
            doc["rounds"].append(row)
            path.write_text(json.dumps(doc))
            print(f"{args.strategy} seed {seed} {split.name[-12:]}: {row['n_labelled']} labelled "
                  f"({100 * row['fraction']:.1f} %): GrahAM {100 * row['balanced_accuracy']['grahams_gnn']:.1f} "
                  f"2NN {100 * row['balanced_accuracy']['mlp_2layer']:.1f} "
                  f"LS {100 * row['balanced_accuracy']['label_spreading']:.1f} ({row['seconds']} s)", flush=True)
            if "next" not in row:
                break


def new_genre(args) -> None:
    """Hold each class out in turn; train without it; extend the bundle with ``shots`` clips."""
    from graham.evaluate.methods import run_gnn
    from graham.evaluate.splits import Split
    from graham.inference.bundle import load_bundle
    from graham.inference.predict import GenreClassifier
    from graham.workflows.extend import extend_bundle
    from graham.workflows.train import bundle_from_run

    corpus, mels, labels, runs = _setting(args.dataset, args.features, args.seeds, args.k, args.runs)
    groups = np.asarray(corpus.groups)
    classes = corpus.classes
    out = Path(args.out) / "new-genre"
    out.mkdir(parents=True, exist_ok=True)
    from graham.workflows.features import extract_features
    from graham.workflows.requests import DataSource

    fr_config = extract_features(DataSource(args.dataset, cache=args.features), progress=False).features.config
    changes = setting_changes(args.siamese)
    for planned in runs:
        seed, split = planned.seed, planned.split
        tag = hashlib.sha1(split.name.encode()).hexdigest()[:6]
        for held, name in enumerate(classes):
            path = out / f"seed{seed}-{tag}-{name}.json"
            bdir = out / "bundles" / path.stem  # kept: --re-extend extends them again, training nothing
            if args.held_out and name not in args.held_out:
                continue
            if path.exists():
                made = json.loads(path.read_text())
                if (made.get("siamese", {}), made.get("held_out_unlabelled", False)) != (changes, args.held_out_unlabelled):
                    raise SystemExit(f"{path} was made with other settings (Siamese {made.get('siamese', {})}, held "
                                     f"out unlabelled {made.get('held_out_unlabelled', False)}): use another --out")
                if not args.re_extend:
                    continue
            t0 = time.perf_counter()
            # without --held-out-unlabelled the held-out class is not in the collection at all; with it,
            # its training clips are unlabelled nodes (and contrastive audio) of the training graph
            keep = np.flatnonzero(labels != held)
            if args.held_out_unlabelled:
                keep = np.union1d(keep, split.train)
            others = [c for c in classes if c != name]
            remap = np.array([others.index(c) if c != name else -1 for c in classes])
            train_k = np.intersect1d(split.train, keep)
            test_k = np.intersect1d(split.test, keep)
            sub = [mels[i] for i in keep]
            pos = {int(i): j for j, i in enumerate(keep)}
            sub_split = Split(np.array([pos[i] for i in train_k]), np.array([pos[i] for i in test_k]), split.name)
            sub_labels = remap[labels[keep]]
            known = sub_split.train[sub_labels[sub_split.train] >= 0]  # the labelled clips: the known classes'
            if not (bdir / "config.json").exists():
                d = _run_data(sub, sub_labels, others, sub_split, known, seed, groups[keep], changes)
                g = run_gnn(d)
                # the bundle train_model saves: the labelled training clips as reference nodes
                bundle_from_run(d, g.model, mel=fr_config, reference=known, reference_labels=sub_labels[known],
                                clip_ids=[corpus.clip_ids[i] for i in keep], info={}).save(bdir)
            train_seconds = time.perf_counter() - t0
            base = GenreClassifier(load_bundle(bdir))
            test = np.sort(split.test)
            before = [base.predict_mel(np.asarray(mels[i]), top_k=1).label for i in test]
            row = {"seed": seed, "split": split.name, "held_out": name, "train_seconds": round(train_seconds, 1),
                   "siamese": changes, "held_out_unlabelled": bool(args.held_out_unlabelled),
                   "before": before, "test": [int(i) for i in test], "truth": [classes[labels[i]] for i in test],
                   "shots": {}}
            rng = np.random.default_rng([seed, held, 5])
            candidates = split.train[labels[split.train] == held]
            # shots from distinct groups first: five clips of one track are one example
            order = rng.permutation(candidates)
            by_group, rest = [], []
            seen = set()
            for i in order:
                (rest if groups[i] in seen else by_group).append(i)
                seen.add(groups[i])
            order = by_group + rest
            for shots in args.shots:
                chosen = order[:shots]
                t1 = time.perf_counter()
                ext = extend_bundle(load_bundle(bdir), {name: [np.asarray(mels[i]) for i in chosen]},
                                      ids={name: [corpus.clip_ids[i] for i in chosen]}, seed=seed)
                ext_seconds = time.perf_counter() - t1
                model = GenreClassifier(ext)
                after = [model.predict_mel(np.asarray(mels[i]), top_k=1).label for i in test]
                row["shots"][str(shots)] = {"clips": [corpus.clip_ids[i] for i in chosen], "after": after,
                                              "extend_seconds": round(ext_seconds, 2),
                                              "reference_nodes": int(len(ext.reference))}
            path.write_text(json.dumps(row))
            rec = {s: np.mean([a == t for a, t in zip(v["after"], row["truth"]) if t == name])
                   for s, v in row["shots"].items()}
            print(f"seed {seed} {split.name[-12:]} without {name}: recall of {name} after extending "
                  + ", ".join(f"{s} clips {100 * r:.0f} %" for s, r in rec.items()), flush=True)


def _stratified_reference(path: str | None) -> dict:
    """GrahAM's balanced accuracy at random (stratified) 30 % labels per (seed, split), from a
    ``graham experiment`` folder run at 0.3 on the same folds (its runs/seed*.json)."""
    out = {}
    for f in sorted(Path(path).glob("runs/seed*.json")) if path else []:
        d = json.loads(f.read_text())
        if abs(d["fraction"] - 0.3) < 1e-9:
            out[(d["seed"], d["split"])] = d["metrics"]["grahams_gnn"]["balanced_accuracy"]
    for f in sorted(Path(path).glob("*frac30.json")) if path else []:  # a bench_accuracy.py --out folder
        d = json.loads(f.read_text())
        out[(d["seed"], d["split"])] = d["scores"]["GrahAM (GNN)"]["balanced_accuracy"]
    return out


def report(args) -> None:
    """The figure, the tables (Markdown, printed and in report.html) from the saved results."""
    from graham.report.html import Section, write_report
    from graham.utils.figures import new_figure

    root = Path(args.out)
    runs = [json.loads(f.read_text()) for f in sorted((root / "active").glob("*.json"))]
    for r in runs:  # the curves: by strategy and Siamese settings (files without them: plain)
        con = r.get("siamese", {}).get("contrastive", 0)
        r["strategy"] += f" + contrastive {con:g}" if con else (" (labels alone)" if r["strategy"] != "random" else "")
    ref30 = _stratified_reference(args.reference)
    if not ref30:
        ref30 = {(r["seed"], r["split"]): r["rounds"][-1]["balanced_accuracy"]["grahams_gnn"] for r in runs
                 if r["strategy"] == "random" and abs(r["rounds"][-1]["fraction"] - 0.3) < 0.02}
    lines, sections = [], []
    methods = {"grahams_gnn": "GrahAM", "mlp_2layer": "2-layer NN", "label_spreading": "Label spreading"}
    fig, ax = new_figure(figsize=(7, 4))
    curves = {}
    for strategy in sorted({r["strategy"] for r in runs}):
        mine = [r for r in runs if r["strategy"] == strategy]
        n_rounds = min(len(r["rounds"]) for r in mine)
        for m, title in methods.items():
            xs = [100 * np.mean([r["rounds"][k]["fraction"] for r in mine]) for k in range(n_rounds)]
            ys = [[100 * r["rounds"][k]["balanced_accuracy"][m] for r in mine] for k in range(n_rounds)]
            curves[(strategy, m)] = (xs, ys, [(r["seed"], r["split"]) for r in mine])
            if m != "label_spreading":
                ax.errorbar(xs, [np.mean(y) for y in ys], yerr=[np.std(y) / np.sqrt(len(y)) for y in ys], capsize=3,
                            marker="o" if not strategy.startswith("random") else "s", ls="-" if m == "grahams_gnn" else "--",
                            label=f"{title}, {strategy} ({len(mine)} runs)")
    if ref30:
        v = 100 * np.mean(list(ref30.values()))
        ax.axhline(v, color="grey", ls=":", label=f"GrahAM, random 30 % ({len(ref30)} runs): {v:.1f}")
    ax.set_xlabel("training clips labelled, %")
    ax.set_ylabel("test balanced accuracy, %")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(root / "active.png", dpi=110)
    lines.append("| strategy | method | balanced accuracy % by round: mean ± std at the labelled % (runs) |")
    lines.append("| --- | --- | --- |")
    for (strategy, m), (xs, ys, _) in curves.items():
        lines.append(f"| {strategy} | {methods[m]} | " + "; ".join(f"{np.mean(y):.1f} ± {np.std(y):.1f} at {x:.0f} % "
                                                                 f"({len(y)})" for x, y in zip(xs, ys)) + " |")
    # the target: GrahAM at random 30 % labels, paired by (seed, split); from --reference, else the random strategy's 30 % round
    for (strategy, m), (xs, ys, keys) in curves.items():
        if strategy.startswith("random") or m != "grahams_gnn" or not ref30:
            continue
        for j in range(len(xs)):
            paired = [ys[j][i] - 100 * ref30[k] for i, k in enumerate(keys) if k in ref30]
            if paired and xs[j] >= 9.5:
                lines.append(f"\nGrahAM, {strategy} at {xs[j]:.0f} % minus GrahAM at random 30 %, paired over {len(paired)} "
                             f"runs: {np.mean(paired):+.1f} ± {np.std(paired) / np.sqrt(len(paired)):.1f} (mean ± s.e.)")
    table = "\n".join(lines)
    print(table)
    sections.append(Section("Active labelling", pre=[table],
                            figures=[(root / "active.png", "test balanced accuracy against labels spent")]))
    rows = [json.loads(f.read_text()) for f in sorted((root / "new-genre").glob("*.json"))]
    if rows:
        ng = ["| held out | runs | shots | recall of it | other classes' recall, change (points) | extend s |",
              "| --- | --- | --- | --- | --- | --- |"]
        for name in sorted({r["held_out"] for r in rows}):
            mine = [r for r in rows if r["held_out"] == name]
            for shots in sorted({s for r in mine for s in r["shots"]}, key=int):
                rec, delta, secs = [], [], []
                for r in mine:
                    v = r["shots"][shots]
                    rec.append(np.mean([a == t for a, t in zip(v["after"], r["truth"]) if t == name]))
                    for c in set(r["truth"]) - {name}:
                        before = np.mean([a == c for a, t in zip(r["before"], r["truth"]) if t == c])
                        after = np.mean([a == c for a, t in zip(v["after"], r["truth"]) if t == c])
                        delta.append(after - before)
                    secs.append(v["extend_seconds"])
                ng.append(f"| {name} | {len(mine)} | {shots} | {100 * np.mean(rec):.0f} % | {100 * np.mean(delta):+.1f} "
                          f"(worst {100 * min(delta):+.1f}) | {np.median(secs):.1f} |")
        text = "\n".join(ng)
        print(text)
        sections.append(Section("A new genre from a few clips", pre=[text]))
    print(f"report: {write_report(root / 'report.html', 'Label less: active labelling and new genres', sections)}")


def extend_time(args) -> None:
    """Seconds :func:`graham.workflows.extend.extend_bundle` takes to bring ``--bundle`` to ``--to``
    reference clips (the new ones: clips of ``--dataset`` as a new genre), median of 3, against
    the seconds its GNN took to train from scratch on the same graph (the reference: what a
    refit without the warm start costs)."""
    import dataclasses

    import torch

    from graham.inference.bundle import load_bundle
    from graham.nn.graphs import build_graph
    from graham.nn.node_features import node_features
    from graham.presets import gnn_train_config
    from graham.train.gnn import train_gnn
    from graham.workflows.extend import extend_bundle
    from graham.workflows.features import extract_features
    from graham.workflows.requests import DataSource

    b = load_bundle(args.bundle)
    fr = extract_features(DataSource(args.dataset, cache=args.features), progress=False)
    n = max(1, args.to - len(b.reference))
    mels = [np.asarray(fr.features.mels[i]) for i in range(min(n, len(fr.features.mels)))]
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        ext = extend_bundle(b, {"added": mels})
        times.append(time.perf_counter() - t0)
    x = node_features(ext.reference, ext.reference_stats)
    graph = build_graph(ext.gnn_config.graph, torch.as_tensor(ext.reference), k=ext.gnn_config.k,
                        head=ext.siamese.head)
    recipe = dataclasses.replace(gnn_train_config("cpu"), balanced=True)
    t0 = time.perf_counter()
    train_gnn(x, ext.reference_labels, np.flatnonzero(ext.reference_labels >= 0), len(ext.classes),
              config=ext.gnn_config, train=recipe, graph=graph)
    scratch = time.perf_counter() - t0
    print(f"extend to {len(ext.reference)} reference clips ({len(mels)} added, {torch.get_num_threads()} thread(s)): "
          f"median {np.median(times):.2f} s (runs {', '.join(f'{t:.2f}' for t in times)}); the GNN trained from "
          f"scratch on the same graph: {scratch:.2f} s, {scratch / np.median(times):.1f}x the extension")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=("active", "new-genre", "report", "extend-time"))
    ap.add_argument("--bundle", default="runs/demo/bundle", help="extend-time: the bundle to extend")
    ap.add_argument("--to", type=int, default=300, help="extend-time: reference clips after extending")
    ap.add_argument("--dataset", default="synthetic:artists")
    ap.add_argument("--features", default=None)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--runs", type=int, nargs="*", default=[], metavar="I",
                    help="only these of the planned runs (0 to seeds x k - 1, seed-major): to share them between cores")
    ap.add_argument("--strategy", default="typical")
    ap.add_argument("--until", type=float, default=0.2)
    ap.add_argument("--per-group", type=int, default=2)
    ap.add_argument("--any-group", action="store_true",
                    help="turn off new groups first (the runs of 2026-12-05 before it: write them to another --out)")
    ap.add_argument("--siamese", nargs="*", default=[], metavar="KEY=VALUE",
                    help="active, new-genre: Siamese settings over the cpu preset's (e.g. refit=true); use another --out")
    ap.add_argument("--held-out", nargs="*", default=[], metavar="CLASS",
                    help="new-genre: hold out only these classes (default: each in turn); to share the work between cores")
    ap.add_argument("--held-out-unlabelled", action="store_true",
                    help="new-genre: the held-out class's training clips stay in the training graph, unlabelled "
                    "(a collection where the new genre was there all along); use another --out")
    ap.add_argument("--shots", type=int, nargs="+", default=[5, 10])
    ap.add_argument("--reference", default=None, help="report: a graham experiment (or bench_accuracy.py) folder at 30 %% "
                    "on the same folds "
                    "(default: the random strategy's 30 %% round)")
    ap.add_argument("--re-extend", action="store_true", help="new-genre: extend the saved bundles again")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="runs/label-less")
    args = ap.parse_args()
    set_threads(args.threads)
    {"active": active, "new-genre": new_genre, "report": report, "extend-time": extend_time}[args.part](args)


if __name__ == "__main__":
    main()
