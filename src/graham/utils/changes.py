"""What differs between two settings dicts, in words: what a refusal to resume names."""

from __future__ import annotations

import json
from typing import Iterable

__all__ = ["setting_changes"]


def setting_changes(old: dict, new: dict, *, ignore: Iterable[str] = ()) -> list[str]:
    """``"name: old -> new"`` for each setting that differs between two settings dicts (nested
    dicts by dotted name, long values shortened): what a refusal to resume should name."""
    def flat(d, prefix=""):
        out = {}
        for k, v in (d or {}).items():
            if isinstance(v, dict):
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out

    def short(v):
        text = json.dumps(v) if not isinstance(v, str) else repr(v)
        return text if len(text) <= 40 else text[:37] + "..."

    a, b, skip = flat(old), flat(new), set(ignore)
    missing = object()
    return [f"{k}: {short(a.get(k)) if k in a else '(none)'} -> {short(b.get(k)) if k in b else '(none)'}"
            for k in sorted(set(a) | set(b)) if k not in skip and a.get(k, missing) != b.get(k, missing)]
