"""Start-up time of the ``graham`` command (issue 21): wall time from launch to exit, median of
``--repeats`` fresh processes, for help, argument errors and one prediction from a cold start;
beside ``python -c "import torch"`` measured in the same run, the floor of anything that
needs torch. Goal: help and any argument error under 2 s.

Usage: python benchmarks/bench_startup.py [--bundle runs/demo/bundle] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import cpu_name  # noqa: E402


def _wall(cmd: list[str], repeats: int, env: dict) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", default="runs/demo/bundle")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import soundfile as sf

    from graham.synth import synthesize_clip

    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    graham = [sys.executable, "-m", "graham.cli"]
    with tempfile.TemporaryDirectory() as d:
        song = Path(d) / "song.wav"
        _, y = synthesize_clip("jazz", 0, seconds=30.0, seed=1)
        sf.write(str(song), y, 22050)
        rows = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ('python -c "import torch" (reference)', [sys.executable, "-c", "import torch"]),
            ("graham --help", graham + ["--help"]),
            ("graham train --help", graham + ["train", "--help"]),
            ("graham train mp3:/x (unknown kind)", graham + ["train", "mp3:/x", "--out", f"{d}/run"]),
            ("graham train synthetic --method randomforest", graham + ["train", "synthetic", "--method", "randomforest",
                                                                       "--out", f"{d}/run"]),
            ("graham predict NO-BUNDLE song.wav", graham + ["predict", f"{d}/none", str(song)]),
            ("graham serve --port 99999", graham + ["serve", f"{d}/none", "--port", "99999"]),
        ]
        if Path(args.bundle, "config.json").exists():
            rows.append(("graham predict BUNDLE song.wav (one 30-s file, cold)", graham + ["predict", args.bundle,
                                                                                           str(song)]))
        print(f"CPU: {cpu_name()}; median of {args.repeats} fresh processes, {args.threads} threads")
        print("| command | seconds |")
        print("| --- | --- |")
        for name, cmd in rows:
            print(f"| `{name}` | {_wall(cmd, args.repeats, env):.2f} |", flush=True)


if __name__ == "__main__":
    main()
