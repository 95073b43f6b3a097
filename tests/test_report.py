"""python -m train.report: the README's marked tables are exactly what the recorded JSON files give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.evaluation import PROTOCOL, Protocol, ProtocolMismatch
from train import report

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_tables_are_the_generated_ones():
    """Fails when a number in a marked README table is typed, stale, or not in a recorded file."""
    readme = (ROOT / "README.md").read_text()
    marked = report.marked_blocks(readme)
    # the tables the issue is about are marked
    assert {"mnist", "probe-length", "mnist-targets", "mnist-authors", "mnist-recipes-legacy", "yaleb"} <= set(marked)
    assert report.differences(readme, report.build(ROOT)) == []


def _evaluation(z_mean: float, protocol: Protocol, seeds=(0,)) -> dict:
    return {"accuracy": {c: {"train": 50.0, "test": v} for c, v in (("z_sample", 12.0), ("z_mean", z_mean), ("s", 98.0))},
            "num_train": 60000, "num_test": 10000, "protocol": protocol.to_dict(), "hardware": "toy CPU, 1 threads",
            "eval_seconds": 10.0,
            "probes": {"seeds": list(seeds)} | {c: {"test": [v + i for i in range(len(seeds))], "epochs": [7] * len(seeds)}
                                                for c, v in (("z_sample", 12.0), ("z_mean", z_mean), ("s", 98.0))}}


def _write(root: Path, rel: str, block: dict) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(json.dumps({"evaluation": block}))


def test_a_section_shows_the_seed_spread_and_the_protocol(tmp_path):
    _write(tmp_path, report.OURS_MNIST, _evaluation(60.0, PROTOCOL, seeds=(0, 1, 2)))
    _write(tmp_path, report.authors_file("ccvae"), _evaluation(55.0, PROTOCOL, seeds=(0, 1, 2)))
    text = report.mnist_main(tmp_path)
    assert "| **ours, `checkpoints/mnist`** | 12.00 ± 1.00 | 60.00 ± 1.00 | 98.00 ± 1.00 | 7 / 7 / 7 |" in text
    assert "55.00 ± 1.00" in text and "probe-early-stop/v1" in text and "toy CPU" in text
    assert "17.56" in text  # the paper's row, labelled as the paper's


def test_a_table_of_two_protocols_is_refused(tmp_path):
    _write(tmp_path, report.OURS_MNIST, _evaluation(60.0, PROTOCOL))
    _write(tmp_path, report.authors_file("ccvae"), _evaluation(55.0, Protocol.fixed(50)))
    with pytest.raises(ProtocolMismatch, match="patience"):
        report.mnist_main(tmp_path)
    assert report.main(["--root", str(tmp_path), "--section", "mnist"]) == 2


def test_a_missing_recorded_file_is_an_error_not_a_blank(tmp_path):
    with pytest.raises(report.ReportError, match="no such recorded file"):
        report.mnist_main(tmp_path)


def test_check_and_write_touch_only_the_marked_blocks(tmp_path):
    _write(tmp_path, report.OURS_MNIST, _evaluation(60.0, PROTOCOL))
    _write(tmp_path, report.authors_file("ccvae"), _evaluation(55.0, PROTOCOL))
    readme = tmp_path / "README.md"
    prose = "Intro 1.23\n\n| a hand table the report does not make | 9.99 |\n\n"
    readme.write_text(prose + "<!-- report:mnist -->\n| stale | 1 |\n<!-- /report:mnist -->\n\nEnd.\n")
    args = ["--root", str(tmp_path), "--section", "mnist"]
    assert report.main([*args, "--check"]) == 1
    assert report.main([*args, "--write"]) == 0
    text = readme.read_text()
    assert text.startswith(prose) and text.endswith("\n\nEnd.\n") and "| stale |" not in text
    assert report.main([*args, "--check"]) == 0


def test_broken_markers_are_named():
    with pytest.raises(report.ReportError, match="not closed.*'mnist'"):
        report.marked_blocks("<!-- report:mnist -->\n| a |\n")
    assert report.differences("<!-- report:old -->\nx\n<!-- /report:old -->", {}) == [
        "old: marked in the README, but no section of train.report builds it"]


def test_sections_are_a_list_a_builder_can_be_appended_to(tmp_path):
    extra = report.Section("toy", lambda root: "| toy | 1.00 |")
    assert report.build(tmp_path, [extra]) == {"toy": "| toy | 1.00 |"}
    assert len({s.name for s in report.SECTIONS}) == len(report.SECTIONS)
