"""The dataset registry: one DatasetSpec per dataset, asked instead of dataset names everywhere outside core/data."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from core.data import REGISTRY, DataError, DatasetSpec, dataset_spec, load_dataset, spec_for
from core.data.registry import UNKNOWN, YALE_FRAMING
from core.data.synthetic import SYNTHETIC
from core.models import ModelConfig

ROOT = Path(__file__).resolve().parents[1]
NAMES = {*REGISTRY, SYNTHETIC}


def _names_in(node: ast.AST) -> set[str]:
    """The dataset names written as string constants in ``node`` (a constant, or a tuple/list/set of them)."""
    items = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
    return {i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str) and i.value in NAMES}


def name_comparisons(file: Path) -> list[str]:
    """Where ``file`` compares something with a dataset name: ==, !=, in, not in, or .startswith/.endswith."""
    hits = []
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops):
            names = set().union(*(_names_in(side) for side in [node.left, *node.comparators]))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("startswith", "endswith") and node.args:
            names = _names_in(node.args[0])
        else:
            continue
        if names:
            hits.append(f"{file.relative_to(ROOT)}:{node.lineno} compares with {sorted(names)}")
    return hits


def test_no_dataset_name_is_compared_outside_core_data():
    files = [f for part in ("core", "train", "tools", "pages") for f in sorted((ROOT / part).rglob("*.py"))
             if (ROOT / "core" / "data") not in f.parents] + [ROOT / "app.py", ROOT / "app_gradio.py", ROOT / "serve.py"]
    hits = [hit for file in files for hit in name_comparisons(file)]
    assert not hits, "ask core.data.spec_for(name) instead:\n" + "\n".join(hits)


def test_the_instrument_finds_a_comparison(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('if cfg.dataset == "celeba" or name.startswith(("yaleb", "orl")) or d in ("mnist",):\n    pass\n')
    bad = bad.rename(ROOT / "tests" / "_registry_probe.py")
    try:
        assert len(name_comparisons(bad)) == 3
    finally:
        bad.unlink()


def test_every_spec_is_whole():
    for name, spec in REGISTRY.items():
        assert spec.name == name and spec.title and callable(spec.load)
        assert {"train", "test"} <= set(spec.splits)
        assert not spec.unseen or "unseen" in spec.splits, f"{name} names unseen identities but has no unseen split"
        assert not (spec.holdout and len(spec.splits) > 2), f"{name}: a holdout set has only train and test"
    faces = sorted((s for s in REGISTRY.values() if s.is_face), key=lambda s: s.face_rank)
    ranks = [s.face_rank for s in faces]
    assert ranks == sorted(set(ranks)), "face ranks must be distinct"
    assert faces[0].name == "celeba" and spec_for("yaleb").framing == YALE_FRAMING
    with pytest.raises(ValueError, match="kind"):
        DatasetSpec("x", "X", "music", REGISTRY["folder"].load)


def test_spec_for_a_model_config_and_for_names_it_does_not_know():
    assert spec_for("celeba").landmarks and not spec_for("yaleb").landmarks
    assert spec_for("celeba-aligned") is REGISTRY["celeba"]  # a variant of a registered name
    assert spec_for(SYNTHETIC) is UNKNOWN and not UNKNOWN.is_face
    with pytest.raises(ValueError, match="valid: mnist"):
        dataset_spec("lfw")
    with pytest.raises(ValueError, match="unknown split 'unseen' for mnist"):
        load_dataset("mnist", "/nowhere", "unseen")


def test_a_new_face_dataset_is_one_registration(tmp_path, monkeypatch):
    """What README "Extending" promises: a loader and one spec make a face dataset that load_dataset, the Few-shot
    page's model choice, uploads' alignment and the home grid's words all know."""
    from core import service
    from core.data.synthetic import synthetic_faces
    from core.features.home import grid_explanation

    spec = DatasetSpec("lfw", "LFW", "faces", lambda root, split, **_: dataclasses.replace(synthetic_faces(), name="lfw"),
                       holdout=True, landmarks=True, face_rank=9, grid="Rows: the rest. Columns: the person.")
    monkeypatch.setitem(REGISTRY, "lfw", spec)
    data = load_dataset("lfw", tmp_path, "test")
    assert 0 < len(data) < len(synthetic_faces())  # the holdout applied
    config = ModelConfig(image_shape=(1, 64, 64), dataset="lfw")
    assert service.is_face_model(config) and spec_for(config.dataset).landmarks
    assert grid_explanation(config) == spec.grid
    with pytest.raises(DataError):
        load_dataset("celeba", tmp_path / "missing", "train")
