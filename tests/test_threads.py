"""ui.threads.map_in_threads: the page's results in order, errors raised, Streamlit's caches usable."""
import threading
import time

import pytest

from ui.threads import map_in_threads


def test_results_come_back_in_order_from_more_than_one_thread():
    seen = set()

    def slow_square(x):
        seen.add(threading.get_ident())
        time.sleep(0.05 if x % 2 else 0.0)  # the odd ones finish last
        return x * x

    assert map_in_threads(slow_square, range(6), workers=2) == [0, 1, 4, 9, 16, 25]
    assert len(seen) == 2
    assert map_in_threads(slow_square, [3], workers=2) == [9]
    assert map_in_threads(slow_square, [], workers=2) == []


def test_the_first_error_is_raised():
    def boom(x):
        if x == 2:
            raise ValueError("face 2 failed")
        return x

    with pytest.raises(ValueError, match="face 2 failed"):
        map_in_threads(boom, range(4), workers=2)
