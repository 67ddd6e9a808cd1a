"""The CPU kernel behind ``LogMel``: Hann window, power and mel projection of a block of spectra.

It takes the FFT of *unwindowed* frames and never forms the windowed frames: a periodic Hann
window is a three-tap filter across frequency, ``X_w[k] = X[k]/2 - (X[k-1] + X[k+1])/4``
(the bins beyond the ends come from Hermitian symmetry). A mel filterbank touches each FFT
bin with at most two neighbouring triangles, so the projection is a sum over runs of bins with
two weights each, ~2,000 multiply-adds per frame instead of the 128 x 1025 of a dense product
or the ~17,000 of a banded one. The frames of a tile are laid out bin-major so that every
update is a contiguous multiply-add over the tile's frames. Compiled by numba, one tile of
frames per thread (``benchmarks/bench_mel.py``; tested against a float64 formula and librosa
in ``tests/test_mel.py``).
"""

from __future__ import annotations

import os
import threading
import types
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

__all__ = ["BandRuns", "band_runs", "hann_mel_power"]

#: Frames per tile: each thread projects one tile at a time (its powers, bin-major, stay in L2).
TILE = 32


@dataclass(frozen=True)
class BandRuns:
    """A filterbank as runs of consecutive FFT bins that feed the same pair of bands: bins
    ``starts[r]:ends[r]`` add ``lower[k] * |X_k|^2`` to band ``bands[r]`` and ``upper[k] * |X_k|^2``
    to band ``bands[r] + 1`` (a slot past the last band takes the overflow)."""

    starts: np.ndarray
    ends: np.ndarray
    bands: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    n_mels: int

    def astype(self, dtype) -> "BandRuns":
        return BandRuns(self.starts, self.ends, self.bands, self.lower.astype(dtype), self.upper.astype(dtype),
                        self.n_mels)


def band_runs(filterbank: np.ndarray) -> BandRuns | None:
    """The runs of ``filterbank`` [shape=(n_mels, n_bins)], or None when some bin feeds more than
    two bands or two that are not neighbours (then the kernel does not apply)."""
    fb = np.asarray(filterbank, dtype=np.float64)
    n_mels, n_bins = fb.shape
    first = np.full(n_bins, -1)
    lower = np.zeros(n_bins)
    upper = np.zeros(n_bins)
    for k in range(n_bins):
        nz = np.flatnonzero(fb[:, k])
        if nz.size > 2 or (nz.size == 2 and nz[1] != nz[0] + 1):
            return None
        if nz.size:
            first[k] = nz[0]
            lower[k] = fb[nz[0], k]
            upper[k] = fb[nz[1], k] if nz.size == 2 else 0.0
    starts, ends, bands = [], [], []
    k = 0
    while k < n_bins:
        if first[k] < 0:
            k += 1
            continue
        e = k
        while e < n_bins and first[e] == first[k]:
            e += 1
        starts.append(k)
        ends.append(e)
        bands.append(first[k])
        k = e
    as_int = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
    return BandRuns(as_int(starts), as_int(ends), as_int(bands), lower.astype(np.float32), upper.astype(np.float32),
                    n_mels)


@numba.njit(fastmath=True, boundscheck=False, inline="always")
def _project_and_store(power, n, half_power, starts, ends, bands, lower, upper, acc, floor, out, col):
    """The mel bands of the first ``n`` frames of ``power`` [shape=(bins, frames), raised here to
    ``half_power``], added into ``acc`` (zeros), then raised to ``floor`` into
    ``out[:, col:col + n]``. Returns the largest value written. Shared with ``stftkernel.py``."""
    if half_power != 1.0:
        for k in range(power.shape[0]):
            for j in range(n):
                power[k, j] = power[k, j] ** half_power
    for r in range(starts.shape[0]):
        lo = acc[bands[r]]
        hi = acc[bands[r] + 1]
        for k in range(starts[r], ends[r]):
            wl = lower[k]
            wu = upper[k]
            pk = power[k]
            for j in range(n):  # a run-time trip count: LLVM vectorises it (a constant one it unrolls)
                lo[j] += wl * pk[j]
            for j in range(n):
                hi[j] += wu * pk[j]
    top = floor
    for m in range(out.shape[0]):
        om = out[m]
        am = acc[m]
        for j in range(n):
            v = max(am[j], floor)
            om[col + j] = v
            top = max(top, v)
    return top


