"""The README's results tables, generated from the recorded JSON files (never typed by hand).

    python -m train.report                  # print every section
    python -m train.report --write          # rewrite the README's marked blocks in place
    python -m train.report --check          # exit 1 when a marked block of the README differs (what the test runs)

A section is a name and a builder: ``builder(root) -> Markdown`` reads only files committed under ``root``
(checkpoints' ``metrics.json``, ``experiments/*``). In the README, a section's text sits between
``<!-- report:NAME -->`` and ``<!-- /report:NAME -->``; text outside the markers is prose, and a table the
report does not generate yet has no markers. To add a table: write a builder, append it to ``SECTIONS``,
put the markers in the README, run ``--write``.

Every measured row of one table must have been scored on one protocol (``core.evaluation.check_one_protocol``;
a mix raises ``ProtocolMismatch``, naming the rows and the fields that differ), and the protocol, the probe
seeds and the hardware are printed under each table. Published numbers are labelled as the paper's.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.evaluation import PAPER_RESULTS, Protocol, check_one_protocol
from train import sweep
from train.cli import command_parser

ROOT = Path(__file__).resolve().parent.parent
README = "README.md"
CODES = ("z_sample", "z_mean", "s")


class ReportError(ValueError):
    """A recorded file is missing or unreadable, or the README's markers are broken."""


@dataclass(frozen=True)
class Section:
    name: str  # the README marker: <!-- report:NAME -->
    build: Callable[[Path], str]


# ------------------------------------------------------------------------------------------- reading

def load_json(root: Path, rel: str) -> dict:
    path = root / rel
    if not path.is_file():
        raise ReportError(f"{rel}: no such recorded file; produce it (see the README's Reproduce lines) or remove "
                          "its row from the report")
    return json.loads(path.read_text())


def evaluation(root: Path, rel: str) -> dict:
    """The evaluation block of a metrics.json or a sweep cell's JSON."""
    data = load_json(root, rel)
    block = data.get("evaluation", data)
    if "accuracy" not in block:
        raise ReportError(f"{rel}: no evaluation block")
    return block


def cell(block: dict, code: str) -> str:
    """A test accuracy: mean ± sd over probe seeds when there are several, else the value."""
    seeds = block.get("probes", {}).get(code, {}).get("test", [])
    mean = block["accuracy"][code]["test"]
    return f"{mean:.2f} ± {statistics.stdev(seeds):.2f}" if len(seeds) > 1 else f"{mean:.2f}"


def epochs(block: dict) -> str:
    """How long each probe trained (z sampled / z mean / s), a range over the probe seeds."""
    probes = block.get("probes", {})

    def one(code: str) -> str:
        e = probes.get(code, {}).get("epochs", [])
        return "?" if not e else str(e[0]) if min(e) == max(e) else f"{min(e)}-{max(e)}"
    return " / ".join(one(c) for c in CODES)


def threads(hardware: str) -> str:
    m = re.search(r"(\d+) threads?", hardware or "")
    return m.group(1) if m else "?"


def protocol_line(blocks: dict[str, dict]) -> str:
    """The one protocol of these rows (refusing a mix), their probe seeds, hardware and evaluation times."""
    protocol = check_one_protocol(blocks)
    text = Protocol.from_dict({k: v for k, v in protocol.items() if k not in ("num_train", "num_test")}).describe()
    seeds = sorted({len(b.get("probes", {}).get("seeds", [b.get("seed", 0)])) for b in blocks.values()})
    hardware = sorted({b.get("hardware", "not recorded") for b in blocks.values()})
    times = [f"{name} {b['eval_seconds']:.0f} s" for name, b in blocks.items() if "eval_seconds" in b]
    return (f"Scored on {text} ({protocol['num_train']:,} training / {protocol['num_test']:,} test images here); "
            f"probe seeds per row: {', '.join(map(str, seeds))}; hardware: {'; '.join(hardware)}"
            + (f"; evaluation time: {', '.join(times)}" if times else "") + ".")


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


