"""A real, tagged library as the graph (issue 41): GrahAM with the album and artist relations
against the same methods on the audio alone and against the relations given to simpler methods.

The library is the development set's 57 original files with their own ARTIST / ALBUM / TITLE
tags and GENRE set to their style (``../shared/devset/make_library.py DEVSET LIB``). Each draw
hides the genre of some tracks, trains the Siamese network on the development-set segments of
the tagged tracks only (``train --labels``'s settings: the contrastive loss reads every
segment's audio, no hidden label), embeds every library file as ``graham tag`` does, then
scores each method's balanced accuracy on the hidden tracks. Two scenarios:

* ``partly``: a share (``--fraction``) of the tracks tagged at random, stratified by style;
* ``albums``: whole albums (``graham tag``'s album key) hidden, about a third of them.

Usage::

    python benchmarks/bench_library.py --devset DEVSET --library LIB --features FEATURES \\
        --scenario partly --fraction 0.3 --seeds 0 1 2 --draws 5 --out runs/library
    python benchmarks/bench_library.py ... --report   # the table of saved draws, paired

Each draw is saved as it finishes (``OUT/draws/*.json``): a rerun does only the missing ones.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _util import cpu_name, set_threads  # noqa: E402

#: GrahAM with the relation-aware layer, then correct & smooth over the audio kNN and the
#: relations; GrahAM on the audio alone (its layer and smoothing on the audio kNN); the audio GNN,
#: then correct & smooth over the relations alone (``graham tag``'s default); the relation-aware
#: GNN, then the same; the album's vote, else the artist's, else the nearest tagged track's; the
#: 2-layer NN on the audio, then correct & smooth over the audio kNN and the relations, or over the
#: relations alone.
METHODS = ("grahams_relations", "grahams_audio", "grahams_audio_cs_relations", "grahams_relations_cs_relations",
           "vote", "mlp_audio", "mlp_cs_knn_relations", "mlp_cs_relations")


def _library_truth(lib_dir: Path) -> dict[str, str]:
    """Every library file's style (library.csv), by path relative to the library."""
    return {r["path"]: r["style"] for r in csv.DictReader(open(lib_dir / "library.csv")) if r["style"]}


def _segments_of(devset: Path) -> dict[str, str]:
    """Each development-set segment's clip id (its path below the set, no extension) -> the
    library path of its source file (package/folder/file, as make_library.py lays it out)."""
    out = {}
    for r in csv.DictReader(open(devset / "manifest.csv")):
        inner = r["source_file"].split("/", 1)[1]
        lib_path = f"{r['source_package']}/{Path(inner).parent.name}/{Path(inner).name}"
        out[str(Path(r["path"]).with_suffix(""))] = lib_path
    return out


