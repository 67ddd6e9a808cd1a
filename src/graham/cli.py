"""The ``graham`` command (typer). It parses arguments, calls :mod:`graham.pipeline`, prints."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from .errors import GrahamError, ParameterError
from .names import METHOD_KEYS, MODES, ONE_SPLIT_PROTOCOLS, PROTOCOL_CHOICES

# rich_markup_mode=None: help texts are plain text, so units such as "[s]" and "[Hz]" are shown
# as written (Rich markup would take them for tags and drop them).
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="graham: music genre classification with graph representation learning (GrahAM).")

DATASET_HELP = ("KIND:PATH — gtzan:DIR, audioset:CSV (with --clips DIR), folder:DIR, csv:TABLE, "
                "or synthetic[:PER_GENRExSECONDS]")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


SPLIT_LIST_HELP = "GTZAN split list SPLIT=FILE (train, valid or test; repeat), for --protocol given."
_AUTO_WHY = ("auto (the default): a corpus whose groups (a folder's sub-folders, a table's group column, the synthetic "
             "artists) hold several clips is split by group, so no recording or artist sits on both sides; any other "
             "gets the paper's random split. paper or random: the paper's random split of clips (on grouped data it "
             "is optimistic, and a line says how many groups it cuts).")

# Options shared by several commands (one definition, one help text).
CLIPS_OPT = typer.Option(None, help="AudioSet: folder holding the clips.")
FEATURES_OPT = typer.Option(None, "--features", help="Feature folder (graham features --out); default: the cache.")
DEVICE_OPT = typer.Option("auto", help="cpu, cuda, cuda:1 ... (auto: a GPU when there is one).")
PRESET_OPT = typer.Option("cpu", help="Backbone preset: cpu (narrow, minutes on 2 cores) or paper (full Xception).")
EPOCHS_OPT = typer.Option(None, min=1, help="Siamese epochs (default: the preset's).")
CONTRASTIVE_OPT = typer.Option(None, min=0.0, help="Weight of the Siamese network's contrastive loss, which also "
                               "learns from the unlabelled training clips' audio (0: off; default: the preset's, and with "
                               "--labels and in suggest 1 under the cpu preset).")
CROSS_FIT_OPT = typer.Option(None, "--cross-fit", min=0, help="K >= 2: each labelled clip's embedding comes from one of K "
                             "more Siamese networks that did not train on it (its tracks held out), so the GNN and the "
                             "baselines learn from labelled nodes that look like test nodes; K+1 trainings in all "
                             "(0: off; default: the preset's).")
SPLIT_LIST_OPT = typer.Option(None, "--split-list", help=SPLIT_LIST_HELP)
GRAPH_OPT = typer.Option(None, help="GNN graph: complete (the paper's), knn (k most similar clips) or similarity "
                                    "(complete, each edge weighted by the pair head's s_ij). Default: the preset's.")
BAND_OPT = typer.Option(None, "--band-statistics/--no-band-statistics",
                        help="GNN node features: the Siamese embedding with the clip's log-mel band statistics beside "
                             "it. Default: the preset's (cpu: on, paper: off).")
LABEL_INPUT_OPT = typer.Option(False, "--label-input",
                               help="Labelled nodes carry their label as a GNN input (hidden, in training, for the "
                                    "nodes that give loss).")
GNN_EPOCHS_OPT = typer.Option(1000, min=1, help="GNN epochs at most (paper: 1000).")
K_OPT = typer.Option(10, "--k-neighbours", help="Neighbours per clip for --graph knn and for correct & smooth.")
EXCLUDE_OPT = typer.Option(None, "--exclude", help="Clips to leave out: an audit's audit.json, a JSON list of clip "
                                                    "ids, or a text file of clip ids (one per line, a tab and a "
                                                    "reason optional).")
METHOD_OPT = typer.Option(None, "--method", help="Methods to run (repeat; default all): grahams_gnn, random_forest, "
                                                 "mlp_2layer, label_spreading, supervised_cnn, mel_floor.")


def _split_lists(items: Optional[List[str]]) -> Optional[dict]:
    if not items:
        return None
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or name not in ("train", "valid", "test"):
            raise typer.BadParameter(f"expected train=FILE, valid=FILE or test=FILE, got {item!r}")
        out[name] = path
    return out


def _reports() -> bool:
    """Whether this process prints the result: under torchrun only process 0 does."""
    return int(os.environ.get("RANK", "0")) == 0


def _echo_skipped(skipped, *, limit: int = 20, where: str = "") -> None:
    """Name the first ``limit`` files left out, then count the rest: a corpus of millions can
    leave out thousands, and the full list is in a file."""
    skipped = list(skipped)
    for s in skipped[:limit]:
        typer.secho(f"skipped: {s}", fg=typer.colors.YELLOW)
    if len(skipped) > limit:
        typer.secho(f"... and {len(skipped) - limit} more{where}", fg=typer.colors.YELLOW)


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _exclusions(path: Optional[Path]) -> Optional[dict]:
    """``--exclude FILE`` read before any work: ``{clip_id: reason}``, or a one-line error."""
    if path is None:
        return None
    from .data.exclusions import read_exclusions

    try:
        found = read_exclusions(path)
    except GrahamError as exc:
        _fail(exc)
    typer.echo(f"excluding {len(found)} clips listed in {path}")
    return found


def _interrupted(what: str) -> None:
    """Ctrl-C: say what is kept and how to go on, then exit 130 as a shell expects."""
    typer.secho(f"\ninterrupted: {what}", fg=typer.colors.YELLOW, err=True)
    raise typer.Exit(130)


def _check_first(*, dataset: Optional[str] = None, clips=None, methods=None, preset: Optional[str] = None,
                 protocols: tuple = (), protocol: Optional[str] = None, graph: Optional[str] = None,
                 fractions=(), device: Optional[str] = None, out: Optional[Path] = None,
                 bundle: Optional[Path] = None) -> None:
    """What a command was given, checked before torch and PyTorch Geometric load (seconds):
    a typo is one line and exit 2 at once (:mod:`graham.checks`)."""
    from . import checks

    try:
        if protocol is not None:
            checks.check_choice("--protocol", protocol, protocols)
        checks.check_choice("--preset", preset, checks.PRESETS)
        checks.check_choice("--graph", graph, checks.GRAPHS)
        checks.check_methods(methods)
        checks.check_fractions(fractions)
        checks.check_device(device)
        if dataset is not None:
            checks.check_dataset(dataset, clips)
        if bundle is not None:
            checks.bundle_config(bundle)
        if out is not None:
            from .files import writable_folder

            writable_folder(out)
    except GrahamError as exc:
        _fail(exc)


@app.callback()
def main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details."),
    threads: Optional[int] = typer.Option(
        None, "--threads", min=1,
        help="CPU threads for torch and BLAS (default: $OMP_NUM_THREADS, else the CPUs this process may use: "
             "its affinity mask capped by its cgroup quota). Waiting threads sleep (OMP_WAIT_POLICY=PASSIVE "
             "unless set), so a second job on the same cores slows this one only by its share."),
) -> None:
    _setup_logging(verbose)
    # Before any command imports torch: OpenMP reads its settings once, when it loads.
    from .threads import configure_threads

    configure_threads(threads)


@app.command()
def version() -> None:
    """Print graham's version."""
    from importlib.metadata import version as installed

    typer.echo(installed("graham"))


