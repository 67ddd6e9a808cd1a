"""Training the GrahAM GNN: full-graph, semi-supervised (only labelled nodes give loss), Adam
lr 3e-4, the paper's 1000 epochs by default, optional early stopping on a validation part of
the labelled nodes."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import torch
from torch import nn

from ..errors import ParameterError
from ..nn.gnn import GNNConfig, GrahamGNN
from ..nn.graphs import Graph
from ..nn.node_features import standardise
from ..presets import GNNTrainConfig
from ..utils.devices import resolve_device
from .loop import BestState, TrainResult, run_epochs
from .rng import keeps_global_rng
from .validation import split_validation

__all__ = ["GNNResult", "train_gnn", "standardise_features", "known_labels"]

log = logging.getLogger(__name__)


#: What :func:`train_gnn` returns (one result type for every training; this name stays).
GNNResult = TrainResult


def standardise_features(x: np.ndarray, mean: np.ndarray | None = None, scale: np.ndarray | None = None):
    """Zero mean, unit variance per dimension (statistics of the given rows unless passed);
    returns (standardised ``x``, mean, scale)."""
    mean = x.mean(0) if mean is None else mean
    scale = x.std(0) + 1e-6 if scale is None else scale
    return standardise(x, mean, scale), mean, scale


def known_labels(y, labelled, n: int, device=None) -> torch.Tensor:
    """The label of every node that has one and -1 elsewhere [shape=(n,), int64]: what a GNN
    with ``label_input`` reads. Only ``y[labelled]`` is read."""
    idx = np.asarray(labelled, dtype=np.int64)  # numpy before any tensor: indices may not be on the CPU's device
    out = torch.full((n,), -1, dtype=torch.long, device=device)
    out[torch.as_tensor(idx, device=device)] = torch.as_tensor(np.asarray(y)[idx], dtype=torch.long, device=device)
    return out


def _warm_start(model: GrahamGNN, init: GrahamGNN) -> None:
    """Copy ``init``'s weights into ``model``; the classifier's rows of the classes ``init``
    knows are copied, those of new classes keep their fresh initialisation."""
    state = {k: v.detach().clone() for k, v in init.state_dict().items()}
    own = model.state_dict()
    for name in ("classifier.weight", "classifier.bias"):
        old = state[name]
        if old.shape[0] > own[name].shape[0]:
            raise ParameterError("a warm start cannot drop classes")
        new = own[name].clone()
        new[: old.shape[0]] = old
        state[name] = new
    model.load_state_dict(state)


@keeps_global_rng
def train_gnn(
    x: np.ndarray,
    y: np.ndarray,
    labelled: np.ndarray,
    num_classes: int,
    *,
    config: GNNConfig | None = None,
    train: GNNTrainConfig | None = None,
    graph: Graph | None = None,
    device: str | None = None,
    progress: bool = False,
    init: GrahamGNN | None = None,
    standardisation: tuple[np.ndarray, np.ndarray] | None = None,
) -> GNNResult:
    """Fit a :class:`GrahamGNN` on ``graph`` (default: the complete graph) over all rows of
    ``x`` [shape=(N, d)].

    ``labelled`` holds the indices of the nodes whose label ``y`` gives loss; every other node
    sits in the graph unlabelled (transductive). Features are standardised with every node's
    statistics (``train.standardise="all"``; no label is read) or the labelled nodes' alone,
    kept in the result for inference.

    ``init``: a trained GNN to start from (its weights copied; a classifier with fewer classes
    fills the first rows, the rest start fresh), and ``standardisation`` the (mean, scale) it
    read: ``graham extend`` refits a bundle's GNN from where it was rather than from scratch.
    """
    train = train or GNNTrainConfig()
    labelled = np.asarray(labelled, dtype=np.int64)
    if labelled.size == 0:
        raise ParameterError("no labelled nodes")
    dev = resolve_device(device)
    torch.manual_seed(train.seed)
    rows = x[labelled] if train.standardise == "labelled" else x  # "all": no label is read, only features
    mean, scale = standardisation if standardisation is not None else (rows.mean(0), rows.std(0) + 1e-6)
    xs, mean, scale = standardise_features(x, mean, scale)
    fit_idx, val_idx = _validation_split(y, labelled, train)
    model = GrahamGNN(x.shape[1], num_classes, config)
    if init is not None:
        _warm_start(model, init)
    step = _Epochs(model.to(dev), torch.as_tensor(xs, dtype=torch.float32, device=dev),
                   torch.as_tensor(y, dtype=torch.long, device=dev), np.asarray(y), fit_idx, val_idx,
                   graph.to(dev) if graph is not None else None, train, num_classes, dev)
    best = BestState()
    history, seconds = run_epochs(step.model, range(train.epochs), step, score=_score, best=best,
                                  patience=train.patience, progress="gnn" if progress else None)
    if best.state is not None and train.refit:
        again = dataclasses.replace(train, epochs=best.epoch + 1, val_fraction=0.0, patience=None, refit=False)
        res = train_gnn(x, y, labelled, num_classes, config=config, train=again, graph=graph, device=device,
                        init=init, standardisation=standardisation)
        res.history = history + [dict(row, refit=True) for row in res.history]
        res.best_epoch, res.seconds = best.epoch, seconds + res.seconds
        return res
    best.restore(step.model)
    step.model.eval()
    return TrainResult(step.model, history, best.epoch, seconds, mean, scale)


def _validation_split(y: np.ndarray, labelled: np.ndarray, train: GNNTrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """The labelled nodes that give loss, and those that validate (stratified; none with fewer
    than 10 labelled nodes or 4 of a class)."""
    fit_idx, val_idx = labelled, np.empty(0, np.int64)
    if train.val_fraction > 0:
        if len(labelled) >= 10:
            fit_pos, val_pos = split_validation(np.asarray(y)[labelled], train.val_fraction, train.seed)
            fit_idx, val_idx = labelled[fit_pos], labelled[val_pos]
        if len(val_idx) == 0:
            log.warning("GNN validation is off: it needs at least 10 labelled nodes and 4 of every class "
                        "(got %d labelled nodes); the last epoch's state is kept", len(labelled))
    return fit_idx, val_idx


def _score(row: dict) -> float | None:
    """An epoch's validation score: accuracy first; ties: the lower validation loss."""
    return row["val_acc"] - 1e-4 * min(row["val_loss"], 10.0) if "val_acc" in row else None


