"""Embeddings of a whole feature set into a sharded store beside its log-mels, resumable and
split over ``torchrun`` processes like extraction.

The store of a model lives in ``<feature store>/emb-<weights digest>-c<crop>-h<hop>/``: the
digest is of the network's tensors, so other weights never reuse these embeddings. Each shard
is embedded on its own (its windows batched within the shard), so the batches, and with them
the numbers, do not depend on how many processes share the work.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from ..data.features import FeatureSet
from ..data.store import ShardStore
from ..errors import ParameterError
from ..nn.siamese import SiameseNet
from ..utils.ranks import world
from .embed import embed_clips

__all__ = ["weights_digest", "embed_features"]


def weights_digest(model: torch.nn.Module) -> str:
    """A short hash of a model's parameters and buffers (names, dtypes, shapes and values)."""
    h = hashlib.blake2b(digest_size=8)
    for name, t in model.state_dict().items():
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def embed_features(model: SiameseNet, features: FeatureSet, *, crop_frames: int, hop: int | None = None,
                   batch_size: int = 64, device: torch.device | None = None, progress: bool = True) -> np.ndarray:
    """The embedding of every clip of ``features`` [shape=(N, 128)] as :func:`embed_clips`
    computes it, kept in shards under the feature store: a rerun, or a run killed half way,
    embeds only the shards it lacks. Under ``torchrun`` each process embeds its share of the
    shards and every process returns the whole array."""
    if features.dir is None:
        raise ParameterError("embed_features needs features read from a store (FeatureStore.extract)")
    hop = hop or max(1, crop_frames // 2)
    store = ShardStore(features.dir / f"emb-{weights_digest(model)}-c{crop_frames}-h{hop}", kind="embedding",
                       settings={"crop_frames": crop_frames, "hop": hop}, shard_size=features.shard_size)
    n = len(features)
    stamps = list(features.stamps)
    todo = store.todo(stamps)
    bar = None
    if progress and world()[0] == 0 and todo:
        from tqdm.auto import tqdm
        bar = tqdm(total=sum(len(store.items_of(k, n)) for k in todo), desc="embed", unit="clip")
    try:
        for k in todo:
            rng = store.items_of(k, n)
            lock = store.lock(k)  # one lock at a time: another run on this store waits, then skips
            assert lock is not None  # a waiting lock is always taken
            with lock:
                if not store.done(k, [stamps[i] for i in rng]):
                    emb = embed_clips(model, features.mels.subset(rng), crop_frames=crop_frames, hop=hop,
                                      batch_size=batch_size, device=device)
                    store.write(k, [stamps[i] for i in rng], list(emb))
            if bar is not None:
                bar.update(len(rng))
    finally:
        if bar is not None:
            bar.close()
    view, _, _ = store.gather(stamps)
    return view.stack().reshape(n, -1)
