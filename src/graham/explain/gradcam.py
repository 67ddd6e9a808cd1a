"""Grad-CAM++ (Chattopadhyay et al. 2018; the paper's eq. 5) in torch.

For activations ``A`` [shape=(K, h, w)] of a chosen convolutional layer and the gradients
``g = dY^c/dA`` of a class score, the per-pixel weights are

    alpha = g^2 / (2 g^2 + sum_ab(A) g^3)        (0 where g = 0)
    w_k   = sum_ij alpha_kij * relu(g_kij)
    L^c   = relu(sum_k w_k A_k)

upsampled (bilinear) to the spectrogram's mel x time size. The class score ``Y^c`` is the
*whole* model's: the GNN's logit for the clip's node, the clip attached to the reference
graph, so the map shows what made GrahAM (not the Siamese branch alone) choose the genre.

The default layer is the backbone's output feature map (the last convolution, after its
BatchNorm and ReLU), read without hooks: ``A = backbone.features(x)`` and
``g = torch.autograd.grad(Y, A)``, so a model shared by a service is never modified and
predictions running beside an explanation cannot trip over a hook. Another layer, by name, is
hooked on a private copy of the backbone for the same reason.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError

__all__ = ["gradcam_plus_plus_weights", "GradCAMPlusPlus", "conv_layer_names", "explain_clip", "mean_maps"]


def gradcam_plus_plus_weights(activations: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """Channel weights w_k [shape=(B, K)] from activations and gradients [shape=(B, K, h, w)]."""
    g2, g3 = grads.pow(2), grads.pow(3)
    sum_a = activations.sum(dim=(-2, -1), keepdim=True)
    denom = 2 * g2 + sum_a * g3
    alpha = torch.where(denom != 0, g2 / torch.where(denom != 0, denom, torch.ones_like(denom)), torch.zeros_like(denom))
    alpha = torch.where(grads != 0, alpha, torch.zeros_like(alpha))
    return (alpha * torch.relu(grads)).sum(dim=(-2, -1))


def conv_layer_names(model: nn.Module) -> list[str]:
    """Names of the Conv2d layers of ``model``, in order (the last is the default target)."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


class GradCAMPlusPlus:
    """Grad-CAM++ maps of ``score_fn(model(x))`` with respect to ``layer`` of ``model``.

    ``model`` maps inputs [shape=(B, n_mels, frames)] to anything; ``score_fn`` turns its
    output into one score per item [shape=(B,)] (e.g. a class logit of the GNN).
    """

    def __init__(self, model: nn.Module, layer: str | None = None) -> None:
        names = conv_layer_names(model)
        if not names:
            raise ParameterError("the model has no Conv2d layer")
        self.model: Any = model  # the backbone's features/pool, when it has them, are read by name
        self.hook_free = layer is None and hasattr(model, "features") and hasattr(model, "pool")
        self.layer_name = "features (the last convolution's output)" if self.hook_free else (layer or names[-1])
        if not self.hook_free and self.layer_name not in dict(model.named_modules()):
            raise ParameterError(f"no layer {self.layer_name!r}; convolutional layers: {names[:5]} ... {names[-3:]}")

    def _activations_and_grads(self, x: torch.Tensor, score_fn) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.enable_grad():
            if self.hook_free:
                a = self.model.features(x)
                scores = score_fn(self.model.pool(a))
                self._check(scores, x)
                (g,) = torch.autograd.grad(scores.sum(), a)
                return a.detach(), g.detach()
            model = copy.deepcopy(self.model)  # hook a private copy, never the shared model
            store: dict = {}
            dict(model.named_modules())[self.layer_name].register_forward_hook(lambda _m, _i, out: store.update(a=out))
            scores = score_fn(model(x))
            self._check(scores, x)
            (g,) = torch.autograd.grad(scores.sum(), store["a"])
            return store["a"].detach(), g.detach()

    @staticmethod
    def _check(scores: torch.Tensor, x: torch.Tensor) -> None:
        if scores.dim() != 1 or scores.shape[0] != x.shape[0]:
            raise ParameterError("score_fn must return one score per input")

    def __call__(self, x: torch.Tensor, score_fn, *, normalise: bool = True) -> np.ndarray:
        """Maps [shape=(B, n_mels, frames)], each scaled to [0, 1] by its maximum unless
        ``normalise`` is False (then raw, comparable across the batch)."""
        a, g = self._activations_and_grads(x.detach(), score_fn)
        w = gradcam_plus_plus_weights(a, g)
        cam = torch.relu((w[:, :, None, None] * a).sum(1, keepdim=True))
        cam = F.interpolate(cam.float(), size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        if not normalise:
            return cam.cpu().numpy()
        peak = cam.flatten(1).amax(1).clamp_min(1e-12)[:, None, None]
        return (cam / peak).cpu().numpy()


def explain_clip(classifier, mel: np.ndarray, *, target: int | None = None, layer: str | None = None) -> tuple[np.ndarray, int]:
    """Grad-CAM++ map of a whole clip [shape=(n_mels, frames), in [0, 1]] for class ``target``
    (default: the predicted class) through ``classifier`` (a :class:`graham.inference.predict.GenreClassifier`):
    every window is a node attached to the reference graph; window maps are stitched by a
    weighted average where windows overlap, each window weighted by a Hann taper (highest at
    its centre), so the map has no seams at window edges. Returns (map, target class index)."""
    from ..audio.windows import mel_windows

    crop = classifier.crop_frames
    hop = max(1, crop // 2)
    cut, starts = mel_windows(mel, crop, hop)
    windows = torch.from_numpy(cut)
    stats = classifier.clip_statistics(mel)  # None unless the GNN reads them; constant for the gradient
    if target is None:
        with torch.no_grad():
            emb = classifier.siamese.embed(windows.to(classifier.device))
            probs = classifier.node_probabilities(emb, stats).mean(0)
        target = int(probs.argmax())
    cam = GradCAMPlusPlus(classifier.siamese.backbone, layer)
    maps = cam(windows.to(classifier.device), lambda emb: classifier.node_logits_grad(emb, stats)[:, target],
               normalise=False)
    total = np.zeros(mel.shape, np.float64)
    count = np.zeros(mel.shape[-1], np.float64)
    taper = np.hanning(crop + 2)[1:-1]  # > 0 everywhere: a lone window keeps its edges
    for m, s in zip(maps, starts):
        n = min(crop, mel.shape[-1] - s)
        total[:, s:s + n] += m[:, :n] * taper[:n]
        count[s:s + n] += taper[:n]
    out = total / np.maximum(count, 1e-12)
    return (out / max(out.max(), 1e-12)).astype(np.float32), target


def mean_maps(maps: dict[str, list[np.ndarray]], *, width: int = 256) -> dict[str, np.ndarray]:
    """Mean map per key (genre) over maps of any length: each is resized (bilinear) to
    ``width`` time steps first; every mean is scaled to [0, 1] by its maximum."""
    out = {}
    for key, group in maps.items():
        resized = [F.interpolate(torch.from_numpy(m)[None, None], size=(m.shape[0], width), mode="bilinear",
                                 align_corners=False)[0, 0].numpy() for m in group]
        m = np.mean(resized, axis=0)
        out[key] = m / max(float(m.max()), 1e-12)
    return out
