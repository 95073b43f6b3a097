"""One process-wide, bounded pool for heavy work: training, fine-tuning, t-SNE/UMAP maps, large decodes.

On a small server shared by a class, heavy work must not pile up: ``JobPool`` runs at most ``slots``
jobs at a time, in the order they were asked for, and tells each waiting caller how many jobs are
ahead of it. Rules:

- **One heavy job per session** (``owner``): a newer request from the same session replaces its
  request still waiting in the queue, waits while its previous short job finishes, and is refused
  while its long job (training) runs.
- **Same work, one job**: a request with the ``key`` of a job already queued or running joins it
  (two students asking for the same t-SNE share one computation).
- **Bounded memory**: at most ``max_started`` jobs have started and not ended (each holds a worker
  process, paused while it waits for its next turn); a new job waits for one of them to end.
- **Bounded waiting**: at most ``max_queue`` jobs wait; a job not started within ``wait_timeout``
  seconds is refused with a message. Either way the caller gets a ``Busy`` it can show.
- **Jobs take turns**: a running job gives its slot to the next waiting one at its turn points and
  goes to the back of the queue: each ``report(...)`` after ``slice_seconds`` of work (a training or
  fine-tuning step, a t-SNE iteration block). So a t-SNE asked for during five trainings waits for
  slices, not runs.

Each job runs on a thread of its own, started when it first gets a slot, at a lower CPU priority
than the threads that answer clicks; a slot is a turn, not a thread. The work itself runs in a worker
process (``core.workers``) whose progress calls are the job's ``report``: while the job waits for its
turn, its worker waits too. Progress goes from the job to
the caller through ``report(...)`` (called by the work) and ``Job.wait(on_progress=...)`` (called in
the caller's thread), so UI code never runs on a job's thread. Nothing here imports a UI library;
the pages and the Gradio app both use ``pool()``.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from core import settings

Report = Callable[..., None]


class Busy(RuntimeError):
    """The job was refused or dropped (server full, waited too long, replaced, one per session); the
    message is meant for the user."""


SLICE_SECONDS = 1.0  # a job that reports progress hands its slot on after this long (default), if someone waits


class _Dropped(BaseException):
    """Raised inside a job's own thread at a turn point when the job was cancelled or its session ended."""


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
    long: bool = False  # a training: the session cannot queue more while it runs
    slice_start: float = 0.0
    result: Any = None
    error: BaseException | None = None
    cancelled: str = ""  # why, when cancelled
    events: deque = field(default_factory=lambda: deque(maxlen=256))
    done: threading.Event = field(default_factory=threading.Event)

    def report(self, *args) -> None:
        """Called by the work (on the job's thread): pass ``args`` to the waiters' ``on_progress``; also a turn
        point, where the job may hand its slot to a waiting one."""
        if args:
            self.events.append(args)
        if time.monotonic() - self.slice_start >= self.pool.slice_seconds:
            self.pool._turn(self)

    def cancel(self, why: str = "cancelled") -> None:
        """Drop a queued job at once; a running job stops at its next turn point."""
        self.pool._cancel(self, why)

    def ahead(self) -> int | None:
        """Jobs ahead of this one (running, then queued before it); None once it has started."""
        return self.pool._ahead(self)

    def wait(self, *, on_wait: Callable[[int | None], None] | None = None,
             on_progress: Callable[..., None] | None = None, poll: float = 0.25) -> Any:
        """Block until the job is done; return its result or raise its error (``Busy`` when refused).

        Every ``poll`` seconds ``on_wait(jobs ahead, or None once started)`` is called, and each
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


def waiting_text(ahead: int, what: str = "") -> str:
    """What a front end says while a job waits for its turn."""
    return (f"Waiting for the server: {ahead} job{'s' if ahead != 1 else ''} ahead of you" + (f" ({what})." if what else ".")
            + " Heavy jobs take turns so that everyone's pages stay quick.")


def trim_memory() -> None:
    """Hand memory freed by a finished job back to the system (glibc keeps it otherwise, and a server's
    resident size only grows). A no-op where there is no glibc."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _lower_priority(nice: int) -> None:
    """Make the calling thread (and the threads it starts, e.g. OpenMP's) yield the CPU to the
    threads that answer clicks. Linux applies nice values per thread."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except (AttributeError, OSError):  # not Linux, or not allowed: same priority
        pass


class JobPool:
    def __init__(self, slots: int = 1, *, max_queue: int = 32, wait_timeout: float = 300.0, nice: int = 5,
                 slice_seconds: float = SLICE_SECONDS, max_started: int | None = None):
        if slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots}")
        self.slots, self.max_queue, self.wait_timeout, self.nice = slots, max_queue, wait_timeout, nice
        self.max_started = max(slots, max_started if max_started is not None else 4 * slots)
        self.slice_seconds = slice_seconds
        self._cond = threading.Condition()
        self._queue: deque[Job] = deque()  # waiting for a turn, first come first served
        self._running: list[Job] = []  # holding a slot

    # -------------------------------------------------------------------------------------- public

    def submit(self, owner: str, what: str, work: Callable[[Report], Any], *, key: Hashable | None = None,
               alive: Callable[[], bool] | None = None, long: bool = False) -> Job:
        """Queue ``work(report)``; returns the job (or the queued/running job with the same ``key``). A ``long``
        job (a training) keeps its session from queueing another while it runs."""
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
                if not job.started:
                    self._cancel_locked(job, "replaced by your newer request")
            waiting = sum(1 for j in self._queue if not j.started)
            if waiting >= self.max_queue:
                raise Busy(f"The server is full: {waiting} jobs are waiting. Try again in a minute.")
            job = Job(owner, what, work, key, alive, time.monotonic() + self.wait_timeout, self, long=long)
            self._queue.append(job)
            self._dispatch()
            return job

    def run(self, owner: str, what: str, work: Callable[[Report], Any], **wait_options) -> Any:
        """``submit`` and ``wait`` in one call."""
        return self.submit(owner, what, work).wait(**wait_options)

    def status(self) -> dict[str, int]:
        with self._cond:
            return {"running": len(self._running), "queued": len(self._queue), "slots": self.slots}

    # ------------------------------------------------------------------------------------ internal

    def _eligible(self, job: Job) -> bool:
        """A job that has started may always take its next turn; a new one waits while its session runs another,
        and while ``max_started`` jobs have started."""
        if job.started:
            return True
        active = [j for j in list(self._running) + list(self._queue) if j.started]
        return len(active) < self.max_started and not any(j.owner == job.owner for j in active)

    def _dispatch(self) -> None:
        """Give free slots to the first eligible waiting jobs (call with the lock held); wake the jobs waiting for
        their next turn only when one got a slot (waking them for nothing would keep them busy waking each other)."""
        now = time.monotonic()
        for job in list(self._queue):
            if not job.started and now > job.deadline:
                self._expire_locked(job)
        moved = False
        for job in list(self._queue):
            if len(self._running) >= self.slots:
                break
            if not self._eligible(job):
                continue
            self._queue.remove(job)
            self._running.append(job)
            job.state, job.slice_start, moved = "running", time.monotonic(), True
            if not job.started:
                job.started = True
                threading.Thread(target=self._run_job, args=(job,), name=f"ccvae-job-{job.what[:20]}",
                                 daemon=True).start()
        if moved:
            self._cond.notify_all()

    def _turn(self, job: Job) -> None:
        """A turn point on the job's own thread: stop if dropped; hand the slot on if anyone eligible waits."""
        with self._cond:
            if job.cancelled or (job.alive is not None and not job.alive()):
                raise _Dropped(job.cancelled or "dropped: the session ended")
            if not any(self._eligible(j) for j in self._queue if j is not job):
                job.slice_start = time.monotonic()
                return
            self._running.remove(job)
            job.state = "queued"
            self._queue.append(job)
            self._dispatch()
            while job.state != "running":
                if not self._cond.wait(timeout=1.0):
                    self._dispatch()  # a second without news: expire old jobs, as nothing else may

    def _run_job(self, job: Job) -> None:
        _lower_priority(self.nice)
        result, error = None, None
        try:
            result = job.work(job.report)
        except _Dropped as why:
            error = Busy(f"Your job ({job.what}) was {why}.")
        except BaseException as err:  # the work's own error goes to its waiters  # noqa: BLE001
            error = err
        trim_memory()
        with self._cond:
            if job in self._running:
                self._running.remove(job)
            self._finish(job, result=result, error=error)
            self._dispatch()

    def _ahead(self, job: Job) -> int | None:
        with self._cond:
            if job.started or job.state != "queued":
                return None
            if job not in self._queue:
                return 0
            return len(self._running) + list(self._queue).index(job)

    def _cancel(self, job: Job, why: str) -> None:
        with self._cond:
            self._cancel_locked(job, why)

    def _cancel_locked(self, job: Job, why: str) -> None:
        job.cancelled = why
        if not job.started and job in self._queue:
            self._queue.remove(job)
            self._finish(job, error=Busy(f"Your job ({job.what}) was {why}."))

    def _expire(self, job: Job) -> None:
        with self._cond:
            if not job.started and job in self._queue:
                self._expire_locked(job)

    def _expire_locked(self, job: Job) -> None:
        ahead = len(self._running) + list(self._queue).index(job)
        self._queue.remove(job)
        self._finish(job, error=Busy(f"The server is busy: {ahead} job{'s' if ahead != 1 else ''} still ahead of "
                                     f"yours ({job.what}) after {self.wait_timeout:.0f} s. Try again in a few minutes."))

    def _finish(self, job: Job, *, result: Any = None, error: BaseException | None = None) -> None:
        job.result, job.error, job.state = result, error, "done"
        job.done.set()
        self._cond.notify_all()


_POOL: JobPool | None = None
_POOL_LOCK = threading.Lock()


def pool() -> JobPool:
    """The process's pool, sized by ``core.settings``: CCVAE_HEAVY_SLOTS (default: half the CPU cores,
    at least 1), CCVAE_HEAVY_WORKERS (4 per slot: jobs started at once, each a worker process), CCVAE_JOB_QUEUE
    (32 waiting jobs), CCVAE_JOB_TIMEOUT (300 s to start), CCVAE_HEAVY_NICE (5: how much lower the jobs' CPU
    priority is)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            now = settings.current()
            _POOL = JobPool(now.heavy_slots, max_queue=now.job_queue, wait_timeout=now.job_timeout, nice=now.heavy_nice,
                            max_started=now.heavy_workers)
        return _POOL
