"""The heavy-job pool (core.jobs): bounded, in order, one job per session, shared keys, bounded waiting."""

from __future__ import annotations

import threading
import time

import pytest

from core.jobs import Busy, JobPool


def blocker():
    """A job that runs until released, and an event set once it has started."""
    started, release = threading.Event(), threading.Event()

    def work(report):
        started.set()
        release.wait(10)
        return "done"
    return work, started, release


def test_never_more_jobs_at_once_than_slots_and_in_order():
    pool = JobPool(2, wait_timeout=30)
    running, peak, order, lock = [0], [0], [], threading.Lock()

    def work(i):
        def run(report):
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
                order.append(i)
            time.sleep(0.05)
            with lock:
                running[0] -= 1
            return i
        return run

    jobs = [pool.submit(f"user{i}", f"job {i}", work(i)) for i in range(8)]
    assert [j.wait() for j in jobs] == list(range(8))
    assert peak[0] == 2
    assert order[:2] == [0, 1] or sorted(order[:2]) == [0, 1]
    assert order[2:] == sorted(order[2:])  # first come, first served


def test_a_waiting_job_reports_how_many_jobs_are_ahead():
    pool = JobPool(1, wait_timeout=30)
    work, started, release = blocker()
    first = pool.submit("a", "first", work)
    started.wait(5)
    second = pool.submit("b", "second", lambda report: 2)
    third = pool.submit("c", "third", lambda report: 3)
    assert (first.ahead(), second.ahead(), third.ahead()) == (None, 1, 2)  # "2 jobs ahead of you"
    seen = []
    threading.Timer(0.5, release.set).start()
    assert third.wait(on_wait=seen.append, poll=0.05) == 3
    assert seen[0] == 2 and set(seen) <= {2, 1, 0, None}


def test_a_job_that_cannot_start_in_time_is_refused_with_a_message():
    pool = JobPool(1, wait_timeout=0.3)
    work, started, release = blocker()
    pool.submit("a", "a long fine-tune", work)
    started.wait(5)
    late = pool.submit("b", "a t-SNE", lambda report: 1)
    with pytest.raises(Busy, match=r"The server is busy: 1 job still ahead of yours \(a t-SNE\) after 0 s"):
        late.wait(poll=0.05)
    release.set()


def test_a_full_queue_refuses_at_once():
    pool = JobPool(1, max_queue=2, wait_timeout=30)
    work, started, release = blocker()
    pool.submit("a", "running", work)
    started.wait(5)
    pool.submit("b", "waiting 1", lambda report: 1)
    pool.submit("c", "waiting 2", lambda report: 2)
    with pytest.raises(Busy, match="The server is full: 2 jobs are waiting"):
        pool.submit("d", "one too many", lambda report: 3)
    release.set()


def test_one_job_per_session_a_newer_request_replaces_the_waiting_one():
    pool = JobPool(1, wait_timeout=30)
    work, started, release = blocker()
    pool.submit("other", "running", work)
    started.wait(5)
    old = pool.submit("me", "t-SNE", lambda report: "old")
    new = pool.submit("me", "UMAP", lambda report: "new")
    with pytest.raises(Busy, match=r"Your job \(t-SNE\) was replaced by your newer request"):
        old.wait(poll=0.05)
    release.set()
    assert new.wait() == "new"


def test_one_job_per_session_waits_for_its_short_job_and_refuses_during_its_long_one():
    pool = JobPool(2, wait_timeout=30)
    work, started, release = blocker()
    first = pool.submit("me", "fine-tune", work)
    started.wait(5)
    second = pool.submit("me", "t-SNE", lambda report: "second")
    time.sleep(0.3)
    assert second.state == "queued"  # a free slot, but the session already runs a job
    release.set()
    assert first.wait() == "done" and second.wait() == "second"

    stop = threading.Event()

    def training(report):
        while not stop.is_set():
            time.sleep(0.01)
            report()
        return "trained"

    long = pool.submit("me", "training", training, long=True)
    while not long.started:
        time.sleep(0.01)
    with pytest.raises(Busy, match=r"You already have a job running \(training\)"):
        pool.submit("me", "t-SNE", lambda report: 1)
    stop.set()
    assert long.wait() == "trained"