class _Epochs:
    """One epoch of full-graph training (:meth:`__call__`), on ``model`` with its optimiser and
    loss, for :func:`~graham.train.loop.run_epochs`; validation every 10 epochs and at the last."""

    def __init__(self, model: GrahamGNN, xt: torch.Tensor, yt: torch.Tensor, y: np.ndarray, fit_idx: np.ndarray,
                 val_idx: np.ndarray, graph: Graph | None, train: GNNTrainConfig, num_classes: int,
                 dev: torch.device) -> None:
        self.model, self.xt, self.yt, self.y, self.graph, self.train, self.dev = model, xt, yt, y, graph, train, dev
        self.fit_t, self.val_t = torch.as_tensor(fit_idx, device=dev), torch.as_tensor(val_idx, device=dev)
        self.opt = torch.optim.Adam(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
        weight = None
        if train.balanced:  # every class weighs the same in the loss, however few labelled nodes it has
            counts = np.bincount(y[fit_idx], minlength=num_classes).astype(np.float64)
            weight = torch.as_tensor(np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / (counts > 0).sum(),
                                              0.0), dtype=torch.float32, device=dev)
        self.loss_fn = nn.CrossEntropyLoss(weight=weight)
        self.label_gen = torch.Generator(device="cpu").manual_seed(train.seed)
        # validation: every fitted node's label is known, no validation node's
        self.eval_labels = known_labels(y, fit_idx, len(y), device=dev)

    def __call__(self, epoch: int) -> dict:
        model, fit_t, val_t = self.model, self.fit_t, self.val_t
        model.train()
        loss_t, node_labels = fit_t, None
        if model.config.label_input:  # half the fitted nodes show their label, the other half give loss
            perm = fit_t[torch.randperm(len(fit_t), generator=self.label_gen).to(self.dev)]
            shown, loss_t = perm[: len(perm) // 2], perm[len(perm) // 2:]
            node_labels = known_labels(self.y, shown.cpu().numpy(), len(self.y), device=self.dev)
        loss = self.loss_fn(model(self.xt, self.graph, labels=node_labels)[loss_t], self.yt[loss_t])
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        row = {"epoch": epoch, "loss": float(loss.detach())}
        if len(val_t) and (epoch % 10 == 0 or epoch == self.train.epochs - 1):
            model.eval()
            with torch.no_grad():
                val_logits = model(self.xt, self.graph, labels=self.eval_labels)[val_t]
                row.update(val_acc=float((val_logits.argmax(1) == self.yt[val_t]).float().mean()),
                           val_loss=float(self.loss_fn(val_logits, self.yt[val_t])))
        return row
