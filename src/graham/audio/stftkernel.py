"""The fused CPU kernel behind ``LogMel`` for power-of-two FFT sizes: signal -> mel power.

MKL's FFT runs its generic, non-AVX2 code on AMD CPUs, and was over half of a clip's log-mel
time there. This kernel does the FFT itself, one tile of ``LANES`` frames per thread, with the
frames in the SIMD lanes so that every butterfly is a contiguous multiply-add that LLVM
vectorises:

1. the tile's samples are copied once as (offset within a hop, hop index), so that sample ``n``
   of the tile's frames ``j = 0..LANES-1`` is the contiguous run ``S[n % hop, n // hop + j]``;
2. ``z[m] = w[2m] x[2m] + i w[2m+1] x[2m+1]`` (the periodic Hann window ``w`` applied here), and
   its complex FFT of ``n_fft/2`` points: Stockham radix 4, and one radix-2 stage when needed;
3. ``|X[k]|^2`` of the real spectrum from the standard split, two bins (k and n_fft/2 - k) per
   step, and the mel projection through the two triangles each bin feeds, as in
   ``melkernel.py``.

Every intermediate stays in the core's L2 cache; the STFT itself is never written to memory.
Tested against a float64 formula in ``tests/test_mel.py``; timed in ``benchmarks/bench_mel.py``.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numba
import numpy as np

from .melkernel import _JIT, BandRuns, _parallel_safe, _project_and_store, _renamed, _threads

__all__ = ["LANES", "applies", "stft_mel_power"]

#: Frames per tile, one SIMD lane each (16 float32 = two AVX2 registers; the FFT stages measured
#: slower with 8 or 32).
LANES = 16
#: Radix-4 stages after the first, written out: 6, for n_fft up to 65536 (each one more
#: costs ~3 s of compile time; larger FFTs take the MKL path).
_STAGES = 6
#: fastmath without ``contract`` and ``reassoc``: a fused multiply-add rounds differently from a
#: multiply and an add, and LLVM peels scalar iterations off vectorised loops depending on each
#: buffer's alignment, so with them the bits of a tile would depend on which thread ran it.
_FAST = {"nnan", "ninf", "nsz", "arcp", "afn"}


def applies(n_fft: int, hop: int) -> bool:
    """Whether the kernel handles these settings: n_fft a power of two from 8 to 65536, and an
    even hop (the odd sample of each pair sits in the row below the even one)."""
    return 8 <= n_fft <= 4 * 4 ** (_STAGES + 1) and n_fft & (n_fft - 1) == 0 and hop % 2 == 0


@numba.njit(fastmath=_FAST, boundscheck=False, inline="always")
def _butterfly(ar, ai, br, bi, cr, ci, er, ei, w1r, w1i, w2r, w2i, w3r, w3i, dr, di, o0, o1, o2, o3):
    """One radix-4 DIF butterfly of inputs a, b, c, e; outputs (twiddled) to dr/di[o0..o3]."""
    apcr = ar + cr
    apci = ai + ci
    amcr = ar - cr
    amci = ai - ci
    bpdr = br + er
    bpdi = bi + ei
    jr = ei - bi
    ji = br - er
    dr[o0] = apcr + bpdr
    di[o0] = apci + bpdi
    tr = amcr - jr
    ti = amci - ji
    dr[o1] = tr * w1r - ti * w1i
    di[o1] = tr * w1i + ti * w1r
    tr = apcr - bpdr
    ti = apci - bpdi
    dr[o2] = tr * w2r - ti * w2i
    di[o2] = tr * w2i + ti * w2r
    tr = amcr + jr
    ti = amci + ji
    dr[o3] = tr * w3r - ti * w3i
    di[o3] = tr * w3i + ti * w3r


@numba.njit(fastmath=_FAST, boundscheck=False, inline="always")
def _stage(sr, si, dr, di, wr, wi, w0, n, sl):
    """One Stockham radix-4 stage of sub-length ``n``; ``sl`` = stride x lanes, contiguous."""
    n1 = n // 4
    for p in range(n1):
        w = w0 + 3 * p
        ia = sl * p
        o0 = sl * 4 * p
        for t in range(sl):
            a = ia + t
            _butterfly(sr[a], si[a], sr[a + sl * n1], si[a + sl * n1], sr[a + 2 * sl * n1], si[a + 2 * sl * n1],
                       sr[a + 3 * sl * n1], si[a + 3 * sl * n1], wr[w], wi[w], wr[w + 1], wi[w + 1], wr[w + 2],
                       wi[w + 2], dr, di, o0 + t, o0 + sl + t, o0 + 2 * sl + t, o0 + 3 * sl + t)


@numba.njit(fastmath=_FAST, boundscheck=False, inline="always")
def _two_stages(ar, ai, br, bi, wr, wi, w0, n, sl, in_b):
    """The next two radix-4 stages, b -> a and a -> b, each only while the sub-length ``n`` is at
    least 4; returns the updated (twiddle offset, n, stride x lanes, result in b)."""
    if n >= 4:
        _stage(br, bi, ar, ai, wr, wi, w0, n, sl)
        w0 += 3 * (n // 4)
        n //= 4
        sl *= 4
        in_b = False
    if n >= 4:
        _stage(ar, ai, br, bi, wr, wi, w0, n, sl)
        w0 += 3 * (n // 4)
        n //= 4
        sl *= 4
        in_b = True
    return w0, n, sl, in_b


@numba.njit(fastmath=_FAST, boundscheck=False, inline="always")
def _radix2(sr, si, dr, di, sl):
    for t in range(sl):
        dr[t] = sr[t] + sr[sl + t]
        di[t] = si[t] + si[sl + t]
        dr[sl + t] = sr[t] - sr[sl + t]
        di[sl + t] = si[t] - si[sl + t]


@numba.njit(fastmath=_FAST, boundscheck=False, inline="always")
def _power_spectrum(zr, zi, rr, ri, P, M):
    """|X[k]|^2, k = 0..M, from the M-point FFT Z of z[m] = x[2m] + i x[2m+1]:
    X[k] = E + e^{-2 pi i k / 2M} O with E = (Z[k] + conj Z[M-k]) / 2, O = (Z[k] - conj Z[M-k]) / 2i.
    Bins k and M - k read the same two values of Z, so each step gives both."""
    L = LANES
    half = zr.dtype.type(0.5)
    for k in range(M // 2 + 1):
        k1 = k % M
        k2 = (M - k) % M
        c1r = rr[k]
        c1i = ri[k]
        c2r = rr[M - k]
        c2i = ri[M - k]
        for j in range(L):
            z1r = zr[k1 * L + j]
            z1i = zi[k1 * L + j]
            z2r = zr[k2 * L + j]
            z2i = zi[k2 * L + j]
            er = half * (z1r + z2r)
            ei = half * (z1i - z2i)
            orr = half * (z1i + z2i)
            oi = half * (z2r - z1r)
            xr = er + orr * c1r - oi * c1i
            xi = ei + orr * c1i + oi * c1r
            P[k, j] = xr * xr + xi * xi
            # bin M - k: Z[k] and Z[M-k] swap roles, so E -> conj E and O -> conj O
            xr = er + orr * c2r + oi * c2i
            xi = orr * c2i - oi * c2r - ei
            P[M - k, j] = xr * xr + xi * xi


def _stft_tiles(y, start, n_frames, hop, n_fft, win, wr, wi, rr, ri, starts, ends, bands, lower, upper, half_power,
                floor, out, tile_max, lanes):
    """Power spectrum, mel bands and dB of ``LANES`` frames a tile, tiles in parallel.

    Long on purpose: numba compiles this loop nest as one parallel kernel, and its work
    arrays must be allocated inside the tile loop so that LLVM knows they alias nothing;
    split into functions, each tile would pay calls and lose that guarantee."""
    L = LANES
    M = n_fft // 2
    cols = L + (n_fft - 1) // hop
    n_mels = out.shape[0]
    ny = y.shape[0]
    for ti in numba.prange((n_frames + L - 1) // L):
        f0 = ti * L
        nf = min(L, n_frames - f0)
        # Work arrays allocated here, so that LLVM knows they alias nothing (see melkernel.py).
        S = np.empty((hop, cols), y.dtype)
        ar = np.empty(M * L, y.dtype)
        ai = np.empty(M * L, y.dtype)
        br = np.empty(M * L, y.dtype)
        bi = np.empty(M * L, y.dtype)
        P = np.empty((M + 1, L), y.dtype)
        acc = np.zeros((n_mels + 1, L), y.dtype)
        if start + f0 * hop >= 0 and start + (f0 + cols) * hop <= ny:  # the tile's samples, as (offset in a hop, hop)
            c = 0
            while c + 4 <= cols:  # four columns at a time: one cache line per row, not four
                b = start + (f0 + c) * hop
                for r in range(hop):
                    v0 = y[b + r]
                    v1 = y[b + hop + r]
                    v2 = y[b + 2 * hop + r]
                    v3 = y[b + 3 * hop + r]
                    S[r, c] = v0
                    S[r, c + 1] = v1
                    S[r, c + 2] = v2
                    S[r, c + 3] = v3
                c += 4
            for c in range(c, cols):  # noqa: B020 - the rest of the columns, after the unrolled ones (numba)
                b = start + (f0 + c) * hop
                for r in range(hop):
                    S[r, c] = y[b + r]
        else:  # a tile at either end: zeros outside the signal (the centred frames' padding)
            for c in range(cols):
                for r in range(hop):
                    i = start + (f0 + c) * hop + r
                    S[r, c] = y[i] if 0 <= i < ny else 0
        for m in range(M):  # z[m] = x[2m] + i x[2m+1], windowed, the frames in the lanes
            row = (2 * m) % hop
            col = (2 * m) // hop
            wa = win[2 * m]
            wb = win[2 * m + 1]
            for j in range(lanes):  # a trip count LLVM cannot unroll: it vectorises this loop
                ar[m * L + j] = S[row, col + j] * wa
                ai[m * L + j] = S[row + 1, col + j] * wb
        _stage(ar, ai, br, bi, wr, wi, 0, M, L)
        n = M // 4
        sl = 4 * L
        w0 = 3 * n
        in_b = True
        # The other stages, written out (a loop around them stops LLVM vectorising the butterflies).
        w0, n, sl, in_b = _two_stages(ar, ai, br, bi, wr, wi, w0, n, sl, in_b)
        w0, n, sl, in_b = _two_stages(ar, ai, br, bi, wr, wi, w0, n, sl, in_b)
        w0, n, sl, in_b = _two_stages(ar, ai, br, bi, wr, wi, w0, n, sl, in_b)
        if n == 2:
            if in_b:
                _radix2(br, bi, ar, ai, sl)
            else:
                _radix2(ar, ai, br, bi, sl)
            in_b = not in_b
        if in_b:
            _power_spectrum(br, bi, rr, ri, P, M)
        else:
            _power_spectrum(ar, ai, rr, ri, P, M)
        tile_max[ti] = _project_and_store(P, nf, half_power, starts, ends, bands, lower, upper, acc, floor, out, f0)


_OPTIONS: dict[str, Any] = {**_JIT, "fastmath": _FAST}
_parallel = numba.njit(parallel=True, **_OPTIONS)(_stft_tiles)
_serial = numba.njit(**_OPTIONS)(_renamed(_stft_tiles, "_stft_tiles_serial"))

@lru_cache(maxsize=16)
def _twiddles(n_fft: int, dtype: str) -> tuple[np.ndarray, ...]:
    """The periodic Hann window, each radix-4 stage's twiddles e^{-2 pi i p t / n} (t = 1, 2, 3),
    and e^{-2 pi i k / n_fft}, in ``dtype``."""
    M = n_fft // 2
    parts = [np.exp(-2j * np.pi * np.outer(np.arange(n // 4), [1, 2, 3]) / n).ravel()
             for n in (M // 4 ** s for s in range(_STAGES + 1)) if n >= 4]
    w = np.concatenate(parts)
    r = np.exp(-2j * np.pi * np.arange(M + 1) / n_fft)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic
    return tuple(np.ascontiguousarray(v, dtype=dtype) for v in (hann, w.real, w.imag, r.real, r.imag))


def stft_mel_power(signal: np.ndarray, runs: BandRuns, *, n_fft: int, hop: int, power: float, out: np.ndarray,
                   threads: int, floor: float = 0.0, start: int = 0) -> float:
    """Mel power of the Hann-windowed frames of ``signal`` into ``out`` [shape=(n_mels, frames)]:
    ``|X_w|^power`` projected onto the bands, raised to at least ``floor``. Frame ``t`` starts at
    sample ``start + t * hop``; samples outside the signal are zeros, so ``start = -n_fft // 2``
    gives centred frames without padding the signal first. Returns the largest value written."""
    if not applies(n_fft, hop):
        raise ValueError(f"the kernel needs n_fft a power of two >= 8 and an even hop, got {n_fft}, {hop}")
    if signal.ndim != 1 or not signal.flags.c_contiguous:
        raise ValueError("the kernel needs a contiguous 1-D signal")
    dtype = signal.dtype
    win, wr, wi, rr, ri = _twiddles(n_fft, dtype.str)
    # The parallel build on one thread too: one compile, and the same code for every thread count.
    kernel = _serial
    if _parallel_safe():
        numba.set_num_threads(_threads(threads))  # for this calling thread only
        kernel = _parallel
    n_frames = out.shape[1]
    tile_max = np.empty(-(-n_frames // LANES), dtype)
    kernel(signal, start, n_frames, hop, n_fft, win, wr, wi, rr, ri, runs.starts, runs.ends, runs.bands, runs.lower,
           runs.upper, dtype.type(power / 2.0), dtype.type(floor), out, tile_max, LANES)
    return float(tile_max.max()) if tile_max.size else float(floor)
