"""A trained model as one folder: everything ``predict`` and ``serve`` need, nothing pickled.

::

    bundle/
      config.json              versions, feature settings, Siamese and GNN settings, class names
      siamese.safetensors      backbone phi and pair head Lambda
      gnn.safetensors          GNN weights and the feature standardisation (mean, scale)
      reference.safetensors    the reference (training) nodes: embeddings and labels

Loading checks that every file is there, that the JSON and the tensors agree, and reads
weights with safetensors only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from ..audio.mel import MelConfig
from ..errors import BundleError
from ..nn.gnn import GNNConfig, GrahamGNN
from ..nn.node_features import node_features, standardise
from ..nn.siamese import SiameseNet
from ..presets import SiameseConfig
from ..utils.files import write_json
from ..utils.tensorfile import CheckpointError, load_checkpoint, save_checkpoint
from .bundle_format import BUNDLE_FORMAT, bundle_config

__all__ = ["Bundle", "load_bundle"]


def _graham_version() -> str:
    """The installed graham's version, from its metadata: a module below the package root
    does not import the root."""
    try:
        return metadata.version("graham")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass
class Bundle:
    """A loaded bundle: the networks (in eval mode, on the CPU) and what goes with them."""

    mel: MelConfig
    siamese_config: SiameseConfig
    gnn_config: GNNConfig
    classes: list[str]
    siamese: SiameseNet
    gnn: GrahamGNN
    mean: np.ndarray
    scale: np.ndarray
    reference: np.ndarray  # (N, 128) raw embeddings of the reference nodes
    reference_labels: np.ndarray  # (N,) class indices; -1 for a training clip trained on without its label
    info: dict
    reference_stats: np.ndarray | None = None  # (N, 3 n_mels) band statistics, with gnn.band_statistics
    reference_ids: list[str] | None = None  # (N,) the reference clips' ids (bundles before 0.2: none)

    def reference_features(self) -> np.ndarray:
        """The reference nodes' features as the GNN reads them (before standardising)."""
        return node_features(self.reference, self.reference_stats)

    def standardised_reference(self) -> torch.Tensor:
        return torch.as_tensor(standardise(self.reference_features(), self.mean, self.scale), dtype=torch.float32)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the bundle folder ``path`` (each file atomically; ``config.json`` last, so a
        folder with a ``config.json`` is complete); :func:`load_bundle` reads it back.

        Parameters
        ----------
        path : str or os.PathLike
            The folder; made if missing, its bundle files replaced.

        Returns
        -------
        Path
            ``path``.
        """
        if self.gnn_config.band_statistics and (self.reference_stats is None
                                                or len(self.reference_stats) != len(self.reference)):
            raise BundleError("a GNN with band_statistics needs the reference clips' band statistics")
        if self.reference_ids is not None and len(self.reference_ids) != len(self.reference):
            raise BundleError("one reference id per reference clip")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_checkpoint(path / "siamese.safetensors", dict(self.siamese.state_dict()), {"kind": "siamese"})
        gnn_t = {f"model/{k}": v for k, v in self.gnn.state_dict().items()}
        gnn_t["mean"] = torch.as_tensor(self.mean, dtype=torch.float32)
        gnn_t["scale"] = torch.as_tensor(self.scale, dtype=torch.float32)
        save_checkpoint(path / "gnn.safetensors", gnn_t, {"kind": "gnn"})
        ref = {"embeddings": torch.as_tensor(self.reference, dtype=torch.float32),
               "labels": torch.as_tensor(self.reference_labels, dtype=torch.int64)}
        if self.gnn_config.band_statistics:
            ref["band_statistics"] = torch.as_tensor(self.reference_stats, dtype=torch.float32)
        ids = {"clip_ids": [str(c) for c in self.reference_ids]} if self.reference_ids else {}
        save_checkpoint(path / "reference.safetensors", ref, {"kind": "reference", **ids})
        write_json(path / "config.json", {
            "format": BUNDLE_FORMAT, "graham_version": _graham_version(), "torch_version": torch.__version__,
            "mel": self.mel.to_dict(), "siamese": self.siamese_config.to_dict(), "gnn": self.gnn_config.to_dict(),
            "classes": list(self.classes), "embedding_dim": int(self.reference.shape[1]),
            "reference_nodes": int(self.reference.shape[0]), "info": self.info or {},
        })
        return path


def load_bundle(path: str | os.PathLike) -> Bundle:
    """Load and validate a bundle folder written by :meth:`Bundle.save`."""
    path = Path(path).expanduser()
    cfg = bundle_config(path)
    try:
        mel = MelConfig.from_dict(cfg["mel"])
        sia_cfg = SiameseConfig.from_dict(cfg["siamese"])
        # settings added since format 1 was fixed: a bundle without them was made without them
        gnn_cfg = GNNConfig.from_dict({"band_statistics": False, "label_input": False, **cfg["gnn"]})
        classes = list(cfg["classes"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(f"{path}/config.json is malformed ({exc})") from exc
    try:
        sia_t, _ = load_checkpoint(path / "siamese.safetensors")
        gnn_t, _ = load_checkpoint(path / "gnn.safetensors")
        ref_t, ref_meta = load_checkpoint(path / "reference.safetensors")
    except CheckpointError as exc:
        raise BundleError(str(exc)) from exc
    siamese = SiameseNet(sia_cfg.backbone, head_hidden=sia_cfg.head_hidden)
    try:
        stats = ref_t["band_statistics"].numpy() if gnn_cfg.band_statistics else None
        node_dim = int(cfg["embedding_dim"]) + (stats.shape[1] if stats is not None else 0)
        gnn = GrahamGNN(node_dim, len(classes), gnn_cfg)
        siamese.load_state_dict(sia_t)
        gnn.load_state_dict({k[6:]: v for k, v in gnn_t.items() if k.startswith("model/")})
        reference, labels = ref_t["embeddings"].numpy(), ref_t["labels"].numpy()
        mean, scale = gnn_t["mean"].numpy(), gnn_t["scale"].numpy()
    except (RuntimeError, KeyError, IndexError) as exc:
        raise BundleError(f"{path}: weights do not fit the settings in config.json ({exc})") from exc
    if reference.shape != (cfg["reference_nodes"], cfg["embedding_dim"]) or len(labels) != len(reference) \
            or (stats is not None and len(stats) != len(reference)):
        raise BundleError(f"{path}: reference nodes do not match config.json")
    ids = ref_meta.get("clip_ids")
    if ids is not None and len(ids) != len(reference):
        raise BundleError(f"{path}: reference clip ids do not match the reference nodes")
    return Bundle(mel, sia_cfg, gnn_cfg, classes, siamese.eval(), gnn.eval(), mean, scale, reference, labels,
                  cfg.get("info", {}), stats, ids)
