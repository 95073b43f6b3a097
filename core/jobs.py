"""One process-wide, bounded pool for heavy work: training, fine-tuning, t-SNE/UMAP maps, large decodes.

On a small server shared by a class, heavy work must not pile up: ``JobPool`` runs at most ``slots``
jobs at a time on its own worker threads (at a lower CPU priority than the threads that answer
clicks), in the order they were asked for, and tells each waiting caller how many jobs are ahead of
it. Rules:

- **One heavy job per session** (``owner``): a newer request from the same session replaces its
  request still waiting in the queue, waits while its previous short job finishes, and is refused
  while its long job (training) runs.
- **Same work, one job**: a request with the ``key`` of a job already queued or running joins it
  (two students asking for the same t-SNE share one computation).
- **Bounded waiting**: at most ``max_queue`` jobs wait; a job not started within ``wait_timeout``
  seconds is refused with a message. Either way the caller gets a ``Busy`` it can show.
- **Long jobs take turns**: ``work`` may return an iterator; each ``next()`` is one slice (about a
  second of training), after which the job goes to the back of the queue, so a t-SNE asked for
  during five trainings waits for slices, not for whole runs.

Progress goes from the worker to the caller through ``report(...)`` (called by the work) and
``Job.wait(on_progress=...)`` (called in the caller's thread), so UI code never runs on a worker.
Nothing here imports a UI library; the pages and the Gradio app both use ``pool()``.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

Report = Callable[..., None]


class Busy(RuntimeError):
    """The job was refused or dropped (server full, waited too long, replaced, one per session); the
    message is meant for the user."""


@dataclass(eq=False)
class Job:
    owner: str
    what: str  # in words, for messages: "t-SNE of 10,000 codes"
    work: Callable[[Report], Any]
    key: Hashable | None
    alive: Callable[[], bool] | None  # False once the owner's session is gone: the job is dropped
    deadline: float  # monotonic time by which it must have started
    pool: JobPool = field(repr=False)
    state: str = "queued"  # queued | running | done
    started: bool = False
    iterator: Iterator | None = None  # a long job's slices
    result: Any = None
    error: BaseException | None = None
    cancelled: str = ""  # why, when cancelled
    events: deque = field(default_factory=lambda: deque(maxlen=256))
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def long(self) -> bool:
        return self.iterator is not None

    def report(self, *args) -> None:
        """Called by the work (on a worker thread): pass ``args`` to the waiters' ``on_progress``."""
        self.events.append(args)

    def cancel(self, why: str = "cancelled") -> None:
        """Drop a queued job at once; a running long job stops after its current slice."""
        self.pool._cancel(self, why)

    def ahead(self) -> int | None:
        """Jobs ahead of this one (running, then queued before it); None once it runs."""
        return self.pool._ahead(self)

    def wait(self, *, on_wait: Callable[[int | None], None] | None = None,
             on_progress: Callable[..., None] | None = None, poll: float = 0.25) -> Any:
        """Block until the job is done; return its result or raise its error (``Busy`` when refused).

        Every ``poll`` seconds ``on_wait(jobs ahead, or None while running)`` is called, and each
        ``report(...)`` of the work reaches ``on_progress(...)``, both in this thread."""
        while not self.done.wait(poll):
            self._deliver(on_progress)
            if self.state == "queued" and not self.started and time.monotonic() > self.deadline:
                self.pool._expire(self)
                continue
            if on_wait is not None:
                on_wait(self.ahead())
        self._deliver(on_progress)
        if self.error is not None:
            raise self.error
        return self.result

    def _deliver(self, on_progress) -> None:
        while self.events:
            args = self.events.popleft()
            if on_progress is not None:
                on_progress(*args)


