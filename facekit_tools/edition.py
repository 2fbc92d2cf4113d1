"""The student edition: the same workbook with the assignment's code and written answers left to the student.

One source, two editions. Solution regions are marked the way nbgrader marks them, so an instructor can also hand
the source to nbgrader:

* in ``facekit`` modules, the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` comment lines. The
  comment block right above ``### BEGIN SOLUTION`` must start with ``# Task N Qk:`` and gives the hint; the student
  edition keeps the hint and replaces the region with ``raise NotImplementedError("Task N Qk: <hint>")``;
* in notebooks, cells tagged ``answer`` (``metadata.facekit.question`` = ``"T1.Q1"``..): the student edition turns
  each into an empty markdown answer cell that quotes the question and carries nbgrader's cell metadata
  (``solution`` + ``grade``, manually graded). A code answer cell keeps its measurements (later cells use them) but
  loses the statement that displays the **Answer.** text; the empty markdown answer cell follows it. Code cells
  with solution markers (none today) are cleared the same way as modules, as nbgrader's ``ClearSolutions`` does.

The notebook side is two nbconvert ``Preprocessor`` s (nbgrader itself is not a dependency: installing it would add
the ``notebook`` package and server extensions to the workbook's JupyterLab). :func:`build_student_edition` writes
the whole tree; :func:`restore_solutions` puts the source's solutions back into a built tree (the tests' round trip).
"""
from __future__ import annotations

import ast
import copy
import json
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearOutputPreprocessor, Preprocessor

from facekit_tools.edition_nbgrader import write_course
from facekit_tools.edition_prose import MODULES as PROSE_MODULES, DropProse, strip_prose
from facekit.io import atomic_write_text
from facekit import paths
import sys

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
#: The first line of a region's hint comment: ``# Task 1 Q2: ...``.
HINT_RE = re.compile(r"^#\s*(Task \d+ Q\d+):\s*(.*)$")
#: The text of an empty written answer (nbgrader's ``text_stub`` with our answer prefix).
ANSWER_STUB = "**Answer.** YOUR ANSWER HERE"
#: The file in a built tree that marks it as a student edition (so a rebuild may replace it).
STAMP = ".facekit-student-edition"
#: What the student tree holds, relative to the repository root (notebooks and facekit are processed, the rest copied).
COPIED = ("data", "facekit_tools", "pyproject.toml", "environment.yml")
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "cache", ".ipynb_checkpoints", "*.tmp")


class EditionError(ValueError):
    """The source's solution markers are malformed (the message names the file and line)."""


@dataclass(frozen=True)
class Region:
    """One solution region of a module: where it is, which question, the hint, and the solution lines."""
    path: str           # relative to the repository root
    line: int           # 1-based line of ``### BEGIN SOLUTION`` in the source
    question: str       # "Task 1 Q1"
    hint: str
    solution: tuple[str, ...]
    stub_line: int = 0  # 1-based line of the stub in the student edition (set by strip_solutions)

    @property
    def message(self) -> str:
        return f"{self.question}: {self.hint}"


def _hint_above(lines: list[str], index: int, where: str) -> tuple[str, str]:
    """The ``# Task N Qk: ...`` comment block that ends right above line ``index``."""
    start = index
    while start > 0 and lines[start - 1].strip().startswith("#") and not lines[start - 1].strip() in (BEGIN, END):
        start -= 1
        if HINT_RE.match(lines[start].strip()):
            break
    match = HINT_RE.match(lines[start].strip()) if start < index else None
    if not match:
        raise EditionError(f"{where}: '{BEGIN}' needs a hint comment right above it that starts with "
                           "'# Task N Qk: ' (the message of the student's NotImplementedError).")
    rest = [ln.strip().lstrip("#").strip() for ln in lines[start + 1:index]]
    return match.group(1), " ".join([match.group(2).strip(), *rest]).strip()


