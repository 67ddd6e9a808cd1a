"""Training the GrahAM GNN: full-graph, semi-supervised (only labelled nodes give loss), Adam
lr 3e-4, the paper's 1000 epochs by default, optional early stopping on a validation part of
the labelled nodes."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..errors import ParameterError
from ..nn.gnn import GNNConfig, GrahamGNN
from .siamese import resolve_device

__all__ = ["GNNTrainConfig", "GNNResult", "train_gnn", "standardise_features"]

log = logging.getLogger(__name__)


@dataclass
class GNNTrainConfig:
    epochs: int = 1000
    lr: float = 3e-4
    weight_decay: float = 5e-4
    patience: int | None = None  # early stopping on validation accuracy (needs val_fraction > 0)
    val_fraction: float = 0.0
    seed: int = 0


@dataclass
class GNNResult:
    model: GrahamGNN
    mean: np.ndarray
    scale: np.ndarray
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def standardise_features(x: np.ndarray, mean: np.ndarray | None = None, scale: np.ndarray | None = None):
    """Zero mean, unit variance per dimension (statistics of the given rows unless passed)."""
    mean = x.mean(0) if mean is None else mean
    scale = x.std(0) + 1e-6 if scale is None else scale
    return (x - mean) / scale, mean, scale


def train_gnn(
    x: np.ndarray,
    y: np.ndarray,
    labelled: np.ndarray,
    num_classes: int,
    *,
    config: GNNConfig | None = None,
    train: GNNTrainConfig | None = None,
    device: str | None = None,
    progress: bool = False,
) -> GNNResult:
    """Fit a :class:`GrahamGNN` on the complete graph over all rows of ``x`` [shape=(N, d)].

    ``labelled`` holds the indices of the nodes whose label ``y`` gives loss; every other node
    sits in the graph unlabelled (transductive). Features are standardised with the labelled
    nodes' statistics, kept in the result for inference.
    """
    train = train or GNNTrainConfig()
    labelled = np.asarray(labelled, dtype=np.int64)
    if labelled.size == 0:
        raise ParameterError("no labelled nodes")
    dev = resolve_device(device)
    torch.manual_seed(train.seed)
    rng = np.random.default_rng(train.seed)
    xs, mean, scale = standardise_features(x, x[labelled].mean(0), x[labelled].std(0) + 1e-6)
    xt = torch.as_tensor(xs, dtype=torch.float32, device=dev)
    yt = torch.as_tensor(y, dtype=torch.long, device=dev)
    fit_idx, val_idx = labelled, np.empty(0, np.int64)
    if train.val_fraction > 0 and len(labelled) >= 10:
        perm = rng.permutation(labelled)
        n_val = max(1, int(round(train.val_fraction * len(perm))))
        val_idx, fit_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    fit_t = torch.as_tensor(fit_idx, device=dev)
    val_t = torch.as_tensor(val_idx, device=dev)
    model = GrahamGNN(x.shape[1], num_classes, config).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    history, best, best_state, waited = [], -1.0, None, 0
    t0 = time.perf_counter()
    epochs = range(train.epochs)
    if progress:
        from tqdm.auto import tqdm
        epochs = tqdm(epochs, desc="gnn", unit="epoch", leave=False)
    for epoch in epochs:
        model.train()
        logits = model(xt)
        loss = loss_fn(logits[fit_t], yt[fit_t])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        row = {"epoch": epoch, "loss": float(loss.detach())}
        if len(val_idx) and (epoch % 10 == 0 or epoch == train.epochs - 1):
            model.eval()
            with torch.no_grad():
                acc = float((model(xt)[val_t].argmax(1) == yt[val_t]).float().mean())
            row["val_acc"] = acc
            if acc > best:
                best, waited = acc, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                waited += 10
            if train.patience is not None and waited >= train.patience:
                history.append(row)
                break
        history.append(row)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return GNNResult(model, mean, scale, history, time.perf_counter() - t0)
