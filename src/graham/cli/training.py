"""Commands that train: ``train`` (and ``train --labels``), ``experiment``, ``train-siamese``,
``embed`` and ``demo``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import GrahamError
from ..names import METHOD_KEYS, MODES, ONE_SPLIT_PROTOCOLS, PROTOCOL_CHOICES
from ..workflows.requests import DataSource
from .app import app
from .common import check_first, echo_skipped, fail, handled, notify, reports
from .options import AUTO_WHY, DEVICE_OPT, ModelOptions, data_source, grouped, model_options

__all__ = ["train", "experiment", "train_siamese_cmd", "embed", "demo"]

METHOD_OPT = typer.Option(None, "--method", help="Methods to run (repeat; default all): grahams_gnn, random_forest, "
                                                 "mlp_2layer, label_spreading, supervised_cnn, mel_floor.")


def _one_split(command: str, protocol: str) -> None:
    if protocol == "kfold":
        fail(GrahamError(f"{command} uses one split: --protocol auto, paper, random, grouped or given (k-fold: graham "
                         "experiment)"))


@app.command("train-siamese")
@grouped
def train_siamese_cmd(
    source: DataSource = data_source(split_list=True),
    out: Path = typer.Option(..., "--out", help="Run folder: checkpoints last/best.safetensors, split.json."),
    model: ModelOptions = model_options("preset", "epochs"),
    protocol: str = typer.Option("auto", help="Split: auto, paper (= random), random, grouped or given; only its "
                                 "training clips train. " + AUTO_WHY),
    seed: int = typer.Option(0, help="Seed of split, data order, pairs and initialisation."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/last.safetensors."),
    device: str = DEVICE_OPT,
) -> None:
    """Train the Siamese embedding network (Xception + pair head, balanced pairs)."""
    _one_split("train-siamese", protocol)
    check_first(protocol=protocol, protocols=ONE_SPLIT_PROTOCOLS, device=device, out=out)
    from ..workflows.siamese import train_siamese_run

    with handled(interrupted=f"{out / 'last.safetensors'} holds the last finished epoch; add --resume to the same "
                             "command to go on from it"):
        res, corpus, split = train_siamese_run(source, out, model.settings(seed=seed, device=device), protocol=protocol,
                                               seed=seed, resume=resume, notify=notify)
    if not reports():
        return
    last = res.history[-1] if res.history else {}
    val = (f", val ROC-AUC {last['val_auc']:.3f}" if "val_auc" in last else
           f", val centroid accuracy {last['val_centroid_acc']:.3f} (too few validation clips for pairs of both kinds)"
           if "val_centroid_acc" in last else "")
    typer.echo(f"trained on {len(split.train)} clips of {corpus.name} in {res.seconds:.0f} s; best epoch {res.best_epoch + 1}; "
               f"last: loss {last.get('loss', float('nan')):.3f}{val}")
    typer.echo(f"checkpoints: {out / 'best.safetensors'}, {out / 'last.safetensors'}")


@app.command()
@grouped
def embed(
    source: DataSource = data_source(),
    model: Path = typer.Option(..., "--model", help="A Siamese checkpoint (.safetensors) or a bundle folder."),
    out: Path = typer.Option(..., "--out", help="Output file (.safetensors: embeddings, labels; clip ids in metadata)."),
    workers: int = typer.Option(2, help="Decoding threads."),
    device: str = DEVICE_OPT,
) -> None:
    """Write the 128-d embedding of every clip (mean over windows of the training crop length).

    Embeddings are kept in shards beside the log-mels (a killed run resumes); under torchrun
    each process embeds its share."""
    check_first(device=device)
    from ..workflows.siamese import embed_dataset

    with handled():
        emb, corpus = embed_dataset(source, model, out, device=device, workers=workers)
    if reports():
        typer.echo(f"{emb.shape[0]} embeddings of {emb.shape[1]} dimensions -> {out}")


@app.command()
@grouped
def train(
    ctx: typer.Context,
    source: DataSource = data_source(split_list=True, exclude=True),
    out: Path = typer.Option(..., "--out", help="Run folder: metrics.json, bundle/, report.html, siamese/."),
    model: ModelOptions = model_options(),
    protocol: str = typer.Option("auto", help="Split: auto, paper (= random, the paper's 70:30), random, grouped "
                                 "(70:30, no group on both sides) or given. " + AUTO_WHY),
    fraction: float = typer.Option(1.0, help="Labelled fraction of the training clips."),
    seed: int = typer.Option(0),
    report: bool = typer.Option(True, help="Write report.html with figures."),
    resume: bool = typer.Option(False, "--resume", help="Resume the Siamese network from OUT/siamese/last."),
    methods: Optional[List[str]] = METHOD_OPT,
    device: str = DEVICE_OPT,
    labels: Optional[Path] = typer.Option(None, "--labels", help="A CSV of clip_id,label: train on these labels "
                                          "alone, every other clip an unlabelled node of the graph (no split; "
                                          "writes predictions.csv of the unlabelled clips and a bundle)."),
) -> None:
    """The whole path: features, Siamese, GNN, baselines, test metrics, bundle and report."""
    if labels is not None:
        from .labels import train_on_labels_cmd

        return train_on_labels_cmd(ctx, source, labels, out, model, seed=seed, device=device)
    _one_split("train", protocol)
    check_first(methods=methods, protocol=protocol, protocols=ONE_SPLIT_PROTOCOLS, fractions=(fraction,),
                device=device, out=out)
    from ..workflows.train import report_run, train_model

    with handled(interrupted=f"{out / 'siamese' / 'last.safetensors'} holds the Siamese network's last finished "
                             "epoch (if one finished); add --resume to the same command to go on from it"):
        o = train_model(source, out, model.settings(seed=seed, device=device), protocol=protocol, seed=seed,
                        fraction=fraction, methods=tuple(methods) if methods else METHOD_KEYS, resume=resume,
                        notify=notify)
        if report:
            typer.echo(f"report: {report_run(o)}")
    echo_skipped(o.skipped, where=f" (all of them: {out / 'metrics.json'}, under \"skipped\")")
    _print_metrics(o)
    typer.echo(f"metrics: {out / 'metrics.json'}; bundle: {out / 'bundle'}")


def _print_metrics(o) -> None:
    from ..evaluate.methods import result_title

    typer.echo(f"{o.corpus.name}; split: {o.split_name}; {len(o.test_idx)} test clips")
    if o.leakage:
        typer.echo(f"  {o.leakage}")
    echo_scores({result_title(m): v for m, v in o.metrics.items()})


def echo_scores(scores: dict[str, dict]) -> None:
    """A table of accuracy, balanced accuracy and macro-F1 by method, its columns aligned
    whatever the longest method's name."""
    width = max(map(len, scores), default=0)
    for name, v in scores.items():
        typer.echo(f"  {name:{width}s}  accuracy {100 * v['accuracy']:5.1f} %   "
                   f"balanced {100 * v['balanced_accuracy']:5.1f} %   macro-F1 {100 * v['macro_f1']:5.1f} %")


