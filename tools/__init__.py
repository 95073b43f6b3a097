"""Measuring instruments, not training entry points: each runs as ``python -m tools.NAME`` and has ``--dry-run``.

- ``tools.bench``: training speed of ``core.training.make_trainer`` against the authors' data path; ``--maps``: t-SNE/UMAP.
- ``tools.bench_app``: latency of the app's interactions (model work + PNG); ``--cold``: first view of every page.
- ``tools.load_test``: N concurrent browser sessions against one server; ``--class-server``: a class on a public server.
- ``tools.browser``: runs the app and drives it from headless Chromium (shared by the browser tests and the tools above).
- ``tools.calibrate_crop``: how Yale B's crops are framed relative to the face detector's box.
- ``tools.pixelvae_compare``: the plain decoder against the PixelCNN decoder on MNIST.

Training, evaluation and the other commands that make or change checkpoints stay in ``train/``.
"""
