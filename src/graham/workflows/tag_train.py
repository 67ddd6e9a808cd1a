"""``graham tag`` without a bundle: the Siamese network trained on the library's own tagged
tracks (their excerpts, labelled with their genre, grouped by album so that validation holds
out whole albums), the contrastive loss reading untagged tracks' audio too; then the front end
that embeds every track with it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from ..audio.decode import audio_info, load_audio
from ..audio.excerpts import EXCERPT_SECONDS, excerpt_offsets
from ..audio.mel import LogMel, MelConfig
from ..data.library import Library
from ..errors import AudioError
from ..inference.frontend import FrontEnd
from ..utils.devices import resolve_device
from .requests import ModelSettings

__all__ = ["UNLABELLED_CAP", "excerpt_mels", "train_embedding"]

#: Untagged tracks whose first excerpt the contrastive loss reads, at most: their audio teaches
#: the embedding the library's sound, in bounded memory whatever the library's size.
UNLABELLED_CAP = 500


def excerpt_mels(path: Path, logmel: LogMel, config: MelConfig) -> list[np.ndarray]:
    """The log-mels of a file's excerpts (:func:`~graham.workflows.tag.excerpt_offsets`) [each
    shape=(n_mels, frames)]; none for a file too short to classify."""
    out = []
    for offset in excerpt_offsets(audio_info(path).duration):
        y = load_audio(path, sr=config.sr, offset=offset, duration=EXCERPT_SECONDS)
        if y.shape[0] >= config.n_fft // 2 + 1:
            with torch.no_grad():
                out.append(logmel(torch.from_numpy(y)).numpy())
    return out


def train_embedding(lib: Library, out: Path, settings: ModelSettings, *, progress: bool = True) -> tuple[FrontEnd, str]:
    """The Siamese network trained on ``lib``'s tagged tracks (checkpoints in ``out/siamese``) and
    a front end that embeds with it; with the digest of its weights, which keys the cache.

    The labels are the tagged tracks' genres only; an untagged track lends at most its first
    excerpt's audio to the contrastive loss (``settings.siamese.contrastive`` > 0), never a label."""
    from ..train.siamese import train_siamese

    config = MelConfig()
    logmel = LogMel(config)
    classes = lib.classes
    mels: list[np.ndarray] = []
    labels: list[int] = []
    groups: list[str] = []
    unlabelled: list[np.ndarray] = []
    for i, (track, genre) in enumerate(zip(lib.tracks, lib.genres)):
        if not genre and len(unlabelled) >= UNLABELLED_CAP:
            continue
        try:
            parts = excerpt_mels(track.path, logmel, config)
        except (AudioError, OSError):
            continue  # named when the tracks are embedded
        if genre:
            album = sorted(track.relation_keys(lib.folder(i))["album"])[0]
            mels += parts
            labels += [classes.index(genre)] * len(parts)
            groups += [album] * len(parts)
        elif parts:
            unlabelled.append(parts[0])
    res = train_siamese(mels, labels, settings.siamese, unlabelled=unlabelled if settings.siamese.contrastive else (),
                        groups=np.asarray(groups), out=out / "siamese", device=settings.device, progress=progress)
    model = res.model.cpu().eval()
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode() + tensor.detach().cpu().numpy().tobytes())
    front = FrontEnd(config, model, crop_frames=settings.siamese.crop_frames, device=resolve_device(settings.device),
                     band_statistics=False)
    return front, digest.hexdigest()
