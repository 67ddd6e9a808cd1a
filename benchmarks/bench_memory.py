"""Peak memory of ``graham predict`` on one file against the file's length (issue 21): each
measurement is a fresh process (peak resident set, ``ru_maxrss``) that loads the bundle and
predicts one file. Reference in the same run: the same file read whole (``stream_seconds``
infinite), as graham did before long files were streamed. Goal: peak memory independent of
the length.

Usage: python benchmarks/bench_memory.py [--bundle runs/demo/bundle] [--minutes 0.1 30 120]
(``make demo`` writes runs/demo/bundle.)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import cpu_name  # noqa: E402

_SCRIPT = """
import resource, sys, time
import torch
torch.set_num_threads(int(sys.argv[4]))
from graham.inference.predict import load
clf = load(sys.argv[1], device="cpu")
clf.stream_seconds = float(sys.argv[3])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
label = clf.predict(sys.argv[2]).label
print(before / 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, time.perf_counter() - t0, label)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", default="runs/demo/bundle")
    ap.add_argument("--minutes", type=float, nargs="+", default=[0.1, 30.0, 120.0])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import soundfile as sf

    from graham.synth import synthesize_clip

    if not Path(args.bundle, "config.json").exists():
        sys.exit(f"no bundle at {args.bundle}: run `make demo` first or pass --bundle")
    _, y = synthesize_clip("rock", 0, seconds=30.0, seed=5)
    print(f"CPU: {cpu_name()}, {args.threads} threads; peak resident memory [MB] of one prediction in a fresh "
          "process (after loading the bundle: the model's share)")
    print("| file | streamed (graham today) | read whole (before) | streamed, seconds |")
    print("| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as d:
        for minutes in args.minutes:
            path = Path(d) / f"{minutes:g}min.wav"
            with sf.SoundFile(str(path), "w", 22050, 1, subtype="PCM_16") as f:
                left = int(minutes * 60 * 22050)
                while left > 0:
                    f.write(y[:left])
                    left -= min(left, len(y))
            row = {}
            for mode, limit in (("streamed", 60.0), ("whole", float("inf"))):
                out = subprocess.run([sys.executable, "-c", _SCRIPT, args.bundle, str(path), str(limit),
                                      str(args.threads)], capture_output=True, text=True, check=True)
                loaded, peak, seconds, _ = out.stdout.split()
                row[mode] = (float(loaded), float(peak), float(seconds))
            s, w = row["streamed"], row["whole"]
            print(f"| {minutes:g} min | {s[1]:.0f} ({s[1] - s[0]:+.0f}) | {w[1]:.0f} ({w[1] - w[0]:+.0f}) | {s[2]:.1f} |",
                  flush=True)
            path.unlink()


if __name__ == "__main__":
    main()
