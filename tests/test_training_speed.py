"""The fast training step: phases that compose step(), the NaN check deferred on GPUs, CUDA-only options,
and the benchmark command on tiny data."""

from __future__ import annotations

import json

import pytest
import torch

from core import losses
from core.data import load_mnist
from core.training import NonFiniteLoss, TrainConfig, make_trainer
from tools.bench import main as bench_main

SMALL = dict(batch_size=8, z_dim=4, s_dim=4, steps=10)


def test_the_benchmark_times_the_real_step(mnist_dir):
    """The benchmark passes a phase timer to step(); timing must not change the step, and every phase is seen."""
    from contextlib import contextmanager

    data = load_mnist(mnist_dir, "train")
    whole, timed = make_trainer(TrainConfig(**SMALL), data), make_trainer(TrainConfig(**SMALL), data)
    seen = []

    @contextmanager
    def phase(name):
        seen.append(name)
        yield

    for _ in range(2):
        whole.step()
        timed.step(phase=phase)
    assert {"data", "forward", "reverse", "optimiser"} <= set(seen)
    for (k, a), b in zip(whole.model.state_dict().items(), timed.model.state_dict().values()):
        assert torch.equal(a, b), k


def test_deferred_nan_check_reports_at_the_next_check_and_refuses_to_save(tmp_path, mnist_dir, monkeypatch):
    """On a GPU step() does not read the loss; check_finite() (at logging) and save() report a NaN."""
    trainer = make_trainer(TrainConfig(**SMALL), load_mnist(mnist_dir, "train"))
    trainer.check_every_step = False  # what a CUDA device sets
    trainer.step()
    trainer.check_finite()
    real = losses.forward_cycle_loss

    def poisoned(*args, **kwargs):
        t = real(*args, **kwargs)
        return t._replace(reconstruction=t.reconstruction * float("nan"))
    monkeypatch.setattr(losses, "forward_cycle_loss", poisoned)
    trainer.step()  # does not raise: nothing waits for the device here
    trainer.step()
    with pytest.raises(NonFiniteLoss, match="between step 2 and step 3"):
        trainer.check_finite()
    with pytest.raises(NonFiniteLoss):
        trainer.save(tmp_path / "ckpt")
    assert not (tmp_path / "ckpt").exists()


def test_compile_wraps_the_nets_in_place_on_the_cpu_too(mnist_dir):
    """torch.compile (inductor) on the CPU as on CUDA (tools.bench_faces measures whether it pays); in place, so the
    parameter names, and so checkpoints, stay those of the plain model. Not stepped here: compiling takes a minute."""
    plain = make_trainer(TrainConfig(**SMALL, device="cpu"), load_mnist(mnist_dir, "train"))
    trainer = make_trainer(TrainConfig(**SMALL, compile=True, device="cpu"), load_mnist(mnist_dir, "train"))
    assert trainer.model.encoder._compiled_call_impl is not None and trainer.model.decoder._compiled_call_impl is not None
    assert [n for n, _ in trainer.model.named_parameters()] == [n for n, _ in plain.model.named_parameters()]
    assert trainer.memory_format == torch.contiguous_format and trainer.check_every_step


def test_channels_last_is_an_option_on_the_cpu(mnist_dir):
    trainer = make_trainer(TrainConfig(**SMALL, channels_last=True, device="cpu"), load_mnist(mnist_dir, "train"))
    assert trainer.memory_format == torch.channels_last
    assert torch.isfinite(trainer.step()["reconstruction"])


def test_compile_flag_on_the_command_line(tmp_path):
    from train.ccvae import parse_args, run_config

    config = run_config(parse_args(["--out", str(tmp_path / "run"), "--compile", "--channels-last"]))
    assert config.compile is True and config.channels_last is True


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_cuda_step_never_waits_for_the_gpu(mnist_dir):
    trainer = make_trainer(TrainConfig(**SMALL, device="cuda"), load_mnist(mnist_dir, "train"))
    trainer.step()  # warm-up: cuDNN autotuning and pinned-memory allocation
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            trainer.step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    trainer.check_finite()


def test_bench_runs_ours_and_the_baseline_and_writes_json(tmp_path, mnist_dir):
    out = tmp_path / "bench.json"
    assert bench_main(["--data-dir", str(mnist_dir), "--batch-sizes", "8", "--steps", "2", "--warmup", "1",
                       "--rounds", "1", "--devices", "cpu", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    ours, baseline = result["training"]
    assert ours["implementation"].startswith("ours") and baseline["implementation"].startswith("baseline")
    assert ours["it_per_s"] > 0 and baseline["it_per_s"] > 0 and ours["speedup_vs_baseline"] > 0
    assert set(ours["phase_ms"]) == {"data", "forward", "reverse", "optimiser"}
    assert 0 < result["peak_rss_mb_cpu_training"] < 4000


def test_bench_maps_times_each_projection_and_the_cache(tmp_path):
    out = tmp_path / "maps.json"
    assert bench_main(["--maps", "--map-points", "200", "--checkpoint", str(tmp_path / "none"), "--out", str(out)]) == 0
    maps = json.loads(out.read_text())["maps"]
    assert {(r["method"], r["codes"]) for r in maps["rows"]} == {("tsne", "z"), ("tsne", "s"), ("umap", "z"), ("umap", "s")}
    assert all(r["seconds"] > 0 for r in maps["rows"]) and maps["cache_hit_ms"] < 1000
    s_map = [r for r in maps["rows"] if r["codes"] == "s"]
    assert all(r["silhouette_2d"] > 0.3 for r in s_map)  # the clustered codes stay clustered on the map


def test_the_face_bench_records_ratios_and_its_table(tmp_path):
    """tools.bench_faces --out writes the JSON and, beside it, the table it printed, hardware line first."""
    from tools.bench_faces import main as faces_main

    out = tmp_path / "bench.json"
    assert faces_main(["--dry-run", "--variants", "today, float32", "today, float32, channels-last",
                       "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["variants"]["today, float32"]["steps_ratio"] == 1.0
    table = out.with_suffix(".md").read_text().splitlines()
    assert table[0].startswith(result["hardware"]) and len(table) == 6
    assert table[-1].startswith("| today, float32, channels-last | ")