# ------------------------------------------------------------------------------------------- MNIST

OURS_MNIST = "checkpoints/mnist/metrics.json"
AUTHORS = {"ccvae": ("CC-VAE", "CC-VAE (ECCV 2018)"),
           "mathieu": ("Mathieu et al. (their reimplementation)", "Mathieu et al."),
           "szabo": ("Szabó et al. (their reimplementation)", "Szabó et al.")}


def authors_file(method: str) -> str:
    return f"experiments/authors/authors-{method}.json"


def mnist_main(root: Path) -> str:
    """Ours against the authors' published CC-VAE, one protocol, probe seed spread; the paper's rows below."""
    blocks = {"ours": evaluation(root, OURS_MNIST), "authors": evaluation(root, authors_file("ccvae"))}
    names = {"ours": "**ours, `checkpoints/mnist`**", "authors": "the authors' published CC-VAE, on our evaluator"}
    rows = [[names[k], *(cell(b, c) for c in CODES), epochs(b)] for k, b in blocks.items()]
    for name, (z, s) in PAPER_RESULTS[("mnist", 16, 16)].items():
        rows.append([f"{name} (paper, its own probe)", f"{z:.2f}", "", f"{s:.2f}", ""])
    return "\n".join([*table(["model (MNIST 16/16)", "z test (sample)", "z test (mean)", "s test",
                              "probe epochs (z sample / z mean / s)"], rows), "", protocol_line(blocks)])


def mnist_authors(root: Path) -> str:
    """The authors' three published checkpoints on our evaluator, beside the paper's numbers."""
    blocks = {m: evaluation(root, authors_file(m)) for m in AUTHORS}
    rows = []
    for method, block in blocks.items():
        title, paper_row = AUTHORS[method]
        z, s = PAPER_RESULTS[("mnist", 16, 16)][paper_row]
        rows.append([title, *(cell(block, c) for c in CODES), f"{z:.2f} / {s:.2f}"])
    return "\n".join([*table(["authors' published checkpoint (MNIST 16/16)", "z test (sample)", "z test (mean)",
                              "s test", "paper (z / s)"], rows), "", protocol_line(blocks)])


def mnist_recipes(root: Path) -> str:
    return sweep.report(root / "experiments/mnist-recipes")


def mnist_sweep(root: Path) -> str:
    return sweep.report(root / "experiments/mnist")


# ------------------------------------------------------------------------------------------- faces, sprites

def yaleb(root: Path) -> str:
    e = evaluation(root, "checkpoints/yaleb/metrics.json")
    light, unseen = e["factors"]["lighting"], e["unseen"]
    main = table(["model", "z test (sample)", "z test (mean)", "s test", "chance"],
                 [["**ours, `checkpoints/yaleb`**", *(cell(e, c) for c in CODES), f"{e['chance_test']:.2f}"]])
    questions = table(["question", "from z (mean)", "from s", "chance"], [
        [f"which light direction ({light['num_values']} classes, held-out images)", cell(light, "z_mean"),
         cell(light, "s"), f"{light['chance_test']:.2f}"],
        [f"which unseen identity ({unseen['num_classes']} identities, classifier on half of each one's images, "
         "tested on the other half)", cell(unseen, "z_mean"), cell(unseen, "s"), f"{unseen['chance_test']:.2f}"]])
    blocks = {"identity": e, "lighting": light | {"num_train": e["num_train"], "num_test": e["num_test"]}}
    return "\n".join([*main, "", *questions, "", protocol_line(blocks)])


SPRITE_FACTORS = ("view", "action", "sex", "body", "armor", "hair", "arms", "greaves", "weapon")


