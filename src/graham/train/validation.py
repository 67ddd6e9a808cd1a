"""How a Siamese training validates: the held-out clips (whole groups where groups are given),
the embedding's nearest-centroid accuracy and the pair head's ROC-AUC on them, and what "best
epoch" means."""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import torch

from ..nn.siamese import SiameseNet
from .crops import MelCrops
from .embed import embed_clips
from .pairs import sample_pairs

__all__ = ["split_validation", "validate", "epoch_score"]

log = logging.getLogger(__name__)


def split_validation(labels: np.ndarray, fraction: float, seed: int,
                     groups: Sequence | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(fit, validation) positions: a stratified ``fraction`` held out, or none when a class
    has fewer than 4 clips (then every clip trains and the last epoch is kept).

    With ``groups`` where some group holds several clips (segments of one track, songs of one
    artist), whole groups are held out (a fold of ``StratifiedGroupKFold`` with 1/``fraction``
    folds), so that no group sits on both sides and the epoch is chosen on clips unlike those
    it trained on, as the test clips are. When that would leave a class without a clip on
    either side, nothing is held out (a random split would put groups on both sides)."""
    idx = np.arange(len(labels))
    counts = np.bincount(labels)
    if fraction <= 0 or (counts[counts > 0] < 4).any():
        return idx, np.empty(0, np.int64)
    if groups is not None and len(set(groups)) < len(labels):
        from sklearn.model_selection import StratifiedGroupKFold

        k = max(2, int(round(1 / fraction)))
        present = set(np.unique(labels).tolist())
        best: tuple[np.ndarray, np.ndarray] | None = None
        if len(set(groups)) >= k:  # the first fold that keeps every class in training, covering most classes
            for tr, va in StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(
                    idx, labels, np.asarray(groups)):
                if set(labels[tr].tolist()) == present and (
                        best is None or len(set(labels[va].tolist())) > len(set(labels[best[1]].tolist()))):
                    best = (np.sort(tr), np.sort(va))
        if best is not None:
            return best
        log.warning("grouped validation is off: %d groups cannot hold out a fold and keep every class in training; "
                    "every clip trains and the last epoch is kept", len(set(groups)))
        return idx, np.empty(0, np.int64)
    from sklearn.model_selection import train_test_split

    n_classes = int((counts > 0).sum())
    n_val = max(n_classes, int(round(fraction * len(labels))))
    tr, va = train_test_split(idx, test_size=n_val, stratify=labels, random_state=seed)
    return np.sort(tr), np.sort(va)


@torch.no_grad()
def validate(model: SiameseNet, crops: MelCrops, idx: np.ndarray, ref: np.ndarray, labels: np.ndarray, device,
              seed: int, embedding: str = "centre") -> dict:
    """Validation of the embedding on held-out clips ``idx``: nearest-class-centroid accuracy
    against the training clips ``ref`` (what a classifier on the embedding needs; defined
    even with one validation clip per class) and, where the clips form positive pairs, pair
    accuracy and ROC-AUC of the pair head. ``embedding``: every clip embedded by its middle
    crop (``centre``) or by the mean over its windows end to end (``clip``, :func:`embed_clips`)."""
    from sklearn.metrics import roc_auc_score

    model.eval()

    if embedding == "clip":  # one pass over both sets; windows end to end: half the graph's half-overlapping ones
        clips = [crops.mels[int(i)] for i in np.concatenate([idx, ref])]
        every = torch.from_numpy(embed_clips(model, clips, crop_frames=crops.frames, hop=crops.frames,
                                             device=device)).to(device)
        emb, ref_emb = every[:len(idx)], every[len(idx):]
    else:  # each set on its own, in batches of 64, as before the option
        emb, ref_emb = (torch.cat([model.embed(crops.center(ix[k:k + 64]).to(device)) for k in range(0, len(ix), 64)])
                        for ix in (idx, ref))
    classes = np.unique(labels[ref])
    centroids = torch.stack([ref_emb[torch.from_numpy(labels[ref] == c).to(device)].mean(0) for c in classes])
    nearest = classes[torch.cdist(emb, centroids).argmin(1).cpu().numpy()]
    out = {"val_centroid_acc": float((nearest == labels[idx]).mean())}
    i, j, y = sample_pairs(labels[idx], np.random.default_rng(seed))
    if len(y) and 0 < y.sum() < len(y):
        logits = model.pair_logits(emb, torch.from_numpy(i).to(device), torch.from_numpy(j).to(device)).cpu().numpy()
        out.update({"val_pair_acc": float(((logits > 0) == (y > 0.5)).mean()), "val_auc": float(roc_auc_score(y, logits))})
    return out


def epoch_score(row: dict) -> float:
    """What "best epoch" means: validation centroid accuracy, ties broken by the pair head's
    validation AUC (or, without validation pairs, the training loss); without validation at
    all, the training loss alone."""
    if "val_centroid_acc" not in row:
        return -row["loss"]
    tie = row.get("val_auc", 1.0 / (1.0 + row["loss"]))
    return row["val_centroid_acc"] + 1e-3 * tie
