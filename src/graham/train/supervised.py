"""The plain supervised CNN baseline: GrahAM's own backbone and preset trained with cross-entropy
on the labelled clips, predicting a clip by averaging its windows' class probabilities.

It answers the question a reviewer asks first: does the Siamese network plus the graph beat
simply training the same network as a classifier? Batches, crops, augmentation, optimiser,
epochs and best-epoch selection are the Siamese network's, so the two differ only in the
objective.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..data.features import take
from ..errors import ParameterError
from ..nn.xception import Xception
from ..presets import SiameseConfig
from ..utils.devices import resolve_device
from .augment import augment_batch
from .crops import MelCrops
from .loop import BestState, TrainResult, run_epochs
from .pairs import ClassBalancedBatchSampler
from .rng import keeps_global_rng
from .validation import split_validation

__all__ = ["SupervisedCNN", "SupervisedResult", "train_supervised_cnn", "predict_proba_clips"]

log = logging.getLogger(__name__)


class SupervisedCNN(nn.Module):
    """The Xception branch phi followed by a linear classifier on its 128-d embedding."""

    def __init__(self, config: SiameseConfig, num_classes: int) -> None:
        super().__init__()
        self.backbone = Xception(config.backbone)
        self.classifier = nn.Linear(self.backbone.embedding_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits [shape=(B, num_classes)] of crops [shape=(B, n_mels, frames)]."""
        return self.classifier(self.backbone(x))


#: What :func:`train_supervised_cnn` returns (one result type for every training; this name stays).
SupervisedResult = TrainResult


@keeps_global_rng
def train_supervised_cnn(mels: Sequence[np.ndarray], labels: Sequence[int], num_classes: int,
                         config: SiameseConfig | None = None, *, groups=None, device: str | None = None,
                         progress: bool = False) -> SupervisedResult:
    """Train :class:`SupervisedCNN` with cross-entropy on ``mels`` (the labelled training clips
    only) for ``config.epochs``; a stratified ``config.val_fraction`` is held out (whole
    ``groups`` with ``config.grouped_validation``: :func:`~graham.train.validation.split_validation`)
    and the epoch with the best validation accuracy (clip-level, windows averaged) is returned."""
    config = config or SiameseConfig()
    labels = np.asarray(labels, dtype=np.int64)
    if len(mels) != len(labels) or len(np.unique(labels)) < 2:
        raise ParameterError("need as many labels as clips, of at least two classes")
    dev = resolve_device(device)
    torch.manual_seed(config.seed)
    model = SupervisedCNN(config, num_classes).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    tr_idx, va_idx = split_validation(labels, config.val_fraction, config.seed,
                                      groups if config.grouped_validation else None)
    sampler = ClassBalancedBatchSampler(labels[tr_idx], classes_per_batch=config.classes_per_batch,
                                        per_class=config.per_class, seed=config.seed, min_batches=config.min_batches)
    rng = np.random.default_rng([config.seed, 2])
    crops = MelCrops(mels, config.crop_frames)
    loss_fn = nn.CrossEntropyLoss()

    def epoch_step(epoch: int) -> dict:
        model.train()
        losses = []
        for batch in sampler:
            idx = tr_idx[batch]
            x = augment_batch(crops.random(idx, rng), labels[idx], config.augment, rng).to(dev)
            loss = loss_fn(model(x), torch.from_numpy(labels[idx]).to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        row = {"epoch": epoch, "loss": float(np.mean(losses))}
        if len(va_idx):
            proba = predict_proba_clips(model, take(mels, va_idx), crop_frames=config.crop_frames, device=dev)
            row["val_acc"] = float((proba.argmax(1) == labels[va_idx]).mean())
        log.info("supervised cnn epoch %d: %s", epoch, row)
        return row

    best = BestState()
    history, seconds = run_epochs(model, range(config.epochs), epoch_step, best=best,
                                  score=lambda row: row.get("val_acc", 0.0) + 1e-3 / (1.0 + row["loss"]),  # ties: lower loss
                                  progress="supervised cnn" if progress else None)
    best.restore(model)
    model.eval()
    return TrainResult(model, history, best.epoch, seconds)


@torch.no_grad()
def predict_proba_clips(model: SupervisedCNN, mels: Sequence[np.ndarray], *, crop_frames: int,
                        hop: int | None = None, batch_size: int = 64,
                        device: str | torch.device | None = None) -> np.ndarray:
    """Class probabilities of every clip [shape=(N, num_classes)]: the mean of the softmax over
    its windows of ``crop_frames`` (hop: half a window), as GrahAM's embeddings are made."""
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    was_training = model.training
    model.eval()
    crops = MelCrops(mels, crop_frames)
    hop = hop or max(1, crop_frames // 2)
    out = []
    for i in range(len(crops)):
        w = crops.windows(i, hop)
        p = torch.cat([torch.softmax(model(w[k:k + batch_size].to(dev)), dim=1).cpu() for k in range(0, len(w), batch_size)])
        out.append(p.mean(0))
    model.train(was_training)
    return torch.stack(out).numpy()
