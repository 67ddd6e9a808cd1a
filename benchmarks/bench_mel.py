"""Log-mel throughput: graham's LogMel against librosa on the same 30-s clips, same process.

The contenders run interleaved: each repeat times librosa, then each graham variant, on the
same clips, and the ratio is taken per repeat; the table gives medians. On a shared machine
whose speed drifts by tens of percent from minute to minute, a ratio of back-to-back blocks
of runs measures the drift as much as the code; interleaving cancels it.

Variants: graham one clip at a time (what the feature store does: the fused kernel with its own
FFT), the same with MKL's FFT feeding the window-and-project kernel (what float64 and other FFT
sizes use), the same with the compiled kernels switched off (the torch path the GPU and
autograd use, run on the CPU), and a batch of all clips. Goal: graham >= 5x librosa at 2 threads.
Usage: python benchmarks/bench_mel.py [--clips 8] [--threads 2] [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import cpu_name, set_threads  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    set_threads(args.threads)
    import librosa
    import torch

    from graham.audio import LogMel
    from graham.synth import GENRES, synthesize_clip

    clips = [synthesize_clip(GENRES[i % 10], i, seconds=30.0)[1] for i in range(args.clips)]
    logmel = LogMel()
    torch_path = LogMel()
    torch_path.use_kernel = False
    mkl_fft = LogMel()
    mkl_fft.use_fft_kernel = False  # MKL's FFT, then the window-and-project kernel
    tensors = [torch.from_numpy(y) for y in clips]

    def run_librosa():
        for y in clips:
            librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=22050, pad_mode="constant"), ref=1.0, top_db=80.0)

    def one_by_one(module):
        def run():
            with torch.no_grad():
                for y in tensors:
                    module(y)
        return run

    def run_batch():
        with torch.no_grad():
            logmel(torch.stack(tensors))

    contenders = {"librosa": run_librosa, "graham (one by one)": one_by_one(logmel),
                  "graham, MKL FFT": one_by_one(mkl_fft), "graham, torch path": one_by_one(torch_path),
                  f"graham (batch of {len(clips)})": run_batch}
    for fn in contenders.values():  # warm-up: filterbanks, FFT plans, allocator
        fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(args.repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:  # rotate who goes first
            fn = contenders[name]
            time.sleep(0.3)  # untimed: let the previous contender's spinning thread pools go to sleep
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    n = len(clips)
    print(f"{cpu_name()}; threads={args.threads}; {n} clips x 30 s; {args.repeats} interleaved repeats, medians")
    for name, ts in times.items():
        ratio = statistics.median(lib / t for lib, t in zip(times["librosa"], ts))
        tail = "" if name == "librosa" else f"   {ratio:4.1f}x librosa"
        print(f"{name:24s} {1000 * statistics.median(ts) / n:7.2f} ms/clip{tail}")


if __name__ == "__main__":
    main()
