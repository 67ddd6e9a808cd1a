"""Training checkpoints: optimizer state flattened into tensors (``optim/<param index>/<name>``)
and JSON (param groups), saved with the model in one safetensors file
(:mod:`graham.utils.tensorfile`)."""

from __future__ import annotations

import torch

__all__ = ["optimizer_tensors", "load_optimizer"]


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Flatten ``opt.state_dict()`` into tensors and a JSON-serialisable dict."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for name, value in st.items():
            if torch.is_tensor(value):
                tensors[f"optim/{idx}/{name}"] = value
            else:
                scalars[f"{idx}/{name}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Inverse of :func:`optimizer_tensors`."""
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith("optim/"):
            _, idx, name = key.split("/", 2)
            state.setdefault(int(idx), {})[name] = value
    for key, value in meta.get("scalars", {}).items():
        idx, name = key.split("/", 1)
        state.setdefault(int(idx), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
