"""Work on threads ahead of a consumer, in order, with a bound on what waits.

``ThreadPoolExecutor.map`` submits every item at once: when the consumer is slower than the
workers (log-mels and networks after decoding), finished results pile up, a decoded song
each. :func:`map_ahead` keeps at most ``ahead`` items submitted or waiting.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

__all__ = ["map_ahead"]

T = TypeVar("T")
R = TypeVar("R")


def map_ahead(fn: Callable[[T], R], items: Iterable[T], *, workers: int = 2, ahead: int | None = None) -> Iterator[tuple[T, R]]:
    """``(item, fn(item))`` for every item, in the order given; ``fn`` runs on ``workers``
    threads at most ``ahead`` items (default ``2 * workers``) ahead of the consumer. ``fn``
    should return its failures as values: an exception it raises is raised here."""
    workers = max(1, workers)
    ahead = max(1, ahead or 2 * workers)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        todo = iter(items)
        for item in todo:
            pending.append((item, pool.submit(fn, item)))
            if len(pending) >= ahead:
                break
        while pending:
            item, fut = pending.popleft()
            for nxt in todo:  # at most one: the next item takes the place of the one handed out
                pending.append((nxt, pool.submit(fn, nxt)))
                break
            yield item, fut.result()


