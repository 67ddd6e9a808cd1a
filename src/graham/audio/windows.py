"""Fixed-length windows: crop, pad or tile a signal, or cut a long one into hopped windows."""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError

__all__ = ["fit_length", "sliding_windows", "window_starts", "mel_windows"]

_SHORT_MODES = ("pad", "tile")


def fit_length(y: np.ndarray, size: int, *, short: str = "pad", offset: int = 0) -> np.ndarray:
    """Return exactly ``size`` samples of ``y`` (last axis).

    A longer signal is cropped at ``offset`` (clipped to the valid range); a shorter one is
    zero-padded at the end (``short="pad"``) or repeated end to end (``short="tile"``).
    """
    if size <= 0:
        raise ParameterError(f"size must be > 0, got {size}")
    if short not in _SHORT_MODES:
        raise ParameterError(f"short must be one of {_SHORT_MODES}, got {short!r}")
    n = y.shape[-1]
    if n >= size:
        start = int(min(max(offset, 0), n - size))
        return y[..., start : start + size]
    if n == 0:
        return np.zeros(y.shape[:-1] + (size,), dtype=y.dtype)
    if short == "pad":
        pad = [(0, 0)] * (y.ndim - 1) + [(0, size - n)]
        return np.pad(y, pad)
    reps = -(-size // n)
    return np.tile(y, (1,) * (y.ndim - 1) + (reps,))[..., :size]


def window_starts(n: int, size: int, hop: int) -> np.ndarray:
    """Start indices of windows of ``size`` with ``hop`` over ``n`` samples, the last one flush
    with the end so that no tail is left out (a signal of at most ``size`` gives one window at 0)."""
    if size <= 0 or hop <= 0:
        raise ParameterError(f"size and hop must be > 0, got {size}, {hop}")
    if n <= size:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n - size + 1, hop, dtype=np.int64)
    if starts[-1] != n - size:
        starts = np.append(starts, n - size)
    return starts


def sliding_windows(y: np.ndarray, size: int, hop: int | None = None, *, short: str = "pad") -> np.ndarray:
    """Cut ``y`` along its last axis into windows [shape=(n_windows, ..., size)]: samples
    [shape=(samples,)] into (W, size), a log-mel [shape=(n_mels, frames)] into (W, n_mels, size).

    ``hop`` defaults to ``size`` (no overlap). The last window ends at the signal's end, so it
    may overlap its neighbour more than ``hop`` says (:func:`window_starts`). A signal of at
    most ``size`` gives one window, padded or tiled as ``short`` says (see :func:`fit_length`).
    Returns a copy.
    """
    if y.ndim < 1:
        raise ParameterError(f"y must have at least one axis, got shape {y.shape}")
    hop = size if hop is None else hop
    if y.shape[-1] <= size:
        return fit_length(y, size, short=short)[None].copy()
    starts = window_starts(y.shape[-1], size, hop)
    view = np.lib.stride_tricks.sliding_window_view(y, size, axis=-1)  # (..., n - size + 1, size)
    return np.moveaxis(view[..., starts, :], -2, 0).copy()


def mel_windows(mel: np.ndarray, size: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """The windows a clip's log-mel [shape=(n_mels, frames)] is embedded in: every ``size``
    frames with ``hop`` between starts, the last flush with the end, a short clip tiled to
    length (:func:`sliding_windows`). Returns (windows [shape=(W, n_mels, size), float32],
    start frames [shape=(W,)])."""
    mel = np.asarray(mel)
    windows = sliding_windows(mel, size, hop, short="tile").astype(np.float32, copy=False)
    return windows, window_starts(mel.shape[-1], size, hop)
