"""Audio fingerprints that find the same recording twice, from the log-mels graham already has.

A landmark fingerprint (Wang, "An industrial-strength audio search algorithm", 2003): the
peaks of a clip's log-mel (local maxima of the time-frequency plane) are paired with a few
later peaks nearby, and each pair gives a hash of (band of the first, band difference, time
difference) anchored at the first peak's time. Peaks are local maxima, so a change of gain
(a constant in dB) moves none of them; a lossy re-encoding keeps most of the strong ones; a
time offset shifts every anchor alike. Two clips of one recording therefore share many
hashes *at one consistent time offset*, which unrelated clips, even of one genre, do not.

:func:`find_duplicates` matches every clip against every other through an inverted index:
hashes sorted once, pairs formed only within a hash's postings (hashes shared by many clips
carry no information and are dropped), votes counted per (clip pair, offset). Memory grows
with the number of hashes, never with the square of the corpus.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["Fingerprint", "fingerprint", "DuplicatePair", "find_duplicates"]

_BANDS_BITS, _DT_BITS = 8, 7  # band index < 256, time difference < 128 frames


@dataclass(frozen=True)
class Fingerprint:
    """A clip's landmark hashes and the frame each is anchored at."""

    hashes: np.ndarray  # int64 [shape=(H,)]
    times: np.ndarray  # int32 [shape=(H,)]


def _peaks(mel: np.ndarray, *, neighbourhood: tuple[int, int], per_second: float, frames_per_second: float):
    from scipy.ndimage import maximum_filter

    m = np.asarray(mel, dtype=np.float32)
    local = (m == maximum_filter(m, size=neighbourhood, mode="constant", cval=-np.inf))
    local &= m > np.percentile(m, 50) + 3.0  # not the floor of a quiet passage
    bands, frames = np.nonzero(local)
    if len(bands) == 0:
        return bands, frames
    keep = max(1, int(per_second * m.shape[1] / frames_per_second))
    if len(bands) > keep:  # the strongest peaks: what survives re-encoding
        top = np.argpartition(-m[bands, frames], keep - 1)[:keep]
        bands, frames = bands[top], frames[top]
    order = np.lexsort((bands, frames))
    return bands[order], frames[order]


def fingerprint(mel: np.ndarray, *, frames_per_second: float = 22050 / 512, per_second: float = 15.0,
                fan_out: int = 5, max_dt: int = 63, max_dband: int = 24,
                neighbourhood: tuple[int, int] = (9, 9)) -> Fingerprint:
    """The landmark hashes of a log-mel [shape=(n_mels, frames), dB]: about ``per_second``
    peaks a second, each paired with the next ``fan_out`` peaks at most ``max_dt`` frames
    later and ``max_dband`` bands away."""
    bands, frames = _peaks(mel, neighbourhood=neighbourhood, per_second=per_second,
                           frames_per_second=frames_per_second)
    hashes, times = [], []
    n = len(bands)
    for i in range(n):
        found = 0
        for j in range(i + 1, n):
            dt = int(frames[j] - frames[i])
            if dt > max_dt:
                break
            if dt == 0 or abs(int(bands[j]) - int(bands[i])) > max_dband:
                continue
            db = int(bands[j]) - int(bands[i]) + max_dband
            hashes.append((int(bands[i]) << (_BANDS_BITS + _DT_BITS)) | (db << _DT_BITS) | dt)
            times.append(int(frames[i]))
            found += 1
            if found == fan_out:
                break
    return Fingerprint(np.asarray(hashes, dtype=np.int64), np.asarray(times, dtype=np.int32))


@dataclass(frozen=True)
class DuplicatePair:
    """Clips ``a`` < ``b`` (indices) sharing ``matches`` hashes at one time offset: ``b``'s
    material appears in ``a`` ``offset`` frames later (negative: earlier). ``score``: the
    matches as a fraction of the smaller clip's hashes."""

    a: int
    b: int
    matches: int
    offset: int
    score: float


def find_duplicates(prints: Sequence[Fingerprint], *, min_matches: int = 12, min_score: float = 0.04,
                    max_postings: int = 40, jitter: int = 1) -> list[DuplicatePair]:
    """Every pair of clips whose fingerprints agree at one offset (within ``jitter`` frames) on
    at least ``min_matches`` hashes and ``min_score`` of the smaller clip's hashes, best
    first. Hashes held by more than ``max_postings`` anchors are ignored."""
    sizes = np.array([len(p.hashes) for p in prints], dtype=np.int64)
    if sizes.sum() == 0:
        return []
    h = np.concatenate([p.hashes for p in prints])
    t = np.concatenate([p.times for p in prints]).astype(np.int64)
    c = np.repeat(np.arange(len(prints), dtype=np.int64), sizes)
    order = np.argsort(h, kind="stable")
    h, t, c = h[order], t[order], c[order]
    # drop hashes with too many postings: a drum hit every clip has tells nothing
    starts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]])
    counts = np.diff(np.r_[starts, len(h)])
    keep = np.repeat(counts <= max_postings, counts)
    h, t, c = h[keep], t[keep], c[keep]
    a_all, b_all, off_all = [], [], []
    for d in range(1, max_postings):  # entry i against entry i + d of the same hash
        same = h[d:] == h[:-d]
        if not same.any():
            break
        i = np.flatnonzero(same)
        ca, cb, ta, tb = c[i], c[i + d], t[i], t[i + d]
        other = ca != cb
        ca, cb, ta, tb = ca[other], cb[other], ta[other], tb[other]
        swap = ca > cb
        a = np.where(swap, cb, ca)
        b = np.where(swap, ca, cb)
        off = np.where(swap, tb - ta, ta - tb)  # a's time minus b's
        a_all.append(a)
        b_all.append(b)
        off_all.append(off)
    if not a_all:
        return []
    a, b, off = np.concatenate(a_all), np.concatenate(b_all), np.concatenate(off_all)
    n = len(prints)
    span = 2 * (int(np.abs(off).max()) + jitter + 1) + 1
    key = (a * n + b) * span + (off + span // 2)
    uniq, votes = np.unique(key, return_counts=True)
    if jitter:  # votes of neighbouring offsets count too (frame rounding between encodings)
        total = votes.copy()
        for d in range(-jitter, jitter + 1):
            if d == 0:
                continue
            at = np.searchsorted(uniq, uniq + d)
            hit = (at < len(uniq)) & (uniq[np.minimum(at, len(uniq) - 1)] == uniq + d)
            total[hit] += votes[at[hit]]
        votes = total
    pair, offset = uniq // span, uniq % span - span // 2
    # per pair, the offset with the most votes: sort by (pair, votes) and take each pair's last
    order = np.lexsort((votes, pair))
    pair, votes, offset = pair[order], votes[order], offset[order]
    last = np.r_[pair[1:] != pair[:-1], True]
    out = []
    for p, v, o in zip(pair[last].tolist(), votes[last].tolist(), offset[last].tolist()):
        ia, ib = divmod(p, n)
        score = v / max(1, min(sizes[ia], sizes[ib]))
        if v >= min_matches and score >= min_score:
            out.append(DuplicatePair(int(ia), int(ib), int(v), int(o), float(score)))
    return sorted(out, key=lambda d: (-d.score, d.a, d.b))
