"""`facekit run`: cells and their printed progress reach the terminal, `--out` keeps every output, parameters cells
that papermill parses, the thread policy the kernels get."""
import ast
import json
import os
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from facekit import paths
from facekit_tools import runner
from facekit.emotion.train import epoch_line
from facekit.runtime import thread_policy

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_lists_every_parameter_with_its_comment(notebook):
    """What `papermill --help-notebook` shows: every assignment of the parameters cell, each with its comment."""
    from papermill.translators import PythonTranslator  # what --help-notebook uses for a Python kernel

    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assigned = [t.id for node in ast.parse(cell.source).body
                for t in getattr(node, "targets", None) or [getattr(node, "target", None)] if t is not None]
    listed = {p.name: p.help for p in PythonTranslator.inspect(cell)}
    assert assigned and list(listed) == assigned, f"papermill does not parse {set(assigned) - set(listed)}"
    assert all(listed.values()), f"parameters without a comment: {[k for k, v in listed.items() if not v]}"


def test_the_parameter_check_catches_a_line_papermill_cannot_parse():
    from papermill.translators import PythonTranslator

    bad = "N_SCALE = 1.0  # size (1.0 = 35,887 faces)\nSEED = 0  # seed\n"
    assert [p.name for p in PythonTranslator.inspect({"source": bad})] == ["SEED"]


def test_echo_keeps_complete_lines_and_the_last_carriage_return_state():
    lines = []
    echo = runner._Echo(write=lines.append, indent="> ")
    echo.write("epoch 1/2: loss 1.0\nbar 10%\rbar 50%\rbar 100%\n\npart")
    echo.write("ial line\n")
    assert lines == ["> epoch 1/2: loss 1.0", "> bar 100%", "> partial line"]


def test_epoch_line_has_epoch_loss_accuracy_rate_and_eta():
    history = pd.DataFrame([{"epoch": 1, "train_loss": 1.5, "train_acc": 0.4, "public_acc": 0.45,
                             "train_seconds": 50.0, "eval_seconds": 10.0, "train_img_per_s": 574.2},
                            {"epoch": 2, "train_loss": 1.2, "train_acc": 0.5, "public_acc": 0.52,
                             "train_seconds": 30.0, "eval_seconds": 10.0, "train_img_per_s": 957.0}])
    line = epoch_line(history, 20)
    assert line == "epoch 2/20: loss 1.200, acc 0.500, public 0.520, 957 img/s, ETA 15 min 0 s"
    assert epoch_line(history, 2).endswith("ETA 0 s")


def test_run_with_out_keeps_everything_there_and_shows_cells(tmp_path, capsys):
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python",
                                                            "display_name": "Python 3"},
                                             "language_info": {"name": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("QUICK = False  # q\nINTERACTIVE = True  # i\nOUT_DIR = None  # o\n"
                                          "CKPT_DIR = None  # c", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("# train the model\nimport os\nfor e in range(2):\n"
                                          "    print(f'epoch {e + 1}/2: loss 0.5, ETA 1 s')\n"
                                          "print(os.environ.get('OMP_WAIT_POLICY'))")]
    notebook = tmp_path / "99_probe.ipynb"
    nbformat.write(nb, notebook)
    build_copy = paths.build_dir("notebooks") / notebook.name
    assert not build_copy.exists()
    runs = runner.run_notebooks([str(notebook)], quick=True, out=tmp_path / "out", echo=True)
    assert runs[0].executed == tmp_path / "out" / "notebooks" / notebook.name and runs[0].executed.is_file()
    assert not build_copy.exists(), "--out must leave build/notebooks/ untouched"
    printed = capsys.readouterr().out
    assert "99_probe cell 3/3: # train the model" in printed  # papermill adds the injected-parameters cell
    assert "epoch 2/2: loss 0.5, ETA 1 s" in printed
    expected = os.environ.get("OMP_WAIT_POLICY")
    assert f"    {expected}" in printed.splitlines(), "the kernel inherits the wait policy unchanged"


def test_thread_policy_uses_free_cores_and_honours_overrides():
    assert thread_policy(busy=0.1, cores=2, env={}).threads == 2
    assert thread_policy(busy=1.0, cores=2, env={}).threads == 1
    assert thread_policy(busy=3.0, cores=2, env={}).threads == 1
    assert thread_policy(busy=0.0, cores=8, env={}).threads == 8
    assert thread_policy(busy=3.2, cores=8, env={}).threads == 5
    assert thread_policy(busy=0.45, cores=2, env={}).threads == 1, "0.4 of a core taken already costs a thread"
    busy = thread_policy(busy=1.0, cores=2, env={})
    assert busy.adaptive and "unset" in busy.wait_policy and "1.0 of 2 cores busy" in busy.reason
    forced = thread_policy(busy=0.0, cores=2, env={"FACEKIT_THREADS": "1", "OMP_WAIT_POLICY": "active"})
    assert (forced.threads, forced.wait_policy) == (1, "ACTIVE") and "FACEKIT_THREADS" in forced.reason
    assert not forced.adaptive, "a forced count is never changed by the governor"
    with pytest.raises(ValueError, match="FACEKIT_THREADS='two'.*whole number"):
        thread_policy(busy=0.0, cores=2, env={"FACEKIT_THREADS": "two"})
