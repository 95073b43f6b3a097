"""The package map in the README, checked against the tree: what may import what, file names owned by
core.checkpoint, and no page that asks a model's method by name instead of its capabilities."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UI = ["app.py", "app_gradio.py", "serve.py", "pages"]
# package -> top-level packages it must not import
FORBIDDEN = {
    "core": {"pages", "train", "tools", "streamlit", "gradio", "app", "app_gradio"},
    "train": {"pages", "tools", "streamlit", "gradio", "app", "app_gradio"},
    "tools": {"pages"},
    "ui": {"train", "tools"},
}
CHECKPOINT_NAMES = ("config.json", "model.safetensors", "metrics.json", "latents.safetensors", "train_state.json",
                    "train_state.safetensors", "train_config.json", "log.jsonl")


def python_files(*parts: str) -> list[Path]:
    files = []
    for part in parts:
        path = ROOT / part
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return files


def imported_packages(file: Path) -> set[str]:
    tree = ast.parse(file.read_text(), str(file))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_each_layer_imports_only_what_the_map_allows():
    layers = {"core": python_files("core"), "train": python_files("train"), "tools": python_files("tools"),
              "ui": python_files(*UI)}
    wrong = [f"{file.relative_to(ROOT)} imports {sorted(imported_packages(file) & FORBIDDEN[layer])}"
             for layer, files in layers.items() for file in files if imported_packages(file) & FORBIDDEN[layer]]
    assert not wrong, "\n".join(wrong)


def test_only_core_checkpoint_names_checkpoint_files():
    names = "|".join(re.escape(n) for n in CHECKPOINT_NAMES)
    pattern = re.compile(rf"""["']({names})["']""")
    owner = ROOT / "core" / "checkpoint.py"
    hits = [f"{file.relative_to(ROOT)}:{i}" for file in python_files("core", "train", "tools", *UI) if file != owner
            for i, line in enumerate(file.read_text().splitlines(), 1) if pattern.search(line)]
    assert not hits, hits


def test_pages_ask_capabilities_not_method_names():
    hits = [f"{file.relative_to(ROOT)}:{i}" for file in python_files(*UI)
            for i, line in enumerate(file.read_text().splitlines(), 1) if re.search(r"method\s*[!=]=", line)]
    assert not hits, hits


def test_the_readme_map_names_every_package():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Package map")
    section = readme[start:readme.index("\n## ", start + 1)]
    packages = [p.name for p in (ROOT / "core").iterdir() if p.is_dir() and (p / "__init__.py").is_file()]
    for name in ["app.py", "pages/", "app_gradio.py", "serve.py", "train/", "tools/", "core/", *(f"{p}/" for p in packages)]:
        assert name in section, f"the README's package map does not mention {name}"