def find_regions(text: str, path: str = "<text>") -> list[Region]:
    """The solution regions of one module's source, in order; raises :class:`EditionError` on nested, unclosed or
    hint-less regions."""
    lines = text.split("\n")
    regions, begin = [], None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped == BEGIN:
            if begin is not None:
                raise EditionError(f"{path}:{i + 1}: nested '{BEGIN}' (the region opened at line {begin + 1} "
                                   f"has no '{END}').")
            begin = i
        elif stripped == END:
            if begin is None:
                raise EditionError(f"{path}:{i + 1}: '{END}' without a '{BEGIN}' before it.")
            question, hint = _hint_above(lines, begin, f"{path}:{begin + 1}")
            regions.append(Region(path, begin + 1, question, hint, tuple(lines[begin + 1:i])))
            begin = None
    if begin is not None:
        raise EditionError(f"{path}:{begin + 1}: '{BEGIN}' is never closed by '{END}'.")
    return regions


def stub_line(indent: str, message: str) -> str:
    return f"{indent}raise NotImplementedError({json.dumps(message, ensure_ascii=False)})"


def strip_solutions(text: str, path: str = "<text>") -> tuple[str, list[Region]]:
    """``text`` with every solution region (markers included) replaced by a ``NotImplementedError`` stub."""
    regions = find_regions(text, path)
    lines, out, skip_to, placed = text.split("\n"), [], -1, []
    by_line = {r.line - 1: r for r in regions}
    for i, line in enumerate(lines):
        if i in by_line:
            region = by_line[i]
            out.append(stub_line(line[:len(line) - len(line.lstrip())], region.message))
            placed.append(replace(region, stub_line=len(out)))
            skip_to = i + len(region.solution) + 1     # the END marker
        elif i > skip_to:
            out.append(line)
    return "\n".join(out), placed


def restore_module(student_text: str, source_text: str, path: str = "<text>") -> str:
    """Put the source's solution regions (with their markers) back in place of the stubs of a student module."""
    regions = find_regions(source_text, path)
    lines = student_text.split("\n")
    for region in regions:
        indent = None
        for i, line in enumerate(lines):
            if line.strip() == stub_line("", region.message):
                indent = line[:len(line) - len(line.lstrip())]
                lines[i:i + 1] = [indent + BEGIN, *region.solution, indent + END]
                break
        if indent is None:
            raise EditionError(f"{path}: no stub for the region of line {region.line} ({region.message[:60]}...).")
    return "\n".join(lines)


# --- notebooks -------------------------------------------------------------------------------------------------

def question_text(cells, index: int) -> str:
    """The heading and quoted question that an answer cell answers: its own (a markdown answer that starts with the
    heading) or the nearest ``## Q`` markdown cell above it."""
    for cell in [cells[index], *reversed(cells[:index])]:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("## Q"):
            lines = cell.source.strip().split("\n")
            keep = [lines[0], ""] + [ln for ln in lines[1:] if ln.startswith(">")]
            return "\n".join(keep).rstrip()
    return ""