@app.command()
def synth(
    out: Path = typer.Argument(..., help="Folder to write <genre>/<genre>.000NN.wav into."),
    per_genre: int = typer.Option(100, help="Clips per genre."),
    seconds: float = typer.Option(30.0, help="Duration of each clip [s]."),
    seed: int = typer.Option(0, help="Seed: the same seed and settings give byte-identical files."),
    genres: Optional[List[str]] = typer.Option(None, "--genres", help="Genres to write (repeat); default all ten."),
    sample_rate: int = typer.Option(22050, help="Sample rate [Hz]."),
    workers: Optional[int] = typer.Option(None, help="Processes (default: all cores)."),
) -> None:
    """Write the built-in synthetic genre corpus as a GTZAN-shaped folder."""
    from .synth import GENRES, SynthSpec, generate_corpus

    try:
        spec = SynthSpec(per_genre, seconds, seed, tuple(genres) if genres else GENRES, sample_rate)
        generate_corpus(out, spec, workers=workers, skip_existing=False)
    except GrahamError as exc:
        _fail(exc)
    typer.echo(f"wrote {per_genre * len(spec.genres)} clips of {seconds:g} s to {out}")


@app.command()
def corpus(
    dataset: str = typer.Argument(..., help=DATASET_HELP),
    clips: Optional[Path] = CLIPS_OPT,
    out: Optional[Path] = typer.Option(None, help="Write the corpus table (CSV) here."),
) -> None:
    """Read a data set and summarise it: clips per class and skipped files."""
    _check_first(dataset=dataset, clips=clips)
    from .data import open_dataset
    from .files import write_text

    try:
        c = open_dataset(dataset, clips=clips)
    except GrahamError as exc:
        _fail(exc)
    typer.echo(c.summary())
    for note in c.notes:
        typer.echo(f"note: {note}")
    _echo_skipped(c.skipped)
    if out:
        write_text(out, c.to_csv())
        typer.echo(f"wrote {out}")


