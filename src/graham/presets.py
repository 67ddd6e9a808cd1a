"""Every setting of a run in one place: the configurations of Siamese training (with its
augmentation) and GNN training, and the two presets, ``cpu`` and ``paper``, as the
differences each makes to the defaults of the three configurations (the GNN's own,
:class:`graham.nn.gnn.GNNConfig`, beside them).

Configurations are frozen dataclasses, checked when made, with ``to_dict``/``from_dict`` (a
bundle and a run folder save them as JSON). They sit below ``train``, ``bundle`` and
``predict``: inference reads a bundle's settings without importing any training code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .errors import ParameterError
from .names import CROSS_FIT_OTHERS, VALIDATION_EMBEDDINGS
from .nn.gnn import GNNConfig
from .nn.xception import PRESETS, XceptionConfig

__all__ = ["AugmentConfig", "SiameseConfig", "GNNTrainConfig", "PRESET_NAMES", "siamese_config", "gnn_config",
           "gnn_train_config"]


def _known(cls, d: dict) -> None:
    unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ParameterError(f"unknown {cls.__name__} settings: {sorted(unknown)}")


@dataclass(frozen=True)
class AugmentConfig:
    """What to apply to each training crop; every probability is per crop.

    ``mix``: probability of mixing with another crop of the same genre in the batch, with a
    weight ``w`` drawn from U(0.5, 1) for the crop itself. ``time_masks``/``freq_masks``: how many masks, each at most
    ``time_mask_frac`` of the frames / ``freq_mask_frac`` of the bands wide.
    """

    mix: float = 0.0
    time_masks: int = 0
    time_mask_frac: float = 0.1
    freq_masks: int = 0
    freq_mask_frac: float = 0.1

    def __post_init__(self) -> None:
        if not 0 <= self.mix <= 1 or self.time_masks < 0 or self.freq_masks < 0:
            raise ParameterError("augmentation needs 0 <= mix <= 1 and mask counts >= 0")
        if not 0 <= self.time_mask_frac < 1 or not 0 <= self.freq_mask_frac < 1:
            raise ParameterError("mask widths are fractions in [0, 1)")

    @property
    def active(self) -> bool:
        return bool(self.mix or self.time_masks or self.freq_masks)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def preset(cls, name: str) -> "AugmentConfig":
        """``paper``: nothing (the paper trains on plain crops); ``cpu``: every transform."""
        if name == "paper":
            return cls()
        if name == "cpu":
            return cls(mix=0.5, time_masks=2, time_mask_frac=0.1, freq_masks=2, freq_mask_frac=0.1)
        raise ParameterError(f"unknown augmentation preset {name!r}; known: cpu, paper")


@dataclass(frozen=True)
class SiameseConfig:
    """Settings of Siamese training. ``preset`` picks the backbone (``paper`` or ``cpu``) unless
    ``backbone`` is given; ``crop_frames`` is the training crop length in mel frames.

    The defaults are the ``cpu`` preset's, chosen by measurement (README, "Why these
    defaults"): Adam at 1e-3 rather than the paper's 3e-4, and at least ``min_batches``
    batches per epoch, because a small network trained on a few dozen labelled clips for a few
    dozen steps is simply undertrained. ``hard_negatives``: half the negative pairs of a batch
    are its most confused ones (highest same-genre logit), the other half random.
    ``augment`` (:class:`AugmentConfig`) is off by default: at this budget it did not help
    (measured).

    ``identification`` weighs a second loss beside the pair loss: cross-entropy of a linear
    genre classifier on each clip's embedding (joint identification-verification supervision,
    Sun et al., DeepID2, 2014). The pair loss alone sees ~100 pairs of 32 clips per step and
    learned embeddings below a plain CNN's at the same budget (measured); both together give
    the embedding the classifier's gradient and keep the pair head the paper's eq. 1-2 asks
    for. The classifier is thrown away after training; the embedding and the pair head remain.
    ``contrastive`` weighs a third loss that uses clips without labels: two random crops of
    each of ``contrastive_clips`` clips per step, drawn from the labelled and the unlabelled
    training clips alike, must find each other among the step's other crops (NT-Xent at
    ``temperature`` on a small projection of the embedding; SimCLR, Chen et al. 2020; for
    music, CLMR, Spijkervet & Burgoyne 2021, and COLA, Saeed et al. 2021). Two moments of one
    recording share its genre, so the unlabelled clips shape the embedding that the graph is
    built on without a label being read. The projection is thrown away after training.
    ``grouped_validation``: where the training clips come in groups of several (segments of one
    track, songs of one artist), the validation clips that choose the epoch are whole groups,
    none of which trained, instead of clips drawn at random (which put segments of one track on
    both sides). Off by default: measured on real music it chose worse epochs for the
    embedding (docs/how-defaults-were-chosen.md); the validation set is a handful of tracks.
    ``validation_embedding``: what the epoch is chosen on. ``centre``: each validation and
    training clip's middle crop (one 3-s crop of a 30-s clip); ``clip``: the mean of the
    embeddings of its windows, the quantity the graph's nodes and every baseline read (issue 27),
    at the cost of embedding every labelled clip's windows each epoch (1.8x the run's time at
    30 % labels, 2.8x at 100 %). Off by default: on real music it left 6 of 15 runs unchanged at
    30 % labels (3 at 100 %) and moved every method within noise (docs/how-defaults-were-chosen.md).
    ``cross_fit`` (K >= 2; 0: off): the labelled clips' embeddings that the second stage learns
    from come from K more networks, each trained without one grouped part of the labelled clips
    and mapped into the main network's space (:mod:`graham.evaluate.cross_fit`), so that a
    labelled node looks like a test node rather than a clip the embedding has already fit.
    ``cross_fit_others``: what the other clips get, ``main`` (the main network's embedding, what
    a bundle serves) or ``mean`` (the mean of the K part networks', none of which trained on
    them: every node then comes from networks that did not see its clip; evaluation only).
    ``refit``: the validation clips only choose the number of epochs; the network is then
    trained afresh, from the same seed, on every labelled clip for that many epochs, so that no
    label is spent on validation alone (with 30 % of the labels, 15 % of them is a handful of
    clips the embedding never learns from). Up to twice the training time.
    The ``paper`` preset keeps the paper's settings (lr 3e-4, plain epochs, no augmentation,
    the pair loss alone)."""

    preset: str = "cpu"
    backbone: XceptionConfig | None = None
    crop_frames: int = 130  # 3 s at 22050 Hz / hop 512
    epochs: int = 20
    classes_per_batch: int = 8
    per_class: int = 4
    lr: float = 1e-3
    weight_decay: float = 0.0
    max_pairs: int | None = None
    head_hidden: int = 128
    val_fraction: float = 0.15
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    min_batches: int = 8
    hard_negatives: float = 0.5
    identification: float = 1.0
    contrastive: float = 0.0
    contrastive_clips: int = 16
    temperature: float = 0.1
    grouped_validation: bool = False
    validation_embedding: str = "centre"
    cross_fit: int = 0
    cross_fit_others: str = "main"
    refit: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.augment, dict):
            object.__setattr__(self, "augment", AugmentConfig(**self.augment))
        if self.min_batches < 0 or not 0 <= self.hard_negatives <= 1 or self.identification < 0:
            raise ParameterError("min_batches and identification must be >= 0, hard_negatives a fraction in [0, 1]")
        if self.contrastive < 0 or self.contrastive_clips < 2 or self.temperature <= 0:
            raise ParameterError("contrastive must be >= 0, contrastive_clips >= 2 and temperature > 0")
        if self.backbone is None:
            if self.preset not in PRESETS:
                raise ParameterError(f"unknown preset {self.preset!r}; known: {sorted(PRESETS)}")
            object.__setattr__(self, "backbone", PRESETS[self.preset])
        if self.crop_frames < 32 or self.epochs < 1 or not 0 <= self.val_fraction < 1:
            raise ParameterError("need crop_frames >= 32, epochs >= 1 and 0 <= val_fraction < 1")
        if self.cross_fit == 1 or self.cross_fit < 0:
            raise ParameterError(f"cross_fit is 0 (off) or the number of parts K >= 2, got {self.cross_fit}")
        if self.validation_embedding not in VALIDATION_EMBEDDINGS:
            raise ParameterError(f"validation_embedding is one of {VALIDATION_EMBEDDINGS}, got {self.validation_embedding!r}")
        if self.cross_fit_others not in CROSS_FIT_OTHERS:
            raise ParameterError(f"cross_fit_others is main or mean, got {self.cross_fit_others!r}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        assert self.backbone is not None  # set from the preset when made
        d["backbone"] = self.backbone.to_dict()
        d["augment"] = self.augment.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SiameseConfig":
        """Inverse of :meth:`to_dict`; an unknown setting is a :class:`ParameterError`."""
        d = dict(d)
        _known(cls, d)
        d["backbone"] = XceptionConfig.from_dict(d["backbone"]) if d.get("backbone") else None
        d["augment"] = AugmentConfig(**d["augment"]) if d.get("augment") else AugmentConfig()
        return cls(**d)


@dataclass(frozen=True)
class GNNTrainConfig:
    """Full-graph training of the GNN. With ``val_fraction`` > 0 (and at least 10 labelled
    nodes), that stratified part of the labelled nodes gives no loss but validation accuracy
    every 10 epochs; the best validation state is restored at the end, and training stops
    after ``patience`` epochs without improvement (None: never early). With ``refit``, the
    validation only chooses the number of epochs: the GNN is then trained afresh on every
    labelled node for that many epochs, so no label is spent on validation alone.

    The defaults are the paper's (1000 epochs on every labelled node, the last state kept):
    early stopping, with or without the refit, measured no better over 3 seeds x 3 labelled
    fractions (README, "Why these defaults"); ``val_fraction=0.2, patience=300`` turns it on.

    ``standardise``: node features are standardised with the statistics of every node of the
    graph (``"all"``, the default: features only, no label is read) or of the labelled nodes
    alone (``"labelled"``, graham 0.2 and the ``paper`` preset). With 30 % of the labels, the
    500-odd means and deviations of the node features would come from some 60 clips; every
    clip of the graph is known and gives them with several times the data. Measured on real
    music over two different embeddings (30 paired runs): +0.9 points at 30 % labels, +0.2 at
    100 % (README, "Why these defaults")."""

    epochs: int = 1000
    lr: float = 3e-4
    weight_decay: float = 5e-4
    patience: int | None = None
    val_fraction: float = 0.0
    refit: bool = True
    seed: int = 0
    standardise: str = "all"  # node features standardised with every node's statistics, or the "labelled" nodes'
    balanced: bool = False  # weigh each labelled node's loss by 1 / its class's count (graham extend: a new class of 5)

    def __post_init__(self) -> None:
        if self.standardise not in ("labelled", "all"):
            raise ParameterError(f"standardise must be 'labelled' or 'all', got {self.standardise!r}")
        if self.epochs < 1 or self.lr <= 0 or self.weight_decay < 0 or not 0 <= self.val_fraction < 1:
            raise ParameterError("GNN training needs epochs >= 1, lr > 0, weight_decay >= 0, 0 <= val_fraction < 1")
        if self.patience is not None and self.patience < 10:
            raise ParameterError("patience is counted in epochs and checked every 10: use >= 10 or None")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GNNTrainConfig":
        """Inverse of :meth:`to_dict`; an unknown setting is a :class:`ParameterError`."""
        _known(cls, d)
        return cls(**d)


#: What each preset changes in the defaults of the three configurations. ``cpu`` is graham's
#: measured defaults (the dataclass defaults: README, "Why these defaults"); ``paper`` the
#: paper's recipe: the full Xception, 20 epochs of batch 64 on 4.5-s crops at lr 3e-4 with the
#: pair loss alone, and the complete graph over the embeddings alone, no smoothing.
_PRESETS: dict[str, dict[str, dict]] = {
    "cpu": {"siamese": {"preset": "cpu"}, "gnn": {}, "gnn_train": {}},
    "paper": {"siamese": {"preset": "paper", "epochs": 20, "classes_per_batch": 8, "per_class": 8, "crop_frames": 192,
                          "lr": 3e-4, "min_batches": 0, "identification": 0.0, "hard_negatives": 0.0,
                          "contrastive": 0.0},
              "gnn": {"graph": "complete", "band_statistics": False, "smooth": False},
              "gnn_train": {"standardise": "labelled"}},
}
PRESET_NAMES = tuple(_PRESETS)


def _preset(name: str, part: str) -> dict:
    if name not in _PRESETS:
        raise ParameterError(f"unknown preset {name!r}; known: {', '.join(PRESET_NAMES)}")
    return _PRESETS[name][part]


def siamese_config(preset: str = "cpu", **overrides) -> SiameseConfig:
    """The preset's Siamese training settings, ``overrides`` on top."""
    return SiameseConfig(**{**_preset(preset, "siamese"), **overrides})


def gnn_config(preset: str = "cpu", **overrides) -> GNNConfig:
    """The preset's GNN settings (graph, node features, smoothing), ``overrides`` on top."""
    return GNNConfig(**{**_preset(preset, "gnn"), **overrides})


def gnn_train_config(preset: str = "cpu", **overrides) -> GNNTrainConfig:
    """The preset's GNN training settings (both presets: the paper's 1000 epochs on every
    labelled node, the last state kept; node features standardised over every node, or in
    ``paper`` over the labelled ones), ``overrides`` on top."""
    return GNNTrainConfig(**{**_preset(preset, "gnn_train"), **overrides})
