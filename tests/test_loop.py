"""The epoch loop the trainings share: best state by score, patience, the per-epoch callback."""

import torch
from torch import nn

from graham.train.loop import BestState, run_epochs


def test_the_loop_keeps_the_best_state_and_stops_after_patience():
    model = nn.Linear(1, 1, bias=False)
    scores = [0.1, None, 0.5, None, 0.4, None, 0.3, None, 0.2, None, 0.9]  # best at epoch 2, then worse

    def step(epoch):
        with torch.no_grad():
            model.weight.fill_(float(epoch))
        return {"epoch": epoch, "score": scores[epoch]}

    seen = []
    best = BestState()
    history, seconds = run_epochs(model, range(len(scores)), step, score=lambda row: row["score"], best=best,
                                  patience=6, after_epoch=lambda e, row, improved: seen.append((e, improved)))
    # epoch 8 is scored 6 epochs after the best (2): the loop ends there, never reaching 0.9
    assert [row["epoch"] for row in history] == list(range(9)) and seconds >= 0
    assert seen[:3] == [(0, True), (1, False), (2, True)] and len(seen) == 9
    assert best.epoch == 2 and best.restore(model) and float(model.weight) == 2.0


def test_a_resumed_loop_continues_its_history_and_best():
    model = nn.Linear(1, 1)
    best = BestState(0.7, 3)  # from a checkpoint: no state in memory
    history, _ = run_epochs(model, range(4, 6), lambda e: {"epoch": e, "s": 0.5}, score=lambda r: r["s"], best=best,
                            history=[{"epoch": k} for k in range(4)])
    assert [row["epoch"] for row in history] == list(range(6))
    assert best.epoch == 3 and not best.restore(model)  # nothing better since: the caller loads best.safetensors