@app.command()
def features(
    dataset: str = typer.Argument(..., help=DATASET_HELP),
    out: Path = typer.Option(..., "--out", help="Feature folder: a sharded store that reruns reuse and a killed "
                             "run resumes."),
    clips: Optional[Path] = CLIPS_OPT,
    workers: int = typer.Option(2, help="Decoding threads."),
    shard_size: int = typer.Option(256, min=1, help="Clips per shard of the store."),
    sr: Optional[int] = typer.Option(None, help="Sample rate [Hz]; default: the folder's, else 22050."),
    n_mels: Optional[int] = typer.Option(None, help="Mel bands; default: the folder's, else 128."),
    n_fft: Optional[int] = typer.Option(None, help="FFT size [samples]; default: the folder's, else 2048."),
    hop_length: Optional[int] = typer.Option(None, help="Hop [samples]; default: the folder's, else 512."),
) -> None:
    """Compute (or reuse) the log-mel spectrogram of every clip of a data set.

    The folder keeps its settings (features.json): train, experiment, embed and train-siamese
    with --features read them, the bundle records them and predict uses them. A setting that
    disagrees with an existing folder's is an error, never a silent recompute.

    Under torchrun (torchrun --nproc_per_node=N -m graham.cli features ...) each process
    fills its share of the shards."""
    _check_first(dataset=dataset, clips=clips, out=out)
    from .data.features import resolve_settings
    from .pipeline import extract_features

    try:
        config = resolve_settings(out, dict(sr=sr, n_mels=n_mels, n_fft=n_fft, hop_length=hop_length))
        run = extract_features(dataset, out, clips=str(clips) if clips else None, workers=workers,
                               shard_size=shard_size, config=config)
    except GrahamError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        _interrupted(f"the finished shards are kept in {out}; run the same command again to go on")
    fs = run.features
    if not _reports():
        return
    typer.echo(f"{len(fs)} clips, {len(fs.corpus.classes)} classes: log-mels in {fs.dir} ({run.seconds:.1f} s)")
    _echo_skipped(run.skipped, where=f" (all of them: {run.out / 'skipped.txt'})")
    typer.echo(f"index: {run.out / 'corpus.csv'}; skipped list: {run.out / 'skipped.txt'}")


def _siamese_config(preset: str, epochs: Optional[int], seed: int, contrastive: Optional[float] = None,
                    cross_fit: Optional[int] = None):
    from .presets import siamese_config

    given = {"epochs": epochs, "contrastive": contrastive, "cross_fit": cross_fit}
    return siamese_config(preset, seed=seed, **{k: v for k, v in given.items() if v is not None})


def _model_settings(preset: str, epochs: Optional[int], seed: int, graph: Optional[str], k: int,
                    band_statistics: Optional[bool], label_input: bool, gnn_epochs: int,
                    contrastive: Optional[float], cross_fit: Optional[int] = None) -> dict:
    """The settings train and experiment build from the options they share: the preset's
    configurations with what was given on top (``siamese``, ``gnn``, ``gnn_train``)."""
    from .presets import gnn_config, gnn_train_config

    gnn = {"k": k, "label_input": label_input, **({"graph": graph} if graph else {}),
           **({"band_statistics": band_statistics} if band_statistics is not None else {})}
    return {"siamese": _siamese_config(preset, epochs, seed, contrastive, cross_fit), "gnn": gnn_config(preset, **gnn),
            "gnn_train": gnn_train_config(preset, epochs=gnn_epochs, seed=seed)}


