"""The student edition: `make student` builds a complete tree, no solution text leaks into it, its notebooks stop at
the first open part with that part's message, and with the solutions put back it is the source again and runs."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from facekit_tools import edition, edition_prose

ROOT = Path(__file__).resolve().parents[1]
PYTHON = Path(sys.executable)

#: The regions the assignment leaves to the student: (file, question) -> how many regions.
EXPECTED_REGIONS = {
    ("facekit/emotion/xception.py", "Task 1 Q1"): 6,       # Stem, XceptionBlock (init + forward), MiniXception
    ("facekit/emotion/plots.py", "Task 1 Q2"): 3,          # _plot_curves, plot_loss, plot_acc
    ("facekit/emotion/imbalance.py", "Task 1 Q6"): 1,      # class_weights, the re-weighting remedy
    ("facekit/fau/model.py", "Task 2 Q1"): 2,              # Bottleneck __init__ + forward
    ("facekit/fau/model.py", "Task 2 Q2"): 1,              # _make_deconv_layer
    ("facekit/fau/train.py", "Task 2 Q6"): 1,              # train_step: zero_grad, backward, step
}
#: Lines that give a region away; none may appear anywhere in the student tree.
DISTINCTIVE = {
    "facekit/emotion/xception.py": ["return main + self.shortcut(x)", "self.block4 = XceptionBlock(",
                                    "self.shortcut = Shortcut(in_channels, out_channels",
                                    "self.last_conv = nn.Conv2d(channels[4], num_classes",
                                    "self.relu2(self.bn2(self.conv2(self.relu1("],
    "facekit/emotion/plots.py": ['ax.plot(history["epoch"], history[column]', 'return _plot_curves(history, "loss"',
                                 'fig = _plot_curves(history, "acc"'],
    "facekit/fau/model.py": ["return self.relu(out + residual)", "residual = x if self.downsample is None",
                             "self.conv3 = nn.Conv2d(planes, planes * self.expansion",
                             "nn.ConvTranspose2d(self.inplanes, planes, kernel_size=kernel"],
    "facekit/fau/train.py": ["optimizer.zero_grad()", "loss.backward()", "optimizer.step()"],
}
#: The notebooks that call facekit.checks, and the questions they check.
CHECKED = {"02_emotion_training": ["Task 1 Q1", "Task 1 Q2"], "04_imbalance": ["Task 1 Q6"], "05_fau_demo": ["Task 2 Q1-Q2"],
           "07_fewshot": ["Task 2 Q6"]}


def _env(tree: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), FACEKIT_ROOT=str(tree), OMP_NUM_THREADS="1", FACEKIT_THREADS="1",
               MPLBACKEND="Agg")
    env.pop("FACEKIT_CKPT_DIR", None)
    return env


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    """`make student` into a temporary folder (the Makefile target the README documents)."""
    out = tmp_path_factory.mktemp("edition") / "student"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "student", f"STUDENT_OUT={out}"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "code regions stubbed" in proc.stdout
    return out


def test_make_student_builds_a_complete_tree(student):
    for rel in ("README.md", "pyproject.toml", "facekit/__init__.py", "facekit/checks/__init__.py",
                "facekit/checks_fingerprints.json", "data/checkpoints/emotion_minixception.pt",
                "data/checkpoints/fau_resnet.pt", "data/test/labels.csv", "data/fau/test/labels.csv", edition.STAMP):
        assert (student / rel).is_file(), f"{rel} is missing from the student edition"
    source_nbs = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(p.name for p in (student / "notebooks").glob("*.ipynb")) == source_nbs
    assert not list(student.rglob("__pycache__")) and not (student / "tests").exists()
    readme = (student / "README.md").read_text()
    assert "Task 1 Q1" in readme and "check_xception" in readme and "YOUR ANSWER HERE" in readme


def test_every_region_is_stubbed_with_its_question(student):
    found = {}
    for region in edition.module_regions(ROOT):
        found[(region.path, region.question)] = found.get((region.path, region.question), 0) + 1
        text = (student / region.path).read_text()
        assert f'raise NotImplementedError("{region.message}")' in text
    assert found == EXPECTED_REGIONS


def test_no_solution_text_leaks(student):
    files = [p for p in student.rglob("*") if p.is_file() and p.suffix in {".py", ".ipynb", ".md", ".toml"}]
    for path in files:
        text = path.read_text(encoding="utf-8")
        markers = [ln for ln in text.split("\n") if ln.strip().strip('",').strip() in (edition.BEGIN, edition.END)]
        assert not markers, f"{path}: a solution marker is left"
        code_lines = [ln.strip().strip('"').strip() for ln in text.replace("\\n", "\n").split("\n")]
        rel_path = path.relative_to(student).as_posix()
        for rel, lines in DISTINCTIVE.items():
            if rel_path == rel or path.suffix in {".ipynb", ".md"}:   # the module itself, notebooks, the README
                for line in lines:
                    assert not [c for c in code_lines if c.startswith(line)], f"{rel_path} leaks {rel}: {line!r}"
    for region in edition.module_regions(ROOT):          # every substantial solution line, not only the listed ones
        source_lines = (ROOT / region.path).read_text().split("\n")
        source_rest = "\n".join(source_lines[:region.line - 1] + source_lines[region.line + len(region.solution) + 1:])
        student_text = (student / region.path).read_text()
        for line in region.solution:
            if len(line.strip()) > 30 and line.strip() not in source_rest:
                assert line.strip() not in student_text, f"{region.path}: {line.strip()!r} leaks"


def test_answers_are_blank_with_nbgrader_metadata(student):
    grade_ids = []
    for nb_path in sorted((student / "notebooks").glob("*.ipynb")):
        source = nbformat.read(ROOT / "notebooks" / nb_path.name, as_version=4)
        nb = nbformat.read(nb_path, as_version=4)
        answers = [c for c in nb.cells if "answer" in c.metadata.get("tags", [])]
        assert len(answers) == sum("answer" in c.metadata.get("tags", []) for c in source.cells)
        for cell in answers:
            meta = cell.metadata["nbgrader"]
            assert cell.cell_type == "markdown" and cell.source.endswith(edition.ANSWER_STUB)
            assert meta["solution"] and meta["grade"] and meta["schema_version"] == 3 and meta["points"] > 0
            assert cell.metadata["facekit"]["question"] in meta["grade_id"].replace("_", ".")
            grade_ids.append(meta["grade_id"])
        text = nb_path.read_text()
        answer_ids = {c.id for c in source.cells if "answer" in c.metadata.get("tags", [])}
        for cell in nb.cells:                              # measurements kept, the displayed conclusion gone
            if cell.id in answer_ids and cell.cell_type == "code":
                assert "display(Markdown(" not in cell.source and "Answer" not in cell.source, cell.id
        for cell in source.cells:                          # prose answers of the source are gone
            if "answer" in cell.metadata.get("tags", []) and cell.cell_type == "markdown":
                body = cell.source.split("\n")[-1]
                assert body not in text
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert len(grade_ids) == len(set(grade_ids)) >= 17


def test_code_answer_keeps_its_measurements_without_the_conclusion():
    src = 'x = 1\nshare = x / 2\ndisplay(Markdown(\n    f"**Answer.** {share:.0%} is "\n    "high"))\n'
    assert edition.measurements_only(src) == "x = 1\nshare = x / 2"


def test_malformed_markers_are_named():
    ok = "def f():\n    # Task 1 Q1: do it.\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
    text, regions = edition.strip_solutions(ok, "m.py")
    assert 'raise NotImplementedError("Task 1 Q1: do it.")' in text and regions[0].line == 3
    assert edition.restore_module(text, ok, "m.py") == ok
    with pytest.raises(edition.EditionError, match="m.py:2: .* hint"):
        edition.find_regions("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n", "m.py")
    with pytest.raises(edition.EditionError, match="m.py:3: .* never closed"):
        edition.find_regions(ok.replace("    ### END SOLUTION\n", ""), "m.py")
    with pytest.raises(edition.EditionError, match="nested"):
        edition.find_regions(ok.replace("return 1", "### BEGIN SOLUTION"), "m.py")


def test_an_unrelated_folder_is_not_overwritten(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a student edition"):
        edition.build_student_edition(tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


@pytest.mark.notebook
def test_student_notebook_stops_at_the_first_open_part(student, tmp_path):
    proc = subprocess.run([str(PYTHON), "-m", "facekit_tools", "run", "--quick", "--out", str(tmp_path), "02"],
                          cwd=student, env=_env(student), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "NotImplementedError" in proc.stderr and "Task 1 Q1: MiniXception layers" in proc.stderr


@pytest.mark.notebook
def test_round_trip_restores_the_source_and_runs_every_notebook(student, tmp_path):
    tree = tmp_path / "restored"
    shutil.copytree(student, tree)
    edition.restore_solutions(tree, ROOT)
    for region_file in {r.path for r in edition.module_regions(ROOT)} | set(edition_prose.MODULES):
        assert (tree / region_file).read_text() == (ROOT / region_file).read_text(), region_file
    for nb_path in sorted((tree / "notebooks").glob("*.ipynb")):
        assert nb_path.read_text() == (ROOT / "notebooks" / nb_path.name).read_text(), nb_path.name
    proc = subprocess.run([str(PYTHON), "-m", "facekit_tools", "run", "--quick", "--out", str(tmp_path / "out")],
                          cwd=tree, env=_env(tree), capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    executed = tmp_path / "out"
    for nb_path in sorted((tree / "notebooks").glob("*.ipynb")):
        assert (executed / nb_path.stem / "metrics.json").is_file(), f"{nb_path.name} wrote no metrics"
    for stem, questions in CHECKED.items():              # the check cells ran and passed on the reference
        outputs = (executed / "notebooks" / f"{stem}.ipynb").read_text()  # facekit run --out keeps them under DIR
        for question in questions:
            found = re.search(rf"{question}: (\d+) of (\d+) checks passed", outputs)
            assert found and found.group(1) == found.group(2), f"{stem}: the {question} check did not pass"


#: 9-word sequences of the answer sheet that the student tree may keep: the definition of a term the notebook's own
#: parameters cell states ("CONTROL = True  # also train the control run: same start and schedule, no fix").
ALLOWED_SEQUENCES = {"the control run same start and schedule no fix"}
_ITALIC = re.compile(r"(?<![*\w])\*(?!\*)(?:\*\*[^*\n]+\*\*|[^*\n])+?\*(?![*\w])")  # bold may sit inside


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _nine_grams(words: list[str]) -> set[str]:
    return {" ".join(words[i:i + 9]) for i in range(len(words) - 8)}


def _tree_text(path: Path) -> str:
    if path.suffix == ".ipynb":
        return "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
    return path.read_text(encoding="utf-8", errors="ignore")


def test_no_sentence_of_the_answer_sheet_is_in_the_student_tree(student):
    sheet = (ROOT / "figures" / "answers.md").read_text(encoding="utf-8")
    paragraphs = [p for p in re.split(r"\n\s*\n", sheet) if p.lstrip().startswith("**Answer.**")]
    # an answer's italic notes say which model and faces (the student's notebooks print the same); a run of numbers
    # is a table's data (EMFACS's AU lists), which the student tree must hold: neither is an answer
    paragraphs = [_ITALIC.sub(" ", p.replace("**Answer.**", "")) for p in paragraphs]
    answers = {g for p in paragraphs for g in _nine_grams(_words(p)) if sum(w.isdigit() for w in g.split()) < 5}
    assert len(paragraphs) >= 15 and len(answers) > 1500          # the sheet is there and has its answers
    leaks = {}
    for path in student.rglob("*"):
        if path.is_file() and path.suffix in {".py", ".ipynb", ".md", ".txt", ".toml", ".csv", ".json", ".yml"}:
            found = (_nine_grams(_words(_tree_text(path))) & answers) - ALLOWED_SEQUENCES
            if found:
                leaks[path.relative_to(student).as_posix()] = sorted(found)[:3]
    assert not leaks, f"answer sentences in the student tree: {leaks}"


def test_prose_functions_are_stubbed_and_the_measurements_stay(student):
    from facekit_tools.edition_prose import PROSE

    for rel, names in PROSE.items():
        text = (student / rel).read_text(encoding="utf-8")
        for name in names:
            if not name.isupper():
                assert f'raise NotImplementedError("{name}: the instructor' in text, f"{rel}: {name} is not stubbed"
    nb = nbformat.read(student / "notebooks" / "07_fewshot.ipynb", as_version=4)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "bn_note" not in source and "gain_best = sweep.loc" in source     # the note goes, the numbers stay
    nb = nbformat.read(student / "notebooks" / "02_emotion_training.ipynb", as_version=4)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "bn_momentum_text" not in source and "keras_bug = emo.predict" in source