def _hidden(lib, truth, scenario: str, fraction: float, rng) -> np.ndarray:
    """Indices of the tracks whose genre the draw hides."""
    files = [t.path.relative_to(lib.root).as_posix() for t in lib.tracks]
    styles = np.array([truth[f] for f in files])
    if scenario == "partly":
        hidden = []
        for s in sorted(set(styles)):
            members = np.flatnonzero(styles == s)
            tagged = max(1, int(round(fraction * len(members))))
            hidden += list(rng.permutation(members)[tagged:])
        return np.sort(np.array(hidden))
    albums = np.array([sorted(t.relation_keys(lib.folder(i))["album"])[0] for i, t in enumerate(lib.tracks)])
    order = rng.permutation(sorted(set(albums)))
    out = np.flatnonzero(np.isin(albums, order[: max(1, len(order) // 3)]))
    kept = set(styles[np.setdiff1d(np.arange(len(files)), out)])
    return out if kept == set(styles) else _hidden(lib, truth, scenario, fraction, rng)  # every style keeps a tag


def _embed(args, lib, hidden, seed: int) -> tuple[np.ndarray, float]:
    """Train the Siamese network on the tagged tracks' segments; embed every library file."""
    import torch

    from graham.inference.frontend import FrontEnd
    from graham.workflows.label_less import fit_pool, label_less_settings, labelled_pool
    from graham.workflows.requests import DataSource
    from graham.workflows.tag import embed_tracks

    t0 = time.perf_counter()
    files = [t.path.relative_to(lib.root).as_posix() for t in lib.tracks]
    tagged_files = {f for i, f in enumerate(files) if i not in set(hidden.tolist())}
    source_of = _segments_of(args.devset)
    digest = hashlib.sha1("\n".join(sorted(tagged_files)).encode()).hexdigest()[:12]
    labels_csv = args.out / "labels" / f"{seed}-{digest}.csv"
    labels_csv.parent.mkdir(parents=True, exist_ok=True)
    truth = _library_truth(args.library)
    labels_csv.write_text("clip_id,label\n" + "".join(f"{cid},{truth[src]}\n" for cid, src in sorted(source_of.items())
                                                      if src in tagged_files))
    pool = labelled_pool(DataSource(f"folder:{args.devset}", cache=args.features), labels_csv, progress=False)
    model = fit_pool(pool, label_less_settings(seed=seed), progress=False)
    assert model.run is not None
    sia = model.run.siamese.model.cpu().eval()
    front = FrontEnd(pool.mel_config, sia, crop_frames=model.run.siamese_config.crop_frames,
                     device=torch.device("cpu"), band_statistics=False)
    emb, failed = embed_tracks(front, [t.path for t in lib.tracks], args.out / "cache" / f"{labels_csv.stem}",
                               model_digest=labels_csv.stem, progress=False)
    assert not failed, failed
    return emb, time.perf_counter() - t0


def _scores(lib, emb, seed: int) -> dict[str, list[str]]:
    """Every method's predicted genre of every track."""
    from graham.workflows.tag_graph import LIBRARY_GNN, predict_library

    audio = dataclasses.replace(LIBRARY_GNN, relations=())
    layer = dataclasses.replace(LIBRARY_GNN, relations=("album", "artist"))

    def run(config, **kw):
        return predict_library(lib, emb, config=config, seed=seed, **kw)

    rows = run(audio, smooth_relations=(), smooth_audio=True)
    out = {"grahams_relations": [r["predicted"] for r in run(layer, smooth_relations=None, smooth_audio=True)],
           "grahams_audio": [r["predicted"] for r in rows],
           "grahams_audio_cs_relations": [r["predicted"] for r in run(audio)],
           "grahams_relations_cs_relations": [r["predicted"] for r in run(layer, smooth_relations=None)],
           "vote": [_vote(r) for r in rows]}
    out.update(_mlp(lib, emb, seed))
    return out


def _vote(row: dict) -> str:
    """The album's vote, else the artist's, else the nearest tagged track's genre."""
    for key in ("album_vote", "artist_vote"):
        if row[key]:
            return row[key].rsplit(" ", 1)[0]
    near = row["nearest_tagged"].split("; ")[0]
    return near.rsplit(" (", 1)[1].split(",")[0]


def _mlp(lib, emb, seed: int) -> dict[str, list[str]]:
    """The 2-layer NN of Table 1 on the embeddings, alone and then correct & smooth over the
    audio kNN and the relations."""
    import torch

    from graham.evaluate.baselines import fit_baseline
    from graham.nn.propagate import SmoothConfig, correct_and_smooth, normalise_scores

    classes = lib.classes
    y = np.array([classes.index(g) if g else -1 for g in lib.genres])
    labelled = np.flatnonzero(y >= 0)
    clf = fit_baseline("mlp_2layer", emb[labelled], y[labelled], seed=seed)
    proba = np.zeros((len(emb), len(classes)))
    proba[:, clf.classes_] = clf.predict_proba(emb)
    rel = lib.relations()
    edges = torch.as_tensor(np.concatenate([rel.edges["album"], rel.edges["artist"]], axis=1))

    def smoothed(audio_knn: bool) -> list[str]:
        s = correct_and_smooth(torch.as_tensor(proba, dtype=torch.float64), torch.as_tensor(emb, dtype=torch.float64),
                               torch.as_tensor(y[labelled]), torch.as_tensor(labelled),
                               SmoothConfig(k=min(10, len(emb) - 1)), relation_edges=edges, audio_knn=audio_knn)
        return [classes[k] for k in normalise_scores(s).numpy().argmax(1)]

    return {"mlp_audio": [classes[k] for k in proba.argmax(1)], "mlp_cs_knn_relations": smoothed(True),
            "mlp_cs_relations": smoothed(False)}


def run_draw(args, seed: int, draw: int) -> dict:
    from sklearn.metrics import balanced_accuracy_score

    from graham.data.library import Library, read_library

    full = read_library(args.library, min_tracks=1)
    truth = _library_truth(args.library)
    rng = np.random.default_rng([seed, draw, 41])
    hidden = _hidden(full, truth, args.scenario, args.fraction, rng)
    lib = Library(full.root, full.tracks, ["" if i in set(hidden.tolist()) else g for i, g in enumerate(full.genres)])
    emb, seconds = _embed(args, lib, hidden, seed)
    preds = _scores(lib, emb, seed)
    files = [t.path.relative_to(lib.root).as_posix() for t in lib.tracks]
    y = [truth[files[i]] for i in hidden]
    return {"seed": seed, "draw": draw, "scenario": args.scenario, "fraction": args.fraction, "hidden": len(hidden),
            "seconds": round(seconds, 1),
            "balanced": {m: float(balanced_accuracy_score(y, [preds[m][i] for i in hidden])) for m in METHODS}}


def report(out: Path, reference: str = "grahams_audio_cs_relations") -> None:
    """The saved draws by scenario: every method's mean ± std, and ``reference`` (graham tag's
    default) minus each, paired by draw."""
    rows = [json.loads(p.read_text()) for p in sorted((out / "draws").glob("*.json"))]
    for scenario in sorted({(r["scenario"], r["fraction"]) for r in rows}):
        sel = [r for r in rows if (r["scenario"], r["fraction"]) == scenario]
        ref = np.array([r["balanced"][reference] for r in sel])
        print(f"\n{scenario[0]} {scenario[1]:g}: {len(sel)} draws; balanced accuracy % mean ± std; "
              f"{reference} minus it, paired: mean ± s.e. (w/t/l)")
        width = max(map(len, METHODS))
        for m in METHODS:
            v = np.array([r["balanced"][m] for r in sel])
            d = ref - v
            se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else 0.0
            wtl = f"{(d > 1e-9).sum()}/{(abs(d) <= 1e-9).sum()}/{(d < -1e-9).sum()}"
            print(f"  {m:{width}s} {100 * v.mean():5.1f} ± {100 * v.std(ddof=1) if len(v) > 1 else 0:4.1f}"
                  + ("" if m == reference else f"   {100 * d.mean():+5.1f} ± {100 * se:3.1f} ({wtl})"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devset", type=Path, required=True)
    ap.add_argument("--library", type=Path, required=True)
    ap.add_argument("--features", type=Path, required=True, help="the development set's feature folder")
    ap.add_argument("--out", type=Path, default=Path("runs/library"))
    ap.add_argument("--scenario", choices=("partly", "albums"), default="partly")
    ap.add_argument("--fraction", type=float, default=0.3)
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()
    if args.report:
        return report(args.out)
    set_threads(args.threads)
    print(f"{cpu_name()}; threads={args.threads}; {args.scenario} {args.fraction:g}")
    for seed in args.seeds:
        for draw in range(args.draws):
            path = args.out / "draws" / f"{args.scenario}-{args.fraction:g}-s{seed}-d{draw}.json"
            if path.exists():
                continue
            res = run_draw(args, seed, draw)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(res, indent=1))
            print(json.dumps(res), flush=True)
    report(args.out)


if __name__ == "__main__":
    main()
