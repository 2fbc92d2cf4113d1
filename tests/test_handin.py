"""The hand-in kit: report PDFs and LaTeX tables beside the PNGs and CSVs, the answer sheet, supplementary.zip."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import facekit as fk  # noqa: E402
from facekit_tools.handin import answers as sheet  # noqa: E402
from facekit_tools.handin import report  # noqa: E402
from facekit_tools.handin.supplementary import (SupplementaryRefused, build_supplementary, check_run,  # noqa: E402
                                          shipped_files)


def pdf_width_pt(path: Path) -> float:
    box = re.search(rb"/MediaBox \[\s*([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s*\]", path.read_bytes())
    assert box, f"{path} has no MediaBox"
    return float(box.group(3)) - float(box.group(1))


# --- figures ---------------------------------------------------------------------------------------------------------

def wide_figure():
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    for ax in axes:
        ax.imshow(np.arange(100).reshape(10, 10))
        ax.set_title("a long enough title", fontsize=12)
        ax.set_xlabel("x", fontsize=4)
    fig.suptitle("three panels", fontsize=16)
    return fig


def test_width_follows_the_figure_size_and_its_panels():
    fig, ax = plt.subplots(figsize=(8, 5))  # one panel, drawn wide: a column is enough
    fig.colorbar(ax.imshow(np.eye(7)), ax=ax)
    assert report.report_width(fig) == report.COLUMN_WIDTH_IN
    two, _ = plt.subplots(1, 2, figsize=(8, 4))  # two panels side by side need the page
    assert report.report_width(two) == report.PAGE_WIDTH_IN
    assert report.report_width(two, "column") == report.COLUMN_WIDTH_IN and report.report_width(fig, 5) == 5.0
    with pytest.raises(ValueError, match="column"):
        report.report_width(fig, "half")
    plt.close("all")


@pytest.mark.parametrize("figsize,width_in", [((4, 3), report.COLUMN_WIDTH_IN), ((12, 4), report.PAGE_WIDTH_IN)])
def test_figure_saved_as_png_and_pdf_at_ieee_width(tmp_path, monkeypatch, figsize, width_in):
    monkeypatch.setenv(report.ENV, "1")
    fig = wide_figure() if figsize == (12, 4) else plt.subplots(figsize=figsize)[0]
    if figsize == (4, 3):
        fig.axes[0].plot([0, 1, 2], [1, 0, 2], label="loss")
        fig.axes[0].legend()
    png = fk.save_fig(fig, "curves", out_dir=tmp_path)
    pdf = tmp_path / "curves.pdf"
    assert png == tmp_path / "curves.png" and png.read_bytes()[:4] == b"\x89PNG"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert pdf_width_pt(pdf) == pytest.approx(72 * width_in, rel=0.02)
    assert b"/FontFile2" in pdf.read_bytes() and b"/Type3" not in pdf.read_bytes()  # TrueType, as IEEE asks
    plt.close(fig)


def test_a_figure_made_without_pyplot_is_saved_as_pdf_too(tmp_path, monkeypatch):
    """Widgets build ``matplotlib.figure.Figure()`` directly: its canvas cannot render until it is given one."""
    from matplotlib.figure import Figure

    monkeypatch.setenv(report.ENV, "1")
    fig = Figure(figsize=(4, 3))
    fig.add_subplot().plot([0, 1], [1, 0])
    fk.save_fig(fig, "bare", out_dir=tmp_path)
    assert (tmp_path / "bare.pdf").read_bytes()[:5] == b"%PDF-"
    assert pdf_width_pt(tmp_path / "bare.pdf") == pytest.approx(72 * report.COLUMN_WIDTH_IN, rel=0.02)


def test_report_resize_gives_legible_fonts_and_restores_the_figure():
    fig = wide_figure()
    fig.canvas.draw()  # as the notebook shows it: tick labels exist
    size = tuple(fig.get_size_inches())
    fonts = [t.get_fontsize() for t in report._texts(fig)]
    positions = [ax.get_position().bounds for ax in fig.axes]
    with report.resized_for_print(fig) as page:
        assert page.width == pytest.approx(report.PAGE_WIDTH_IN)
        assert report._tight_inches(fig).width >= 0.9 * report.PAGE_WIDTH_IN  # the content fills the page
        printed = [t.get_fontsize() for t in report._texts(fig)]
        assert min(printed) >= report.MIN_FONT_PT and max(printed) <= report.MAX_FONT_PT
        assert fig.get_figwidth() < size[0]
        renderer = fig.canvas.get_renderer()
        assert fig._suptitle.get_window_extent(renderer).y0 >= max(ax.title.get_window_extent(renderer).y1
                                                                   for ax in fig.axes)  # no title under it
    assert tuple(fig.get_size_inches()) == size and fig._suptitle.get_position() == (0.5, 0.98)
    assert [t.get_fontsize() for t in report._texts(fig)] == fonts
    assert [ax.get_position().bounds for ax in fig.axes] == positions
    plt.close(fig)


def test_report_outputs_off_writes_png_and_csv_only(tmp_path, monkeypatch):
    monkeypatch.setenv(report.ENV, "0")
    fig, _ = plt.subplots()
    fk.save_fig(fig, "f", out_dir=tmp_path)
    fk.save_table(pd.DataFrame({"a": [1.0]}), "t", out_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "t.csv"]
    fk.save_fig(fig, "g", out_dir=tmp_path, report=True)  # the per-call override wins
    assert (tmp_path / "g.pdf").is_file()
    plt.close(fig)


def test_switch_rejects_a_typo(monkeypatch):
    monkeypatch.setenv(report.ENV, "maybe")
    with pytest.raises(ValueError, match="FACEKIT_REPORT_OUTPUTS"):
        report.enabled()


# --- tables ----------------------------------------------------------------------------------------------------------

def check_latex_structure(tex: str, n_rows: int, n_cols: int) -> list[str]:
    """Environments balanced and nested, one ``\\\\`` row per data row with ``n_cols`` cells; returns the rows."""
    stack = []
    for kind, env in re.findall(r"\\(begin|end)\{([^}]+)\}", tex):
        if kind == "begin":
            stack.append(env)
        else:
            assert stack and stack.pop() == env, f"\\end{{{env}}} does not close the open environment"
    assert not stack, f"unclosed environments: {stack}"
    for rule in ("\\toprule", "\\midrule", "\\bottomrule"):
        assert tex.count(rule) == 1
    body = tex.split("\\midrule", 1)[1].split("\\bottomrule", 1)[0].strip().splitlines()
    assert len(body) == n_rows
    for row in body:
        assert row.endswith("\\\\")
        assert len(re.findall(r"(?<!\\)&", row)) == n_cols - 1, row
    spec = re.search(r"\\begin\{tabular\}\{([lrc]+)\}", tex).group(1)
    assert len(spec) == n_cols
    return body


def test_table_saved_as_csv_and_booktabs_latex(tmp_path, monkeypatch):
    monkeypatch.setenv(report.ENV, "1")
    df = pd.DataFrame({"recall": [0.51234, 0.6, np.nan], "n_faces": [3.0, 40.0, 5.0], "note": ["a_b", "50%", "x&y"]},
                      index=pd.Index(["angry", "happy", "sad"], name="emotion"))
    csv = fk.save_table(df, "per_class", out_dir=tmp_path, caption="Per-class recall on PrivateTest")
    assert pd.read_csv(csv, index_col=0).shape == (3, 3)
    tex = (tmp_path / "per_class.tex").read_text()
    rows = check_latex_structure(tex, n_rows=3, n_cols=4)
    assert rows[0] == r"angry & 0.512 & 3 & a\_b \\"  # rounded as displayed, whole floats as integers, escaped
    assert rows[1] == r"happy & 0.600 & 40 & 50\% \\" and rows[2].startswith(r"sad & -- & 5 & x\&y")
    assert r"\caption{Per-class recall on PrivateTest}" in tex


def test_latex_table_with_multiindex_rows_and_columns_and_no_index():
    rows = pd.MultiIndex.from_product([["lab", "wild"], ["AU12", "AU17"]], names=["domain", "au"])
    cols = pd.MultiIndex.from_product([["icc", "mae"], ["mean"]])
    df = pd.DataFrame(np.arange(8, dtype=float).reshape(4, 2) / 7, index=rows, columns=cols)
    body = check_latex_structure(report.table_to_latex(df, "c", "tab:x", decimals=2), n_rows=4, n_cols=4)
    assert body[0] == r"lab & AU12 & 0.00 & 0.14 \\"
    tex = report.table_to_latex(df, "c", "tab:x", index=False)
    check_latex_structure(tex, n_rows=4, n_cols=2)
    assert r"icc / mean & mae / mean \\" in tex
    wide = pd.DataFrame(np.zeros((2, 8)))
    assert r"\begin{table*}" in report.table_to_latex(wide, "wide", "tab:w")


# --- the runner's switch ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("quick,expected", [(True, "0"), (False, "1")])
def test_runner_turns_report_outputs_off_for_quick_runs(tmp_path, monkeypatch, quick, expected):
    import papermill

    from facekit_tools.runner import execute_notebook

    seen = {}

    def fake_execute(src, dst, **kwargs):
        seen["env"] = os.environ.get(report.ENV)
        Path(dst).write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    monkeypatch.delenv(report.ENV, raising=False)
    notebook = tmp_path / "01_x.ipynb"
    notebook.write_text("{}")
    run = execute_notebook(notebook, quick=quick, executed_dir=tmp_path / "executed")
    assert seen["env"] == expected and report.ENV not in os.environ
    env = json.loads(run.executed.read_text())["metadata"]["facekit"]["environment"]
    assert env["versions"]["torch"] and env["machine"]["cores"] == os.cpu_count()


# --- the answer sheet ------------------------------------------------------------------------------------------------

_IDS = iter(range(10**6))


def md_cell(text, **meta):
    return {"cell_type": "markdown", "id": f"c{next(_IDS)}", "metadata": meta, "source": text}


def code_cell(code, outputs=(), **meta):
    return {"cell_type": "code", "id": f"c{next(_IDS)}", "metadata": meta, "source": code,
            "outputs": list(outputs), "execution_count": 1}


def markdown_output(text):
    return {"output_type": "display_data", "data": {"text/markdown": text, "text/plain": "<Markdown>"},
            "metadata": {}}


def answer_meta(question):
    return {"tags": ["answer"], "facekit": {"question": question}}


def executed_notebook(cells, quick=False, start="2026-11-29T08:00:00.000000", end="2026-11-29T08:05:00.000000",
                      out_dir=None):
    params = {"QUICK": quick, "INTERACTIVE": False} | ({"OUT_DIR": out_dir} if out_dir else {})
    return {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                         "papermill": {"start_time": start, "end_time": end, "exception": None,
                                       "parameters": params},
                         # the run record facekit's runner writes into every finished copy (check_run needs it)
                         "facekit": {"environment": {"python": "3.11", "torch": "2.0"}}}}


def task_notebooks(skip=("T1.Q6",)) -> dict[str, dict]:
    """Small executed notebooks: one section per question (answers computed as Markdown outputs), T2.Q8 as prose."""
    books = {"02_emotion": [], "04_imbalance": [], "08_attention": []}
    for question in sheet.QUESTIONS:
        task, k = int(question[1]), int(question.split("Q")[-1])
        book = "02_emotion" if task == 1 and k <= 3 else "04_imbalance" if task == 1 else "08_attention"
        cells = books[book]
        heading = f"## Q{task}.{k} Question {question}\n\n> *Quoted question {question}?*\n"
        if question == "T2.Q8":
            cells.append(md_cell(heading + "\nThe paper's idea, in prose.", **answer_meta(question)))
            continue
        cells.append(md_cell(heading))
        cells.append(code_cell(f'fk.save_fig(fig, "fig_{k}")\nfk.save_table(t, f"table_{{d}}", out_dir=ctx.out_dir / "sub")'))
        if question not in skip:
            cells.append(code_cell("display(Markdown(...))", [markdown_output(f"**Answer.** computed {question}: {k}%.")],
                                   **answer_meta(question)))
    books["02_emotion"].insert(0, md_cell("## Summary"))
    return {name: executed_notebook(cells) for name, cells in books.items()}


def write_books(folder: Path, books: dict[str, dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, nb in books.items():
        (folder / f"{name}.ipynb").write_text(json.dumps(nb))


def test_answer_sheet_lists_all_18_questions_in_order(tmp_path):
    write_books(tmp_path / "executed", task_notebooks())
    figures = tmp_path / "figures"
    (figures / "02_emotion" / "sub").mkdir(parents=True)
    for name in ("fig_1.png", "fig_1.pdf", "sub/table_lab.csv", "sub/table_lab.tex", "sub/table_wild.csv"):
        (figures / "02_emotion" / name).write_text("x")
    md, tex, answers = sheet.write_answer_sheet(tmp_path / "executed", figures)
    text = md.read_text()
    headings = re.findall(r"^## (T\d\.Q\d+)", text, flags=re.M)
    assert headings == list(sheet.QUESTIONS) and len(headings) == 18
    assert "17 of 18 questions have a computed answer" in text
    q6 = text.split("## T1.Q6", 1)[1].split("\n## ", 1)[0]
    assert "**Missing:** no answer cell yet" in q6 and "T1.Q6" in q6 and "04_imbalance" in q6
    q1 = text.split("## T1.Q1", 1)[1].split("\n## ", 1)[0]
    assert "**Answer.** computed T1.Q1: 1%." in q1 and "> *Quoted question T1.Q1?*" in q1
    assert "`02_emotion/fig_1.pdf`, `02_emotion/fig_1.png`" in q1
    assert "`02_emotion/sub/table_lab.csv`, `02_emotion/sub/table_lab.tex`, `02_emotion/sub/table_wild.csv`" in q1
    assert "`04_imbalance/fig_4.png (not found)`" in text  # named from the code, flagged when the file is absent
    q8 = text.split("## T2.Q8", 1)[1].split("\n## ", 1)[0]
    assert "The paper's idea, in prose." in q8 and "## Q2.8" not in q8
    latex = tex.read_text()
    assert re.findall(r"\\subsection\*\{(T\d\.Q\d+)", latex) == list(sheet.QUESTIONS)
    assert latex.count(r"\begin{document}") == latex.count(r"\end{document}") == 1
    assert r"\textbf{Answer.} computed T1.Q1: 1\%." in latex


def test_answer_sheet_flags_failed_and_missing_outputs_and_flips_when_answered(tmp_path):
    books = task_notebooks(skip=())
    cells = books["02_emotion"]["cells"]
    q2 = next(c for c in cells if c["metadata"].get("facekit", {}).get("question") == "T1.Q2")
    q2["outputs"] = [{"output_type": "error", "ename": "KeyError", "evalue": "'acc'", "traceback": []}]
    q3 = next(c for c in cells if c["metadata"].get("facekit", {}).get("question") == "T1.Q3")
    q3["outputs"] = []
    write_books(tmp_path, books)
    answers, run = sheet.collect_answers(tmp_path, tmp_path / "figures")
    by_q = {a.question: a for a in answers}
    assert by_q["T1.Q6"].answered  # present this time: no "no answer cell" line
    assert not by_q["T1.Q2"].answered and "KeyError" in by_q["T1.Q2"].problems[0]
    assert not by_q["T1.Q3"].answered and "no output starting with **Answer.**" in by_q["T1.Q3"].problems[0]
    assert run["quick"] == []


def test_markdown_to_latex_escapes_and_converts():
    tex = sheet.markdown_to_latex("**Answer.** 50% of `x_y` → *wild* ± 2\n- one\n- two\nafter")
    assert tex.startswith(r"\textbf{Answer.} 50\% of \texttt{x\_y} $\rightarrow$ \emph{wild} $\pm$ 2")
    assert "\\begin{itemize}\n\\item one\n\\item two\n\\end{itemize}\nafter" in tex
    assert sheet.markdown_to_latex("see [the paper](https://x.org/a_b)") == r"see the paper (\texttt{https://x.org/a\_b})"


def test_saved_names_reads_literal_fstring_and_subfolder():
    code = ('fk.save_fig(fig, "loss")\nfk.save_table(t, name="per_class")\n'
            'for d in D:\n    fk.save_fig(f(d), f"recall_{d}")\n'
            'fk.save_fig(fig, "guided_gradcam.jpg", out_dir=ctx.out_dir / "test2")\n%matplotlib inline\n'
            'save_visualize(res_test, "visualize/test")')
    assert sheet.saved_names(code) == [("fig", "loss"), ("table", "per_class"), ("fig", "recall_*"),
                                       ("fig", "test2/guided_gradcam.jpg"), ("fig", "visualize/test/*")]


# --- supplementary.zip ----------------------------------------------------------------------------------------------

RUN_START = datetime(2026, 11, 29, 8, 0, tzinfo=timezone.utc)


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                   check=True, capture_output=True)


def set_mtime(root: Path, when: datetime) -> None:
    for path in root.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            os.utime(path, (when.timestamp(), when.timestamp()))


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A small git checkout of the workbook after a full run: sources older than the executed notebooks."""
    root = tmp_path / "repo"
    files = {
        ".gitignore": ".venv/\nbuild/\ndata/cache/\n__pycache__/\n.ipynb_checkpoints/\n*.tmp\n",
        "README.md": "# facekit\n\nThe project README.\n",
        "pyproject.toml": "[project]\nname = 'facekit'\n", "environment.yml": "name: facekit\n", "Makefile": "all:\n",
        "facekit/__init__.py": "", "facekit/io.py": "X = 1\n", "tests/test_a.py": "def test_a():\n    pass\n",
        "data/test/face.png": "png", "data/README.md": "data\n", "figures/02_emotion/loss.png": "png",
        "notebooks/02_emotion.ipynb": json.dumps(executed_notebook([])),
        "notebooks/08_attention.ipynb": json.dumps(executed_notebook([])),
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    # after the commit: what a real checkout accumulates
    untracked = {"figures/02_emotion/loss.pdf": "pdf", "figures/02_emotion/per_class.tex": "tex",
                 ".venv/bin/python": "#!", ".venv/lib/site.py": "x", "facekit/__pycache__/io.cpython-311.pyc": "c",
                 "tests/__pycache__/test_a.cpython-311.pyc": "c", "data/cache/fer.npz": "big",
                 "figures/02_emotion/.ipynb_checkpoints/x.ipynb": "{}", "figures/02_emotion/loss.png.tmp": "t",
                 "build/jupyter/x": "x"}
    for rel, text in untracked.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    set_mtime(root, RUN_START - timedelta(hours=1))
    books = task_notebooks()
    write_books(root / "build" / "notebooks", {"02_emotion": books["02_emotion"], "08_attention": books["08_attention"]})
    return root


def test_zip_ships_code_figures_and_executed_notebooks_and_nothing_ignored(checkout, tmp_path, monkeypatch):
    monkeypatch.chdir(checkout)
    (checkout / "figures" / "answers.md").write_text("# Answer sheet\n")
    os.utime(checkout / "figures" / "answers.md", ((RUN_START - timedelta(hours=1)).timestamp(),) * 2)
    assert shipped_files(checkout) == sorted([
        "Makefile", "data/README.md", "data/test/face.png", "environment.yml", "facekit/__init__.py",
        "facekit/io.py", "figures/02_emotion/loss.pdf", "figures/02_emotion/loss.png",
        "figures/02_emotion/per_class.tex", "figures/answers.md", "pyproject.toml", "tests/test_a.py"])
    result = build_supplementary(tmp_path / "out" / "supplementary.zip", root=checkout)
    with zipfile.ZipFile(result.path) as zf:
        names = zf.namelist()
        readme = zf.read("supplementary/README.md").decode()
        executed = json.loads(zf.read("supplementary/notebooks/02_emotion.ipynb"))
        html = zf.read("supplementary/notebooks/02_emotion.html").decode()
    assert result.files == len(names) and result.size == (tmp_path / "out" / "supplementary.zip").stat().st_size
    assert {"supplementary/notebooks/08_attention.ipynb", "supplementary/notebooks/08_attention.html",
            "supplementary/facekit/io.py", "supplementary/figures/02_emotion/loss.pdf",
            "supplementary/tests/test_a.py", "supplementary/Makefile"} <= set(names)
    for bad in (".venv", "__pycache__", "build", "cache", ".ipynb_checkpoints", ".tmp", ".git/"):
        assert not [n for n in names if bad in n], bad
    assert executed["metadata"]["papermill"]["parameters"]["QUICK"] is False  # the executed copy, not the source
    assert "**Answer.** computed T1.Q1" in html or "computed T1.Q1" in html
    assert "make workbook" in readme and "2026-11-29 08:00" in readme and "The project README." in readme


def refusal(checkout, tmp_path) -> str:
    with pytest.raises(SupplementaryRefused) as info:
        build_supplementary(tmp_path / "s.zip", root=checkout, html=False)
    assert not (tmp_path / "s.zip").exists()
    return str(info.value)


def test_zip_refuses_when_the_code_changed_after_the_run(checkout, tmp_path):
    later = (RUN_START + timedelta(minutes=30)).timestamp()
    os.utime(checkout / "facekit" / "io.py", (later, later))
    message = refusal(checkout, tmp_path)
    assert "stale" in message and "facekit/io.py" in message and "make workbook" in message


def test_zip_refuses_when_a_notebook_changed_after_its_run(checkout, tmp_path):
    later = (RUN_START + timedelta(minutes=30)).timestamp()
    os.utime(checkout / "notebooks" / "08_attention.ipynb", (later, later))
    message = refusal(checkout, tmp_path)
    assert "08_attention.ipynb is stale" in message and "02_emotion" not in message


def test_zip_refuses_failed_quick_and_missing_runs(checkout, tmp_path):
    executed = checkout / "build" / "notebooks"
    nb = json.loads((executed / "02_emotion.ipynb").read_text())
    nb["cells"][3]["outputs"] = [{"output_type": "error", "ename": "RuntimeError", "evalue": "x", "traceback": []}]
    (executed / "02_emotion.ipynb").write_text(json.dumps(nb))
    assert "02_emotion.ipynb failed in the last run (cell 4" in refusal(checkout, tmp_path)
    nb = json.loads((executed / "08_attention.ipynb").read_text())
    nb["metadata"]["papermill"]["parameters"]["QUICK"] = True
    (executed / "08_attention.ipynb").write_text(json.dumps(nb))
    assert "08_attention.ipynb was executed in QUICK mode" in refusal(checkout, tmp_path)
    (executed / "08_attention.ipynb").unlink()
    assert "08_attention.ipynb has no executed copy" in refusal(checkout, tmp_path)


def test_fresh_run_passes_the_check(checkout):
    runs = check_run(checkout)
    assert [r.path.name for r in runs] == ["02_emotion.ipynb", "08_attention.ipynb"]
    assert runs[0].started == RUN_START


def test_zip_never_overwrites_a_file_it_did_not_write(checkout, tmp_path):
    mine = tmp_path / "report.zip"
    mine.write_text("my report")
    with pytest.raises(SupplementaryRefused, match="is not a zip facekit built"):
        build_supplementary(mine, root=checkout, html=False)
    assert mine.read_text() == "my report"
    ours = build_supplementary(tmp_path / "s.zip", root=checkout, html=False)
    again = build_supplementary(ours.path, root=checkout, html=False)  # its own earlier zip is replaced
    assert again.files == ours.files
    inside = build_supplementary(checkout / "figures" / "s.zip", root=checkout, html=False)
    twice = build_supplementary(inside.path, root=checkout, html=False)  # an earlier zip in figures/ is not packed
    assert twice.files == inside.files and "supplementary/figures/s.zip" not in zipfile.ZipFile(twice.path).namelist()


def test_cli_supplementary_refuses_with_the_reason(checkout, tmp_path, capsys):
    from facekit_tools.cli import main

    shutil.rmtree(checkout / "build" / "notebooks")
    (checkout / "build" / "notebooks").mkdir()
    assert main(["supplementary", "--root", str(checkout), "--out", str(tmp_path / "s.zip")]) == 1
    assert "has no executed copy" in capsys.readouterr().err
    assert not (checkout / "figures" / "answers.md").exists()


def test_pdf_embeds_small_faces_at_their_own_resolution():
    fig, axes = plt.subplots(3, 7, figsize=(14, 6))
    rng = np.random.default_rng(0)
    for ax in axes.flat:
        ax.imshow(rng.integers(0, 255, (48, 48)), cmap="gray")
    before = [im.get_interpolation() for im in fig.axes[0].images]
    pdf = report.pdf_bytes(fig)
    assert len(pdf) < 300_000  # 21 faces resampled to 300 dpi would be several MB
    assert [im.get_interpolation() for im in fig.axes[0].images] == before
    plt.close(fig)


def test_cli_supplementary_writes_the_sheet_then_the_zip(checkout, tmp_path, capsys):
    from facekit_tools.cli import main

    out = tmp_path / "s.zip"
    assert main(["supplementary", "--root", str(checkout), "--out", str(out), "--no-html"]) == 0
    printed = capsys.readouterr().out
    count = len(zipfile.ZipFile(out).namelist())
    assert f"{count} files" in printed and "MiB" in printed and "questions answered" in printed
    sheet_md = (checkout / "figures" / "answers.md").read_text()
    assert sheet_md.count("\n## T") == 18
    assert zipfile.ZipFile(out).read("supplementary/figures/answers.md").decode() == sheet_md


def test_a_folder_of_per_face_figures_is_one_line_per_file_type(tmp_path):
    folder = tmp_path / "05_fau_demo"
    (folder / "visualize" / "test").mkdir(parents=True)
    for i in range(6):
        (folder / "visualize" / "test" / f"subject_{i}.png").write_text("x")
    assert sheet._resolve("fig", "visualize/test/*", folder) == ["05_fau_demo/visualize/test/*.png (6 files)"]
    assert sheet._resolve("fig", "visualize/test/subject_1", folder) == ["05_fau_demo/visualize/test/subject_1.png"]


def test_per_face_figures_in_wildcard_folders_are_found(tmp_path):
    """``save_visualize(res, f"visualize/{name}")`` is read as ``visualize/*``: the files sit one folder deeper."""
    folder = tmp_path / "07_fewshot"
    for name in ("test", "test2"):
        (folder / "visualize" / name).mkdir(parents=True)
        for i in range(3):
            (folder / "visualize" / name / f"subject_{i}.png").write_text("x")
    (folder / "visualize" / "test" / "notes.txt").write_text("x")
    assert sheet._resolve("fig", "visualize/*/*", folder) == ["07_fewshot/visualize/*/*.png (6 files)"]
    assert sheet._resolve("fig", "visualize/*/*/*", folder) == ["07_fewshot/visualize/*/*/*.png (not found)"]


def test_printed_suptitle_stays_above_the_column_titles():
    """A tall grid of faces (like 01's AU sweep) shrunk to the page: the suptitle must not cover the top titles."""
    fig, axes = plt.subplots(9, 6, figsize=(9.6, 15.3))
    for (r, c), ax in np.ndenumerate(axes):
        ax.imshow(np.zeros((16, 16)), cmap="gray")
        ax.set_xticks([])
        ax.set_yticks([])
        if r == 0:
            ax.set_title("0ABCDE"[c])
        if c == 0:
            ax.set_ylabel(f"AU{r}\nsome action unit", fontsize=9)
    fig.suptitle("One identity, one AU at a time")
    fig.tight_layout()
    with report.resized_for_print(fig):
        renderer = fig.canvas.get_renderer()
        top_titles = max(ax.title.get_window_extent(renderer).y1 for ax in axes[0])
        assert fig._suptitle.get_window_extent(renderer).y0 >= top_titles
    assert fig._suptitle.get_position() == (0.5, 0.98)
    plt.close(fig)


# --- the README's results table -----------------------------------------------------------------------------------

def test_readme_results_table_is_the_one_the_committed_metrics_give():
    """The committed README table is exactly what `facekit results-table` makes of the committed figures/."""
    from facekit_tools.handin.results import BEGIN, END, results_table
    from facekit.paths import repo_root

    text = (repo_root() / "README.md").read_text()
    committed = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert committed == results_table(repo_root() / "figures")


def test_results_table_follows_the_numbers_and_rewrites_only_its_rows(tmp_path):
    import json

    from facekit_tools.handin.results import BEGIN, END, results_table, write_results

    figs = tmp_path / "figures"
    (figs / "09_playground").mkdir(parents=True)
    (figs / "09_playground" / "metrics.json").write_text(json.dumps(
        {"latency_median_ms": 85.2, "latency_max_ms": 115.0, "latency_moves": 20}))
    assert "median 85 ms, max 115 ms over 20 moves" in results_table(figs)
    (figs / "09_playground" / "metrics.json").write_text(json.dumps(
        {"latency_median_ms": 301.0, "latency_max_ms": 400.0, "latency_moves": 5}))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{BEGIN}\n| old | row |\n{END}\ntail\n")
    write_results(readme, figs)
    new = readme.read_text()
    assert new.startswith(f"intro\n{BEGIN}\n| what | number |") and new.endswith(f"{END}\ntail\n")
    assert "median 301 ms, max 400 ms over 5 moves" in new and "| old | row |" not in new


def test_results_table_refusals_name_the_fix(tmp_path):
    from facekit_tools.handin.results import results_table, write_results

    with pytest.raises(FileNotFoundError, match="run `make workbook` first"):
        results_table(tmp_path)
    (tmp_path / "02_emotion_training").mkdir()
    (tmp_path / "02_emotion_training" / "metrics.json").write_text("{broken")
    with pytest.raises(ValueError, match="02_emotion_training.*facekit run 02_emotion_training"):
        results_table(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text("no markers here\n")
    with pytest.raises(ValueError, match="results:begin"):
        write_results(readme, tmp_path)
    assert readme.read_text() == "no markers here\n"


def test_results_table_reports_04s_seed_spread_when_there_is_one(tmp_path):
    import json

    from facekit_tools.handin.results import results_table

    scores = {"recall disgust": 0.3, "macro-F1": 0.5, "private accuracy": 0.6}
    m = {"method": "reweight", "epochs": 2, "train_fraction": 0.25, "before": scores, "after": scores,
         "control": scores, "seed_spread": None}
    (tmp_path / "04_imbalance").mkdir()
    (tmp_path / "04_imbalance" / "metrics.json").write_text(json.dumps(m))
    assert "over seeds" not in results_table(tmp_path)
    m["seed_spread"] = [{"seed": 0, "d_recall": 0.309, "d_macro_f1": -0.022},
                        {"seed": 1, "d_recall": 0.473, "d_macro_f1": -0.035}]
    (tmp_path / "04_imbalance" / "metrics.json").write_text(json.dumps(m))
    assert ("over seeds 0, 1 the fix's own effect (after - control): disgust recall +30.9 to +47.3 points, "
            "macro-F1 -0.035 to -0.022") in results_table(tmp_path)


def test_results_table_has_the_real_smile_row_only_when_01_measured_it(tmp_path):
    import json

    from facekit_tools.handin.results import results_table

    realism = {"n_per_class": 100, "generator_version": 7, "judge_lab_accuracy": 0.2,
               "judge_lab_balanced_accuracy": 0.2, "judge_lab_balanced_accuracy_C_plus": 0.25,
               "judge_lab_most_predicted": "fear", "judge_lab_max_class_share": 0.4,
               "judge_wild_balanced_accuracy": 0.2, "au_points_inside_lab_128": 1.0, "au_points_inside_wild_128": 1.0}
    (tmp_path / "01_data").mkdir()
    (tmp_path / "01_data" / "metrics.json").write_text(json.dumps({"realism": realism}))
    assert "real LFW faces" not in results_table(tmp_path)
    realism.update({"real_smiles_judge_happy_on_smiles": 0.861, "real_smiles_judge_neutral_on_neutral": 0.311,
                    "real_smiles_judge_happy_on_neutral": 0.222, "real_smiles_shipped_happy_on_smiles": 0.472,
                    "real_smiles_shipped_neutral_on_neutral": 0.022, "real_smiles_shipped_happy_on_neutral": 0.178})
    (tmp_path / "01_data" / "metrics.json").write_text(json.dumps({"realism": realism}))
    row = results_table(tmp_path)
    assert ("judge 86.1 % of smiles happy, 31.1 % of expressionless neutral, 22.2 % of them happy; shipped "
            "synthetic-trained model 47.2 % of smiles happy") in row
