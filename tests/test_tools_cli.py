"""The ``facekit`` front: ``--version`` and ``facekit run -p NAME VALUE``."""
from __future__ import annotations

import pytest

import facekit
from facekit_tools import runner
from facekit_tools.cli import main as cli_main


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"facekit {facekit.__version__} (distribution facekit-workbook)"


@pytest.mark.parametrize("text,value", [("3", 3), ("0.5", 0.5), ("True", True), ("false", False), ("None", None),
                                        ("'x'", "x"), ("data/test", "data/test"), ("model.t7", "model.t7"),
                                        ("(1, 2)", (1, 2))])
def test_parameter_values_are_literals_or_text(text, value):
    assert runner.parse_parameter(text) == value


def test_run_passes_parameters_only_to_notebooks_that_declare_them(monkeypatch):
    seen = {}

    def fake_execute(notebook, **kwargs):
        seen[notebook.stem] = kwargs["parameters"]
        return runner.NotebookRun(notebook, notebook, None, 0.0)

    monkeypatch.setattr(runner, "execute_notebook", fake_execute)
    assert cli_main(["run", "--quiet", "01", "02", "-p", "SEED", "7", "-p", "EPOCHS", "2"]) == 0
    assert "SEED" in runner.notebook_parameters(runner.resolve_notebooks(["01"])[0])
    assert seen["01_data"] == {"SEED": 7}
    assert seen["02_emotion_training"]["EPOCHS"] == 2


def test_run_refuses_a_parameter_no_notebook_declares(monkeypatch, capsys):
    monkeypatch.setattr(runner, "execute_notebook", lambda *a, **k: pytest.fail("ran before the check"))
    assert cli_main(["run", "01", "-p", "CHEKPOINT", "x.pt"]) == 2
    err = capsys.readouterr().err
    assert "CHEKPOINT" in err and "QUICK" in err
