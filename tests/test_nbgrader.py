"""nbgrader end to end on the student edition's course: nbgrader is installed into its own venv under build/ (as
`make browser` installs Playwright: nothing of it enters the workbook's environment), then generate_assignment,
autograde of a correct and of a stubbed submission, and export. The correct one earns every code point, the stubbed
one none; `facekit grade` agrees, with one CSV row per student. The grading kernel is this Python (the course's
environment), started in the submission's folder, so it imports the submission's own facekit."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from facekit_tools import edition, edition_nbgrader, grading

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "build" / "nbgrader-venv"
#: The notebooks with graded code cells (02: T1 Q1-Q2, 05: T2 Q1-Q2, 07: T2 Q6).
GRADED_NOTEBOOKS = ["02_emotion_training", "05_fau_demo", "07_fewshot"]


def _nbgrader() -> Path:
    """build/nbgrader-venv/bin/nbgrader, installed from PyPI on first use."""
    exe = VENV / "bin" / "nbgrader"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        proc = subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "nbgrader"],
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"pip install nbgrader into {VENV} failed:\n{proc.stderr[-2000:]}"
    return exe


def _env(tmp: Path) -> dict:
    """nbgrader's own venv first on PATH (it runs alembic); Jupyter state in tmp; the 'python3' kernel is this
    Python (JUPYTER_PREFER_ENV_PATH=0: the kernelspec in tmp wins over the nbgrader venv's own)."""
    kernel = tmp / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3", "language": "python"}))
    env = dict(os.environ, PATH=f"{VENV / 'bin'}{os.pathsep}{os.environ['PATH']}", JUPYTER_DATA_DIR=str(tmp / "jupyter"),
               JUPYTER_CONFIG_DIR=str(tmp / "jupyter-config"), JUPYTER_PREFER_ENV_PATH="0", MPLBACKEND="Agg",
               OMP_NUM_THREADS="1", FACEKIT_THREADS="1")
    for key in ("PYTHONPATH", "FACEKIT_ROOT", "FACEKIT_CKPT_DIR"):  # the kernel must find facekit in the submission
        env.pop(key, None)
    return env


def _run(args, cwd, env, timeout=1800):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The course (quick notebooks), both submissions autograded, nbgrader's grades.csv and facekit grade's CSV."""
    nbgrader = str(_nbgrader())
    tmp = tmp_path_factory.mktemp("nbgrader")
    student = edition.build_student_edition(tmp / "student", ROOT)["out"]
    course = edition_nbgrader.write_course(student, tmp / "course", notebooks=GRADED_NOTEBOOKS, quick=True)
    env = _env(tmp)
    _run([nbgrader, "generate_assignment", edition_nbgrader.ASSIGNMENT, "--force"], course, env)
    release = course / "release" / edition_nbgrader.ASSIGNMENT
    for who in ("correct", "stubbed"):
        shutil.copytree(release, course / "submitted" / who / edition_nbgrader.ASSIGNMENT)
    correct = course / "submitted" / "correct" / edition_nbgrader.ASSIGNMENT
    for path in sorted({r.path for r in edition.module_regions(ROOT)}):   # the student wrote every code part
        shutil.copy2(ROOT / path, correct / path)
    _run([nbgrader, "autograde", edition_nbgrader.ASSIGNMENT, "--force"], course, env, timeout=3000)
    _run([nbgrader, "export"], course, env)
    with (course / "grades.csv").open() as fh:
        nbgrader_rows = {row["student_id"]: row for row in csv.DictReader(fh)}
    ours = grading.grade_submissions(course / "submitted", tmp / "grades.csv")
    return {"course": course, "nbgrader": nbgrader_rows, "facekit": {row["student"]: row for row in ours}}


def test_the_course_has_nbgraders_layout(graded):
    course = graded["course"]
    assert (course / "nbgrader_config.py").is_file() and (course / "gradebook.db").is_file()
    source = course / "source" / edition_nbgrader.ASSIGNMENT
    assert (source / "facekit" / "checks" / "__init__.py").is_file() and (source / "data").is_dir()
    assert 'raise NotImplementedError("Task 1 Q1' in (source / "facekit" / "emotion" / "xception.py").read_text()
    config = (course / "nbgrader_config.py").read_text()
    assert "facekit/fau/train.py" in config and "exclude_overwriting" in config


def test_code_points_full_for_correct_and_zero_for_stubbed(graded):
    release = graded["course"] / "release" / edition_nbgrader.ASSIGNMENT
    cells = [c for nb in sorted(release.glob("*.ipynb")) for c in nbformat.read(nb, as_version=4).cells
             if c.metadata.get("nbgrader", {}).get("grade")]
    code = [c for c in cells if c.cell_type == "code"]
    assert all(c.metadata["nbgrader"]["locked"] and "checks.grade(" in c.source for c in code) and len(code) == 4
    code_max = sum(c.metadata["nbgrader"]["points"] for c in code)
    rows = graded["nbgrader"]
    assert float(rows["correct"]["max_score"]) == code_max + sum(c.metadata["nbgrader"]["points"] for c in cells
                                                                 if c.cell_type == "markdown")
    assert float(rows["correct"]["score"]) == code_max, rows["correct"]
    assert float(rows["stubbed"]["score"]) == 0, rows["stubbed"]


def test_facekit_grade_writes_one_row_per_student(graded):
    rows = graded["facekit"]
    assert set(rows) == {"correct", "stubbed"}
    code_max = sum(points for points, _ in grading.POINTS.values())
    assert rows["correct"]["code_points"] == rows["correct"]["code_max"] == code_max, rows["correct"]["failures"]
    assert rows["stubbed"]["code_points"] == 0 and not any(rows["stubbed"][f"{q}_passed"] for q in grading.POINTS)
    assert "Task 1 Q1" in rows["stubbed"]["failures"] and "not written yet" in rows["stubbed"]["failures"]
