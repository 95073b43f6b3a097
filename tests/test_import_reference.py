"""The importer for the authors' legacy checkpoints, on pickles made here with their key names."""

import pickle

import torch

from core import load_model
from train.import_reference import main


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
