"""python -m train.report: the marked tables of docs/RESULTS.md and the README are exactly what the recorded JSON
files give; and the README stays a short path in (its length, its line width, links that lead somewhere)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core.evaluation import PROTOCOL, Protocol, ProtocolMismatch
from train import report

ROOT = Path(__file__).resolve().parents[1]


def test_the_results_tables_are_the_generated_ones():
    """Fails when a number in a marked table of docs/RESULTS.md is typed, stale, or not in a recorded file."""
    results = (ROOT / report.RESULTS).read_text()
    marked = report.marked_blocks(results)
    # every section the report builds is in the results document, and no other
    assert set(marked) == {s.name for s in report.SECTIONS}
    assert report.differences(results, report.build(ROOT), report.RESULTS) == []


def test_the_readme_headlines_are_the_generated_ones():
    """The README's one table per shipped model comes from the recorded metrics too, never typed by hand."""
    readme = (ROOT / report.README).read_text()
    assert set(report.marked_blocks(readme)) == {s.name for s in report.HEADLINES}
    assert report.differences(readme, report.build(ROOT, report.HEADLINES), report.README) == []
    for name in ("mnist", "yaleb", "sprites", "celeba", "drgan-yaleb"):
        assert f"`checkpoints/{name}`" in readme and (ROOT / "checkpoints" / name / "metrics.json").is_file()
    assert report.main(["--check"]) == 0


def test_the_readme_is_short_and_narrow():
    lines = (ROOT / report.README).read_text().splitlines()
    assert len(lines) <= 420, f"README.md has {len(lines)} lines; move detail into docs/"
    wide = [f"README.md:{i}: {len(line)} characters" for i, line in enumerate(lines, 1) if len(line) > 160]
    assert not wide, wide


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(text: str) -> set[str]:
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)  # no headings inside code blocks
    seen: dict[str, int] = {}
    out = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.M):
        slug = _slug(heading)
        out.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return out


def _broken_links(path: Path) -> list[str]:
    text = path.read_text()
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", prose):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(f"{path.relative_to(ROOT)}: {target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest.read_text()):
            broken.append(f"{path.relative_to(ROOT)}: {target} (no such heading)")
    return broken


def test_every_readme_link_leads_somewhere():
    """Every relative link of the README (and of the docs it sends you to) names a file of the tree, and a heading
    of it when it has an anchor."""
    readme = ROOT / report.README
    assert "docs/RESULTS.md" in readme.read_text()
    broken = [b for path in (readme, *sorted((ROOT / "docs").glob("*.md"))) for b in _broken_links(path)]
    assert not broken, broken


def test_the_anchor_rule_is_githubs():
    assert _slug("Baselines, loss variants and the dimension sweep (Tables 4.1 and 4.2)") == \
        "baselines-loss-variants-and-the-dimension-sweep-tables-41-and-42"
    assert _slug("The shipped face model: `checkpoints/celeba`") == "the-shipped-face-model-checkpointsceleba"
    assert _anchors("# A\n## A\n```\n# not a heading\n```\n") == {"a", "a-1"}


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
    results = tmp_path / report.RESULTS
    results.parent.mkdir(parents=True)
    prose = "Intro 1.23\n\n| a hand table the report does not make | 9.99 |\n\n"
    results.write_text(prose + "<!-- report:mnist -->\n| stale | 1 |\n<!-- /report:mnist -->\n\nEnd.\n")
    args = ["--root", str(tmp_path), "--section", "mnist"]
    assert report.main([*args, "--check"]) == 1
    assert report.main([*args, "--write"]) == 0
    text = results.read_text()
    assert text.startswith(prose) and text.endswith("\n\nEnd.\n") and "| stale |" not in text
    assert report.main([*args, "--check"]) == 0


def test_check_covers_both_documents(tmp_path):
    """The README's headline and the results document are checked in one run; a stale one fails it."""
    _write(tmp_path, report.OURS_MNIST, _evaluation(60.0, PROTOCOL) | {"chance_test": 11.35})
    metrics = json.loads((tmp_path / report.OURS_MNIST).read_text())
    metrics["training"] = {"steps": 3000, "seconds": 600.0, "hardware": "toy CPU, 1 threads"}
    (tmp_path / report.OURS_MNIST).write_text(json.dumps(metrics))
    _write(tmp_path, report.authors_file("ccvae"), _evaluation(55.0, PROTOCOL))
    (tmp_path / "docs").mkdir()
    (tmp_path / report.RESULTS).write_text("<!-- report:mnist -->\nold\n<!-- /report:mnist -->\n")
    (tmp_path / report.README).write_text("<!-- report:headline-mnist -->\nold\n<!-- /report:headline-mnist -->\n")
    args = ["--root", str(tmp_path), "--section", "mnist", "headline-mnist"]
    assert report.main([*args, "--check"]) == 1
    assert report.main([*args, "--write"]) == 0 and report.main([*args, "--check"]) == 0
    headline = report.marked_blocks((tmp_path / report.README).read_text())["headline-mnist"]
    assert "| z sampled: the digit read from z (lower is better; chance 11.35) | 12.00 | 17.56 |" in headline
    assert "trained 3,000 steps in 10.0 min" in headline
    (tmp_path / report.README).write_text(headline)  # the markers lost: the README no longer holds its table
    assert report.main([*args, "--check"]) == 1


def test_broken_markers_are_named():
    with pytest.raises(report.ReportError, match="not closed.*'mnist'"):
        report.marked_blocks("<!-- report:mnist -->\n| a |\n")
    assert report.differences("<!-- report:old -->\nx\n<!-- /report:old -->", {}, "README.md") == [
        "old: marked in README.md, but no section of train.report writes it there"]
    assert report.differences("no markers", {"mnist": "| a |"}, "docs/RESULTS.md") == [
        "mnist: not marked in docs/RESULTS.md (add <!-- report:mnist --> ... <!-- /report:mnist -->)"]


def test_sections_are_a_list_a_builder_can_be_appended_to(tmp_path):
    extra = report.Section("toy", lambda root: "| toy | 1.00 |")
    assert report.build(tmp_path, [extra]) == {"toy": "| toy | 1.00 |"}
    names = [s.name for d in report.DOCUMENTS for s in d.sections]
    assert len(set(names)) == len(names)  # one name, one document


def test_the_report_and_train_evaluate_table_print_the_same_mean_sd(tmp_path):
    """One "mean ± sd" (``core.evaluation.result.MeanSd``): a cell reads the same in docs/RESULTS.md, in the README
    and in ``python -m train.evaluate --table``, also where the recorded mean (of the unrounded seeds) is not the
    mean of the rounded seeds (4.43 against 4.42 on ``checkpoints/celeba`` before)."""
    from train.evaluate import comparison_table

    block = _evaluation(60.0, PROTOCOL, seeds=(0, 1, 2))
    block["accuracy"]["z_sample"]["test"] = 4.43
    block["probes"]["z_sample"]["test"] = [3.82, 4.44, 5.0]  # their mean is 4.42
    _write(tmp_path, report.OURS_MNIST, block)
    _write(tmp_path, report.authors_file("ccvae"), _evaluation(55.0, PROTOCOL, seeds=(0, 1, 2)))
    row = "| **ours, `checkpoints/mnist`** | 4.43 ± 0.59 | 60.00 ± 1.00 | 98.00 ± 1.00 |"
    assert row in report.mnist_main(tmp_path)
    assert "| 4.43 ± 0.59 | 60.00 ± 1.00 | 98.00 ± 1.00 | 3 |" in comparison_table([tmp_path / report.OURS_MNIST])
