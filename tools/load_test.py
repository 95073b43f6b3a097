"""Load test: N concurrent browser sessions against one `streamlit run app.py` server.

    python -m tools.load_test --checkpoint checkpoints/yaleb --sessions 1 5 10 20
    python -m tools.load_test --class-server --sessions 20 --heavy 5 [--data-dir /path/to/mnist-root]
    python -m tools.load_test --dry-run [--class-server]          # about a minute: does it work on this machine?

Each session is its own Playwright browser context (its own cookies, so its own Streamlit
session) in one headless Chromium, and does the common interactions in turn: open the swap grid,
move its Rows slider, open the interpolation page, upload a photo on the few-shot page. For every
N it reports the median and 95th percentile latency of each interaction (from the action until its
result is on screen) and the server's peak resident memory (sampled every 0.2 s). Needs
/usr/bin/chromium; runs the server on a free port with the given checkpoint's folder.

``--class-server``: the scenario of a class on one public server (``python serve.py --public`` on a
temporary copy of the checkpoint folder, so maps computed here are not kept). Of N sessions, ``--heavy``
start heavy jobs in Chromium, in turn a Train live run, a few-shot fine-tune and a t-SNE of the largest
gallery (10,000 MNIST test images with ``--data-dir``, else the 5,000 bundled digits); the others open
Latent sliders and move the z0 slider until every heavy job has ended. It reports the slider round trips
(the move -> new picture loaded), each heavy job's outcome and time, the peak memory of the server and its
worker processes, failed sessions, whether any slider session's picture for a fixed setting changed while
the others worked (it must not: sessions share the model, never their state), and the CPU the load
generator took from the machine the server runs on.

A class's students each have their own computer; here every browser shares the server's two cores, and 20
Chromium pages took 77% of the CPU in our first run, starving the server they were measuring. So the
slider sessions are light clients (``--browser-sliders`` of them stay in Chromium, to compare): each drives
its own Streamlit session through Streamlit's agent API (``POST /_stcore/agent/interact``, turned on for
this server only), which runs the page exactly as a browser's rerun does, and then downloads the new
picture; a round trip is that request plus that download, without a browser's drawing.
"""

from __future__ import annotations

import asyncio
import io
import os
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from core import settings
from tools.browser import CHROMIUM, FLAGS, READY, running_app_process
from train.cli import command_parser, hardware

INTERACTIONS = ("open swap grid", "move a slider", "open interpolation", "upload on few-shot")