def sprites(root: Path) -> str:
    e = evaluation(root, "checkpoints/sprites/metrics.json")
    unseen, factors = e["unseen"], e["factors"]
    steps = e.get("training_steps")
    first = table([f"`checkpoints/sprites` ({steps:,} steps)", "z test (sample)", "z test (mean)", "s test", "chance"], [
        ["character identity (500 classes), held-out sequences", *(cell(e, c) for c in CODES), f"{e['chance_test']:.2f}"],
        ["unseen characters (100; classifier on half of each one's frames)", *(cell(unseen, c) for c in CODES),
         f"{unseen['chance_test']:.2f}"]])
    second = table(["factor (test %)", *SPRITE_FACTORS],
                   [["from z (mean)", *(cell(factors[f], "z_mean") for f in SPRITE_FACTORS)],
                    ["from s", *(cell(factors[f], "s") for f in SPRITE_FACTORS)]])
    return "\n".join([*first, "", *second, "", protocol_line({"identity": e})])


SECTIONS = [
    Section("mnist", mnist_main),
    Section("mnist-authors", mnist_authors),
    Section("mnist-recipes", mnist_recipes),
    Section("mnist-sweep", mnist_sweep),
    Section("yaleb", yaleb),
    Section("sprites", sprites),
]


# ------------------------------------------------------------------------------------------- the README

def _markers(name: str) -> tuple[str, str]:
    return f"<!-- report:{name} -->", f"<!-- /report:{name} -->"


def marked_blocks(text: str) -> dict[str, str]:
    """The README's marked blocks, name -> the text between the markers (stripped)."""
    found = {}
    for m in re.finditer(r"<!-- report:([\w-]+) -->\n(.*?)\n<!-- /report:\1 -->", text, flags=re.S):
        if m.group(1) in found:
            raise ReportError(f"section {m.group(1)!r} is marked twice")
        found[m.group(1)] = m.group(2).strip()
    opened = set(re.findall(r"<!-- report:([\w-]+) -->", text))
    if opened != set(found):
        raise ReportError(f"sections opened but not closed (<!-- /report:NAME -->): {sorted(opened - set(found))}")
    return found


def build(root: Path, sections: list[Section] | None = None) -> dict[str, str]:
    return {s.name: s.build(root).strip() for s in (SECTIONS if sections is None else sections)}


def differences(readme: str, generated: dict[str, str]) -> list[str]:
    """Sections whose README block differs from the generated text (a marked block no builder knows is one too)."""
    blocks = marked_blocks(readme)
    out = [f"{name}: the README's block differs from what python -m train.report writes"
           for name, text in generated.items() if name in blocks and blocks[name] != text]
    out += [f"{name}: marked in the README, but no section of train.report builds it"
            for name in blocks if name not in generated]
    return out


def rewrite(readme: str, generated: dict[str, str]) -> str:
    """The README with each marked block replaced by its generated text."""
    blocks = marked_blocks(readme)
    for name, text in generated.items():
        if name in blocks:
            start, end = _markers(name)
            block = f"{start}\n{text}\n{end}"
            readme = re.sub(re.escape(start) + r"\n.*?\n" + re.escape(end), lambda _m, b=block: b, readme, count=1,
                            flags=re.S)
    return readme


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m train.report", __doc__)
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root holding the recorded files")
    parser.add_argument("--readme", type=Path, default=None, help="default: <root>/README.md")
    parser.add_argument("--write", action="store_true", help="rewrite the README's marked blocks")
    parser.add_argument("--check", action="store_true", help="exit 1 when a marked block differs")
    parser.add_argument("--section", nargs="+", default=None, choices=[s.name for s in SECTIONS])
    args = parser.parse_args(argv)
    sections = [s for s in SECTIONS if args.section is None or s.name in args.section]
    readme_path = args.readme or args.root / README
    try:
        generated = build(args.root, sections)
        if args.check or args.write:
            readme = readme_path.read_text()
            if args.write:
                readme_path.write_text(rewrite(readme, generated))
                print(f"rewrote {', '.join(n for n in generated if n in marked_blocks(readme))} in {readme_path}")
                return 0
            diff = differences(readme, generated)
            for line in diff:
                print(line, file=sys.stderr)
            return 1 if diff else 0
    except (ReportError, ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name, text in generated.items():
        print(f"<!-- report:{name} -->\n{text}\n<!-- /report:{name} -->\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
