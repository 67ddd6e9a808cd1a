"""Tensors and a JSON document in one safetensors file (the document in the header's
metadata): checkpoints, bundles and embeddings. Nothing is ever unpickled when loading;
writes are atomic."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import GrahamError
from .files import atomic_path

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint"]

_META_KEY = "graham"


class CheckpointError(GrahamError):
    """A checkpoint or weights file is missing, unreadable or does not fit the model."""


def save_checkpoint(path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Write ``tensors`` and the JSON-serialisable ``meta`` to ``path`` atomically."""
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(flat, str(tmp), metadata={_META_KEY: json.dumps(meta)})


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a file written by :func:`save_checkpoint`: (tensors on the CPU, meta)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get(_META_KEY, "{}"))
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint ({exc})") from exc
    return tensors, meta
