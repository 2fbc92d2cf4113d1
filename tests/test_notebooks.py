"""Every notebook: committed clean, one parameters cell, and runs headless in QUICK mode writing what it promises."""
from __future__ import annotations

import json
import re

import nbformat
import pytest

from facekit_tools.cli import main as cli_main
from facekit_tools.runner import NotebookFailed, execute_notebook, list_notebooks

NOTEBOOKS = list_notebooks()


def test_the_workbook_has_numbered_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no NN_name.ipynb"
    assert NOTEBOOKS[0].name == "00_setup.ipynb"


@pytest.mark.skipif(not (NOTEBOOKS[0].parents[1] / ".git").exists() if NOTEBOOKS else True,
                    reason="not a git checkout: supplementary.zip ships executed notebooks, outputs included, on purpose")
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(notebook):
    nb = nbformat.read(notebook, as_version=4)
    dirty = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{notebook.name}: cells {dirty} carry outputs or execution counts; strip them before commit"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_one_parameters_cell(notebook):
    nb = nbformat.read(notebook, as_version=4)
    tagged = [cell for cell in nb.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{notebook.name}: {len(tagged)} cells tagged 'parameters', expected exactly 1"
    for name in ("QUICK", "INTERACTIVE", "OUT_DIR", "CKPT_DIR", "SEED"):
        assert re.search(rf"^{name}(: [^=]+)? = ", tagged[0].source, re.M), \
            f"{notebook.name}: parameters cell lacks {name}"


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_quick_and_writes_results(notebook, run_notebook):
    out = run_notebook(notebook.stem)
    metrics = json.loads((out / "metrics.json").read_text())
    assert isinstance(metrics, dict) and metrics, f"{notebook.name}: metrics.json is empty"
    figures = list(out.glob("*.png")) + list(out.glob("*.jpg"))
    assert figures, f"{notebook.name}: wrote no figure into {out}"
    assert all(f.stat().st_size > 1000 for f in figures), "a figure file is suspiciously small"


def test_setup_notebook_reports_environment(run_notebook):
    metrics = json.loads((run_notebook("00_setup") / "metrics.json").read_text())
    assert metrics["device"] in {"cpu", "cuda", "mps"}
    assert metrics["repeatable"] is True
    assert all(v > 0 for v in metrics["conv_img_per_s"].values())


def _failing_notebook(path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("QUICK = False\nINTERACTIVE = True", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("raise ValueError('deliberate failure')"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)
    return path


def test_failing_notebook_names_notebook_and_cell(tmp_path):
    notebook = _failing_notebook(tmp_path / "99_broken.ipynb")
    with pytest.raises(NotebookFailed) as info:
        execute_notebook(notebook, quick=True, executed_dir=tmp_path / "executed")
    assert info.value.cell == 3
    message = str(info.value)
    assert "99_broken.ipynb" in message and "cell 3" in message and "deliberate failure" in message
    assert (tmp_path / "executed" / "99_broken.ipynb").is_file(), "the failed executed notebook must be kept"


def test_facekit_run_exits_nonzero_on_failure(tmp_path, capsys, monkeypatch):
    notebook = _failing_notebook(tmp_path / "99_broken.ipynb")
    monkeypatch.setenv("FACEKIT_ROOT", str(__import__("facekit").repo_root()))
    status = cli_main(["run", "--quick", "--out", str(tmp_path / "out"), str(notebook)])
    assert status == 1
    err = capsys.readouterr().err
    assert "99_broken.ipynb" in err and "cell 3" in err


def test_facekit_run_rejects_unknown_notebook(capsys):
    assert cli_main(["run", "no_such_notebook"]) == 2
    assert "no_such_notebook" in capsys.readouterr().err


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_as_nbformat_writes_it(notebook):
    """Hand-edited JSON (keys out of order, a cell without its id) breaks the student edition's round trip."""
    text = notebook.read_text(encoding="utf-8")
    assert nbformat.writes(nbformat.read(notebook, as_version=4)) + "\n" == text or \
        nbformat.writes(nbformat.read(notebook, as_version=4)) == text, \
        f"{notebook.name}: rewrite it with nbformat (nbformat.write(nbformat.read(path, 4), path))"
