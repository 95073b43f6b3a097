"""A CC-VAE trained 200 steps with a fixed seed gives the same weights as the code before the training engine
was restructured (issue 15): the digest below was written by ``python tests/test_same_weights.py`` at commit
77f03d5 (core/training.py, before core/training/). It covers the fast preset's pair adversary on z, whose
discriminator is built from the same seeded stream as the model.

Float results can differ between CPUs (oneDNN picks kernels by ISA and model: an Intel Xeon and an AMD EPYC that
both report AVX512 give different bits), so the bit-exact digest is asserted on a machine of a recorded kind
(torch version, ISA, CPU model and the precision ``--bf16 auto`` picks there: bf16 autocast where the CPU has
native bf16, float32 elsewhere; the Xeon's float32 digest was written by the pre-move code, 4aa678e's
test, on that machine, its bf16 one by e060201's code on a Xeon with AMX; the AMD EPYC's (AVX512-BF16) was
written by 01bffd5's code, before the forward terms moved
into core.training.objective); elsewhere only the tensors' names are compared (the first 200 steps already
amplify another CPU's rounding beyond any tolerance on the sums: 0.014 on a bias between the two machines).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch

REFERENCE = Path(__file__).with_name("same_weights_reference.json")
OPTIONS = ["--preset", "fast", "--steps", "200", "--batch-size", "16", "--seed", "3", "--log-every", "100",
           "--checkpoint-every", "1000", "--threads", "1"]


def fingerprint(model) -> dict:
    state = model.state_dict()
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return {"sha256": digest.hexdigest(), "sums": {k: float(state[k].double().sum()) for k in sorted(state)}}


def train_fingerprint(out: Path, mnist_dir: Path) -> dict:
    from core import load_model
    from train.ccvae import main as train_main

    assert train_main(["--out", str(out), "--data-dir", str(mnist_dir), *OPTIONS]) == 0
    return fingerprint(load_model(out / "checkpoint"))


def machine() -> str:
    from core.training.engine import cpu_bf16

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "") if Path("/proc/cpuinfo").is_file() else ""
    precision = "bf16 autocast" if cpu_bf16("auto") else "float32"  # what --bf16 auto (the default) computes in
    return f"{torch.__version__} {torch.backends.cpu.get_cpu_capability()} {model} {precision}"


def test_200_steps_give_the_same_weights_as_before_the_move(tmp_path, mnist_dir):
    reference = json.loads(REFERENCE.read_text())
    got = train_fingerprint(tmp_path / "run", mnist_dir)
    if machine() in reference["sha256_by_machine"]:
        assert got["sha256"] == reference["sha256_by_machine"][machine()]
        sums = reference["sums_by_machine"].get(machine(), reference["sums"])
    else:  # 200 steps amplify an ISA's rounding far beyond any tolerance: only the tensors' names can be compared
        sums = None
    assert got["sums"].keys() == reference["sums"].keys()
    for key, value in (sums or {}).items():
        assert abs(got["sums"][key] - value) <= 1e-4 * max(1.0, abs(value)), key


if __name__ == "__main__":  # write the reference (run it from the repository root, with the code to compare against)
    import tempfile

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import toy_digits, write_idx

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "mnist" / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for split, n, seed in (("train", 600, 0), ("t10k", 200, 1)):
            images, labels = toy_digits(n, seed)
            write_idx(raw / f"{split}-images-idx3-ubyte", images, gz=True)
            write_idx(raw / f"{split}-labels-idx1-ubyte", labels, gz=True)
        result = train_fingerprint(Path(tmp) / "run", Path(tmp) / "mnist")
    known = json.loads(REFERENCE.read_text()) if REFERENCE.is_file() else {}
    REFERENCE.write_text(json.dumps({
        "sha256_by_machine": known.get("sha256_by_machine", {}) | {machine(): result["sha256"]},
        "sums": known.get("sums", result["sums"]),  # the tensors' names, compared on every machine
        "sums_by_machine": known.get("sums_by_machine", {}) | {machine(): result["sums"]}}, indent=1) + "\n")
    print(result["sha256"], machine())
