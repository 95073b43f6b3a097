"""Every measuring instrument in tools/ runs its --dry-run: a few seconds on tiny or synthetic data through the
real code path, with its normal output. The browser ones need Debian's Chromium and skip without it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import bench, bench_app, browser, calibrate_crop, load_test, pixelvae_compare

ROOT = Path(__file__).resolve().parents[1]


def needs_chromium(test):
    skip = pytest.mark.skipif(not Path(browser.CHROMIUM).is_file(), reason=f"needs {browser.CHROMIUM}")
    return pytest.mark.browser(skip(test))


def table_rows(text: str) -> list[list[str]]:
    """The cells of each Markdown table row in ``text`` (header and separator rows included)."""
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines() if line.startswith("|")]


def test_bench_dry_run_times_ours_and_the_baseline(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--dry-run", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["dry_run"] and result["data"] == "synthetic"
    ours, baseline = result["training"]
    assert (ours["batch"], ours["steps"], ours["device"]) == (8, 2, "cpu")
    assert ours["it_per_s"] > 0 and baseline["it_per_s"] > 0 and set(ours["phase_ms"]) == set(bench.PHASES)
    assert result["peak_rss_mb_cpu_training"] > 0
    assert [r[2] for r in table_rows(capsys.readouterr().out)[2:]] == ["ours (make_trainer)", "baseline (authors' data path)"]


def test_bench_app_dry_run_prints_the_latency_table(capsys):
    assert bench_app.main(["--dry-run", "--checkpoint", str(ROOT / "checkpoints" / "mnist"), "--threads", "1"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert [r[0] for r in rows[2:]] == ["swap grid 12 x 12 (decode + PNG)", "slider move (1 decode + PNG)",
                                        "interpolation, 16-step strip + 16 x 16 grid", "random sampling 10 x 16"]
    assert all(float(r[1]) > 0 for r in rows[2:]) and rows[2][3].endswith("x")


def test_calibrate_crop_dry_run_measures_the_model_s_own_faces(capsys):
    assert calibrate_crop.main(["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "frontal-light images" in out and "Framing(scale=" in out


def test_calibrate_crop_needs_data_without_dry_run():
    with pytest.raises(SystemExit):
        calibrate_crop.main([])


def test_pixelvae_compare_dry_run_needs_no_models_or_data(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CCVAE_DATA_DIR", raising=False)
    out = tmp_path / "compare"
    assert pixelvae_compare.main(["--dry-run", "--out", str(out)]) == 0
    results = json.loads((out / "compare.json").read_text())
    assert results["dry_run"] and results["classifier_epochs"] == 2
    assert results["plain"]["training_steps"] == 0 and results["pixelcnn_config"]["decoder"] == "pixelcnn"
    assert (out / "reconstructions.png").is_file() and (out / "samples.png").is_file()
    assert [r[0] for r in table_rows(capsys.readouterr().out)[2:]] == ["plain", "pixelcnn"]


@needs_chromium
def test_browser_dry_run_opens_the_home_page(capsys, monkeypatch):
    monkeypatch.delenv("CCVAE_DEFAULT_MODEL", raising=False)
    monkeypatch.delenv("CCVAE_DEFAULT_CHECKPOINT", raising=False)
    assert browser.main(["--dry-run", "--checkpoint", str(ROOT / "checkpoints" / "mnist")]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert [(r[0], r[2]) for r in rows[2:]] == [("Home", "0")]


@needs_chromium
def test_load_test_dry_run_drives_one_session(capsys, monkeypatch):
    monkeypatch.delenv("CCVAE_DEFAULT_MODEL", raising=False)
    monkeypatch.delenv("CCVAE_DEFAULT_CHECKPOINT", raising=False)
    assert load_test.main(["--dry-run", "--checkpoint", str(ROOT / "checkpoints" / "yaleb")]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert rows[2][0] == "1" and rows[2][-2] == "0"  # one session, none failed
    assert all(cell != "n/a" for cell in rows[2][1:-2])  # every interaction was timed
