"""Run the Streamlit app as a server for a class: public mode, safe server flags, a warm start.

    python serve.py --public [--model-root DIR ...] [--save-dir DIR] [--port 8501] [--address 0.0.0.0]

The same app as ``streamlit run app.py``, started in this process after it has imported everything
the pages use and loaded every listed model, its sample images and their codes into the model cache
(``core.service.warm_up``), so the first visitor of each page waits for nothing but the page itself.
It passes Streamlit the flags a shared server needs: no error details for visitors (public mode), no
usage statistics, headless. Settings (``core.settings``; each also an environment variable, see the README's
"Running a class"): ``--public`` (CCVAE_PUBLIC=1), ``--model-root`` (CCVAE_MODEL_ROOTS), ``--save-dir``
(CCVAE_SAVE_DIR), and CCVAE_DATA_DIR, CCVAE_HEAVY_SLOTS, CCVAE_JOB_TIMEOUT, CCVAE_SAVE_QUOTA.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread that allocates its own memory arena (up to 8 per core); a server runs a
    thread per script run, so freed memory piles up in dozens of arenas. Two are plenty here."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def warm_start() -> tuple[list[str], float]:
    """Import what the pages import and load every listed model; returns (models warmed, seconds)."""
    t0 = time.perf_counter()
    import pandas  # noqa: F401  (imports the pages need: paid for now, not by the first visitor)
    import plotly.express  # noqa: F401
    import plotly.graph_objects  # noqa: F401
    import sklearn.decomposition  # noqa: F401

    import core.evaluation  # noqa: F401
    import pages.widgets  # noqa: F401
    from core import service, settings, workers
    from core.features.warm import warm_worker
    from core.jobs import trim_memory

    workers.prestart(warm_worker)  # the first heavy job or upload finds a worker with its imports done
    warmed = service.warm_up(data_dir=settings.current().data_dir)
    trim_memory()  # the decoders' activations of the generated galleries are freed: give them back
    return warmed, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    from core import service, settings

    parser = argparse.ArgumentParser(prog="python serve.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    settings.add_flags(parser)
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--address", default="", help="the address to listen on (default: Streamlit's, all interfaces)")
    parser.add_argument("--no-warm-up", action="store_true", help="take visitors at once; models load on first use")
    args = parser.parse_args(argv)
    settings.apply_flags(args)
    limit_malloc_arenas()
    if not args.no_warm_up:
        settings.configure(warmed="startup")
        warmed, seconds = warm_start()
        gc.collect()
        gc.freeze()  # the modules and models loaded so far live as long as the server: keep them out of every collection
        print(f"Loaded {len(warmed)} models ({', '.join(warmed) or 'none'}) in {seconds:.1f} s", flush=True)
    # no full garbage collection after every script run: with torch loaded it took about 0.25 s of CPU per slider
    # move (measured), which 15 students moving sliders turn into several cores
    flags = ["--server.port", str(args.port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--runner.postScriptGC", "false"]
    if args.address:
        flags += ["--server.address", args.address]
    if service.public_mode():
        flags += ["--client.showErrorDetails", "none"]
    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *flags]
    from streamlit.web import cli

    return cli.main()


if __name__ == "__main__":
    sys.exit(main())
