"""core.workers: heavy work in worker processes; a dead worker fails its job with a message and is replaced."""

from __future__ import annotations

import os

import numpy as np
import pytest

from core import workers


@pytest.fixture
def fresh_pool(monkeypatch):
    monkeypatch.setenv("CCVAE_HEAVY_SLOTS", "1")
    workers.shutdown()
    yield
    workers.shutdown()


def test_work_runs_in_another_process_at_a_lower_priority(fresh_pool):
    assert workers.run(os.getpid) != os.getpid()
    assert workers.run(os.getpriority, os.PRIO_PROCESS, 0) > os.getpriority(os.PRIO_PROCESS, 0)
    assert workers.run(np.add, np.ones(3), 1).tolist() == [2.0, 2.0, 2.0]  # arrays there and back


def test_a_dead_worker_fails_its_job_and_is_replaced(fresh_pool):
    with pytest.raises(workers.WorkerDied, match="worker process for this job stopped"):
        workers.run(os._exit, 3)
    assert workers.run(os.getpid) != os.getpid()  # the next job gets a fresh worker


def test_the_works_own_error_comes_back_as_it_is(fresh_pool):
    with pytest.raises(ValueError):
        workers.run(int, "not a number")


class Dropped(BaseException):
    pass


def test_a_dropped_job_lets_its_worker_go(fresh_pool):
    import time

    def drop():
        raise Dropped

    with pytest.raises(Dropped):
        workers.run(time.sleep, 30, on_wait=drop)  # the page's session ended while the worker worked
    assert not workers._IDLE  # that worker is not reused: it may still be busy
    assert workers.run(os.getpid) != os.getpid()


def test_progress_goes_to_the_caller_and_its_answer_comes_back(fresh_pool):
    import functools

    seen = []

    def add(total, x):  # runs in this process, between the worker's steps
        seen.append((total, x))
        return total + x

    assert workers.run(functools.reduce, workers.PROGRESS, [1, 2, 3], 10, on_progress=add) == 16
    assert seen == [(10, 1), (11, 2), (13, 3)]  # each step waited for the caller's answer


def test_a_job_dropped_at_a_progress_point_stops_its_worker(fresh_pool):
    import functools

    def drop(total, x):
        raise Dropped

    with pytest.raises(Dropped):
        workers.run(functools.reduce, workers.PROGRESS, range(10), 0, on_progress=drop)
    assert not workers._IDLE
    assert workers.run(functools.reduce, workers.PROGRESS, [2, 3], 1, on_progress=lambda a, b: a * b) == 6


def test_workers_busy_at_once_are_capped(fresh_pool, monkeypatch):
    """heavy_workers + heavy_slots workers at most (here 1 + 1): a third call waits for one of them."""
    import threading
    import time

    monkeypatch.setenv("CCVAE_HEAVY_WORKERS", "1")
    workers.shutdown()
    done, threads = [], [threading.Thread(target=lambda: done.append(workers.run(time.sleep, 1.0) is None)) for _ in range(3)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert done == [True] * 3 and time.perf_counter() - t0 >= 2.0  # two at once, then the third


class Unreadable:
    """Pickles fine here; unpickling it imports a module that does not exist."""

    def __reduce__(self):
        import importlib

        return importlib.import_module, ("no_such_module_of_ccvae",)


def test_a_call_the_worker_cannot_read_fails_alone(fresh_pool):
    with pytest.raises(ModuleNotFoundError):
        workers.run(len, Unreadable())
    assert workers.run(os.getpid) != os.getpid()
