"""Commands for a collection with few labels: ``suggest``, ``extend``, and ``train --labels``
(:func:`train_on_labels_cmd`, which ``train`` hands over to)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import ParameterError
from ..workflows.requests import DataSource
from .app import app
from .common import check_first, fail, handled
from .options import DATASET_HELP, DEVICE_OPT, ModelOptions, data_source, grouped, model_options

__all__ = ["suggest", "extend", "train_on_labels_cmd", "LABELS_USES"]

#: What ``train --labels`` reads of ``train``'s options; it refuses any other given on the line.
LABELS_USES = frozenset({"dataset", "clips", "features_dir", "out", "preset", "epochs", "contrastive", "seed",
                         "device", "labels"})


def train_on_labels_cmd(ctx: typer.Context, source: DataSource, labels: Path, out: Path, model: ModelOptions, *,
                        seed: int, device: str) -> None:
    """``graham train --labels``: train on the labels given, every other clip an unlabelled node."""
    given = [p for p in ctx.command.params if p.name not in LABELS_USES and p.name is not None
             and getattr(ctx.get_parameter_source(p.name), "name", None) == "COMMANDLINE"]  # typer vendors click
    if given:  # said, not silently ignored
        fail(ParameterError(f"train --labels trains on the labels given with the preset's graph and no split or "
                            f"baselines; it does not take {', '.join(p.opts[0] for p in given)}"))
    check_first(device=device, out=out)
    from ..workflows.label_less import train_on_labels

    with handled():
        doc = train_on_labels(source, labels, out, model.few_labels(seed=seed, device=device))
    typer.echo(f"{doc['labelled']} labelled clips, {doc['unlabelled']} unlabelled: {doc['model']}")
    m = doc["unlabelled_scored_against_the_data_sets_own_labels"]
    if m:
        typer.echo(f"the unlabelled clips against the data set's own labels (never trained on): balanced accuracy "
                   f"{100 * m['balanced_accuracy']:.1f} %")
    typer.echo(f"predictions: {out / 'predictions.csv'}; bundle: {out / 'bundle'}")


@app.command()
@grouped
def suggest(
    source: DataSource = data_source(help=DATASET_HELP + " audio:PATH reads a collection nobody has labelled."),
    labels: Path = typer.Option(..., "--labels", help="A CSV of clip_id,label: the labels given so far."),
    budget: int = typer.Option(20, "--budget", help="How many clips to suggest."),
    out: Path = typer.Option(..., "--out", help="Folder: suggestions.csv, label.html, suggest.json."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help="Use this bundle's model (no Siamese training; "
                                          "the labels given join its graph) instead of a fresh training."),
    strategy: str = typer.Option("typical", help="typical (default: the densest clip of each region with no label), "
                                 "typical-doubt (its regions ranked by the graph's doubt), uncertain-cover, margin, "
                                 "cover or random."),
    model: ModelOptions = model_options("preset", "epochs", "contrastive"),
    per_group: int = typer.Option(2, "--per-group", help="At most this many clips of one group (album, track)."),
    new_groups_first: bool = typer.Option(True, "--new-groups-first/--any-group",
                                          help="Clips of groups with no labelled clip first (default), or any group."),
    seed: int = typer.Option(0),
    device: str = DEVICE_OPT,
) -> None:
    """Which clips to label next: the clips that stand for the most unlabelled music (or the graph's
    least certain ones), spread over the collection; a
    page to label them by ear that saves the labels CSV the next call reads."""
    check_first(device=device, out=out, bundle=bundle)
    if bundle is not None and (model.contrastive is not None or model.epochs is not None):
        fail(ParameterError("--bundle uses the bundle's Siamese network and trains none: --epochs and --contrastive "
                            "are for a fresh training"))
    from ..labelling.select import STRATEGIES
    from ..workflows.label_less import suggest as run_suggest
    from .checks import check_choice

    with handled():
        check_choice("--strategy", strategy, STRATEGIES)
        o = run_suggest(source, labels, budget, out, model.few_labels(seed=seed, device=device), bundle=bundle,
                        strategy=strategy, per_group=per_group, new_groups_first=new_groups_first, seed=seed)
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
    check_first(device=device, bundle=bundle)
    from ..workflows.extend import extend_bundle_files, parse_additions

    with handled():
        res = extend_bundle_files(bundle, parse_additions(add), out=out, in_place=in_place, seed=seed, device=device,
                                  on_skip=lambda e: typer.echo(f"skipped {e}", err=True))
    typer.echo(f"added {', '.join(f'{n} clips of {k}' for k, n in res.added.items())} in {res.seconds:.1f} s; "
               f"classes: {', '.join(res.bundle.classes)}")
    typer.echo(f"bundle: {res.out}")