@app.command()
@grouped
def experiment(
    source: DataSource = data_source(split_list=True, exclude=True),
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
    model: ModelOptions = model_options(),
    resume: bool = typer.Option(False, "--resume", help="Reuse the finished runs of an interrupted experiment."),
    methods: Optional[List[str]] = METHOD_OPT,
    device: str = DEVICE_OPT,
) -> None:
    """The paper's Table 1: GrahAM vs five baselines at several labelled fractions."""
    if mode not in MODES:
        fail(GrahamError(f"--mode {mode!r}: use transductive or inductive"))
    if protocol == "kfold" and k < 2:
        fail(GrahamError(f"--k {k}: k-fold cross-validation needs at least 2 folds"))
    check_first(methods=methods, protocol=protocol, protocols=PROTOCOL_CHOICES, fractions=fractions, device=device,
                out=out)
    from ..evaluate.protocol import ProtocolConfig
    from ..workflows.experiment import run_experiment

    with handled(also=(ValueError,), interrupted=f"every finished run is saved in {out / 'runs'}; add --resume to the "
                                                 "same command to run only the others"):
        cfg = ProtocolConfig(protocol=protocol, seeds=tuple(seeds), fractions=tuple(fractions), k=k, mode=mode,
                             methods=tuple(methods) if methods else METHOD_KEYS)
        res = run_experiment(source, out, cfg, model.settings(seed=0, device=device), resume=resume, notify=notify)
    echo_skipped(res.skipped, where=f" (all of them: {out / 'results.json'}, under \"skipped\")")
    typer.echo(f"protocol: {res.describe()}")
    typer.echo(res.markdown())
    if res.paired_markdown():
        typer.echo("\n" + res.paired_markdown())
    typer.echo(f"tables: {out / 'table.md'}, {out / 'table.csv'}, {out / 'results.json'}")


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), help="Run folder."),
) -> None:
    """Run graham end to end on the built-in synthetic corpus and write a report."""
    from ..workflows.demo import run_demo

    with handled():
        summary = run_demo(out)
    typer.echo(f"{summary['corpus']}; split: {summary['split']}")
    if summary["leakage"]:
        typer.echo(f"  {summary['leakage']}")
    echo_scores({m: {"accuracy": acc, "balanced_accuracy": summary["balanced_accuracy"][m],
                     "macro_f1": summary["macro_f1"][m]} for m, acc in summary["accuracy"].items()})
    typer.echo("Table 1, random split (the paper's):")
    typer.echo(summary["table"])
    typer.echo("Table 1, grouped split (no artist on both sides):")
    typer.echo(summary["table_grouped"])
    typer.echo(summary["gap"])
    typer.echo(f"done in {summary['seconds']:.0f} s; report: {summary['report']}")
