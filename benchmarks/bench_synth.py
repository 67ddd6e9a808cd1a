"""Synthetic corpus speed: real-time factor of composing + rendering one 30-s clip on one core
(goal: >= 50x real time), per genre, median over repeats.
Usage: python benchmarks/bench_synth.py [--seconds 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import median_time, set_threads  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    set_threads(1)
    from graham.synth import GENRES, synthesize_clip

    factors = []
    for g in GENRES:
        counter = iter(range(10_000))
        t = median_time(lambda g=g, counter=counter: synthesize_clip(g, next(counter), seconds=args.seconds),
                        repeats=args.repeats)
        factors.append(args.seconds / t)
        print(f"{g:10s} {t:6.3f} s per {args.seconds:g}-s clip   {args.seconds / t:6.1f}x real time")
    print(f"median real-time factor (1 core): {statistics.median(factors):.1f}x; slowest genre {min(factors):.1f}x")


if __name__ == "__main__":
    main()
