"""The Siamese steps on their own: ``graham train-siamese`` (the embedding network on a split's
training clips) and ``graham embed`` (every clip's embedding with a trained network)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..data.corpus import Corpus
from ..data.features import take
from ..errors import ParameterError
from ..evaluate.splits import Split
from ..train.loop import TrainResult
from ..utils.devices import resolve_device
from ..utils.files import write_json
from ..utils.ranks import world
from .features import STORE_TIMEOUT_S, extract_features, prepare
from .requests import DataSource, ModelSettings

__all__ = ["train_siamese_run", "embed_dataset"]


def train_siamese_run(source: DataSource, out: str | Path, settings: ModelSettings | None = None, *,
                      protocol: str = "auto", seed: int = 0, test_size: float = 0.3, resume: bool = False,
                      progress: bool = True,
                      notify: Callable[[str], None] | None = None) -> tuple[TrainResult, Corpus, Split]:
    """Train only the Siamese network, on the training part of a split (``protocol`` as in
    :func:`graham.workflows.train.train_model`); checkpoints and ``split.json`` in ``out``.

    Returns
    -------
    (TrainResult, Corpus, Split)
        The network with its epochs' history, the corpus and the split it trained on.
    """
    from ..train.distributed import init_from_env
    from ..train.siamese import train_siamese

    if protocol == "kfold":
        raise ParameterError("train-siamese uses one split: protocol auto, random (paper), grouped or given (k-fold: "
                             "graham experiment)")
    settings = (settings or ModelSettings.from_preset("cpu")).with_seed(seed)
    init_from_env(resolve_device(settings.device))  # under torchrun: the group training needs, before extraction
    prep = prepare(source, protocol=protocol, seed=seed, test_size=test_size, progress=progress, notify=notify)
    corpus, labels, split = prep.corpus, prep.labels, prep.split
    assert split is not None  # asked for with a protocol
    res = train_siamese(take(prep.mels, split.train), labels[split.train], settings.siamese, out=out, resume=resume,
                        groups=np.asarray(corpus.groups)[split.train], device=settings.device, progress=progress)
    write_json(Path(out) / "split.json", {"split": split.name, "chosen": prep.protocol_why, "leakage": prep.leakage,
                                          "train": [corpus.clip_ids[i] for i in split.train],
                                          "test": [corpus.clip_ids[i] for i in split.test]})
    return res, corpus, split


def embed_dataset(source: DataSource, checkpoint: str | Path, out: str | Path, *, device: str | None = None,
                  workers: int = 2, progress: bool = True) -> tuple[np.ndarray, Corpus]:
    """Embed every clip with a trained Siamese checkpoint (``best``/``last.safetensors``) or a
    bundle folder; writes ``out`` (safetensors: embeddings, labels; clip ids in its metadata).

    Embeddings are kept in shards beside the log-mels, so a killed run resumes; under
    ``torchrun`` each process extracts and embeds its share of the shards (gloo on the CPU,
    nccl on GPUs) and process 0 writes ``out``.

    Returns
    -------
    (np.ndarray [shape=(N, 128)], Corpus)
        The embeddings (the mean over windows of the training crop length) and the clips.
    """
    import torch

    from ..inference.bundle import load_bundle
    from ..train.distributed import init_from_env
    from ..train.embed_store import embed_features
    from ..train.siamese import load_siamese
    from ..utils.tensorfile import save_checkpoint

    dev = init_from_env(resolve_device(device), timeout_s=STORE_TIMEOUT_S)
    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        b = load_bundle(checkpoint)
        model, crop = b.siamese.to(dev).eval(), b.siamese_config.crop_frames
    else:
        model, config = load_siamese(checkpoint, device=dev, return_config=True)
        crop = config.crop_frames
    fr = extract_features(source, progress=progress, workers=workers)
    corpus = fr.features.corpus
    emb = embed_features(model, fr.features, crop_frames=crop, device=dev, progress=progress)
    if world()[0] == 0:
        save_checkpoint(out, {"embeddings": torch.from_numpy(emb), "labels": torch.tensor(corpus.targets())},
                        {"clip_ids": corpus.clip_ids, "classes": corpus.classes,
                         "method": f"mean over windows of {crop} frames, hop {crop // 2}"})
    return emb, corpus
