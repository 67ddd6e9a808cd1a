"""Training the Siamese network: class-balanced batches, one backbone pass per clip, balanced
pairs from the batch, Adam, validation pair accuracy and ROC-AUC, checkpoints and resume."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..checks import setting_changes
from ..devices import resolve_device
from ..errors import ParameterError
from ..nn.frozen import frozen
from ..nn.siamese import SiameseNet
from ..presets import SiameseConfig
from .augment import augment_batch
from .checkpoint import load_checkpoint, load_optimizer, optimizer_tensors, save_checkpoint
from .crops import MelCrops
from .distributed import convert_batchnorm, gather_with_grad, init_from_env, shard, world
from .pairs import ClassBalancedBatchSampler, sample_pairs
from .rng import keeps_global_rng

__all__ = ["SiameseConfig", "SiameseResult", "train_siamese", "embed_clips", "resolve_device", "load_siamese",
           "split_validation"]

log = logging.getLogger(__name__)


@dataclass
class SiameseResult:
    model: SiameseNet
    history: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0


def split_validation(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit, validation) positions: a stratified ``fraction`` held out, or none when a class
    has fewer than 4 clips (then every clip trains and the last epoch is kept)."""
    idx = np.arange(len(labels))
    counts = np.bincount(labels)
    if fraction <= 0 or (counts[counts > 0] < 4).any():
        return idx, np.empty(0, np.int64)
    from sklearn.model_selection import train_test_split

    n_classes = int((counts > 0).sum())
    n_val = max(n_classes, int(round(fraction * len(labels))))
    tr, va = train_test_split(idx, test_size=n_val, stratify=labels, random_state=seed)
    return np.sort(tr), np.sort(va)


@torch.no_grad()
def _validate(model: SiameseNet, crops: MelCrops, idx: np.ndarray, ref: np.ndarray, labels: np.ndarray, device,
              seed: int) -> dict:
    """Validation of the embedding on held-out clips ``idx``: nearest-class-centroid accuracy
    against the training clips ``ref`` (what a classifier on the embedding needs; defined
    even with one validation clip per class) and, where the clips form positive pairs, pair
    accuracy and ROC-AUC of the pair head."""
    from sklearn.metrics import roc_auc_score

    model.eval()

    def embed(ix):
        return torch.cat([model.embed(crops.center(ix[k:k + 64]).to(device)) for k in range(0, len(ix), 64)])

    emb, ref_emb = embed(idx), embed(ref)
    classes = np.unique(labels[ref])
    centroids = torch.stack([ref_emb[torch.from_numpy(labels[ref] == c).to(device)].mean(0) for c in classes])
    nearest = classes[torch.cdist(emb, centroids).argmin(1).cpu().numpy()]
    out = {"val_centroid_acc": float((nearest == labels[idx]).mean())}
    i, j, y = sample_pairs(labels[idx], np.random.default_rng(seed))
    if len(y) and 0 < y.sum() < len(y):
        logits = model.pair_logits(emb, torch.from_numpy(i).to(device), torch.from_numpy(j).to(device)).cpu().numpy()
        out.update({"val_pair_acc": float(((logits > 0) == (y > 0.5)).mean()), "val_auc": float(roc_auc_score(y, logits))})
    return out


def _epoch_score(row: dict) -> float:
    """What "best epoch" means: validation centroid accuracy, ties broken by the pair head's
    validation AUC (or, without validation pairs, the training loss); without validation at
    all, the training loss alone."""
    if "val_centroid_acc" not in row:
        return -row["loss"]
    tie = row.get("val_auc", 1.0 / (1.0 + row["loss"]))
    return row["val_centroid_acc"] + 1e-3 * tie


def _state_tensors(model, opt) -> tuple[dict, dict]:
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    otensors, ometa = optimizer_tensors(opt)
    tensors.update(otensors)
    tensors["rng/torch"] = torch.get_rng_state()
    return tensors, ometa