def photo_bytes() -> bytes:
    yy, xx = np.mgrid[0:160, 0:140]
    face = 255 * ((xx - 70) ** 2 / 50 ** 2 + (yy - 80) ** 2 / 70 ** 2 < 1)
    buf = io.BytesIO()
    Image.fromarray(face.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB (Linux /proc)."""
    total = 0
    for p in [pid] + children(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) one process has used so far, in seconds (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time all processes of the machine have used since boot, in seconds (the non-idle part of /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@contextmanager
def peak_rss(pid: int, every: float = 0.2, cpu: dict[int, float] | None = None) -> Iterator[list[float]]:
    """Sample ``rss_mb(pid)`` every ``every`` seconds in a thread while the block runs; yields the samples (MB).
    ``cpu`` (given) gets each process of the tree's CPU seconds as last seen, workers that come and go included."""
    samples, stop = [rss_mb(pid)], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(rss_mb(pid))
            if cpu is not None:
                for p in [pid] + children(pid):
                    cpu[p] = max(cpu.get(p, 0.0), cpu_seconds(p))
            time.sleep(every)

    threading.Thread(target=sample, daemon=True).start()
    try:
        yield samples
    finally:
        stop.set()


def children(pid: int) -> list[int]:
    try:
        kids = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return kids + [g for k in kids for g in children(k)]


async def session(browser, url: str, photo: Path, times: dict[str, list[float]], timeout: float) -> None:
    context = await browser.new_context(viewport={"width": 1300, "height": 900})
    page = await context.new_page()

    async def timed(name: str, action, ready_text: str) -> None:
        t0 = time.perf_counter()
        await action()
        await page.get_by_text(ready_text).first.wait_for(timeout=timeout)
        await page.wait_for_function(READY, timeout=timeout)
        times[name].append(1000 * (time.perf_counter() - t0))

    try:
        await timed("open swap grid", lambda: page.goto(f"{url}/Swap_grid"), "Top row: s sources")
        image = page.locator("[data-testid='stMain'] [data-testid='stImage'] img").first
        before = (await image.get_attribute("src")) or ""
        t0 = time.perf_counter()
        await page.get_by_role("slider", name="Rows").first.focus()
        await page.keyboard.press("ArrowRight")
        await page.wait_for_function("([sel, old]) => [...document.querySelectorAll(sel)]"
                                     ".some(i => i.src && !i.src.endsWith(old) && i.complete)",
                                     arg=["[data-testid='stImage'] img", before.split("/")[-1]], timeout=timeout)
        times["move a slider"].append(1000 * (time.perf_counter() - t0))
        await timed("open interpolation", lambda: page.goto(f"{url}/Interpolation"), "2-D grid")
        await page.goto(f"{url}/Few_shot")
        await page.get_by_text("Upload 1 to 10 photos").first.wait_for(timeout=timeout)
        await timed("upload on few-shot", lambda: page.locator("input[type=file]").first.set_input_files(str(photo)),
                    "Mixed with known identities")
    finally:
        await context.close()


async def run_level(url: str, n: int, photo: Path, timeout: float) -> tuple[dict[str, list[float]], int]:
    from playwright.async_api import async_playwright

    times: dict[str, list[float]] = {k: [] for k in INTERACTIONS}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        results = await asyncio.gather(*(session(browser, url, photo, times, timeout) for _ in range(n)),
                                       return_exceptions=True)
        await browser.close()
    failures = [r for r in results if isinstance(r, Exception)]
    for err in failures[:3]:
        print(f"  session failed: {type(err).__name__}: {str(err)[:200]}", file=sys.stderr)
    return times, len(failures)


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


HEAVY_ROLES = ("train live", "fine-tune", "t-SNE", "train live", "fine-tune")
SLIDER_IMAGE = "[data-testid='stImage'] img"


async def picture_bytes(page) -> bytes:
    src = await page.locator(SLIDER_IMAGE).last.get_attribute("src")
    response = await page.request.get(src if src.startswith("http") else page.url.split("/Latent")[0] + "/" + src.lstrip("./"))
    return await response.body()


async def slider_session(browser, url: str, ready: asyncio.Event, heavy_done: asyncio.Event, report: dict,
                         timeout: float, min_moves: int, max_moves: int, think: float) -> None:
    """Open Latent sliders, keep its picture for one setting, move z0 back and forth until the heavy jobs
    are over, come back to that setting and check the picture is the same."""
    context = await browser.new_context(viewport={"width": 1300, "height": 900})
    page = await context.new_page()
    try:
        await page.goto(f"{url}/Latent_sliders")
        await page.get_by_text("Dec(z from the sliders").first.wait_for(timeout=timeout)
        await page.wait_for_function(READY, timeout=timeout)
        before = await picture_bytes(page)
        ready.set()
        thumb = page.get_by_role("slider", name="z0").first
        # away from the end the slider sits at (or nearer to) first, so that the move back returns to this setting
        away, back = ("ArrowLeft", "ArrowRight") if float(await thumb.get_attribute("aria-valuenow") or 0) > 0 else \
            ("ArrowRight", "ArrowLeft")
        moves = 0
        while moves < max_moves and (moves < min_moves or not heavy_done.is_set()):
            old = (await page.locator(SLIDER_IMAGE).last.get_attribute("src")) or ""
            await thumb.focus()
            t0 = time.perf_counter()
            await page.keyboard.press(away if moves % 2 == 0 else back)
            await page.wait_for_function("([sel, old]) => { const im = [...document.querySelectorAll(sel)].pop(); "
                                         "return im && im.src && !im.src.endsWith(old) && im.complete; }",
                                         arg=[SLIDER_IMAGE, old.split("/")[-1]], timeout=timeout)
            report["slider_ms"].append(1000 * (time.perf_counter() - t0))
            moves += 1
            await asyncio.sleep(think)
        if moves % 2:  # back to the first setting
            old = (await page.locator(SLIDER_IMAGE).last.get_attribute("src")) or ""
            await thumb.focus()
            await page.keyboard.press(back)
            await page.wait_for_function("([sel, old]) => { const im = [...document.querySelectorAll(sel)].pop(); "
                                         "return im && im.src && !im.src.endsWith(old) && im.complete; }",
                                         arg=[SLIDER_IMAGE, old.split("/")[-1]], timeout=timeout)
        await page.wait_for_function(READY, timeout=timeout)
        report["same_picture"].append(await picture_bytes(page) == before)
        if await page.locator("[data-testid='stException']").count():
            raise RuntimeError("an exception was shown")
    finally:
        await context.close()


async def light_slider_session(url: str, ready: asyncio.Event, heavy_done: asyncio.Event, report: dict,
                               timeout: float, min_moves: int, max_moves: int, think: float) -> None:
    """``slider_session`` without a browser: Streamlit's agent API sets the slider, then the picture is downloaded."""
    import json
    import urllib.request

    def fetch(path: str, body: dict | None = None) -> bytes:
        request = urllib.request.Request(url + path, data=None if body is None else json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout / 1000) as response:
            return response.read()

    def interact(body: dict) -> dict:
        while True:
            out = json.loads(fetch("/_stcore/agent/interact", body))
            if not out.get("wait_timed_out") and out.get("status") != "running":
                return out
            body = {"session_id": out["session_id"]}  # a long first run: wait for it

    def picture(snapshot: dict) -> tuple[str, bytes]:
        found = []

        def walk(node) -> None:
            if isinstance(node, dict):
                if node.get("type") == "image" and "Dec(z from the sliders" in node.get("props", {}).get("caption", ""):
                    found.append(node["props"]["url"])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)
        walk(snapshot["tree"])
        if not found:
            raise RuntimeError(f"no slider picture on the page (status {snapshot.get('status')})")
        return found[-1], fetch("/" + found[-1].replace("../", ""))

    def check(snapshot: dict) -> dict:
        if snapshot.get("status") != "ready":
            raise RuntimeError("the page showed an error")
        return snapshot

    snap = check(await asyncio.to_thread(interact, {"page": "Latent_sliders"}))
    sid, key = snap["session_id"], "sl_z0"
    start_value = _value(snap["tree"], key)
    address, before = await asyncio.to_thread(picture, snap)
    ready.set()
    step = 0.05 if start_value <= 0 else -0.05  # away from the end it sits at (or nearer to)
    moves = 0
    while moves < max_moves and (moves < min_moves or not heavy_done.is_set()):
        value = round(start_value + (step if moves % 2 == 0 else 0.0), 2)
        t0 = time.perf_counter()
        snap = check(await asyncio.to_thread(interact, {"session_id": sid, "widget_state": {key: value}}))
        new, _ = await asyncio.to_thread(picture, snap)
        report["slider_ms"].append(1000 * (time.perf_counter() - t0))
        report.setdefault("trace", []).append((t0, report["slider_ms"][-1]))
        if new == address:
            raise RuntimeError(f"the picture did not change after z0 -> {value}")
        address, moves = new, moves + 1
        await asyncio.sleep(think)
    if moves % 2:  # back to the first setting
        snap = check(await asyncio.to_thread(interact, {"session_id": sid, "widget_state": {key: start_value}}))
    report["same_picture"].append((await asyncio.to_thread(picture, snap))[1] == before)