@app.command("train-siamese")
def train_siamese_cmd(
    dataset: str = typer.Argument(..., help=DATASET_HELP),
    out: Path = typer.Option(..., "--out", help="Run folder: checkpoints last/best.safetensors, split.json."),
    preset: str = PRESET_OPT,
    epochs: Optional[int] = EPOCHS_OPT,
    protocol: str = typer.Option("auto", help="Split: auto, paper (= random), random, grouped or given; only its "
                                 "training clips train. " + _AUTO_WHY),
    seed: int = typer.Option(0, help="Seed of split, data order, pairs and initialisation."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/last.safetensors."),
    split_list: Optional[List[str]] = SPLIT_LIST_OPT,
    clips: Optional[Path] = CLIPS_OPT,
    features_dir: Optional[Path] = FEATURES_OPT,
    device: str = DEVICE_OPT,
) -> None:
    """Train the Siamese embedding network (Xception + pair head, balanced pairs)."""
    if protocol == "kfold":
        _fail(GrahamError("train-siamese uses one split: --protocol auto, paper, random, grouped or given (k-fold: "
                          "graham experiment)"))
    _check_first(dataset=dataset, clips=clips, preset=preset, protocol=protocol, protocols=ONE_SPLIT_PROTOCOLS,
                 device=device, out=out)
    from .pipeline import train_siamese_run

    try:
        res, corpus, split = train_siamese_run(dataset, out, clips=str(clips) if clips else None, cache=features_dir,
                                               config=_siamese_config(preset, epochs, seed), protocol=protocol,
                                               seed=seed, device=device, resume=resume,
                                               split_lists=_split_lists(split_list), notify=_notify)
    except GrahamError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        _interrupted(f"{out / 'last.safetensors'} holds the last finished epoch; add --resume to the same command "
                     "to go on from it")
    if not _reports():
        return
    last = res.history[-1] if res.history else {}
    val = (f", val ROC-AUC {last['val_auc']:.3f}" if "val_auc" in last else
           f", val centroid accuracy {last['val_centroid_acc']:.3f} (too few validation clips for pairs of both kinds)"
           if "val_centroid_acc" in last else "")
    typer.echo(f"trained on {len(split.train)} clips of {corpus.name} in {res.seconds:.0f} s; best epoch {res.best_epoch + 1}; "
               f"last: loss {last.get('loss', float('nan')):.3f}{val}")
    typer.echo(f"checkpoints: {out / 'best.safetensors'}, {out / 'last.safetensors'}")


@app.command()
def embed(
    dataset: str = typer.Argument(..., help=DATASET_HELP),
    model: Path = typer.Option(..., "--model", help="A Siamese checkpoint (.safetensors) or a bundle folder."),
    out: Path = typer.Option(..., "--out", help="Output file (.safetensors: embeddings, labels; clip ids in metadata)."),
    clips: Optional[Path] = CLIPS_OPT,
    features_dir: Optional[Path] = FEATURES_OPT,
    workers: int = typer.Option(2, help="Decoding threads."),
    device: str = DEVICE_OPT,
) -> None:
    """Write the 128-d embedding of every clip (mean over windows of the training crop length).

    Embeddings are kept in shards beside the log-mels (a killed run resumes); under torchrun
    each process embeds its share."""
    _check_first(dataset=dataset, clips=clips, device=device)
    from .pipeline import embed_dataset

    try:
        emb, corpus = embed_dataset(dataset, model, out, clips=str(clips) if clips else None, device=device,
                                    cache=features_dir, workers=workers)
    except GrahamError as exc:
        _fail(exc)
    if not _reports():
        return
    typer.echo(f"{emb.shape[0]} embeddings of {emb.shape[1]} dimensions -> {out}")


@app.command()
def train(
    dataset: str = typer.Argument(..., help=DATASET_HELP),
    out: Path = typer.Option(..., "--out", help="Run folder: metrics.json, bundle/, report.html, siamese/."),
    preset: str = PRESET_OPT,
    epochs: Optional[int] = EPOCHS_OPT,
    contrastive: Optional[float] = CONTRASTIVE_OPT,
    cross_fit: Optional[int] = CROSS_FIT_OPT,
    gnn_epochs: int = GNN_EPOCHS_OPT,
    protocol: str = typer.Option("auto", help="Split: auto, paper (= random, the paper's 70:30), random, grouped "
                                 "(70:30, no group on both sides) or given. " + _AUTO_WHY),
    fraction: float = typer.Option(1.0, help="Labelled fraction of the training clips."),
    seed: int = typer.Option(0),
    report: bool = typer.Option(True, help="Write report.html with figures."),
    resume: bool = typer.Option(False, "--resume", help="Resume the Siamese network from OUT/siamese/last."),
    split_list: Optional[List[str]] = SPLIT_LIST_OPT,
    graph: Optional[str] = GRAPH_OPT,
    k_neighbours: int = K_OPT,
    band_statistics: Optional[bool] = BAND_OPT,
    label_input: bool = LABEL_INPUT_OPT,
    methods: Optional[List[str]] = METHOD_OPT,
    exclude: Optional[Path] = EXCLUDE_OPT,
    clips: Optional[Path] = CLIPS_OPT,
    features_dir: Optional[Path] = FEATURES_OPT,
    device: str = DEVICE_OPT,
    labels: Optional[Path] = typer.Option(None, "--labels", help="A CSV of clip_id,label: train on these labels "
                                          "alone, every other clip an unlabelled node of the graph (no split; "
                                          "writes predictions.csv of the unlabelled clips and a bundle)."),
) -> None:
    """The whole path: features, Siamese, GNN, baselines, test metrics, bundle and report."""
    if labels is not None:
        unused = {"--cross-fit": cross_fit is not None, "--protocol": protocol != "auto", "--fraction": fraction != 1.0,
                  "--resume": resume, "--split-list": bool(split_list), "--graph": graph is not None,
                  "--k-neighbours": k_neighbours != K_OPT.default, "--band-statistics": band_statistics is not None,
                  "--label-input": label_input, "--gnn-epochs": gnn_epochs != GNN_EPOCHS_OPT.default,
                  "--method": bool(methods),
                  "--exclude": exclude is not None}
        if any(unused.values()):  # said, not silently ignored
            _fail(ParameterError(f"train --labels trains on the labels given with the preset's graph and no split or "
                                 f"baselines; it does not take {', '.join(k for k, v in unused.items() if v)}"))
        _check_first(dataset=dataset, clips=clips, preset=preset, device=device, out=out)
        from .label_less import train_on_labels

        try:
            doc = train_on_labels(dataset, labels, out, seed=seed, preset=preset, epochs=epochs, contrastive=contrastive,
                                  cache=features_dir, clips=str(clips) if clips else None, device=device)
        except GrahamError as exc:
            _fail(exc)
        typer.echo(f"{doc['labelled']} labelled clips, {doc['unlabelled']} unlabelled: {doc['model']}")
        m = doc["unlabelled_scored_against_the_data_sets_own_labels"]
        if m:
            typer.echo(f"the unlabelled clips against the data set's own labels (never trained on): balanced accuracy "
                       f"{100 * m['balanced_accuracy']:.1f} %")
        typer.echo(f"predictions: {out / 'predictions.csv'}; bundle: {out / 'bundle'}")
        return
    if protocol == "kfold":
        _fail(GrahamError("train uses one split: --protocol auto, paper, random, grouped or given (k-fold: graham "
                          "experiment)"))
    _check_first(dataset=dataset, clips=clips, methods=methods, preset=preset, protocol=protocol,
                 protocols=ONE_SPLIT_PROTOCOLS, graph=graph, fractions=(fraction,), device=device, out=out)
    exclusions = _exclusions(exclude)
    from .pipeline import report_run, train_model

    try:
        o = train_model(dataset, out, clips=str(clips) if clips else None, cache=features_dir, protocol=protocol, seed=seed,
                        fraction=fraction, device=device,
                        **_model_settings(preset, epochs, seed, graph, k_neighbours, band_statistics, label_input,
                                          gnn_epochs, contrastive, cross_fit),
                        resume=resume, split_lists=_split_lists(split_list), exclude=exclusions, notify=_notify,
                        methods=tuple(methods) if methods else METHOD_KEYS)
        if report:
            typer.echo(f"report: {report_run(o)}")
    except GrahamError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        _interrupted(f"{out / 'siamese' / 'last.safetensors'} holds the Siamese network's last finished epoch (if one "
                     "finished); add --resume to the same command to go on from it")
    _echo_skipped(o.skipped, where=f" (all of them: {out / 'metrics.json'}, under \"skipped\")")
    _print_metrics(o)
    typer.echo(f"metrics: {out / 'metrics.json'}; bundle: {out / 'bundle'}")


def _notify(line: str) -> None:
    """A line a pipeline step says as soon as it knows it (the split chosen, a leakage warning)."""
    if _reports():
        typer.echo(line)


def _print_metrics(o) -> None:
    from .evaluate.methods import result_title

    typer.echo(f"{o.corpus.name}; split: {o.split_name}; {len(o.test_idx)} test clips")
    if o.leakage:
        typer.echo(f"  {o.leakage}")
    for m, v in o.metrics.items():
        typer.echo(f"  {result_title(m):15s} accuracy {100 * v['accuracy']:5.1f} %   "
                   f"balanced {100 * v['balanced_accuracy']:5.1f} %   macro-F1 {100 * v['macro_f1']:5.1f} %")


@app.command()
def suggest(
    dataset: str = typer.Argument(..., help=DATASET_HELP + " audio:PATH reads a collection nobody has labelled."),
    labels: Path = typer.Option(..., "--labels", help="A CSV of clip_id,label: the labels given so far."),
    budget: int = typer.Option(20, "--budget", help="How many clips to suggest."),
    out: Path = typer.Option(..., "--out", help="Folder: suggestions.csv, label.html, suggest.json."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help="Use this bundle's model (no Siamese training; "
                                          "the labels given join its graph) instead of a fresh training."),
    strategy: str = typer.Option("typical", help="typical (default: the densest clip of each region with no label), "
                                 "typical-doubt (its regions ranked by the graph's doubt), uncertain-cover, margin, "
                                 "cover or random."),
    preset: str = PRESET_OPT,
    epochs: Optional[int] = EPOCHS_OPT,
    contrastive: Optional[float] = CONTRASTIVE_OPT,
    per_group: int = typer.Option(2, "--per-group", help="At most this many clips of one group (album, track)."),
    new_groups_first: bool = typer.Option(True, "--new-groups-first/--any-group",
                                          help="Clips of groups with no labelled clip first (default), or any group."),
    seed: int = typer.Option(0),
    clips: Optional[Path] = CLIPS_OPT,
    features_dir: Optional[Path] = FEATURES_OPT,
    device: str = DEVICE_OPT,
) -> None:
    """Which clips to label next: the clips that stand for the most unlabelled music (or the graph's
    least certain ones), spread over the collection; a
    page to label them by ear that saves the labels CSV the next call reads."""
    _check_first(dataset=dataset, clips=clips, device=device, out=out, bundle=bundle, preset=preset)
    if bundle is not None and (contrastive is not None or epochs is not None):
        _fail(ParameterError("--bundle uses the bundle's Siamese network and trains none: --epochs and --contrastive "
                             "are for a fresh training"))
    from .checks import check_choice
    from .label_less import suggest as run_suggest
    from .labelling.select import STRATEGIES

    try:
        check_choice("--strategy", strategy, STRATEGIES)
        o = run_suggest(dataset, labels, budget, out, bundle=bundle, strategy=strategy, per_group=per_group,
                        new_groups_first=new_groups_first, seed=seed,
                        preset=preset, epochs=epochs, contrastive=contrastive,
                        cache=features_dir, clips=str(clips) if clips else None, device=device)
    except GrahamError as exc:
        _fail(exc)
    typer.echo(f"model: {o.how}")
    for r in o.rows[:10]:
        typer.echo(f"{r['rank']:>3}  {r['clip_id']}  guess {r['guess']} ({100 * r['guess_probability']:.0f} %, "
                   f"margin {r['margin']:.2f})")
    typer.echo(f"suggestions: {o.out / 'suggestions.csv'}; label them by ear: {o.page}")


@app.command()
def extend(
    bundle: Path = typer.Argument(..., help="A bundle folder (graham train's OUT/bundle)."),
    add: List[str] = typer.Option(..., "--add", help="LABEL=PATH: a file or a folder of audio files of that genre "
                                  "(a new genre or more of an old one); repeat for more."),
    out: Optional[Path] = typer.Option(None, "--out", help="The new bundle's folder."),
    in_place: bool = typer.Option(False, "--in-place", help="Replace BUNDLE itself (each file atomically)."),
    seed: int = typer.Option(0),
    device: str = DEVICE_OPT,
) -> None:
    """Add labelled reference clips to a bundle without retraining its Siamese network: only the
    graph part (GNN, correct & smooth) is refit, in seconds on the CPU."""
    _check_first(device=device, bundle=bundle)
    from .extend import extend_bundle_files, parse_additions

    try:
        res = extend_bundle_files(bundle, parse_additions(add), out=out, in_place=in_place, seed=seed, device=device,
                                  on_skip=lambda e: typer.echo(f"skipped {e}", err=True))
    except GrahamError as exc:
        _fail(exc)
    typer.echo(f"added {', '.join(f'{n} clips of {k}' for k, n in res.added.items())} in {res.seconds:.1f} s; "
               f"classes: {', '.join(res.bundle.classes)}")
    typer.echo(f"bundle: {res.out}")


@app.command()
def experiment(
    dataset: str = typer.Argument(..., help=DATASET_HELP),
    out: Path = typer.Option(..., "--out", help="Folder for table.md/csv, results.json, confusion/ PNGs."),
    protocol: str = typer.Option("auto", help="auto, paper (= random, the paper's 70:30), random, grouped, kfold "
                                 "(grouped folds where the corpus has groups) or given. auto (the default): grouped "
                                 "k-fold on a corpus whose groups hold several clips, else the paper's random split; "
                                 "a random split of grouped data is optimistic, and a line says how many groups it "
                                 "cuts."),
    seeds: List[int] = typer.Option([0, 1, 2], "--seed", help="Seeds (repeat the option)."),
    fractions: List[float] = typer.Option([0.3, 0.5, 1.0], "--fraction", help="Labelled fractions (repeat)."),
    k: int = typer.Option(5, help="Folds for kfold."),
    mode: str = typer.Option("transductive", help="transductive (paper) or inductive."),
    preset: str = PRESET_OPT,
    epochs: Optional[int] = EPOCHS_OPT,
    contrastive: Optional[float] = CONTRASTIVE_OPT,
    cross_fit: Optional[int] = CROSS_FIT_OPT,
    gnn_epochs: int = GNN_EPOCHS_OPT,
    resume: bool = typer.Option(False, "--resume", help="Reuse the finished runs of an interrupted experiment."),
    split_list: Optional[List[str]] = SPLIT_LIST_OPT,
    graph: Optional[str] = GRAPH_OPT,
    k_neighbours: int = K_OPT,
    band_statistics: Optional[bool] = BAND_OPT,
    label_input: bool = LABEL_INPUT_OPT,
    methods: Optional[List[str]] = METHOD_OPT,
    exclude: Optional[Path] = EXCLUDE_OPT,
    clips: Optional[Path] = CLIPS_OPT,
    features_dir: Optional[Path] = FEATURES_OPT,
    device: str = DEVICE_OPT,
) -> None:
    """The paper's Table 1: GrahAM vs five baselines at several labelled fractions."""
    if mode not in MODES:
        _fail(GrahamError(f"--mode {mode!r}: use transductive or inductive"))
    if protocol == "kfold" and k < 2:
        _fail(GrahamError(f"--k {k}: k-fold cross-validation needs at least 2 folds"))
    _check_first(dataset=dataset, clips=clips, methods=methods, preset=preset, protocol=protocol,
                 protocols=PROTOCOL_CHOICES, graph=graph, fractions=fractions, device=device, out=out)
    exclusions = _exclusions(exclude)
    from .evaluate.protocol import ProtocolConfig
    from .pipeline import run_experiment

    try:
        cfg = ProtocolConfig(protocol=protocol, seeds=tuple(seeds), fractions=tuple(fractions), k=k, mode=mode,
                             methods=tuple(methods) if methods else METHOD_KEYS)
        res = run_experiment(dataset, out, cfg, clips=str(clips) if clips else None, cache=features_dir,
                             **_model_settings(preset, epochs, 0, graph, k_neighbours, band_statistics, label_input,
                                               gnn_epochs, contrastive, cross_fit),
                             device=device, resume=resume, split_lists=_split_lists(split_list), exclude=exclusions,
                             notify=_notify)
    except (GrahamError, ValueError) as exc:
        _fail(exc)
    except KeyboardInterrupt:
        _interrupted(f"every finished run is saved in {out / 'runs'}; add --resume to the same command to run only "
                     "the others")
    _echo_skipped(res.skipped, where=f" (all of them: {out / 'results.json'}, under \"skipped\")")
    typer.echo(f"protocol: {res.describe()}")
    typer.echo(res.markdown())
    if res.paired_markdown():
        typer.echo("\n" + res.paired_markdown())
    typer.echo(f"tables: {out / 'table.md'}, {out / 'table.csv'}, {out / 'results.json'}")


def _expand_inputs(paths: List[str]) -> tuple[list[Path], list[str]]:
    """Files as given, folders searched recursively for audio, glob patterns expanded."""
    import glob

    from .audio.decode import AUDIO_EXTENSIONS

    files, missing = [], []
    for p in paths:
        path = Path(p).expanduser()
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                if f.suffix.lower() not in AUDIO_EXTENSIONS:
                    continue
                if f.is_file():
                    files.append(f)
                elif f.is_symlink() and not f.exists():
                    missing.append(f"{f}: a link to a file that does not exist")
                elif not f.is_dir() or not any(g.suffix.lower() in AUDIO_EXTENSIONS for g in f.iterdir()):
                    missing.append(f"{f}: named like audio, but not a file")  # (a folder of audio is walked)
        elif path.exists():
            files.append(path)
        elif any(ch in p for ch in "*?["):
            hits = sorted(Path(h) for h in glob.glob(os.path.expanduser(p), recursive=True) if Path(h).is_file())
            files += hits if hits else []
            if not hits:
                missing.append(f"{p}: no file matches")
        else:
            missing.append(f"{p}: no such file")
    return files, missing


@app.command()
def predict(
    bundle: Path = typer.Argument(..., help="A bundle folder (RUN/bundle)."),
    paths: List[str] = typer.Argument(..., help="Audio files, folders (recursive) or glob patterns."),
    top_k: int = typer.Option(3, "--top-k", min=1, help="Genres to show per file (>= 1)."),
    fmt: str = typer.Option("table", "--format", help="table, json (JSON lines) or csv."),
    per_window: bool = typer.Option(False, "--per-window", help="Also the scores of every window (a time line)."),
    workers: int = typer.Option(2, min=1, help="Threads decoding files ahead of the network."),
    neighbours: int = typer.Option(0, "--neighbours", min=0,
                                   help="Also name this many nearest training clips (id, label, similarity): why a "
                                        "song was called what it was."),
    device: str = DEVICE_OPT,
) -> None:
    """Classify songs of any length with a trained bundle."""
    import sys

    from .prediction_formats import FORMATS, csv_header, format_prediction

    if fmt not in FORMATS:
        _fail(GrahamError(f"--format must be one of {', '.join(FORMATS)}"))
    _check_first(device=device, bundle=bundle)
    from .predict import load

    try:
        model = load(bundle, device=device)
    except GrahamError as exc:
        _fail(exc)
    files, problems = _expand_inputs(paths)
    for p in problems:
        typer.secho(f"skipped: {p}", fg=typer.colors.YELLOW, err=True)
    it = model.predict_many(files, top_k=top_k, per_window=per_window, workers=workers, neighbours=neighbours)
    if len(files) > 3:
        from tqdm.auto import tqdm
        it = tqdm(it, total=len(files), desc="predict", unit="file", file=sys.stderr)
    if fmt == "csv":
        typer.echo(csv_header(per_window, neighbours))
    ok = 0
    for f, pred in it:
        if isinstance(pred, GrahamError):
            typer.secho(f"skipped: {pred}", fg=typer.colors.YELLOW, err=True)
            continue
        ok += 1
        for line in format_prediction(f, pred, fmt, top_k=top_k, per_window=per_window, neighbours=neighbours):
            typer.echo(line)
    if ok == 0:
        typer.secho("error: no input could be read", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


def _unique_names(paths: List[Path]) -> list[str]:
    """A file-name stem per path, made unique: ``x``, and ``x-2``, ``x-3`` for the next files
    whose stem is also ``x`` (``a/x.wav`` and ``b/x.wav`` must not overwrite each other)."""
    seen: dict[str, int] = {}
    out = []
    for p in paths:
        seen[p.stem] = seen.get(p.stem, 0) + 1
        out.append(p.stem if seen[p.stem] == 1 else f"{p.stem}-{seen[p.stem]}")
    return out


@app.command()
def explain(
    bundle: Path = typer.Argument(..., help="A bundle folder (RUN/bundle)."),
    audio: List[Path] = typer.Argument(..., help="Audio files to explain."),
    out: Path = typer.Option(..., "--out", help="Folder for the figures."),
    layer: Optional[str] = typer.Option(None, help="Backbone layer by name (default: the last convolution)."),
    target: Optional[str] = typer.Option(None, help="Genre to explain (default: the predicted one)."),
    device: str = DEVICE_OPT,
) -> None:
    """Grad-CAM++ heatmaps (heatmap, mel, overlay) of the whole model's class score."""
    _check_first(device=device, bundle=bundle, out=out)
    from .predict import load
    from .report.explained import ClipToExplain, explain_clips
    from .report.figures import mean_heatmap_figure

    try:
        model = load(bundle, device=device)
        clips = [ClipToExplain(f, name) for f, name in zip(audio, _unique_names(audio))]
        done, means = explain_clips(model, clips, out, target=target, layer=layer,
                                    on_skip=lambda exc: typer.secho(f"skipped: {exc}", fg=typer.colors.YELLOW, err=True))
        for e in done:
            typer.echo(f"{e.clip.path}: {e.genre} -> {e.figure}")
        if len(audio) > 1:
            typer.echo(f"mean per genre: {mean_heatmap_figure(means, model.bundle.mel, out / 'gradcam_mean.png')}")
    except GrahamError as exc:
        _fail(exc)


@app.command()
def serve(
    bundle: Path = typer.Argument(..., help="A bundle folder (RUN/bundle)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port, 1-65535."),
    max_upload_mb: float = typer.Option(50.0, help="Largest accepted upload [MB]."),
    max_in_flight: int = typer.Option(2, min=1, help="Uploads classified at once; the next ones wait for a slot."),
    queue_timeout: float = typer.Option(30.0, min=0, help="How long an upload waits for a slot before a 503 [s]."),
    allow_extend: bool = typer.Option(False, "--allow-extend", help="Offer POST /extend (a label and audio files): "
                                      "any client may then add reference clips to the served model (in memory)."),
    device: str = DEVICE_OPT,
) -> None:
    """Serve the model over HTTP: POST /predict, GET /health, GET / (upload page); POST /extend with --allow-extend."""
    _check_first(device=device, bundle=bundle)
    from .checks import check_port

    try:
        check_port(host, port)  # before the model loads (seconds), not after
    except GrahamError as exc:
        _fail(exc)
    import uvicorn

    from .predict import load
    from .serve import create_app

    try:
        model = load(bundle, device=device)
    except GrahamError as exc:
        _fail(exc)
    uvicorn.run(create_app(model, max_upload_bytes=int(max_upload_mb * 1024 * 1024), max_in_flight=max_in_flight,
                           queue_timeout_s=queue_timeout, allow_extend=allow_extend), host=host, port=port,
                log_level="info")


@app.command()
def audit(
    dataset: str = typer.Argument(..., help=DATASET_HELP),
    out: Path = typer.Option(..., "--out", help="Folder for audit.html, audit.json and the CSVs."),
    clips: Optional[Path] = CLIPS_OPT,
    features_dir: Optional[Path] = FEATURES_OPT,
    split_list: Optional[List[str]] = SPLIT_LIST_OPT,
    folds: int = typer.Option(5, min=2, help="Folds of the out-of-fold predictions."),
    seed: int = typer.Option(0, help="Seed of the folds."),
) -> None:
    """Find duplicates, suspect labels and leakage in a data set; a page to check them by ear.

    graham train/experiment --exclude OUT/audit.json then leave out what it found."""
    _check_first(dataset=dataset, clips=clips, out=out)
    from .pipeline import run_audit

    try:
        result, page = run_audit(dataset, out, clips=str(clips) if clips else None, cache=features_dir, seed=seed,
                                 folds=folds, split_lists=_split_lists(split_list))
    except GrahamError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        _interrupted("the log-mels made so far are kept in the feature folder; run the same command again to go on")
    typer.echo(f"{len(result.corpus)} clips: {len(result.duplicates)} duplicate pairs, {len(result.suspects)} suspect "
               f"labels; leakage: {result.leakage}")
    typer.echo(f"page: {page}; list to exclude: {Path(out) / 'audit.json'}")


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), help="Run folder."),
) -> None:
    """Run graham end to end on the built-in synthetic corpus and write a report."""
    from .pipeline import run_demo

    try:
        summary = run_demo(out)
    except GrahamError as exc:
        _fail(exc)
    typer.echo(f"{summary['corpus']}; split: {summary['split']}")
    if summary["leakage"]:
        typer.echo(f"  {summary['leakage']}")
    for m, acc in summary["accuracy"].items():
        typer.echo(f"  {m:15s} accuracy {100 * acc:5.1f} %   balanced {100 * summary['balanced_accuracy'][m]:5.1f} %   "
                   f"macro-F1 {100 * summary['macro_f1'][m]:5.1f} %")
    typer.echo("Table 1, random split (the paper's):")
    typer.echo(summary["table"])
    typer.echo("Table 1, grouped split (no artist on both sides):")
    typer.echo(summary["table_grouped"])
    typer.echo(summary["gap"])
    typer.echo(f"done in {summary['seconds']:.0f} s; report: {summary['report']}")


def run() -> None:
    """The ``graham`` console command: ``app`` with ``-v``/``--verbose`` accepted anywhere on the
    line (``graham train DATA --out RUN -v``), not only before the subcommand."""
    args = sys.argv[1:]
    verbose = [a for a in args if a in ("-v", "--verbose")]
    app(args=verbose[:1] + [a for a in args if a not in ("-v", "--verbose")], prog_name="graham")


if __name__ == "__main__":  # pragma: no cover
    run()