def test_long_jobs_take_turns_with_short_ones():
    """Two trainings sliced; a t-SNE asked for meanwhile runs after one slice, not after a whole training."""
    pool = JobPool(1, wait_timeout=30, slice_seconds=0.02)
    log, stop = [], threading.Event()

    def training(name):
        def run(report):
            for _ in range(1000):
                if stop.is_set():
                    return name
                log.append(name)
                time.sleep(0.005)
                report()
        return run

    a = pool.submit("a", "training a", training("a"), long=True)
    b = pool.submit("b", "training b", training("b"), long=True)
    time.sleep(0.1)
    quick = pool.submit("c", "t-SNE", lambda report: log.append("tsne") or "map")
    assert quick.wait(poll=0.01) == "map"
    stop.set()
    a.wait(), b.wait()
    assert {"a", "b"} <= set(log[: log.index("tsne")])  # the trainings alternated before it
    assert len(log[: log.index("tsne")]) < 200  # and it did not wait for either to finish


def test_same_key_joins_the_running_job_and_progress_reaches_the_waiter():
    pool = JobPool(1, wait_timeout=30)
    calls = []

    def work(report):
        calls.append(1)
        for i in range(3):
            report(i)
            time.sleep(0.05)
        return "map"

    first = pool.submit("a", "t-SNE", work, key=("map", 1))
    second = pool.submit("b", "t-SNE", work, key=("map", 1))
    assert second is first
    seen = []
    assert second.wait(on_progress=seen.append, poll=0.01) == "map"
    assert calls == [1] and seen == [0, 1, 2]


def test_errors_reach_the_caller_and_a_dead_session_is_dropped():
    pool = JobPool(1, wait_timeout=30)

    def fails(report):
        raise FloatingPointError("NaN at step 3")
    with pytest.raises(FloatingPointError, match="NaN at step 3"):
        pool.submit("a", "fine-tune", fails).wait()

    alive = [True]

    def training(report):
        while True:
            time.sleep(0.01)
            report()

    job = pool.submit("a", "training", training, alive=lambda: alive[0], long=True)
    time.sleep(0.1)
    alive[0] = False  # the browser tab was closed
    with pytest.raises(Busy, match="the session ended"):
        job.wait(poll=0.05)


def test_worker_threads_run_at_a_lower_priority():
    import os

    pool = JobPool(1, nice=5)
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    theirs = pool.submit("a", "x", lambda report: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())).wait()
    assert theirs == min(19, mine + 5)


def test_a_job_that_reports_progress_hands_its_slot_on():
    """Fine-tuning and t-SNE report progress; after slice_seconds of work a report lets a waiting job in."""
    pool = JobPool(1, wait_timeout=30, slice_seconds=0.05)
    log, stop = [], threading.Event()

    def fine_tune(report):
        for step in range(2000):
            if stop.is_set():
                break
            log.append("fine-tune")
            time.sleep(0.002)
            report(step)
        return "tuned"

    tuning = pool.submit("a", "fine-tune", fine_tune)
    time.sleep(0.1)
    assert pool.submit("b", "t-SNE", lambda report: log.append("tsne") or "map").wait(poll=0.01) == "map"
    assert not tuning.done.is_set() and log.index("tsne") > 0  # it ran in the middle of the fine-tune
    stop.set()
    assert tuning.wait() == "tuned"


def test_jobs_started_at_once_are_capped():
    """Each started job holds a worker process: past max_started a new job waits, even while the others take turns."""
    pool = JobPool(1, wait_timeout=30, slice_seconds=0.01, max_started=2)
    stop, log = threading.Event(), []

    def training(name):
        def run(report):
            log.append(name)
            while not stop.is_set():
                time.sleep(0.005)
                report()
            return name
        return run

    a = pool.submit("a", "training a", training("a"), long=True)
    b = pool.submit("b", "training b", training("b"), long=True)
    c = pool.submit("c", "t-SNE", training("c"))
    time.sleep(0.3)
    assert sorted(log) == ["a", "b"] and not c.started  # a and b take turns; c waits for one of them to end
    stop.set()
    assert (a.wait(), b.wait(), c.wait()) == ("a", "b", "c")