def _value(tree: dict, key: str) -> float:
    """The current value of the widget with ``key`` in an agent-API tree."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("key") == key:
                return float(node["value"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    raise RuntimeError(f"no widget {key!r} on the page")


async def heavy_session(browser, url: str, role: str, photo: Path, start: asyncio.Event, report: dict,
                        timeout: float, steps: int) -> None:
    """Start one heavy job and wait until it has finished or the page says why not."""
    import re

    context = await browser.new_context(viewport={"width": 1300, "height": 900})
    page = await context.new_page()
    refused = re.compile(r"The server is (busy|full)|already have a job|was replaced|dropped")
    try:
        if role == "train live":
            await page.goto(f"{url}/Train_live")
            await page.get_by_text("Choose the settings and press Start").first.wait_for(timeout=timeout)
            steps_box = page.get_by_role("spinbutton", name=re.compile("Steps"))
            await steps_box.fill(str(steps))
            await steps_box.press("Enter")
            await page.wait_for_function(READY, timeout=timeout)
            await start.wait()
            t0 = time.perf_counter()
            await page.get_by_role("button", name="Start").click()
            done = page.get_by_text(re.compile(r"Finished at step|Stopped at step")).or_(page.get_by_text(refused))
        elif role == "fine-tune":
            await page.goto(f"{url}/Few_shot")
            await page.get_by_text("Upload 1 to 10 photos").first.wait_for(timeout=timeout)
            await page.locator("input[type=file]").first.set_input_files(str(photo))
            await page.get_by_text("Mixed with known identities").first.wait_for(timeout=timeout)
            await page.wait_for_function(READY, timeout=timeout)
            await start.wait()
            t0 = time.perf_counter()
            await page.get_by_role("button", name="Fine-tune").click()
            done = page.get_by_text(re.compile(r"After \d+ fine-tuning steps")).or_(page.get_by_text(refused))
        else:
            await page.goto(f"{url}/Latent_map")
            await page.get_by_text("Silhouette of s by label").first.wait_for(timeout=timeout)
            await page.wait_for_function(READY, timeout=timeout)
            await start.wait()
            t0 = time.perf_counter()
            await page.get_by_role("slider", name="Images").first.focus()
            await page.keyboard.press("End")  # the most codes the gallery has, at most 10,000
            done = page.get_by_text(re.compile(r"t-SNE of (?!2,000 )[\d,]+ codes \(kept")).or_(page.get_by_text(refused))
        await done.first.wait_for(timeout=timeout)
        await page.wait_for_function(READY, timeout=timeout)
        text = await done.first.inner_text()
        outcome = "refused: " + text[:120] if refused.search(text) else "finished"
        report["heavy"].append((role, outcome, time.perf_counter() - t0))
        report.setdefault("trace", []).append((t0, role, time.perf_counter()))
        if await page.locator("[data-testid='stException']").count():
            raise RuntimeError("an exception was shown")
    finally:
        await context.close()


async def class_level(url: str, n: int, n_heavy: int, photo: Path, timeout: float, steps: int,
                      min_moves: int, max_moves: int, think: float, roles: tuple[str, ...] = HEAVY_ROLES,
                      browser_sliders: int = 1) -> tuple[dict, int]:
    from playwright.async_api import async_playwright

    report: dict = {"slider_ms": [], "same_picture": [], "heavy": []}
    in_browser: dict = {"slider_ms": [], "same_picture": [], "heavy": []}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS + ["--disable-dev-shm-usage"])
        sliders = [asyncio.Event() for _ in range(n - n_heavy)]
        start, heavy_done = asyncio.Event(), asyncio.Event()

        async def starter() -> None:  # heavy jobs start once every slider session has its first picture
            await asyncio.gather(*(e.wait() for e in sliders))
            start.set()

        async def heavy_all() -> list:
            out = await asyncio.gather(*(heavy_session(browser, url, roles[i % len(roles)], photo, start,
                                                       report, timeout, steps) for i in range(n_heavy)),
                                       return_exceptions=True)
            heavy_done.set()
            return out

        starter_task = asyncio.create_task(starter())
        results = await asyncio.gather(
            heavy_all(),
            *(slider_session(browser, url, e, heavy_done, in_browser, timeout, min_moves, max_moves, think)
              if i < browser_sliders else
              light_slider_session(url, e, heavy_done, report, timeout, min_moves, max_moves, think)
              for i, e in enumerate(sliders)),
            return_exceptions=True)
        starter_task.cancel()
        await browser.close()
    failures = [r for r in results[0] if isinstance(r, Exception)] + [r for r in results[1:] if isinstance(r, Exception)]
    for err in failures[:5]:
        print(f"  session failed: {type(err).__name__}: {str(err)[:300]}", file=sys.stderr)
    report["browser_slider_ms"] = in_browser["slider_ms"]
    report["same_picture"] += in_browser["same_picture"]
    return report, len(failures)


def class_server(args) -> int:
    """The --class-server scenario (see the module docstring)."""
    import shutil
    import tempfile

    from tools.browser import ROOT, free_port, serving_process

    photo = Path("/tmp/ccvae_load_test_photo.png")
    photo.write_bytes(photo_bytes())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "checkpoints"
        shutil.copytree(args.checkpoint.resolve().parent, folder, ignore=shutil.ignore_patterns(".*"))
        port = free_port()
        env = settings.child_env(checkpoint_dir=folder, default_model=args.checkpoint.name, save_dir=Path(tmp) / "saved",
                                 data_dir=args.data_dir or None) | {"STREAMLIT_SERVER_ENABLE_AGENT_API": "true"}
        t0 = time.time()
        with serving_process([sys.executable, str(ROOT / "serve.py"), "--public", "--port", str(port)], port,
                             health="/_stcore/health", env=env) as (url, proc):
            startup = time.time() - t0
            n = args.sessions[0]
            # Students' browsers run on their own computers: here the load generator (this process, and the Chromium
            # it starts from now on) yields the cores to the server and its workers, started before at their priorities
            os.setpriority(os.PRIO_PROCESS, 0, max(os.getpriority(os.PRIO_PROCESS, 0), args.generator_nice))
            t1, busy0, server_cpu = time.time(), machine_busy_seconds(), {}
            with peak_rss(proc.pid, cpu=server_cpu) as peak:
                before = {p: cpu_seconds(p) for p in [proc.pid] + children(proc.pid)}
                report, failed = asyncio.run(class_level(url, n, args.heavy, photo, args.timeout * 1000, args.steps,
                                                         args.min_moves, args.max_moves, args.think, args.roles,
                                                         args.browser_sliders))
            busy = machine_busy_seconds() - busy0
            served = sum(server_cpu.values()) - sum(before.values())
    ms = report["slider_ms"]
    light = n - args.heavy - args.browser_sliders
    print(f"\n{hardware()}; `python serve.py --public` (ready in {startup:.0f} s, warm start), {n} sessions on the same "
          f"machine: {args.heavy} heavy and {args.browser_sliders} slider sessions in one headless Chromium, {light} slider "
          f"sessions as light clients (agent API), all at nice {args.generator_nice}; {args.think} s between a session's moves, "
          f"{time.time() - t1:.0f} s in all. CPU used meanwhile: {busy:.0f} core-seconds, of which the server and its "
          f"workers {served:.0f} and everything else (the load generator: Chromium and Playwright) "
          f"{busy - served:.0f}, {100 * (busy - served) / busy:.0f}%\n")
    print("| sessions | heavy jobs | slider round trips | slider p50 / p95 (s) | while heavy jobs ran: round trips, p50 / p95 (s) "
          "| in Chromium: round trips, p50 / p95 (s) | server + workers peak RSS (MB) | failed sessions | pictures unchanged |\n"
          "|---|---|---|---|---|---|---|---|---|")
    same, seen = report["same_picture"], report["browser_slider_ms"]
    trace = report.get("trace", [])
    clicks, ends = [e[0] for e in trace if len(e) == 3], [e[2] for e in trace if len(e) == 3]
    during = [ms for e in trace if len(e) == 2 and clicks and min(clicks) <= e[0] <= max(ends) for ms in e[1:]]

    def p50_p95(values: list[float]) -> str:
        return f"{statistics.median(values) / 1000:.2f} / {percentile(values, 0.95) / 1000:.2f}" if values else "n/a"
    print(f"| {n} | {args.heavy} | {len(ms)} | {p50_p95(ms)} | {len(during)}, {p50_p95(during)} | {len(seen)}, {p50_p95(seen)} "
          f"| {max(peak):.0f} | {failed} | {sum(same)} of {len(same)} |")
    print("\n| heavy job | outcome | seconds from click |\n|---|---|---|")
    for role, outcome, seconds in sorted(report["heavy"]):
        print(f"| {role} | {outcome} | {seconds:.0f} |")
    if args.trace:
        import json

        args.trace.write_text(json.dumps(report.get("trace", [])))
    return 0 if failed == 0 and all(same) else 1


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m tools.load_test", __doc__,
                            dry_run="about a minute: 1 session (with --class-server: 3 sessions, 1 of them a few-shot "
                                    "fine-tune, 1 to 3 slider moves each); the same tables")
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/yaleb"),
                        help="the model every session uses (its folder's siblings are listed too)")
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 5, 10, 20])
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds one interaction may take")
    parser.add_argument("--class-server", action="store_true", help="the class scenario on a public server (see above)")
    parser.add_argument("--heavy", type=int, default=5, help="--class-server: sessions that start heavy jobs")
    parser.add_argument("--steps", type=int, default=200, help="--class-server: steps of each Train live run")
    parser.add_argument("--min-moves", type=int, default=10, help="--class-server: slider moves per session, at least")
    parser.add_argument("--max-moves", type=int, default=400, help="--class-server: and at most")
    parser.add_argument("--think", type=float, default=0.5, help="--class-server: seconds between a session's moves")
    parser.add_argument("--trace", type=Path, help="--class-server: write each slider move and heavy job's times (JSON)")
    parser.add_argument("--generator-nice", type=int, default=19,
                        help="--class-server: the load generator's CPU priority (the server's is unchanged)")
    parser.add_argument("--browser-sliders", type=int, default=1,
                        help="--class-server: slider sessions in Chromium; the others are light clients (see above)")
    parser.add_argument("--data-dir", type=Path, help="--class-server: the server's CCVAE_DATA_DIR (MNIST: a 10k t-SNE)")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.sessions, args.timeout = [3] if args.class_server else [1], min(args.timeout, 120.0)
        args.heavy, args.steps, args.min_moves, args.max_moves, args.think = 1, 5, 1, 3, 0.0
    args.roles = ("fine-tune",) if args.dry_run else HEAVY_ROLES  # a dry run's one heavy job: the quickest
    if args.class_server:
        return class_server(args)
    settings.configure(default_model=args.checkpoint.name)  # the server started below inherits it
    photo = Path("/tmp/ccvae_load_test_photo.png")
    photo.write_bytes(photo_bytes())
    rows = []
    with running_app_process(args.checkpoint.resolve().parent) as (url, proc), peak_rss(proc.pid) as peak:
        for n in args.sessions:
            t0 = time.time()
            times, failed = asyncio.run(run_level(url, n, photo, args.timeout * 1000))
            rows.append((n, times, failed, max(peak), time.time() - t0))
            print(f"N={n}: done in {time.time() - t0:.0f} s, {failed} failed, server peak {max(peak):.0f} MB", flush=True)
    print(f"\n{hardware()}; checkpoint {args.checkpoint}; one server, one Chromium, N contexts\n")
    print("| sessions | " + " | ".join(f"{k} p50 / p95 (s)" for k in INTERACTIONS) + " | failed | server peak RSS (MB) |")
    print("|---" * (len(INTERACTIONS) + 3) + "|")
    for n, times, failed, mem, _ in rows:
        cells = [f"{statistics.median(v) / 1000:.1f} / {percentile(v, 0.95) / 1000:.1f}" if v else "n/a"
                 for v in (times[k] for k in INTERACTIONS)]
        print(f"| {n} | " + " | ".join(cells) + f" | {failed} | {mem:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
