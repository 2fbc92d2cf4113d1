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
