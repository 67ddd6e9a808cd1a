"""Training the Siamese network: class-balanced batches, one backbone pass per clip, balanced
pairs from the batch, Adam, validation pair accuracy and ROC-AUC, checkpoints and resume."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import ParameterError
from ..nn.siamese import SiameseNet
from ..presets import SiameseConfig
from ..utils.changes import setting_changes
from ..utils.devices import resolve_device
from ..utils.ranks import world
from ..utils.tensorfile import load_checkpoint, save_checkpoint
from .augment import augment_batch
from .checkpoint import load_optimizer, optimizer_tensors
from .crops import Chained, MelCrops
from .distributed import convert_batchnorm, gather_with_grad, init_from_env, shard
from .loop import BestState, TrainResult, run_epochs
from .pairs import ClassBalancedBatchSampler, sample_pairs
from .rng import keeps_global_rng
from .validation import epoch_score, split_validation, validate

__all__ = ["SiameseResult", "train_siamese", "load_siamese", "nt_xent"]

log = logging.getLogger(__name__)


#: What :func:`train_siamese` returns (one result type for every training; this name stays).
SiameseResult = TrainResult


@dataclass
class _Run:
    """What one Siamese training holds: the model and the wrappers that train it (DDP under
    torchrun), the identification classifier and the contrastive projection (trained, then
    dropped), the optimizer, the batch sampler and the random generator of crops and pairs."""

    model: SiameseNet
    backbone: nn.Module
    head: nn.Module
    ident: nn.Linear | None
    ident_step: nn.Module | None
    proj: nn.Module | None
    proj_step: nn.Module | None
    opt: torch.optim.Optimizer
    sampler: ClassBalancedBatchSampler
    rng: np.random.Generator

    def extras(self) -> dict[str, nn.Module]:
        """The trained-then-dropped modules by checkpoint prefix."""
        return {k: m for k, m in (("ident", self.ident), ("proj", self.proj)) if m is not None}


def _set_up(config: SiameseConfig, labels: np.ndarray, tr_idx: np.ndarray, dev: torch.device, n_proc: int) -> _Run:
    """The network (seeded), its DDP wrappers under torchrun, the identification classifier
    (with ``config.identification`` > 0), the contrastive projection (with
    ``config.contrastive`` > 0), Adam over all of them, the sampler and the generator."""
    model = SiameseNet(config.backbone, head_hidden=config.head_hidden).to(dev)
    backbone: nn.Module = model.backbone
    head: nn.Module = model.head
    n_classes = int(labels.max()) + 1
    d = model.embedding_dim
    ident = nn.Linear(d, n_classes).to(dev) if config.identification > 0 else None
    ident_step: nn.Module | None = ident
    proj = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d // 2)).to(dev) if config.contrastive > 0 else None
    proj_step: nn.Module | None = proj
    if n_proc > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        convert_batchnorm(model)
        ids = [dev.index] if dev.type == "cuda" else None
        backbone = DDP(model.backbone, device_ids=ids, broadcast_buffers=False)
        head = DDP(model.head, device_ids=ids, broadcast_buffers=False)
        if ident is not None:
            ident_step = DDP(ident, device_ids=ids, broadcast_buffers=False)
        if proj is not None:
            proj_step = DDP(proj, device_ids=ids, broadcast_buffers=False)
    params = list(model.parameters()) + [p for m in (ident, proj) if m is not None for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    sampler = ClassBalancedBatchSampler(labels[tr_idx], classes_per_batch=config.classes_per_batch,
                                        per_class=config.per_class, seed=config.seed, min_batches=config.min_batches)
    return _Run(model, backbone, head, ident, ident_step, proj, proj_step, opt, sampler,
                np.random.default_rng([config.seed, 1]))


def _resume(last: Path, config: SiameseConfig, run: _Run) -> tuple[list[dict], BestState, int]:
    """Load ``last.safetensors`` into the run (weights, optimizer, sampler, both generators);
    (its history, its best score and epoch, the next epoch). Other settings are refused,
    naming them; more epochs extend a finished run."""
    tensors, meta = load_checkpoint(last)
    changes = setting_changes(meta.get("config") or {}, config.to_dict(), ignore=("epochs",))
    if changes:
        raise ParameterError(f"{last} was written with other settings ({'; '.join(changes[:5])}); resume with "
                             "the same settings, or train into another --out")
    if meta["epoch"] + 1 > config.epochs:
        raise ParameterError(f"{last} has trained {meta['epoch'] + 1} epochs already; to resume, give --epochs "
                             f"{meta['epoch'] + 1} or more (got {config.epochs})")
    run.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")})
    for prefix, module in run.extras().items():
        module.load_state_dict({k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + "/")})
    load_optimizer(run.opt, tensors, meta["optimizer"])
    run.sampler.load_state_dict(meta["sampler"])
    run.rng.bit_generator.state = meta["rng"]
    torch.set_rng_state(tensors["rng/torch"])
    log.info("resumed from %s at epoch %d", last, meta["epoch"] + 1)
    return meta["history"], BestState(*meta["best"]), meta["epoch"] + 1


def nt_xent(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """The contrastive loss of SimCLR over ``z`` [shape=(2B, d)], rows ``b`` and ``B + b``
    two views of clip ``b``: the cross-entropy of finding each row's partner among the other
    2B - 1 rows by cosine similarity / ``temperature``."""
    z = nn.functional.normalize(z, dim=1)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(len(z), dtype=torch.bool, device=z.device), float("-inf"))
    partner = (torch.arange(len(z), device=z.device) + len(z) // 2) % len(z)
    return nn.functional.cross_entropy(sim, partner)


def _train_epoch(run: _Run, epoch: int, config: SiameseConfig, crops: MelCrops, labels: np.ndarray,
                 tr_idx: np.ndarray, pool: np.ndarray, dev: torch.device, progress: bool) -> dict:
    """One pass over the sampler's batches: one backbone pass per crop, balanced pairs (half
    the negatives the batch's most confused), the pair loss, the identification loss and, with
    ``config.contrastive``, the contrastive loss on two crops of clips drawn from ``pool``
    (labelled and unlabelled clips alike)."""
    run.model.train()
    loss_fn = nn.BCEWithLogitsLoss()
    losses, accs, npairs, npos = [], [], 0, 0
    batches: Any = iter(run.sampler)
    if progress:
        from tqdm.auto import tqdm
        batches = tqdm(batches, total=len(run.sampler), desc=f"siamese {epoch + 1}/{config.epochs}", unit="batch",
                       leave=False)
    for batch in batches:
        x = augment_batch(crops.random(tr_idx[batch], run.rng), labels[tr_idx[batch]], config.augment, run.rng)
        views = None
        if run.proj_step is not None:  # two crops of each of the step's contrastive clips, in one pass with x
            chosen = run.rng.choice(pool, size=min(config.contrastive_clips, len(pool)), replace=False)
            views = torch.cat([crops.random(chosen, run.rng), crops.random(chosen, run.rng)])
            x = torch.cat([x, views])
        emb = gather_with_grad(run.backbone(x[shard(len(x))].to(dev)))  # one backbone pass per crop
        if views is not None:
            assert run.proj_step is not None  # views are drawn only with a projection
            emb, z = emb[:len(batch)], run.proj_step(emb[len(batch):])
        scores = None
        if config.hard_negatives > 0:  # the current logit of every pair, to find the hardest negatives
            with torch.no_grad():
                ii, jj = np.triu_indices(len(batch), k=1)
                scores = run.model.head(emb[torch.from_numpy(ii).to(dev)], emb[torch.from_numpy(jj).to(dev)]).cpu().numpy()
        i, j, y = sample_pairs(labels[tr_idx[batch]], run.rng, clip_ids=batch, max_pairs=config.max_pairs,
                               scores=scores, hard_fraction=config.hard_negatives)
        if len(y) == 0:
            continue
        logits = run.head(emb[torch.from_numpy(i).to(dev)], emb[torch.from_numpy(j).to(dev)])
        target = torch.from_numpy(y).to(dev)
        loss = loss_fn(logits, target)
        if run.ident_step is not None:
            ident_target = torch.from_numpy(labels[tr_idx[batch]]).to(dev)
            loss = loss + config.identification * nn.functional.cross_entropy(run.ident_step(emb), ident_target)
        if views is not None:
            loss = loss + config.contrastive * nt_xent(z, config.temperature)
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        run.opt.step()
        losses.append(float(loss.detach()))
        accs.append(float(((logits.detach() > 0) == (target > 0.5)).float().mean()))
        npairs += len(y)
        npos += int(y.sum())
        if progress:
            batches.set_postfix(loss=f"{np.mean(losses):.3f}", pair_acc=f"{np.mean(accs):.3f}")
    return {"epoch": epoch, "loss": float(np.mean(losses)) if losses else float("nan"),
            "pair_acc": float(np.mean(accs)) if accs else float("nan"), "pairs": npairs,
            "positive_ratio": npos / max(npairs, 1)}


def _save_epoch(out: Path, run: _Run, config: SiameseConfig, epoch: int, history: list[dict], best: BestState,
                improved: bool) -> None:
    """``last.safetensors`` (everything a resume needs) and, when the epoch improved,
    ``best.safetensors`` (the model alone)."""
    tensors = {f"model/{k}": v for k, v in run.model.state_dict().items()}
    otensors, ometa = optimizer_tensors(run.opt)
    tensors.update(otensors)
    tensors["rng/torch"] = torch.get_rng_state()
    for prefix, module in run.extras().items():
        tensors.update({f"{prefix}/{k}": v for k, v in module.state_dict().items()})
    meta = {"config": config.to_dict(), "optimizer": ometa, "sampler": run.sampler.state_dict(),
            "rng": run.rng.bit_generator.state, "history": history, "best": [best.score, best.epoch], "epoch": epoch}
    save_checkpoint(out / "last.safetensors", tensors, meta)
    if improved:
        save_checkpoint(out / "best.safetensors", {k: v for k, v in tensors.items() if k.startswith("model/")},
                        {"config": config.to_dict(), "epoch": epoch, "history": history})


@keeps_global_rng
def train_siamese(
    mels: Sequence[np.ndarray],
    labels: Sequence[int],
    config: SiameseConfig | None = None,
    *,
    unlabelled: Sequence[np.ndarray] = (),
    groups: Sequence | np.ndarray | None = None,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    device: str | None = None,
    progress: bool = True,
) -> SiameseResult:
    """Train phi and Lambda on the clips ``mels`` [each (n_mels, frames)] with class ``labels``.

    Only these clips' labels are used (pass the labelled training clips alone); the clips
    ``unlabelled`` (their log-mels, no labels) join the labelled ones in the contrastive loss
    when ``config.contrastive`` > 0, and are unused otherwise. A stratified
    ``val_fraction`` of them is held out for validation pair accuracy and ROC-AUC each epoch;
    with the clips' ``groups`` and ``config.grouped_validation`` (off by default), whole groups
    (:func:`split_validation`). With ``out``, ``out/last.safetensors`` is written after every
    epoch (model, optimizer, sampler and RNG states) and ``out/best.safetensors`` keeps the best
    validation epoch
    (:func:`epoch_score`); the returned model is that epoch's in any case;
    ``resume=True`` continues from ``last`` and ends with the same weights as an uninterrupted
    run. With ``config.refit``, a second run on every clip for the chosen epochs follows
    (checkpoints under ``out/refit``) and is what is returned.

    Under ``torchrun --nproc_per_node=N`` the same call trains data-parallel (DDP; see
    :mod:`graham.train.distributed`) and gives the single-process result up to rounding;
    process 0 writes the checkpoints.
    """
    config = config or SiameseConfig()
    labels = np.asarray(labels, dtype=np.int64)
    if len(mels) != len(labels):
        raise ParameterError("mels and labels differ in length")
    dev = init_from_env(resolve_device(device))
    rank, n_proc = world()
    progress = progress and rank == 0
    torch.manual_seed(config.seed)
    tr_idx, va_idx = split_validation(labels, config.val_fraction, config.seed,
                                      groups if config.grouped_validation else None)
    run = _set_up(config, labels, tr_idx, dev, n_proc)
    crops = MelCrops(Chained(mels, unlabelled), config.crop_frames)  # unlabelled clips after the labelled ones
    pool = np.concatenate([tr_idx, np.arange(len(mels), len(mels) + len(unlabelled))])  # no validation clip
    out = Path(out) if out is not None else None
    history: list[dict] = []
    best, start = BestState(), 0
    if resume and out is not None and (out / "last.safetensors").exists():
        history, best, start = _resume(out / "last.safetensors", config, run)

    def epoch_step(epoch: int) -> dict:
        row = _train_epoch(run, epoch, config, crops, labels, tr_idx, pool, dev, progress)
        if len(va_idx):
            row.update(validate(run.model, crops, va_idx, tr_idx, labels, dev, config.seed, config.validation_embedding))
        _say_epoch(row, epoch, config.epochs, progress)
        return row

    def after_epoch(epoch: int, row: dict, improved: bool) -> None:
        if out is not None and rank == 0:
            _save_epoch(out, run, config, epoch, history, best, improved)
        if n_proc > 1:
            import torch.distributed as dist

            dist.barrier()

    history, seconds = run_epochs(run.model, range(start, config.epochs), epoch_step, score=epoch_score, best=best,
                                  history=history, after_epoch=after_epoch)
    result = TrainResult(_best_model(run.model, best, bool(len(va_idx)), out, dev), history, best.epoch, seconds)
    if config.refit and len(va_idx) and best.epoch >= 0:  # validation chose the epochs; now every clip trains
        again = train_siamese(mels, labels, replace(config, refit=False, val_fraction=0.0, epochs=best.epoch + 1),
                              unlabelled=unlabelled, groups=groups, out=None if out is None else out / "refit",
                              resume=resume, device=device, progress=progress)
        result = TrainResult(again.model, history + [{**row, "refit": True} for row in again.history], best.epoch,
                             seconds + again.seconds)
    return result


def _best_model(model: SiameseNet, best: BestState, validated: bool, out: Path | None,
                dev: torch.device) -> SiameseNet:
    """The best validation epoch's network (checkpoints or not; from ``out/best.safetensors``
    when that epoch came before a resume), in eval mode; the last one without validation."""
    if validated and not best.restore(model) and out is not None and (out / "best.safetensors").exists():
        model = load_siamese(out / "best.safetensors", device=dev)
    return model.eval()


def _say_epoch(row: dict, epoch: int, epochs: int, progress: bool) -> None:
    """An epoch's loss and validation in the log and, with ``progress``, on screen above the
    progress bar (not only with -v)."""
    log.info("siamese epoch %d: %s", epoch, row)
    if not progress:
        return
    from tqdm.auto import tqdm

    val = "".join(f", {k.removeprefix('val_').replace('_', ' ')} {row[k]:.3f}"
                  for k in ("val_centroid_acc", "val_auc") if k in row)
    tqdm.write(f"siamese epoch {epoch + 1}/{epochs}: loss {row['loss']:.3f}, pair acc {row['pair_acc']:.3f}{val}")


def load_siamese(path: str | os.PathLike, *, device: str | torch.device | None = None,
                 return_config: bool = False):
    """A trained SiameseNet from a ``best``/``last`` checkpoint (safetensors; nothing unpickled),
    in eval mode; with ``return_config``, also its :class:`SiameseConfig` (crop length etc.)."""
    tensors, meta = load_checkpoint(path)
    config = SiameseConfig.from_dict(meta["config"])
    model = SiameseNet(config.backbone, head_hidden=config.head_hidden)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")})
    model = model.to(device if isinstance(device, torch.device) else resolve_device(device)).eval()
    return (model, config) if return_config else model