def _lower_priority(nice: int) -> None:
    """Make the calling thread (and the threads it starts, e.g. OpenMP's) yield the CPU to the
    threads that answer clicks. Linux applies nice values per thread."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except (AttributeError, OSError):  # not Linux, or not allowed: same priority
        pass


class JobPool:
    def __init__(self, slots: int = 1, *, max_queue: int = 32, wait_timeout: float = 300.0, nice: int = 10):
        if slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots}")
        self.slots, self.max_queue, self.wait_timeout, self.nice = slots, max_queue, wait_timeout, nice
        self._cond = threading.Condition()
        self._queue: deque[Job] = deque()
        self._running: list[Job] = []
        self._workers: list[threading.Thread] = []

    # -------------------------------------------------------------------------------------- public

    def submit(self, owner: str, what: str, work: Callable[[Report], Any], *, key: Hashable | None = None,
               alive: Callable[[], bool] | None = None) -> Job:
        """Queue ``work(report)``; returns the job (or the queued/running job with the same ``key``)."""
        with self._cond:
            active = list(self._running) + list(self._queue)
            if key is not None:
                for job in active:
                    if job.key == key and not job.cancelled:
                        return job
            for job in active:
                if job.owner != owner:
                    continue
                if job.long:
                    raise Busy(f"You already have a job running ({job.what}). One heavy job per session: wait for "
                               "it to finish, or stop it.")
                if job.state == "queued":
                    self._cancel_locked(job, "replaced by your newer request")
            waiting = sum(1 for j in self._queue if not j.started)
            if waiting >= self.max_queue:
                raise Busy(f"The server is full: {waiting} jobs are waiting. Try again in a minute.")
            job = Job(owner, what, work, key, alive, time.monotonic() + self.wait_timeout, self)
            self._queue.append(job)
            while len(self._workers) < self.slots:
                worker = threading.Thread(target=self._work_loop, name=f"ccvae-heavy-{len(self._workers)}", daemon=True)
                self._workers.append(worker)
                worker.start()
            self._cond.notify_all()
            return job

    def run(self, owner: str, what: str, work: Callable[[Report], Any], **wait_options) -> Any:
        """``submit`` and ``wait`` in one call."""
        return self.submit(owner, what, work).wait(**wait_options)

    def status(self) -> dict[str, int]:
        with self._cond:
            return {"running": len(self._running), "queued": len(self._queue), "slots": self.slots}

    # ------------------------------------------------------------------------------------ internal

    def _ahead(self, job: Job) -> int | None:
        with self._cond:
            if job.state != "queued" or job.started:
                return None
            if job not in self._queue:
                return 0
            return len(self._running) + list(self._queue).index(job)

    def _cancel(self, job: Job, why: str) -> None:
        with self._cond:
            self._cancel_locked(job, why)

    def _cancel_locked(self, job: Job, why: str) -> None:
        job.cancelled = why
        if job.state == "queued" and job in self._queue and not job.started:
            self._queue.remove(job)
            self._finish(job, error=Busy(f"Your job ({job.what}) was {why}."))

    def _expire(self, job: Job) -> None:
        with self._cond:
            if job.state == "queued" and not job.started and job in self._queue:
                self._expire_locked(job)

    def _finish(self, job: Job, *, result: Any = None, error: BaseException | None = None) -> None:
        job.result, job.error, job.state = result, error, "done"
        job.done.set()
        self._cond.notify_all()

    def _next_job(self) -> Job:
        """The first queued job whose owner runs nothing else (waits for one)."""
        with self._cond:
            while True:
                now = time.monotonic()
                for job in list(self._queue):
                    if not job.started and now > job.deadline:
                        self._expire_locked(job)
                busy_owners = {j.owner for j in self._running}
                for job in self._queue:
                    if job.started or job.owner not in busy_owners:
                        self._queue.remove(job)
                        self._running.append(job)
                        job.state = "running"
                        return job
                self._cond.wait(timeout=1.0)

    def _expire_locked(self, job: Job) -> None:
        ahead = len(self._running) + list(self._queue).index(job)
        self._queue.remove(job)
        self._finish(job, error=Busy(f"The server is busy: {ahead} job{'s' if ahead != 1 else ''} still ahead of "
                                     f"yours ({job.what}) after {self.wait_timeout:.0f} s. Try again in a few minutes."))

    def _work_loop(self) -> None:
        _lower_priority(self.nice)
        while True:
            job = self._next_job()
            finished, result, error = False, None, None
            try:
                if job.cancelled or (job.alive is not None and not job.alive()):
                    if job.iterator is not None:
                        job.iterator.close()
                    finished, error = True, Busy(f"Your job ({job.what}) was {job.cancelled or 'dropped: the session ended'}.")
                else:
                    if not job.started:
                        job.started = True
                        out = job.work(job.report)
                        if isinstance(out, Iterator):
                            job.iterator = out
                        else:
                            finished, result = True, out
                    if job.iterator is not None:
                        try:
                            next(job.iterator)
                        except StopIteration as stop:
                            finished, result = True, stop.value
            except BaseException as err:  # the work's own error goes to its waiters  # noqa: BLE001
                finished, error = True, err
            with self._cond:
                self._running.remove(job)
                if finished:
                    self._finish(job, result=result, error=error)
                else:  # a long job's slice: to the back of the queue
                    job.state = "queued"
                    self._queue.append(job)
                    self._cond.notify_all()


_POOL: JobPool | None = None
_POOL_LOCK = threading.Lock()


def pool() -> JobPool:
    """The process's pool. Sizes from the environment: CCVAE_HEAVY_SLOTS (default: half the CPU cores,
    at least 1), CCVAE_JOB_QUEUE (32 waiting jobs), CCVAE_JOB_TIMEOUT (300 s to start)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = JobPool(int(os.environ.get("CCVAE_HEAVY_SLOTS", max(1, (os.cpu_count() or 2) // 2))),
                            max_queue=int(os.environ.get("CCVAE_JOB_QUEUE", 32)),
                            wait_timeout=float(os.environ.get("CCVAE_JOB_TIMEOUT", 300)))
        return _POOL
