"""The options several commands share, each declared once, and the two option groups that
build the workflows' typed requests at the edge: :func:`data_source` (a
:class:`~graham.workflows.requests.DataSource`) and :func:`model_options` (a
:class:`ModelOptions`, which makes :class:`~graham.workflows.requests.ModelSettings`).

A command declares a group as one parameter, ``source: DataSource = data_source()``, and is
decorated with :func:`grouped`: typer then sees the group's options as the command's own (in
its ``--help``, at that place), and the command receives the one value built from them."""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, List, Optional

import typer

from ..errors import GrahamError, ParameterError
from .common import fail

if TYPE_CHECKING:
    from ..workflows.requests import DataSource, ModelSettings

__all__ = ["DATASET_HELP", "AUTO_WHY", "DEVICE_OPT", "OptionGroup", "grouped", "data_source", "ModelOptions",
           "model_options", "split_lists"]

DATASET_HELP = ("KIND:PATH — gtzan:DIR, audioset:CSV (with --clips DIR), folder:DIR, csv:TABLE, "
                "or synthetic[:PER_GENRExSECONDS]")
AUTO_WHY = ("auto (the default): a corpus whose groups (a folder's sub-folders, a table's group column, the synthetic "
            "artists) hold several clips is split by group, so no recording or artist sits on both sides; any other "
            "gets the paper's random split. paper or random: the paper's random split of clips (on grouped data it "
            "is optimistic, and a line says how many groups it cuts).")
DEVICE_OPT = typer.Option("auto", help="cpu, cuda, cuda:1 ... (auto: a GPU when there is one).")
CLIPS_OPT = typer.Option(None, help="AudioSet: folder holding the clips.")
FEATURES_OPT = typer.Option(None, "--features", help="Feature folder (graham features --out); default: the cache.")
SPLIT_LIST_OPT = typer.Option(None, "--split-list", help="GTZAN split list SPLIT=FILE (train, valid or test; repeat), "
                                                         "for --protocol given.")
EXCLUDE_OPT = typer.Option(None, "--exclude", help="Clips to leave out: an audit's audit.json, a JSON list of clip "
                                                    "ids, or a text file of clip ids (one per line, a tab and a "
                                                    "reason optional).")


@dataclass(frozen=True)
class OptionGroup:
    """Options declared once for several commands: ``options`` as (name, type, typer default),
    and ``build(**values)``, the one value a command receives for them."""

    options: tuple[tuple[str, Any, Any], ...]
    build: Callable[..., Any]

    def parameters(self) -> list[inspect.Parameter]:
        return [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=kind)
                for name, kind, default in self.options]


def grouped(fn: Callable) -> Callable:
    """A command whose parameters defaulting to an :class:`OptionGroup` are replaced, for typer,
    by the group's options; the command is called with the group's built value instead.

    (:func:`data_source` and :func:`model_options` are typed ``Any``, as ``typer.Option`` is, so
    that a parameter annotated with the built type may default to them.)"""
    sig = inspect.signature(fn, eval_str=True)
    params: list[inspect.Parameter] = []
    groups: dict[str, OptionGroup] = {}
    for p in sig.parameters.values():
        if isinstance(p.default, OptionGroup):
            groups[p.name] = p.default
            params += p.default.parameters()
        else:
            params.append(p)

    @functools.wraps(fn)
    def command(**values: Any) -> Any:
        for name, group in groups.items():
            values[name] = group.build(**{option: values.pop(option) for option, _, _ in group.options})
        return fn(**values)

    del command.__wrapped__  # typer reads the signature below, not fn's
    command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    return command


def split_lists(items: Optional[List[str]]) -> Optional[dict]:
    """``--split-list train=FILE ...`` as ``{"train": FILE, ...}``."""
    if not items:
        return None
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or name not in ("train", "valid", "test"):
            raise typer.BadParameter(f"expected train=FILE, valid=FILE or test=FILE, got {item!r}")
        out[name] = path
    return out


def _exclusions(path: Optional[Path]) -> Optional[dict]:
    """``--exclude FILE`` read before any work: ``{clip_id: reason}``, or a one-line error."""
    if path is None:
        return None
    from ..data.exclusions import read_exclusions

    try:
        found = read_exclusions(path)
    except GrahamError as exc:
        fail(exc)
    typer.echo(f"excluding {len(found)} clips listed in {path}")
    return found


