"""Training on several processes (gloo on the CPU): ranks stay identical, match one process that draws
the same global batch, resume exactly, and `torchrun -m train` works with rank 0 alone writing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from core import load_model
from core.data import load_mnist
from core.training import TrainConfig, make_trainer

ROOT = Path(__file__).resolve().parents[1]
WORLD = 2
CONFIG = dict(batch_size=8, z_dim=4, s_dim=4, lr=1e-3, steps=10, threads=1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _params(trainer: make_trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def _worker(rank: int, port: int, data_dir: str, out: str) -> None:
    """One rank: 2 steps, a checkpoint, 2 more steps; then a fresh trainer resumes the checkpoint for 2 steps."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        data = load_mnist(data_dir, "train")
        trainer = make_trainer(TrainConfig(**CONFIG), data, rank=rank, world_size=WORLD)
        for _ in range(2):
            trainer.step()
        trainer.save(Path(out) / "checkpoint")
        for _ in range(2):
            trainer.step()
        save_file(_params(trainer), str(Path(out) / f"straight{rank}.safetensors"))
        resumed = make_trainer(TrainConfig(**CONFIG), data, rank=rank, world_size=WORLD)
        resumed.resume(Path(out) / "checkpoint")
        for _ in range(2):
            resumed.step()
        save_file(_params(resumed), str(Path(out) / f"resumed{rank}.safetensors"))
    finally:
        dist.destroy_process_group()


def _average_gradients(param_lists: list[list[torch.nn.Parameter]]) -> None:
    for params in zip(*param_lists):
        if params[0].grad is None:
            continue
        mean = sum(p.grad for p in params) / len(params)
        for p in params:
            p.grad = mean.clone()


def one_process_same_global_batch(data, steps: int) -> dict[str, torch.Tensor]:
    """What the distributed run must compute, in one process: each rank's share of the global batch is
    drawn by a trainer with that rank's generators, and their gradients are averaged before each update."""
    shares = [make_trainer(TrainConfig(**CONFIG), data, rank=r) for r in range(WORLD)]
    for _ in range(steps):
        for t in shares:
            t.set_learning_rate()
            t.forward_cycle(*t.same_label_batch())
        _average_gradients([list(t.model.parameters()) for t in shares])
        for t in shares:
            t.opt_forward.step()
            t.reverse_cycle(*t.different_label_batch())
        _average_gradients([list(t.model.encoder.parameters()) for t in shares])
        for t in shares:
            t.opt_reverse.step()
            t.model.config.training_steps += 1
    return _params(shares[0])


def test_ranks_stay_identical_match_one_process_and_resume_exactly(tmp_path, mnist_dir):
    mp.spawn(_worker, args=(_free_port(), str(mnist_dir), str(tmp_path)), nprocs=WORLD, join=True)
    straight = [load_file(str(tmp_path / f"straight{r}.safetensors")) for r in range(WORLD)]
    resumed = [load_file(str(tmp_path / f"resumed{r}.safetensors")) for r in range(WORLD)]
    for k in straight[0]:
        assert torch.equal(straight[0][k], straight[1][k]), f"ranks differ in {k}"
        assert torch.equal(straight[0][k], resumed[0][k]) and torch.equal(straight[1][k], resumed[1][k]), \
            f"resume under 2 processes is not exact for {k}"
    reference = one_process_same_global_batch(load_mnist(mnist_dir, "train"), steps=4)
    start = make_trainer(TrainConfig(**CONFIG), load_mnist(mnist_dir, "train"))
    for k, v in reference.items():
        torch.testing.assert_close(straight[0][k], v, rtol=1e-5, atol=1e-6, msg=f"{k} differs from one process")
        assert not torch.equal(v, start.model.state_dict()[k]), f"{k} did not train"
    # the checkpoint keeps every rank's random streams, and rank 0's under the single-process names
    state = load_file(str(tmp_path / "checkpoint" / "train_state.safetensors"))
    assert {"rng/index", "rng/noise", "rng/index/1", "rng/noise/1"} <= set(state)
    assert not torch.equal(state["rng/index"], state["rng/index/1"])


def test_rank_shares_differ_and_rank_zero_is_the_single_process_run(mnist_dir):
    data = load_mnist(mnist_dir, "train")
    single, rank0, rank1 = (make_trainer(TrainConfig(**CONFIG), data, rank=r) for r in (0, 0, 1))
    assert torch.equal(single.same_label_batch()[0], rank0.same_label_batch()[0])
    assert not torch.equal(rank0.same_label_batch()[0], rank1.same_label_batch()[0])


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    torchrun = Path(sys.executable).with_name("torchrun")
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    return subprocess.run([str(torchrun), "--standalone", f"--nproc_per_node={WORLD}", "-m", "train", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_torchrun_command_trains_writes_once_and_resumes(tmp_path, mnist_dir):
    out = tmp_path / "run"
    common = ["--out", str(out), "--data-dir", str(mnist_dir), "--threads", "1"]
    done = _torchrun("--dry-run", *common)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("training on cpu x 2 processes (global batch 16)") == 1  # rank 0 alone prints
    assert load_model(out / "checkpoint").config.training_steps == 5
    metrics = json.loads((out / "checkpoint" / "metrics.json").read_text())["training"]
    assert metrics["processes"] == 2 and metrics["global_batch"] == 16
    assert len(list((out / "tb").iterdir())) == 1  # one TensorBoard event file: rank 0's
    again = _torchrun("--resume", "--steps", "7", *common)
    assert again.returncode == 0, again.stderr[-3000:]
    assert load_model(out / "checkpoint").config.training_steps == 7
