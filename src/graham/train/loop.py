"""The epoch loop the three trainings share (Siamese network, supervised CNN, GNN) and the
one result type they return.

:func:`run_epochs` runs an epoch, records its row, keeps the model's best state by a score,
stops early after ``patience`` epochs without a better score, and hands every epoch to a
callback (checkpoints, a message); what an epoch does stays with each training.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
from torch import nn

__all__ = ["TrainResult", "BestState", "run_epochs"]


@dataclass
class TrainResult:
    """A trained model (at its best validation epoch where validation chose one), the rows of
    its epochs, that epoch (-1: the last state was kept) and the wall time [s]. A GNN also
    keeps the standardisation of its node features (``mean``, ``scale``)."""

    model: nn.Module
    history: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None


class BestState:
    """The model's state at its best score so far: a copy in memory, and the score and epoch
    (which a resumed run starts from)."""

    def __init__(self, score: float = -np.inf, epoch: int = -1) -> None:
        self.score, self.epoch = float(score), int(epoch)
        self.state: dict | None = None

    def offer(self, model: nn.Module, score: float, epoch: int) -> bool:
        """Keep ``model``'s state when ``score`` beats the best so far; whether it did."""
        if not score > self.score:
            return False
        self.score, self.epoch = float(score), int(epoch)
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return True

    def restore(self, model: nn.Module) -> bool:
        """Load the kept state into ``model``; False when this run kept none (no epoch scored,
        or the best one came before a resume)."""
        if self.state is None:
            return False
        model.load_state_dict(self.state)
        return True


def run_epochs(model: nn.Module, epochs: Iterable[int], run_epoch: Callable[[int], dict], *,
               score: Callable[[dict], float | None] | None = None, best: BestState | None = None,
               patience: int | None = None, history: list[dict] | None = None,
               after_epoch: Callable[[int, dict, bool], None] | None = None,
               progress: str | None = None) -> tuple[list[dict], float]:
    """Run ``run_epoch(epoch) -> row`` for each epoch; (the history, the seconds it took).

    ``score(row)`` (None: this epoch is not scored) offers the model to ``best``; with
    ``patience``, the loop ends at a scored epoch that many epochs after the best one.
    ``after_epoch(epoch, row, improved)`` runs after each epoch, its row already in the
    history (checkpoints). ``history`` continues a resumed run's; ``progress`` names a
    progress bar over the epochs."""
    history = [] if history is None else history
    t0 = time.perf_counter()
    if progress:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc=progress, unit="epoch", leave=False)
    for epoch in epochs:
        row = run_epoch(epoch)
        history.append(row)
        value = score(row) if score is not None else None
        improved = value is not None and best is not None and best.offer(model, value, epoch)
        if after_epoch is not None:
            after_epoch(epoch, row, improved)
        if value is not None and best is not None and patience is not None and epoch - best.epoch >= patience:
            break
    return history, time.perf_counter() - t0
