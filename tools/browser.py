"""Run the app and drive it from headless Chromium: shared by the browser tests and the latency benchmark.

Uses Debian's ``/usr/bin/chromium`` through Playwright (never ``playwright install``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(command: list[str], port: int, *, health: str = "/", env: dict[str, str] | None = None) -> Iterator[str]:
    """Run the web server ``command`` (listening on ``port``); yield its URL once ``health`` answers, stop it after."""
    with serving_process(command, port, health=health, env=env) as (url, _):
        yield url


@contextmanager
def serving_process(command: list[str], port: int, *, health: str = "/",
                    env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """Like ``serving``, also yielding the server process (for memory measurements)."""
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url + health, timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.5)
        else:
            proc.kill()
        if proc.poll() is not None:
            raise RuntimeError(f"the server ({' '.join(command[1:3])}) did not start: " + proc.stdout.read().decode()[-2000:])
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def running_app(checkpoint_dir: Path, *, threads: int | None = None) -> Iterator[str]:
    """`streamlit run app.py` on a free port with CCVAE_CHECKPOINT_DIR set; yields its URL once healthy."""
    with running_app_process(checkpoint_dir, threads=threads) as (url, _):
        yield url


@contextmanager
def running_app_process(checkpoint_dir: Path, *, threads: int | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """Like ``running_app``, also yielding the server process."""
    port = free_port()
    env = os.environ | {"CCVAE_CHECKPOINT_DIR": str(checkpoint_dir)}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    env.pop("CCVAE_DATA_DIR", None)
    with serving_process([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
                          "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                         port, health="/_stcore/health", env=env) as (url, proc):
        yield url, proc