@keeps_global_rng
def train_siamese(
    mels: Sequence[np.ndarray],
    labels: Sequence[int],
    config: SiameseConfig | None = None,
    *,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    device: str | None = None,
    progress: bool = True,
    stop_after_epoch: int | None = None,
) -> SiameseResult:
    """Train phi and Lambda on the clips ``mels`` [each (n_mels, frames)] with class ``labels``.

    Only these clips are used (pass the labelled training clips alone). A stratified
    ``val_fraction`` of them is held out for validation pair accuracy and ROC-AUC each epoch.
    With ``out``, ``out/last.safetensors`` is written after every epoch (model, optimizer,
    sampler and RNG states) and ``out/best.safetensors`` keeps the best validation epoch
    (:func:`_epoch_score`); the returned model is that epoch's in any case;
    ``resume=True`` continues from ``last`` and ends with the same weights as an uninterrupted
    run. ``stop_after_epoch`` ends the run early (as a kill would; for tests).

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
    model = SiameseNet(config.backbone, head_hidden=config.head_hidden).to(dev)
    backbone, head = model.backbone, model.head
    if n_proc > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        convert_batchnorm(model)
        ids = [dev.index] if dev.type == "cuda" else None
        backbone = DDP(model.backbone, device_ids=ids, broadcast_buffers=False)
        head = DDP(model.head, device_ids=ids, broadcast_buffers=False)
    # The identification classifier (only with config.identification > 0): trained, then dropped.
    n_classes = int(labels.max()) + 1
    ident = nn.Linear(model.embedding_dim, n_classes).to(dev) if config.identification > 0 else None
    ident_step = ident
    if ident is not None and n_proc > 1:
        ident_step = DDP(ident, device_ids=ids, broadcast_buffers=False)
    params = list(model.parameters()) + (list(ident.parameters()) if ident is not None else [])
    opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    tr_idx, va_idx = split_validation(labels, config.val_fraction, config.seed)
    sampler = ClassBalancedBatchSampler(labels[tr_idx], classes_per_batch=config.classes_per_batch,
                                        per_class=config.per_class, seed=config.seed, min_batches=config.min_batches)
    rng = np.random.default_rng([config.seed, 1])
    crops = MelCrops(mels, config.crop_frames)
    loss_fn = nn.BCEWithLogitsLoss()
    history: list[dict] = []
    best = (-np.inf, -1)
    best_state = None
    start = 0
    out = Path(out) if out is not None else None
    last = out / "last.safetensors" if out else None
    if resume and last is not None and last.exists():
        tensors, meta = load_checkpoint(last)
        changes = setting_changes(meta.get("config"), config.to_dict(), ignore=("epochs",))
        if changes:  # epochs may grow: a finished run is extended
            raise ParameterError(f"{last} was written with other settings ({'; '.join(changes[:5])}); resume with "
                                 "the same settings, or train into another --out")
        if meta["epoch"] + 1 > config.epochs:
            raise ParameterError(f"{last} has trained {meta['epoch'] + 1} epochs already; to resume, give --epochs "
                                 f"{meta['epoch'] + 1} or more (got {config.epochs})")
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")})
        if ident is not None:
            ident.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("ident/")})
        load_optimizer(opt, tensors, meta["optimizer"])
        sampler.load_state_dict(meta["sampler"])
        rng.bit_generator.state = meta["rng"]
        torch.set_rng_state(tensors["rng/torch"])
        history, best, start = meta["history"], tuple(meta["best"]), meta["epoch"] + 1
        log.info("resumed from %s at epoch %d", last, start)
    t0 = time.perf_counter()
    for epoch in range(start, config.epochs):
        model.train()
        losses, accs, npairs, npos = [], [], 0, 0
        batches = iter(sampler)
        if progress:
            from tqdm.auto import tqdm
            batches = tqdm(batches, total=len(sampler), desc=f"siamese {epoch + 1}/{config.epochs}", unit="batch", leave=False)
        for batch in batches:
            x = augment_batch(crops.random(tr_idx[batch], rng), labels[tr_idx[batch]], config.augment, rng)
            emb = gather_with_grad(backbone(x[shard(len(batch))].to(dev)))  # one backbone pass per clip
            scores = None
            if config.hard_negatives > 0:  # the current logit of every pair, to find the hardest negatives
                with torch.no_grad():
                    ii, jj = np.triu_indices(len(batch), k=1)
                    scores = model.head(emb[torch.from_numpy(ii).to(dev)], emb[torch.from_numpy(jj).to(dev)]).cpu().numpy()
            i, j, y = sample_pairs(labels[tr_idx[batch]], rng, clip_ids=batch, max_pairs=config.max_pairs,
                                   scores=scores, hard_fraction=config.hard_negatives)
            if len(y) == 0:
                continue
            logits = head(emb[torch.from_numpy(i).to(dev)], emb[torch.from_numpy(j).to(dev)])
            target = torch.from_numpy(y).to(dev)
            loss = loss_fn(logits, target)
            if ident is not None:
                ident_target = torch.from_numpy(labels[tr_idx[batch]]).to(dev)
                loss = loss + config.identification * nn.functional.cross_entropy(ident_step(emb), ident_target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            accs.append(float(((logits.detach() > 0) == (target > 0.5)).float().mean()))
            npairs += len(y)
            npos += int(y.sum())
            if progress:
                batches.set_postfix(loss=f"{np.mean(losses):.3f}", pair_acc=f"{np.mean(accs):.3f}")
        row = {"epoch": epoch, "loss": float(np.mean(losses)) if losses else float("nan"),
               "pair_acc": float(np.mean(accs)) if accs else float("nan"), "pairs": npairs,
               "positive_ratio": npos / max(npairs, 1)}
        if len(va_idx):
            row.update(_validate(model, crops, va_idx, tr_idx, labels, dev, config.seed))
        history.append(row)
        score = _epoch_score(row)
        improved = score > best[0]
        if improved:
            best = (score, epoch)
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        log.info("siamese epoch %d: %s", epoch, row)
        if progress:  # every epoch's validation on screen, not only with -v
            from tqdm.auto import tqdm
            val = "".join(f", {k.removeprefix('val_').replace('_', ' ')} {row[k]:.3f}"
                          for k in ("val_centroid_acc", "val_auc") if k in row)
            tqdm.write(f"siamese epoch {epoch + 1}/{config.epochs}: loss {row['loss']:.3f}, "
                       f"pair acc {row['pair_acc']:.3f}{val}")
        if out is not None and rank == 0:
            tensors, ometa = _state_tensors(model, opt)
            if ident is not None:
                tensors.update({f"ident/{k}": v for k, v in ident.state_dict().items()})
            meta = {"config": config.to_dict(), "optimizer": ometa, "sampler": sampler.state_dict(),
                    "rng": rng.bit_generator.state, "history": history, "best": list(best), "epoch": epoch}
            save_checkpoint(last, tensors, meta)
            if improved:
                save_checkpoint(out / "best.safetensors", {k: v for k, v in tensors.items() if k.startswith("model/")},
                                {"config": config.to_dict(), "epoch": epoch, "history": history})
        if n_proc > 1:
            import torch.distributed as dist

            dist.barrier()
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            break
    if len(va_idx):  # keep the best validation epoch, whether or not checkpoints are written
        if best_state is not None:
            model.load_state_dict(best_state)
        elif out is not None and (out / "best.safetensors").exists():  # the best epoch came before a resume
            model = load_siamese(out / "best.safetensors", device=dev)
    model.eval()
    return SiameseResult(model, history, int(best[1]), time.perf_counter() - t0)


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


@torch.no_grad()
def embed_clips(model: SiameseNet, mels: Sequence[np.ndarray], *, crop_frames: int, hop: int | None = None,
                batch_size: int = 64, device: str | torch.device | None = None, progress: bool = False) -> np.ndarray:
    """128-d embedding of every clip [shape=(N, 128)]: the mean of the embeddings of its windows
    of ``crop_frames`` (the training crop length) with ``hop`` (default half a window), so a
    clip of any length is embedded as the network was trained, window by window.

    Windows are cut clip by clip and embedded ``batch_size`` at a time, each batch reduced into
    per-clip sums at once: memory holds one batch of windows, whatever the corpus size."""
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    model = model.to(dev).eval()
    crops = MelCrops(mels, crop_frames)
    backbone = frozen(model.backbone)  # the optimised CPU copy: the same numbers, about 2x faster
    hop = hop or max(1, crop_frames // 2)
    sums = torch.zeros(len(crops), model.embedding_dim, dtype=torch.float64)
    counts = torch.zeros(len(crops), dtype=torch.float64)
    pending, owners = [], []

    def flush() -> None:
        x = torch.cat(pending)
        owner = torch.cat(owners)
        emb = backbone(x.to(dev)).cpu().double()
        sums.index_add_(0, owner, emb)
        counts.index_add_(0, owner, torch.ones(len(owner), dtype=torch.float64))
        pending.clear()
        owners.clear()

    it = range(len(crops))
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="embed", unit="clip")
    queued = 0
    for i in it:
        w = crops.windows(i, hop)
        pending.append(w)
        owners.append(torch.full((len(w),), i, dtype=torch.long))
        queued += len(w)
        if queued >= batch_size:
            flush()
            queued = 0
    if pending:
        flush()
    return (sums / counts.clamp_min(1).unsqueeze(1)).float().numpy()
