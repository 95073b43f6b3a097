"""Heavy work in worker processes, so that it never holds the server's interpreter while a click is answered.

``run(fn, *args)`` calls ``fn`` in a worker process and returns its result. An argument given as ``PROGRESS``
becomes, in the worker, a callback that sends its arguments to the caller's ``on_progress`` and returns
what that returns (the worker waits for it): a training step's losses go to the page, and the answer
("go on" or "stop") comes back; a job of ``core.jobs`` passes its ``report`` there, so each progress
message is a turn point where the job may wait for its next turn, its worker paused meanwhile. Workers are plain
``python -m core.workers`` children (never a fork of the server, and they never import the server's main
script: a Streamlit page is ``__main__`` while it runs, which ``multiprocessing``'s spawn would re-run in
the child), started on demand, kept for the next job (their imports stay warm), at most
``Settings.heavy_slots`` idle at a time. Each runs at a lower OS priority than the server
(``Settings.heavy_nice``) with one thread for torch and numpy. ``fn`` and its arguments must be picklable:
a module-level function over arrays, paths and strings.

A worker that dies (out of memory, a crash in a native library) fails the job it was running with
``WorkerDied``, whose message is meant for the user; it is dropped, and the next job gets a fresh one. The
queue rules (turns, one job per session, bounded waiting, shared identical jobs, a closed tab dropping its
job) stay with ``core.jobs``: a job of that pool calls ``run`` and waits for it.

Used by every heavy job: Train live's training (``core.features.live``), few-shot fine-tuning
(``core.features.photos``), the latent map's t-SNE / UMAP (``core.features.maps``) and large decodes
(``core.features.grids``, ``core.features.codes``). What comes back (a model, a picture) is the
worker's copy; the session that asked keeps it.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import settings
from core.jobs import Busy

POLL_SECONDS = 1.0
ROOT = Path(__file__).resolve().parents[1]
_HEADER = struct.Struct("!Q")


class _Progress:
    """The type of ``PROGRESS``: pickled by name, so the worker finds its own ``PROGRESS`` and swaps in its callback."""

    def __reduce__(self) -> str:
        return "PROGRESS"

    def __repr__(self) -> str:
        return "workers.PROGRESS"


PROGRESS = _Progress()


class WorkerDied(Busy):
    """The worker process running a job stopped; the message is meant for the user (a ``core.jobs.Busy``: the
    pages show it as they show a refused job)."""


def _send(stream, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _receive(stream):
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("the worker closed its pipe")
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the worker closed its pipe")
    return pickle.loads(data)


class _Worker:
    def __init__(self) -> None:
        target = min(19, os.getpriority(os.PRIO_PROCESS, os.getpid()) + settings.current().heavy_nice)

        def lower_priority() -> None:  # a job's thread runs at this level already: the child keeps it, never adds to it
            if os.getpriority(os.PRIO_PROCESS, 0) < target:
                os.setpriority(os.PRIO_PROCESS, 0, target)

        env = settings.child_env() | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                                      "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path[1:]])}
        self.process = subprocess.Popen([sys.executable, "-m", "core.workers"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, cwd=ROOT, env=env, preexec_fn=lower_priority)

    def call(self, fn: Callable, args: tuple, kwargs: dict, on_wait: Callable[[], None] | None,
             on_progress: Callable[..., Any] | None):
        _send(self.process.stdin, (fn, args, kwargs))
        while True:
            while not select.select([self.process.stdout], [], [], POLL_SECONDS)[0]:
                if on_wait is not None:
                    on_wait()
            kind, *message = _receive(self.process.stdout)
            if kind == "progress":
                _send(self.process.stdin, on_progress(*message[0]) if on_progress is not None else None)
                continue
            ok, value = message
            if not ok:
                raise value
            return value

    def stop(self) -> None:
        try:
            self.process.kill()
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass


_IDLE: list[_Worker] = []
_LOCK = threading.Lock()
_BUSY: list[threading.BoundedSemaphore] = []  # the one semaphore, made on first use from the settings


def _capacity() -> threading.BoundedSemaphore:
    """At most ``heavy_workers + heavy_slots`` workers busy at once: the heavy-job pool starts at most
    ``heavy_workers`` jobs, and calls from outside it (an upload's face detection) have the rest."""
    with _LOCK:
        if not _BUSY:
            now = settings.current()
            _BUSY.append(threading.BoundedSemaphore(now.heavy_workers + now.heavy_slots))
        return _BUSY[0]


def run(fn: Callable, *args, on_wait: Callable[[], None] | None = None, on_progress: Callable[..., Any] | None = None,
        **kwargs) -> Any:
    """``fn(*args, **kwargs)`` in a worker process; ``on_wait()`` is called every ``POLL_SECONDS`` of silence (a job
    of ``core.jobs`` passes its ``report``: a turn point, where a dropped job stops waiting and its worker is let
    go), and ``on_progress(...)`` for each call of a ``PROGRESS`` argument, its return value going back to the
    worker. ``fn``'s own exceptions come back as they are; a dead worker raises ``WorkerDied``."""
    capacity = _capacity()
    while not capacity.acquire(timeout=POLL_SECONDS):  # every worker busy: wait, still a turn point
        if on_wait is not None:
            on_wait()
    try:
        return _run(fn, args, kwargs, on_wait, on_progress)
    finally:
        capacity.release()


def _run(fn: Callable, args: tuple, kwargs: dict, on_wait, on_progress) -> Any:
    with _LOCK:
        worker = _IDLE.pop() if _IDLE else None
    worker = worker if worker is not None and worker.process.poll() is None else _Worker()
    try:
        value = worker.call(fn, args, kwargs, on_wait, on_progress)
    except (EOFError, BrokenPipeError, OSError, pickle.UnpicklingError):
        worker.stop()
        raise WorkerDied("The server's worker process for this job stopped (it may have run out of memory); "
                         "nothing else was lost. Try again, or ask for less.") from None
    except BaseException as err:
        if not isinstance(err, Exception):  # dropped or interrupted while the worker works: it is not reusable
            worker.stop()
            raise
        _keep(worker)
        raise
    _keep(worker)
    return value


def _keep(worker: _Worker) -> None:
    with _LOCK:
        if len(_IDLE) < settings.current().heavy_slots:
            _IDLE.append(worker)
            return
    worker.stop()


def prestart(warm: Callable[[], Any] | None = None) -> None:
    """Start an idle worker now and run ``warm()`` in it (imports, a detector's weights), in a background thread, so
    that the first job does not wait for a process to start (a server calls this while it warms up)."""
    threading.Thread(target=run, args=(warm or int,), name="ccvae-worker-prestart", daemon=True).start()


def shutdown() -> None:
    """Stop the idle workers (tests, and a server that exits)."""
    with _LOCK:
        idle = list(_IDLE)
        _IDLE.clear()
        _BUSY.clear()
    for worker in idle:
        worker.stop()


def _serve() -> None:
    """The worker's loop: read a call, write ("done", True, result) or ("done", False, exception), until the server
    closes the pipe; a ``PROGRESS`` callback writes ("progress", args) and reads the caller's answer."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # whatever the work prints goes to the log, not into the pipe

    def progress(*args):
        _send(stdout, ("progress", args))
        return _receive(stdin)

    def swap(value):
        return progress if value is PROGRESS else value

    while True:
        try:
            fn, args, kwargs = _receive(stdin)
        except EOFError:
            return
        except Exception as err:  # a call this process cannot unpickle (its whole message was read): its error  # noqa: BLE001
            _send(stdout, ("done", False, err))
            continue
        try:
            reply = ("done", True, fn(*map(swap, args), **{k: swap(v) for k, v in kwargs.items()}))
        except Exception as err:  # the work's own error goes back to the caller  # noqa: BLE001
            reply = ("done", False, err)
        _send(stdout, reply)


if __name__ == "__main__":  # run as core.workers, not __main__: unpickled PROGRESS arguments are that module's
    from core.workers import _serve as serve

    serve()
