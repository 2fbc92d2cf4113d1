"""facekit.quick: one table says what QUICK means; setup hands each notebook its sizes; text for QUICK is refused."""
from __future__ import annotations

import ast

import nbformat
import pytest

import facekit as fk
from facekit.quick import QUICK_SIZES, check_quick, quick_sizes
from facekit_tools.runner import list_notebooks


def test_full_run_keeps_every_size():
    sizes = quick_sizes("07_fewshot", False, {"lrs": [1, 2, 3], "seeds": [0, 1, 2], "epochs": 5, "other": 9})
    assert vars(sizes) == {"lrs": [1, 2, 3], "seeds": [0, 1, 2], "epochs": 5, "other": 9}


def test_quick_run_takes_the_table_and_its_functions_of_the_full_value():
    sizes = quick_sizes("07_fewshot", True, {"lrs": [1, 2, 3, 4], "seeds": [5, 6, 7], "epochs": 1, "other": 9})
    assert sizes.lrs == [2, 3] and sizes.seeds == [5, 6] and sizes.epochs == 1
    assert sizes.other == 9, "a size the table does not name keeps its full value"


@pytest.mark.parametrize("text", ["false", "False", "0", 0, 1, None])
def test_quick_must_be_a_bool(text):
    with pytest.raises(TypeError, match="QUICK must be True or False"):
        check_quick(text)


def test_setup_refuses_quick_as_text_and_hands_out_sizes(tmp_path):
    with pytest.raises(TypeError, match="papermill"):
        fk.setup("01_data", out_dir=tmp_path, ckpt_dir=tmp_path, quick="false", n_scale=1.0)
    ctx = fk.setup("01_data", out_dir=tmp_path, ckpt_dir=tmp_path, quick=True, n_scale=1.0, bench_faces=4000)
    assert ctx.quick and ctx.sizes.n_scale == QUICK_SIZES["01_data"]["n_scale"] and ctx.sizes.bench_faces == 500


def _setup_sizes(notebook) -> set[str] | None:
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "code" and "fk.setup(" in cell.source:
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "setup":
                    return {k.arg for k in node.keywords} - {"seed", "out_dir", "ckpt_dir", "device", "quick"}
    return None


@pytest.mark.parametrize("notebook", list_notebooks(), ids=lambda p: p.stem)
def test_each_notebook_hands_setup_exactly_the_sizes_the_table_shrinks(notebook):
    """No ``x if QUICK else N`` by hand: a size the table names is passed to setup, and the table names no size a
    notebook no longer has."""
    passed = _setup_sizes(notebook)
    assert passed is not None, f"{notebook.name}: no fk.setup(...) call"
    assert set(QUICK_SIZES.get(notebook.stem, {})) == passed, notebook.name
    by_hand = [line.strip() for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"
               for line in c.source.splitlines() if "if QUICK else" in line and not line.startswith(ALLOWED)]
    assert not by_hand, f"{notebook.name}: sizes derived by hand from QUICK (pass them to fk.setup): {by_hand}"


#: Ternaries on QUICK that are not sizes: 02's real-data subsample is a parameter of its own, 05's retraining recipe.
ALLOWED = ("n_scale = QUICK_N_SCALE if QUICK else N_SCALE", "RETRAIN_SETTINGS = dict(")
