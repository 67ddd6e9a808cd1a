import threading
import time

import pytest

from graham.utils.parallel import map_ahead


def test_results_come_in_order_whatever_finishes_first():
    delays = [0.05, 0.0, 0.03, 0.0, 0.01, 0.0]
    out = list(map_ahead(lambda d: (time.sleep(d), d)[1], delays, workers=3))
    assert out == [(d, d) for d in delays]


def test_at_most_ahead_items_are_started_before_the_consumer_takes_them():
    started, lock = [0], threading.Lock()

    def work(i):
        with lock:
            started[0] += 1
        return i

    seen = []
    for i, _ in map_ahead(work, range(20), workers=2, ahead=3):
        time.sleep(0.01)  # a slow consumer: the workers must wait for it
        with lock:
            seen.append(started[0] - i - 1)  # started but not yet consumed, besides this one
    assert max(seen) <= 3 and len(seen) == 20


def test_an_exception_in_the_work_is_raised_to_the_consumer():
    def work(i):
        if i == 2:
            raise ValueError("bad item 2")
        return i

    with pytest.raises(ValueError, match="bad item 2"):
        list(map_ahead(work, range(5), workers=2))
