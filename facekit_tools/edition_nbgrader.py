"""The student edition as an nbgrader course: ``<out>/nbgrader/`` with ``nbgrader_config.py`` and
``source/<assignment>/`` (the student edition's notebooks with the ``facekit`` package, ``data/`` and
``pyproject.toml`` beside them, so the notebooks find their data and import the package of the folder they run in).

Why the *student* tree is the source: nbgrader clears solutions only in notebooks and copies every other file
unchanged, so a source holding the reference ``facekit`` would release the solutions. Here the modules are already
stubbed, and the notebooks carry nbgrader's metadata:

* the written answers: manually graded markdown cells (``solution`` + ``grade``, from the student edition);
* the modules the student writes (those with ``NotImplementedError("Task ...")`` stubs) are listed in
  ``Autograde.exclude_overwriting``: by default autograde replaces a submission's non-notebook files with the
  source's, which would grade the stubs instead of the student's code;
* the code parts: each notebook cell tagged ``check`` becomes a locked autograder cell with the points of
  :data:`facekit_tools.grading.POINTS`, which calls ``facekit.checks.grade(question)``: it raises (no points) unless every
  check of that part passes. nbgrader restores locked cells before autograding, so a student cannot edit them away.

When autograding, nbgrader runs the notebooks in the submission's folder; the kernel imports ``facekit`` from that
folder (the working directory comes first on ``sys.path``), i.e. the student's modules. ``quick=True`` (tests, CI)
sets the notebooks' ``QUICK`` / ``INTERACTIVE`` switches so an autograde run takes minutes.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat

from facekit_tools.grading import POINTS

COURSE_ID = "facekit"
ASSIGNMENT = "workbook"
#: The check call of a notebook's check cell -> the question key of facekit.checks.CHECKS / grading.POINTS.
_CHECK_CALLS = {"check_xception": "T1.Q1", "check_curves": "T1.Q2", "check_class_weights": "T1.Q6",
                "check_fau_model": "T2.Q1",
                "check_train_step": "T2.Q6"}
_STUB = re.compile(r'^\s*raise NotImplementedError\("Task \d', re.M)
_COPIED = ("facekit", "data", "pyproject.toml", "environment.yml", "README.md")
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")

CONFIG = '''"""nbgrader configuration of the facekit course (written by `facekit student-edition`)."""
import os

c = get_config()  # noqa: F821 - provided by nbgrader
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "{course}"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "figures", "build"]
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.Execute.timeout = {timeout}
# autograde overwrites a submission's other files with the source's; the modules the student writes are kept
c.Autograde.exclude_overwriting = {{"{assignment}": {student_files!r}}}
'''


def graded_cell(question: str) -> nbformat.NotebookNode:
    points, name = POINTS[question]
    source = (f"# Graded ({name}, {points} points): the checks of this part, with your facekit modules; it raises\n"
              "# while a check fails. Read the FAIL lines above it, fix your code, restart the kernel, run again.\n"
              "from facekit import checks\n\n"
              f'checks.grade("{question}")')
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": {
        "grade": True, "grade_id": f"code_{question.replace('.', '_')}", "locked": True, "points": points,
        "schema_version": 3, "solution": False, "task": False}, "tags": ["check"]})


def course_notebook(nb: nbformat.NotebookNode, quick: bool = False) -> nbformat.NotebookNode:
    """A student-edition notebook with its check cells turned into locked graded cells."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code" and "check" in cell.metadata.get("tags", []):
            called = [q for call, q in _CHECK_CALLS.items() if f"{call}(" in cell.source]
            if called:
                graded = graded_cell(called[0])
                graded.id = cell.id
                cell = graded
        elif quick and cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            cell.source = re.sub(r"^QUICK = \w+", "QUICK = True", cell.source, flags=re.M)
            cell.source = re.sub(r"^INTERACTIVE = \w+", "INTERACTIVE = False", cell.source, flags=re.M)
        cells.append(cell)
    nb.cells = cells
    return nb


def write_course(student: str | Path, out: str | Path, notebooks=None, quick: bool = False,
                 timeout: int = 1800) -> Path:
    """Write the nbgrader course of the student tree ``student`` to ``out``; ``notebooks``: stems to include
    (default all). Returns the course root."""
    student, out = Path(student), Path(out)
    source = out / "source" / ASSIGNMENT
    if out.exists():
        shutil.rmtree(out)
    source.mkdir(parents=True)
    student_files = sorted(p.relative_to(student).as_posix() for p in (student / "facekit").rglob("*.py")
                           if _STUB.search(p.read_text(encoding="utf-8")))
    (out / "nbgrader_config.py").write_text(CONFIG.format(course=COURSE_ID, timeout=int(timeout), assignment=ASSIGNMENT,
                                                          student_files=student_files), encoding="utf-8")
    for name in _COPIED:
        path = student / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=_SKIP)
        elif path.is_file():
            shutil.copy2(path, source / name)
    for nb_path in sorted((student / "notebooks").glob("*.ipynb")):
        if notebooks is None or nb_path.stem in notebooks:
            nb = course_notebook(nbformat.read(str(nb_path), as_version=4), quick)
            nbformat.write(nb, str(source / nb_path.name))
    return out