def _is_answer_display(node: ast.stmt, source_lines: list[str]) -> bool:
    """A top-level ``display(Markdown(...))`` statement (the one that shows the **Answer.** text)."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return False
    func = node.value.func
    return isinstance(func, ast.Name) and func.id == "display" and any(
        isinstance(a, ast.Call) and getattr(a.func, "id", None) == "Markdown" for a in node.value.args)


def measurements_only(source: str) -> str:
    """A code answer cell without the statements that display the answer (the measurements stay). A display inside
    a block (``if labelled: ... else: display(...)``) becomes ``pass``, so the block stays valid Python."""
    tree = ast.parse(source)
    lines = source.split("\n")
    drop, passes = set(), {}
    for node in ast.walk(tree):
        blocks = [b for b in (getattr(node, "body", None), getattr(node, "orelse", None)) if isinstance(b, list)]
        for stmt in (s for block in blocks for s in block):
            if _is_answer_display(stmt, lines):
                drop.update(range(stmt.lineno - 1, stmt.end_lineno))
                if stmt.col_offset:
                    passes[stmt.lineno - 1] = " " * stmt.col_offset + "pass"
    kept = [passes.get(i, ln) for i, ln in enumerate(lines) if i not in drop or i in passes]
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept)


def nbgrader_metadata(question: str, points: int = 1, part: int = 1) -> dict:
    """nbgrader's metadata (schema 3) for a manually graded written answer ``question`` ("T1.Q1"); a question
    answered in several cells gets one grade id per ``part`` (nbgrader refuses a repeated id)."""
    grade_id = f"answer_{question.replace('.', '_')}" + (f"_part{part}" if part > 1 else "")
    return {"grade": True, "grade_id": grade_id, "locked": False, "points": points,
            "schema_version": 3, "solution": True, "task": False}


class BlankAnswers(Preprocessor):
    """Cells tagged ``answer`` -> an empty markdown answer cell with the question and nbgrader metadata; a code
    answer cell keeps its measurements, without the display of the answer, just above it."""

    def preprocess(self, nb, resources):
        cells, parts = [], {}
        for index, cell in enumerate(nb.cells):
            if "answer" not in cell.metadata.get("tags", []):
                cells.append(cell)
                continue
            question = cell.metadata.get("facekit", {}).get("question")
            if not question:
                raise EditionError(f"{resources.get('path', 'notebook')}: cell {cell.get('id')} is tagged 'answer' "
                                   "but has no metadata.facekit.question (\"T1.Q1\"..); add it.")
            parts[question] = parts.get(question, 0) + 1
            quoted = question_text(nb.cells, index)
            if cell.cell_type == "code":     # the heading is a few cells above: repeat only the quoted question
                quoted = "\n".join(ln for ln in quoted.split("\n") if ln.startswith(">"))
            answer = nbformat.v4.new_markdown_cell(
                (quoted + "\n\n" if quoted else "") + ANSWER_STUB,
                metadata={"tags": ["answer"], "facekit": {"question": question},
                          "nbgrader": nbgrader_metadata(question, part=parts[question])})
            if cell.cell_type == "code":
                kept = measurements_only(cell.source)
                answer.id = f"{cell.id}-answer" if kept.strip() else cell.id
                if kept.strip():
                    measured = copy.deepcopy(cell)
                    measured.source = "# The numbers your answer can use.\n" + kept
                    measured.metadata.pop("tags", None)
                    measured.metadata.pop("facekit", None)
                    cells.append(measured)
            else:
                answer.id = cell.id
            cells.append(answer)
        nb.cells = cells
        return nb, resources


class ClearSolutionCells(Preprocessor):
    """Code cells with solution markers: the region becomes the stub (as nbgrader's ``ClearSolutions``) and the
    cell gets nbgrader's ``solution`` metadata."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and BEGIN in cell.source:
            cell.source, regions = strip_solutions(cell.source, f"{resources.get('path', 'notebook')} cell {index}")
            cell.metadata["nbgrader"] = {"grade": False, "grade_id": f"code_{cell.get('id', index)}", "locked": False,
                                         "schema_version": 3, "solution": True, "task": False}
        return cell, resources


def student_notebook(path: str | Path) -> nbformat.NotebookNode:
    """The student version of one notebook (outputs cleared, answers blank, solution regions stubbed)."""
    nb = nbformat.read(str(path), as_version=4)
    resources = {"path": str(path)}
    for pre in (ClearOutputPreprocessor(), ClearSolutionCells(), DropProse(), BlankAnswers()):
        nb, resources = pre.preprocess(nb, resources)
    return nb


def restore_notebook(student: nbformat.NotebookNode, source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student notebook with the source's answer and solution cells put back (matched by cell id)."""
    by_id = {c.id: c for c in source.cells}
    cells = []
    for cell in student.cells:
        if cell.id.endswith("-answer") and cell.id[:-len("-answer")] in by_id:
            continue
        cells.append(copy.deepcopy(by_id[cell.id]) if cell.id in by_id else cell)
    out = copy.deepcopy(student)
    out.cells = cells
    return out


def write_notebook(nb, path: Path) -> None:

    text = nbformat.writes(nb)          # the layout of the committed notebooks (indent 1, sorted keys, split lines)
    atomic_write_text(path, text if text.endswith("\n") else text + "\n")


# --- the tree --------------------------------------------------------------------------------------------------

def module_regions(root: str | Path | None = None) -> list[Region]:
    """Every solution region in ``facekit/`` of the checkout ``root``."""
    root = Path(root) if root else _root()
    regions = []
    for path in sorted((root / "facekit").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if BEGIN in text:
            regions += find_regions(text, str(path.relative_to(root)))
    return regions


def _root() -> Path:

    return paths.repo_root()


def _prepare_out(out: Path) -> None:
    if out.exists() and not (out / STAMP).is_file() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not a student edition built by facekit (no {STAMP} in it): "
                              "choose an empty or new folder, nothing there is overwritten.")


def build_student_edition(out: str | Path | None = None, root: str | Path | None = None) -> dict:
    """Write the student tree to ``out`` (default ``build/student``) from the checkout ``root``.

    The tree is built beside ``out`` and swapped in at the end, so a failed build leaves the previous one intact.
    Returns a summary: the regions stripped, the answer cells blanked, the seconds it took.
    """
    t0 = time.perf_counter()
    root = Path(root) if root else _root()
    out = Path(out) if out else root / "build" / "student"
    _prepare_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        regions = []
        shutil.copytree(root / "facekit", tmp / "facekit", ignore=_SKIP)
        for path in sorted((tmp / "facekit").rglob("*.py")):
            text, rel = path.read_text(encoding="utf-8"), path.relative_to(tmp).as_posix()
            if BEGIN in text:
                text, found = strip_solutions(text, rel)
                regions += found
            if rel in PROSE_MODULES:
                text = strip_prose(text, rel)
            path.write_text(text, encoding="utf-8")
        answers = []
        (tmp / "notebooks").mkdir()
        for nb_path in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
            nb = student_notebook(nb_path)
            answers += [(nb_path.name, c.metadata["facekit"]["question"]) for c in nb.cells
                        if "nbgrader" in c.metadata and "facekit" in c.metadata]
            write_notebook(nb, tmp / "notebooks" / nb_path.name)
        for name in COPIED:
            src = root / name
            if src.is_dir():
                shutil.copytree(src, tmp / name, ignore=_SKIP)
            elif src.is_file():
                shutil.copy2(src, tmp / name)
        (tmp / "figures").mkdir()
        (tmp / "README.md").write_text(student_readme(regions, answers), encoding="utf-8")
        (tmp / STAMP).write_text("built by `facekit student-edition`; rebuilding replaces this folder\n")
        write_course(tmp, tmp / "nbgrader")
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return {"out": out, "regions": regions, "answers": answers, "seconds": time.perf_counter() - t0}


def restore_solutions(student_root: str | Path, root: str | Path | None = None) -> None:
    """Put the source's solutions back into a built student tree (modules and notebooks), in place."""
    student_root, root = Path(student_root), Path(root) if root else _root()
    for path in sorted((root / "facekit").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if BEGIN in text:
            rel = path.relative_to(root)
            target = student_root / rel
            target.write_text(restore_module(target.read_text(encoding="utf-8"), text, str(rel)), encoding="utf-8")
    for rel in PROSE_MODULES:                            # the answer prose, stubbed in the student tree
        shutil.copy2(root / rel, student_root / rel)
    for nb_path in sorted((student_root / "notebooks").glob("*.ipynb")):
        source = nbformat.read(str(root / "notebooks" / nb_path.name), as_version=4)
        write_notebook(restore_notebook(nbformat.read(str(nb_path), as_version=4), source), nb_path)


def student_readme(regions: list[Region], answers: list[tuple[str, str]]) -> str:
    """The README of the student tree: what to write where, how to check it, how to hand it in."""
    code = "\n".join(f"| {r.question} | `{r.path}` line {r.stub_line} | {r.hint} |" for r in regions)
    prose = "\n".join(f"| {q} | `notebooks/{nb}` |" for nb, q in answers)
    return f"""# facekit: the student edition

This is the facial-expression workbook with the parts the assignment asks you to write left open. Everything else
(data loading, training loops, Grad-CAM, metrics, figures) is there and runs as soon as your parts do.

## Set up

```bash
python3 -m venv .venv && .venv/bin/pip install -e '.[dev]'
.venv/bin/jupyter lab notebooks/
```

## What you write

Code: each open part raises `NotImplementedError("Task N Qk: ...")` with a hint; replace the `raise` line with your
code (keep the names given in the docstrings: the checks load the course's trained weights into your classes).

| question | where | hint |
|---|---|---|
{code}

Written answers: every empty cell that reads `{ANSWER_STUB}` (under the question it answers). Use the numbers the
notebook computes just above it; do not type numbers you did not measure.

| question | notebook |
|---|---|
{prose}

## In which order

A notebook stops at the first open part it uses, so write the parts in this order:

| part | notebooks that stop until it is written |
|---|---|
| Task 1 Q1 (`MiniXception`) | 01 (its realism judge is a mini-Xception), 02, 03, 04, 05 and 06 (they load the emotion model), 09 |
| Task 1 Q2 (`plot_loss`, `plot_acc`) | 02 (after training) |
| Task 1 Q6 (`class_weights`) | 04 (the re-weighted retraining) |
| Task 2 Q1-Q2 (`Bottleneck`, `_make_deconv_layer`) | 05, 06, 07, 08, 09 (every FAU model is built from them) |
| Task 2 Q6 (`train_step`) | 07, 08 (tuning and training call it) |

So: Task 1 Q1, then Q2 (notebook 02), Q6 (04); then Task 2 Q1-Q2 (notebook 05) **before** Q6: notebook 07, where
`train_step` is checked, first loads the FAU model, which needs your `Bottleneck` and deconvolution head.

## Which remedies and components you write

* **Task 1 Q6** asks you to choose a method against the class imbalance and to *implement it*. The workbook's
  method is class re-weighting, and its core, `class_weights` in `facekit/emotion/imbalance.py`, is yours to write:
  it has one right answer for given labels, so a check (`check_class_weights`) can tell you whether it is right.
  The training loop that applies the weights is given. If you choose another method (`METHOD = "finetune"` or
  `"transfer"` in notebook 04), say so in your answer; `class_weights` is still checked, because notebook 04 shows the
  weights whatever the method.
* **Task 2 Q11** asks you to implement a *novel* component of your own design. No check can judge a design it has
  never seen (a check against one reference component would reject every other correct one), so this part has no
  check: it is graded by hand, from your code and your written answer. The patch-attention component of notebook 08
  is the workbook's own example of such a component; its rationale is left for your answer.

## Checking your work

Right after each part, the notebook calls a check from `facekit.checks` (`check_xception`, `check_curves`,
`check_class_weights`, `check_fau_model`, `check_train_step`). It prints what passed and, when something is wrong,
what differs (a layer's output shape, the first layer whose outputs differ from the trained model's, a gradient that
accumulates), never the solution. In a course run with nbgrader these cells are locked graded cells: each part's
points are earned when its check passes, with your own `facekit` modules. After editing a `facekit` module, restart the kernel (or run `%load_ext autoreload` and `%autoreload 2`)
so the notebook sees your change. From a terminal: `python -m facekit.checks` runs them all.

A notebook stops at the first part that is still open, with that part's message. Headless:
`.venv/bin/facekit run --quick 02` runs one notebook in its small, fast mode.
"""


def _cmd_student_edition(args) -> int:

    try:
        summary = build_student_edition(args.out)
    except (EditionError, FileExistsError) as exc:
        print(f"facekit student-edition: {exc}", file=sys.stderr)
        return 1
    print(f"facekit student-edition: {summary['out']} written in {summary['seconds']:.1f} s: "
          f"{len(summary['regions'])} code regions stubbed, {len(summary['answers'])} written answers blanked")
    for region in summary["regions"]:
        print(f"  {region.question}  {region.path}:{region.line}")
    return 0


def add_command(subparsers) -> None:
    """``facekit student-edition [--out DIR]``."""
    cmd = subparsers.add_parser("student-edition", help="write the student edition (stubs, blank answers, checks)")
    cmd.add_argument("--out", metavar="DIR", help="where to write it (default: build/student)")
    cmd.set_defaults(func=_cmd_student_edition)