def data_source(*, help: str = DATASET_HELP, features: bool = True, split_list: bool = False,
                exclude: bool = False) -> Any:
    """The data-set argument and the options that go with it (``--clips``, and as asked
    ``--features``, ``--split-list``, ``--exclude``), built into a
    :class:`~graham.workflows.requests.DataSource` once the spec and its paths are checked
    (before torch loads)."""
    options: list[tuple[str, Any, Any]] = [("dataset", str, typer.Argument(..., help=help)),
                                           ("clips", Optional[Path], CLIPS_OPT)]
    if features:
        options.append(("features_dir", Optional[Path], FEATURES_OPT))
    if split_list:
        options.append(("split_list", Optional[List[str]], SPLIT_LIST_OPT))
    if exclude:
        options.append(("exclude", Optional[Path], EXCLUDE_OPT))

    def build(dataset: str, clips: Optional[Path], features_dir: Optional[Path] = None,
              split_list: Optional[List[str]] = None, exclude: Optional[Path] = None) -> "DataSource":
        from ..workflows.requests import DataSource
        from .checks import check_dataset

        try:
            check_dataset(dataset, clips)
        except GrahamError as exc:
            fail(exc)
        return DataSource(dataset, clips=clips, cache=features_dir, split_lists=split_lists(split_list),
                          exclude=_exclusions(exclude))

    return OptionGroup(tuple(options), build)


@dataclass(frozen=True)
class ModelOptions:
    """The training options as given (None: the preset's); :meth:`settings` makes the
    :class:`~graham.workflows.requests.ModelSettings` once the seed and device are known."""

    preset: str = "cpu"
    epochs: Optional[int] = None
    contrastive: Optional[float] = None
    cross_fit: Optional[int] = None
    gnn_epochs: Optional[int] = None
    graph: Optional[str] = None
    k_neighbours: Optional[int] = None
    band_statistics: Optional[bool] = None
    label_input: Optional[bool] = None

    def settings(self, *, seed: int = 0, device: Optional[str] = None) -> "ModelSettings":
        from ..workflows.requests import ModelSettings

        return ModelSettings.from_preset(self.preset, seed=seed, epochs=self.epochs, contrastive=self.contrastive,
                                         cross_fit=self.cross_fit, graph=self.graph, k=self.k_neighbours,
                                         band_statistics=self.band_statistics, label_input=self.label_input,
                                         gnn_epochs=self.gnn_epochs, device=device)

    def few_labels(self, *, seed: int = 0, device: Optional[str] = None) -> "ModelSettings":
        """A fresh training's settings on few labels (``train --labels``, ``suggest``, ``tag``):
        :func:`~graham.workflows.label_less.label_less_settings`."""
        from ..workflows.label_less import label_less_settings

        return label_less_settings(self.preset, seed=seed, epochs=self.epochs, contrastive=self.contrastive,
                                   device=device)


_MODEL_OPTIONS: dict[str, tuple[Any, Any]] = {
    "preset": (str, typer.Option("cpu", help="Backbone preset: cpu (narrow, minutes on 2 cores) or paper (full "
                                             "Xception).")),
    "epochs": (Optional[int], typer.Option(None, min=1, help="Siamese epochs (default: the preset's).")),
    "contrastive": (Optional[float], typer.Option(
        None, min=0.0, help="Weight of the Siamese network's contrastive loss, which also learns from the unlabelled "
                            "training clips' audio (0: off; default: the preset's, and with --labels and in suggest 1 "
                            "under the cpu preset).")),
    "cross_fit": (Optional[int], typer.Option(
        None, "--cross-fit", min=0, help="K >= 2: each labelled clip's embedding comes from one of K more Siamese "
                                         "networks that did not train on it (its tracks held out), so the GNN and the "
                                         "baselines learn from labelled nodes that look like test nodes; K+1 "
                                         "trainings in all (0: off; default: the preset's).")),
    "gnn_epochs": (int, typer.Option(1000, min=1, help="GNN epochs at most (paper: 1000).")),
    "graph": (Optional[str], typer.Option(None, help="GNN graph: complete (the paper's), knn (k most similar clips) "
                                                     "or similarity (complete, each edge weighted by the pair head's "
                                                     "s_ij). Default: the preset's.")),
    "k_neighbours": (int, typer.Option(10, "--k-neighbours", help="Neighbours per clip for --graph knn and for "
                                                                  "correct & smooth.")),
    "band_statistics": (Optional[bool], typer.Option(
        None, "--band-statistics/--no-band-statistics", help="GNN node features: the Siamese embedding with the "
                                                            "clip's log-mel band statistics beside it. Default: the "
                                                            "preset's (cpu: on, paper: off).")),
    "label_input": (bool, typer.Option(False, "--label-input", help="Labelled nodes carry their label as a GNN input "
                                                                    "(hidden, in training, for the nodes that give "
                                                                    "loss).")),
}


def model_options(*names: str) -> Any:
    """The training options ``names`` (default: all), built into :class:`ModelOptions` once the
    preset and graph are checked (before torch loads)."""
    names = names or tuple(_MODEL_OPTIONS)

    def build(**given: Any) -> ModelOptions:
        from ..names import GRAPH_KINDS, PRESETS
        from .checks import check_choice

        try:
            check_choice("--preset", given.get("preset"), PRESETS)
            check_choice("--graph", given.get("graph"), GRAPH_KINDS)
        except ParameterError as exc:
            fail(exc)
        return ModelOptions(**given)

    return OptionGroup(tuple((n, *_MODEL_OPTIONS[n]) for n in names), build)