def _project_tiles(x, starts, ends, bands, lower, upper, taps, mirror, half_power, floor, out, t0, tile, tile_max):
    n_frames = x.shape[0]
    n2 = x.shape[1]
    n_bins = n2 // 2
    n_mels = out.shape[0]
    c0 = taps[0]
    c1 = taps[1]
    n_tiles = (n_frames + tile - 1) // tile
    for ti in numba.prange(n_tiles):
        f0 = ti * tile
        nf = min(tile, n_frames - f0)
        # Work arrays allocated here, not passed in: LLVM then knows they alias nothing and
        # vectorises the loops below (2x faster than slices of a shared scratch buffer).
        power = np.empty((n_bins, tile), x.dtype)
        sq = np.empty(n2, x.dtype)
        acc = np.zeros((n_mels + 1, tile), x.dtype)
        for j in range(nf):
            r = x[f0 + j]
            # Hann in frequency over the flat (re, im, re, im, ...) row, squared
            for i in range(2, n2 - 2):
                t = c0 * r[i] + c1 * (r[i - 2] + r[i + 2])
                sq[i] = t * t
            # X[-1] = conj(X[1]) and X[n_bins] = conj(X[mirror])
            t = c0 * r[0] + c1 * (r[2] + r[2])
            sq[0] = t * t
            t = c0 * r[1]
            sq[1] = t * t
            t = c0 * r[n2 - 2] + c1 * (r[n2 - 4] + r[2 * mirror])
            sq[n2 - 2] = t * t
            t = c0 * r[n2 - 1] + c1 * (r[n2 - 3] - r[2 * mirror + 1])
            sq[n2 - 1] = t * t
            for k in range(n_bins):
                power[k, j] = sq[2 * k] + sq[2 * k + 1]
        tile_max[ti] = _project_and_store(power, nf, half_power, starts, ends, bands, lower, upper, acc, floor, out,
                                          t0 + f0)


def _renamed(fn, name: str):
    """``fn`` under another name: numba names its cache files after the function, so the serial
    and the parallel build of the same code each get their own."""
    copy = types.FunctionType(fn.__code__, fn.__globals__, name, fn.__defaults__, fn.__closure__)
    copy.__qualname__ = name
    return copy


_JIT: dict[str, Any] = dict(fastmath=True, nogil=True, boundscheck=False, cache=True)
_parallel = numba.njit(parallel=True, **_JIT)(_project_tiles)
_serial = numba.njit(**_JIT)(_renamed(_project_tiles, "_project_tiles_serial"))  # prange runs as range

_pid = os.getpid()
_lock = threading.Lock()


def _parallel_safe() -> bool:
    """Whether a parallel build may run here: not in a forked child (GNU OpenMP is not
    fork-safe), and on a threading layer that tolerates concurrent calls."""
    return os.getpid() == _pid and _threadsafe_layer()


def _threads(wanted: int) -> int:
    """Threads for one kernel call: at most ``wanted`` and numba's pool; 1 where a parallel
    build may not run."""
    if not _parallel_safe():
        return 1
    return max(1, min(wanted, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]


_layer_ok: bool | None = None


def _threadsafe_layer() -> bool:
    """Whether numba will run parallel code on a layer that tolerates calls from several Python
    threads at once (tbb or omp); its fallback, workqueue, aborts the process on such calls."""
    global _layer_ok
    if _layer_ok is None:
        with _lock:
            choice = str(numba.config.THREADING_LAYER).lower()  # type: ignore[attr-defined]
            if choice in ("tbb", "omp", "safe", "threadsafe"):
                _layer_ok = True
            elif choice != "default":
                _layer_ok = False
            else:
                _layer_ok = False
                for mod in ("numba.np.ufunc.tbbpool", "numba.np.ufunc.omppool"):
                    try:
                        __import__(mod)
                        _layer_ok = True
                        break
                    except Exception:  # noqa: BLE001 - a missing or incompatible runtime
                        pass
    return _layer_ok


def hann_mel_power(spectrum: np.ndarray, runs: BandRuns, *, n_fft: int, power: float, out: np.ndarray, start: int,
                   threads: int, floor: float = 0.0) -> float:
    """Mel power of the Hann-windowed frames whose *unwindowed* real FFTs are ``spectrum``
    [shape=(frames, 2 * n_bins), the real view: re, im, re, im, ...], written to
    ``out[:, start:start + frames]`` [out: shape=(n_mels, total frames)]: ``|X_w|^power``
    projected onto the mel bands, raised to at least ``floor``. Returns the largest value
    written (the dB conversion's reference for ``top_db``, without another pass)."""
    n_bins = spectrum.shape[1] // 2
    if n_bins < 3:
        raise ValueError(f"the kernel needs n_fft >= 4, got {n_fft}")
    dtype = spectrum.dtype
    taps = np.array([0.5, -0.25], dtype=dtype)
    mirror = n_fft - n_bins  # X[n_bins] = conj(X[n_fft - n_bins])
    n = _threads(threads)
    if n > 1:
        numba.set_num_threads(n)  # for this calling thread only
    kernel = _parallel if n > 1 else _serial
    tile_max = np.empty(-(-spectrum.shape[0] // TILE), dtype)
    kernel(spectrum, runs.starts, runs.ends, runs.bands, runs.lower, runs.upper, taps, mirror,
           dtype.type(power / 2.0), dtype.type(floor), out, start, TILE, tile_max)
    return float(tile_max.max()) if tile_max.size else float(floor)
