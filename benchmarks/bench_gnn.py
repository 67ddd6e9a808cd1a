"""GNN layer cost on the complete graph: graham's exact sorted path against two references on
the explicit complete graph: the very same GrahAM network run through its own PyG
``MessagePassing`` path (the same operator and weights: the fair reference) and PyG's EdgeConv
(same widths); then graham alone at large N.

Each configuration runs in its own child process, so its peak memory (max RSS above the
child's baseline) is its own. Prints per-epoch time (forward + backward + Adam step of a
2-layer network, median of repeats) and peak memory, and the speed ratio.
Usage: python benchmarks/bench_gnn.py [--threads 2] [--sizes 500 1000] [--large 10000 100000]
"""

from __future__ import annotations

import argparse
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import median_time, run_in_child, set_threads  # noqa: E402

D, H, CLASSES = 128, 64, 10


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(kind: str, n: int, threads: int, repeats: int, q) -> None:
    set_threads(threads)
    import torch
    from torch import nn

    torch.manual_seed(0)
    x = torch.randn(n, D)
    y = torch.randint(0, CLASSES, (n,))
    if kind == "graham":
        from graham.nn import GNNConfig, GrahamGNN

        model = GrahamGNN(D, CLASSES, GNNConfig(hidden=H, layers=2, gamma_layers=2, dropout=0.0))
        forward = lambda: model(x)  # noqa: E731
    elif kind == "message_passing":
        from graham.nn import GNNConfig, GrahamGNN, complete_edge_index
        from graham.nn.graphs import Graph

        model = GrahamGNN(D, CLASSES, GNNConfig(hidden=H, layers=2, gamma_layers=2, dropout=0.0))
        graph = Graph(complete_edge_index(n))
        forward = lambda: model(x, graph)  # noqa: E731
    else:
        from torch_geometric.nn import EdgeConv

        from graham.nn import complete_edge_index

        ei = complete_edge_index(n)

        class EdgeNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.c1 = EdgeConv(nn.Sequential(nn.Linear(2 * D, H), nn.ReLU(), nn.Linear(H, H)), aggr="mean")
                self.c2 = EdgeConv(nn.Sequential(nn.Linear(2 * H, H), nn.ReLU(), nn.Linear(H, H)), aggr="mean")
                self.out = nn.Linear(H, CLASSES)

            def forward(self, x):
                return self.out(torch.relu(self.c2(torch.relu(self.c1(x, ei)), ei)))

        model = EdgeNet()
        forward = lambda: model(x)  # noqa: E731
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    base = _rss_mb()

    def epoch():
        loss = nn.functional.cross_entropy(forward(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    t = median_time(epoch, repeats=repeats, warmup=1)
    q.put((t, _rss_mb() - base))


def measure(kind: str, n: int, threads: int, repeats: int) -> tuple[float, float]:
    return run_in_child(_child, kind, n, threads, repeats)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", type=int, nargs="*", default=[500, 1000])
    ap.add_argument("--large", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"2-layer network, d={D}, hidden={H}, mean aggregation, threads={args.threads}; "
          f"per epoch = forward + backward + Adam step, median")
    for n in args.sizes:
        tg, mg = measure("graham", n, args.threads, args.repeats)
        tm, mm = measure("message_passing", n, args.threads, max(1, min(args.repeats, 3)))
        te, me = measure("edgeconv", n, args.threads, max(1, min(args.repeats, 3)))
        print(f"N={n:>6}: graham {1000 * tg:8.1f} ms/epoch, {mg:7.0f} MB | the same GrahAM net by PyG message passing "
              f"({n * (n - 1):,} edges) {1000 * tm:9.1f} ms/epoch, {mm:7.0f} MB, ratio {tm / tg:5.0f}x | "
              f"PyG EdgeConv {1000 * te:9.1f} ms/epoch, {me:7.0f} MB, ratio {te / tg:5.0f}x | "
              f"1000 epochs ~{1000 * tg:.0f} s")
    for n in args.large:
        tg, mg = measure("graham", n, args.threads, 3)
        print(f"N={n:>6}: graham {1000 * tg:8.1f} ms/epoch, {mg:7.0f} MB peak above baseline (exact complete graph)")


if __name__ == "__main__":
    main()
