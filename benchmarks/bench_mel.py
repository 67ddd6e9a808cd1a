"""Log-mel throughput: graham's LogMel against librosa on the same 30-s clips, same process.

Prints clips/s for each and the ratio (goal: graham >= 5x librosa on 2 cores).
Usage: python benchmarks/bench_mel.py [--clips 8] [--threads 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import median_time, set_threads  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=9)
    args = ap.parse_args()
    set_threads(args.threads)
    import librosa
    import torch

    from graham.audio import LogMel
    from graham.synth import GENRES, synthesize_clip

    clips = [synthesize_clip(GENRES[i % 10], i, seconds=30.0)[1] for i in range(args.clips)]
    logmel = LogMel()
    tensors = [torch.from_numpy(y) for y in clips]

    def run_librosa():
        for y in clips:
            librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=22050, pad_mode="constant"), ref=1.0, top_db=80.0)

    def run_graham():
        with torch.no_grad():
            for y in tensors:
                logmel(y)

    def run_graham_batch():
        with torch.no_grad():
            logmel(torch.stack(tensors))

    t_lib = median_time(run_librosa, repeats=args.repeats)
    t_ours = median_time(run_graham, repeats=args.repeats)
    t_batch = median_time(run_graham_batch, repeats=args.repeats)
    n = len(clips)
    print(f"threads={args.threads}  clips={n} x 30 s  median of {args.repeats}")
    print(f"librosa              {n / t_lib:8.1f} clips/s  ({1000 * t_lib / n:6.2f} ms/clip)")
    print(f"graham (one by one)  {n / t_ours:8.1f} clips/s  ({1000 * t_ours / n:6.2f} ms/clip)")
    print(f"graham (batch of {n})  {n / t_batch:8.1f} clips/s  ({1000 * t_batch / n:6.2f} ms/clip)")
    print(f"ratio graham/librosa: {t_lib / t_ours:.1f}x (one by one), {t_lib / t_batch:.1f}x (batched)")


if __name__ == "__main__":
    main()
