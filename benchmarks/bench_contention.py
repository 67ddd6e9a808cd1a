"""Two jobs on the same cores: how much each slows, with torch's thread defaults and with
graham's (``graham.utils.threads.configure_threads``: threads from the affinity mask and cgroup
quota, ``OMP_WAIT_POLICY=PASSIVE``).

Each job is a child process doing a fixed amount of training work: Siamese steps of the
``cpu`` preset (a batch of 32 clips, 3-s crops, pairs from the batch) and epochs of the default
GNN on 2,000 nodes. Per setting it times the job alone, then two identical jobs started
together. Two jobs sharing the cores should take about 2x as long as one alone (each gets half
the CPU); anything far above 2x is oversubscription. Medians of the repeats, and each repeat's
slowdown: spinning threads make the shared case erratic.
Usage: python benchmarks/bench_contention.py [--steps 12] [--repeats 3] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

_CHILD = r"""
import json, os, sys, time
settings = sys.argv[1]
if settings == "graham":
    from graham.utils.threads import configure_threads
    configure_threads()
import numpy as np
import torch
from torch import nn
from graham.nn import PRESETS, SiameseNet, GNNConfig, GrahamGNN
from graham.train.pairs import sample_pairs

steps = int(sys.argv[2])
torch.manual_seed(0)
model = SiameseNet(PRESETS["cpu"])
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
labels = np.repeat(np.arange(8), 4)
x = torch.randn(len(labels), 128, 130)
i, j, y = (torch.from_numpy(a) for a in sample_pairs(labels, np.random.default_rng(0)))
gnn = GrahamGNN(128, 10, GNNConfig())
gopt = torch.optim.Adam(gnn.parameters(), lr=3e-4)
gx, gy = torch.randn(2000, 128), torch.randint(0, 10, (2000,))

def work():
    for _ in range(steps):
        loss = nn.functional.binary_cross_entropy_with_logits(model.pair_logits(model.embed(x), i, j), y)
        opt.zero_grad(); loss.backward(); opt.step()
    for _ in range(10 * steps):
        loss = nn.functional.cross_entropy(gnn(gx), gy)
        gopt.zero_grad(); loss.backward(); gopt.step()

work_steps = steps
steps = 1; work(); steps = work_steps  # warm-up: allocator, oneDNN primitives
t0 = time.perf_counter(); work(); t = time.perf_counter() - t0
print(json.dumps({"seconds": t, "threads": torch.get_num_threads(),
                  "wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)")}))
"""

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY")


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in _THREAD_VARS}


def _run(settings: str, jobs: int, steps: int) -> list[dict]:
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, settings, str(steps)], stdout=subprocess.PIPE,
                              text=True, env=_env()) for _ in range(jobs)]
    outs = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"child failed ({settings}, {jobs} jobs)")
        outs.append(json.loads(out.strip().splitlines()[-1]))
    return outs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=12, help="Siamese steps per job (and 10x as many GNN epochs)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2, help="jobs started together in the shared case")
    args = ap.parse_args()
    cpu = "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"{cpu}, {len(os.sched_getaffinity(0))} CPUs in the affinity mask; each job: {args.steps} Siamese steps "
          f"+ {10 * args.steps} GNN epochs; median of {args.repeats}")
    print(f"{'settings':<10} {'threads':>7} {'wait policy':>12} {'alone [s]':>10} {f'{args.jobs} jobs [s]':>11} "
          f"{'slowdown':>9}")
    for settings in ("default", "graham"):
        alone, shared, info = [], [], None
        for _ in range(args.repeats):  # interleave alone and shared runs, so drift hits both alike
            one = _run(settings, 1, args.steps)[0]
            info = one
            alone.append(one["seconds"])
            many = _run(settings, args.jobs, args.steps)
            shared.append(statistics.median(o["seconds"] for o in many))
        a, s = statistics.median(alone), statistics.median(shared)
        spread = ", ".join(f"{t / a:.1f}x" for t in shared)
        print(f"{settings:<10} {info['threads']:>7} {info['wait_policy']:>12} {a:>10.2f} {s:>11.2f} {s / a:>8.1f}x"
              f"   (each repeat: {spread})")
    print(f"fair share: {args.jobs:.1f}x (each of {args.jobs} jobs gets 1/{args.jobs} of the CPUs)")


if __name__ == "__main__":
    main()
