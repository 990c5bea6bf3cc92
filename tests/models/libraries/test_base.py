"""Which library a model comes from is decided in one place: helpers/models/libraries/.

Every other module asks the model's adapter (``adapter_for``, ``loaded.adapter``). This test
reads every helpers module with ``ast`` and fails where one outside the adapters imports a
model library's model classes or branches on a library's name.
"""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from tiny_vits import tiny_trio

from helpers.models.libraries import (
    ADAPTERS,
    LIBRARIES,
    LibraryAdapter,
    adapter_for,
    adapter_named,
    logits_of,
)

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "helpers"
ADAPTERS_DIR = PACKAGE / "models" / "libraries"
NAMES = frozenset(LIBRARIES)

#: Modules that must build a library's own classes, and why (the adapters need none of them).
MAY_IMPORT_MODEL_CLASSES = {
    "models/loading.py": "calls each library's own factory (create_model, get_model, "
                         "from_pretrained) and the stand-in checkpoint into timm's class",
    "models/convert.py": "copies timm weights into torchvision's and transformers' classes",
    "models/architectures.py": "the table of torchvision's ViT family, built without weights",
    "exercises/classification.py": "checks answers against torchvision's weight metadata",
    "exercises/huggingface.py": "exercises on transformers' and timm's classes (notebook 02)",
    "exercises/embeddings.py": "builds a small ViTModel to check an answer",
    "exercises/finetuning.py": "builds a small timm ViT to check an answer",
}

#: Submodules of the libraries that hold no model class (data, layers, image processors).
ALLOWED_SUBMODULES = ("timm.data", "timm.layers", "torchvision.datasets", "torchvision.transforms",
                      "torchvision.io", "torchvision.utils")


def _helpers_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if ADAPTERS_DIR not in p.parents)


def _only_version_read(tree: ast.AST, alias: ast.alias) -> bool:
    name = alias.asname or alias.name
    uses = [node for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == name]
    return all(node.attr == "__version__" for node in uses)


def _model_class_imports(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in ("timm", "transformers") and _only_version_read(tree, alias):
                    continue  # e.g. data/preprocessing: transformers 4 vs 5 image processors
                if alias.name.split(".")[0] in ("timm", "transformers") or \
                        alias.name.startswith("torchvision.models"):
                    found.append(f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            top = node.module.split(".")[0]
            if node.module.startswith(ALLOWED_SUBMODULES):
                continue
            if top == "transformers":
                found += [f"from transformers import {a.name}" for a in node.names
                          if not a.name.endswith(("ImageProcessor", "ImageProcessorFast"))]
            elif top == "timm" or node.module.startswith("torchvision.models") or (
                    node.module == "torchvision" and any(a.name == "models" for a in node.names)):
                found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Attribute) and node.attr == "models" and \
                isinstance(node.value, ast.Name) and node.value.id == "torchvision":
            found.append("torchvision.models")
    return found


def _library_name_branches(tree: ast.AST) -> list[str]:
    """Comparisons (==, !=, in, match) with "torchvision", "transformers" or "timm"."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                strings = [side] if isinstance(side, ast.Constant) else getattr(side, "elts", [])
                found += [f"line {node.lineno}: compares with {s.value!r}" for s in strings
                          if isinstance(s, ast.Constant) and s.value in NAMES]
        elif isinstance(node, ast.MatchValue) and isinstance(node.value, ast.Constant) \
                and node.value.value in NAMES:
            found.append(f"line {node.lineno}: case {node.value.value!r}")
    return found


@pytest.mark.parametrize("path", _helpers_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_outside_the_adapters_branches_on_the_library(path):
    tree = ast.parse(path.read_text())
    where = str(path.relative_to(PACKAGE))
    branches = _library_name_branches(tree)
    assert not branches, f"helpers/{where} branches on a library's name ({branches}); ask " \
                         "the model's adapter (helpers.models.libraries.adapter_for) instead"
    if where not in MAY_IMPORT_MODEL_CLASSES:
        imports = _model_class_imports(tree)
        assert not imports, f"helpers/{where} imports model classes ({imports}); that " \
                            "belongs in its library's adapter under helpers/models/libraries/"


def test_the_checks_catch_what_they_forbid():
    bad = ast.parse("import timm\ntimm.create_model('x')\nfrom transformers import ViTModel\n"
                    "import torchvision\n"
                    "m = torchvision.models.vit_b_16()\nif library == 'timm': pass\n"
                    "ok = x in ('torchvision', 'y')\n")
    assert len(_model_class_imports(bad)) == 3
    assert len(_library_name_branches(bad)) == 2
    fine = ast.parse("from timm.data import resolve_data_config\n"
                     "from transformers import AutoImageProcessor\nname = 'timm'\n"
                     "import transformers\nmajor = transformers.__version__[0]\n")
    assert _model_class_imports(fine) == [] and _library_name_branches(fine) == []


def test_the_allowed_list_names_existing_modules():
    missing = [m for m in MAY_IMPORT_MODEL_CLASSES if not (PACKAGE / m).is_file()]
    assert not missing


def test_one_adapter_module_per_library():
    assert LIBRARIES == ("torchvision", "transformers", "timm")
    assert all(isinstance(adapter, LibraryAdapter) for adapter in ADAPTERS)
    modules = sorted(p.stem for p in ADAPTERS_DIR.glob("*_vit.py"))
    assert modules == sorted(f"{name}_vit" for name in LIBRARIES)


@pytest.mark.api
def test_adapter_for_recognises_each_library_and_prefers_the_carried_one():
    trio = tiny_trio(seed=5)
    for library, model in trio.items():
        assert adapter_for(model) is adapter_named(library)
        assert adapter_for(SimpleNamespace(model=model)) is adapter_named(library)
    carried = SimpleNamespace(model=trio["timm"], adapter=adapter_named("timm"))
    assert adapter_for(carried).name == "timm"
    with pytest.raises(ValueError, match="library must be one of torchvision, transformers, "
                                         "timm; got 'keras'"):
        adapter_named("keras")


def test_copies_and_pickles_keep_the_one_adapter():
    import copy
    import pickle

    for adapter in ADAPTERS:
        assert copy.copy(adapter) is adapter and copy.deepcopy(adapter) is adapter
        assert pickle.loads(pickle.dumps(adapter)) is adapter


def test_the_adapters_docstring_maps_its_modules():
    doc = ast.get_docstring(ast.parse((ADAPTERS_DIR / "__init__.py").read_text())) or ""
    modules = sorted(p.stem for p in ADAPTERS_DIR.glob("*.py") if p.stem != "__init__")
    assert not [m for m in modules if f"``{m}``" not in doc]


def test_logits_of_reads_both_kinds_of_output():
    logits = torch.randn(2, 3)
    assert logits_of(logits) is logits
    assert logits_of(SimpleNamespace(logits=logits)) is logits
