"""The two typed requests every workflow takes, built once at the edge (the CLI, or a user's
script): where the clips come from (:class:`DataSource`) and how to train on them
(:class:`ModelSettings`). A workflow reads its settings from them and passes them on whole,
so an option added here reaches every workflow without a new parameter on each. Importing
this module loads nothing heavy: the CLI builds a request before torch loads."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:  # the settings' types load torch; the CLI builds a DataSource before it may
    from ..nn.gnn import GNNConfig
    from ..presets import GNNTrainConfig, SiameseConfig

__all__ = ["DataSource", "ModelSettings"]


@dataclass(frozen=True)
class DataSource:
    """A data set and where its log-mels live.

    Parameters
    ----------
    spec : str
        ``KIND:PATH`` (``folder:DIR``, ``gtzan:DIR``, ``csv:TABLE``, ``audioset:CSV``,
        ``audio:DIR``) or ``synthetic[:PER_GENRExSECONDS]``.
    clips : str or os.PathLike, optional
        AudioSet only: the folder holding the clips.
    cache : str or os.PathLike, optional
        The feature folder (``graham features --out``); None: graham's cache.
    exclude : Mapping[str, str], optional
        Clips to leave out, ``{clip_id: reason}`` (an audit's findings).
    split_lists : Mapping[str, str], optional
        GTZAN split lists, ``{"train"|"valid"|"test": FILE}``, for the ``given`` protocol.

    Examples
    --------
    >>> from graham.workflows.requests import DataSource
    >>> DataSource("synthetic:4x3").spec
    'synthetic:4x3'
    >>> DataSource("folder:~/music", cache="runs/features").cache
    PosixPath('runs/features')
    """

    spec: str
    clips: str | None = None
    cache: Path | None = None
    exclude: Mapping[str, str] | None = None
    split_lists: Mapping[str, str] | None = None

    def __init__(self, spec: str, *, clips: str | os.PathLike | None = None, cache: str | os.PathLike | None = None,
                 exclude: Mapping[str, str] | None = None, split_lists: Mapping[str, str] | None = None) -> None:
        object.__setattr__(self, "spec", str(spec))
        object.__setattr__(self, "clips", str(clips) if clips else None)
        object.__setattr__(self, "cache", Path(cache).expanduser() if cache else None)
        object.__setattr__(self, "exclude", dict(exclude) if exclude else None)
        object.__setattr__(self, "split_lists", dict(split_lists) if split_lists else None)


@dataclass(frozen=True)
class ModelSettings:
    """Every setting of a training: the Siamese network's, the GNN's and its training recipe's,
    and the device.

    Build it with :meth:`from_preset` (the ``cpu`` or ``paper`` preset with what was given on
    top); the configurations are the documented dataclasses of :mod:`graham.presets` and
    :mod:`graham.nn.gnn`.

    Parameters
    ----------
    siamese : SiameseConfig
        Backbone, crops, pairs, epochs, losses.
    gnn : GNNConfig
        GrahAM's graph (complete, knn, similarity), node features, correct & smooth.
    gnn_train : GNNTrainConfig
        The GNN's epochs, learning rate, early stopping and seed.
    device : str, optional
        ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto``/None (a GPU when there is one).

    Examples
    --------
    >>> from graham.workflows.requests import ModelSettings
    >>> s = ModelSettings.from_preset("cpu", seed=3, epochs=2, graph="knn", k=5)
    >>> (s.siamese.epochs, s.siamese.seed, s.gnn.graph, s.gnn.k, s.gnn_train.seed)
    (2, 3, 'knn', 5, 3)
    >>> s.with_seed(7).siamese.seed
    7
    """

    siamese: SiameseConfig
    gnn: GNNConfig
    gnn_train: GNNTrainConfig
    device: str | None = None

    @classmethod
    def from_preset(cls, preset: str = "cpu", *, seed: int = 0, epochs: int | None = None,
                    contrastive: float | None = None, cross_fit: int | None = None, graph: str | None = None,
                    k: int | None = None, band_statistics: bool | None = None, label_input: bool | None = None,
                    gnn_epochs: int | None = None, device: str | None = None) -> "ModelSettings":
        """The preset's settings with each setting given (not None) on top.

        Parameters
        ----------
        preset : {'cpu', 'paper'}
            ``cpu``: a narrow backbone and short crops, minutes on 2 cores; ``paper``: the
            paper's full Xception recipe.
        seed : int
            Seed of data order, pairs, initialisation and the GNN.
        epochs, contrastive, cross_fit
            Siamese epochs, the contrastive loss's weight, cross-fitting parts (0: off).
        graph, k, band_statistics, label_input
            The GNN's graph kind, neighbours per clip, node features, label inputs.
        gnn_epochs : int, optional
            GNN epochs at most.
        device : str, optional
            As :attr:`device`.
        """
        from ..presets import gnn_config, gnn_train_config, siamese_config

        given = {"epochs": epochs, "contrastive": contrastive, "cross_fit": cross_fit}
        gnn = {"graph": graph, "k": k, "band_statistics": band_statistics, "label_input": label_input}
        return cls(siamese_config(preset, seed=seed, **{k_: v for k_, v in given.items() if v is not None}),
                   gnn_config(preset, **{k_: v for k_, v in gnn.items() if v is not None}),
                   gnn_train_config(preset, seed=seed, **({"epochs": gnn_epochs} if gnn_epochs is not None else {})),
                   device)

    def with_seed(self, seed: int) -> "ModelSettings":
        """The same settings with ``seed`` for the Siamese network and the GNN's training."""
        return dataclasses.replace(self, siamese=dataclasses.replace(self.siamese, seed=int(seed)),
                                   gnn_train=dataclasses.replace(self.gnn_train, seed=int(seed)))
