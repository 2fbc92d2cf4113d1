"""The answer sheet: every assignment question, in the assignment's order, with the answer the executed notebooks
computed and the figures and tables saved in its section (``figures/answers.md`` and ``figures/answers.tex``).

Answer cells follow the workbook's convention: tag ``answer``, ``metadata.facekit.question`` = ``"T1.Q3"``, and an
output (or, for prose-only questions, markdown) that holds the answer. The section of a question runs from its
``## Q1.3 ...`` heading to the next ``## `` heading. Nothing in the sheet is typed by hand.

Provenance: any notebook may write ``provenance.csv`` into its figures folder (``figures/<notebook>/provenance.csv``,
e.g. with ``fk.save_table(rows, "provenance", index=False)``), one row per (checkpoint, face set) its answers use,
with the columns :data:`PROVENANCE_COLUMNS` (``checkpoint``: the file name; ``trained_by``: what trained it;
``face_set``: the faces scored; ``n_faces``; ``answers``: the questions that use the numbers, e.g. ``T2.Q4``).
:func:`provenance_markdown` collects every such file, whatever the task, into one table near the top of the
sheet (``## Checkpoints and face sets``); rows that name the same checkpoint and face set are merged.
"""
from __future__ import annotations

import ast
import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from facekit.glossary import glossary_markdown
from facekit_tools.handin.report import latex_escape
from facekit import paths
from facekit.io import atomic_write_text
from facekit_tools.notebook_files import NOTEBOOK_PATTERN
from facekit_tools.notebook_files import read_executed
import pandas as pd

#: The assignment's questions in its order: Task 1 (notebooks 02-04) then Task 2 (notebooks 05-08).
QUESTIONS: tuple[str, ...] = tuple(f"T1.Q{k}" for k in range(1, 8)) + tuple(f"T2.Q{k}" for k in range(1, 12))

#: The columns of a notebook's ``provenance.csv`` (see the module docstring).
PROVENANCE_COLUMNS = ("checkpoint", "trained_by", "face_set", "n_faces", "answers")

_HEADING = re.compile(r"^##\s+(?!#)(.*)$")
_QUESTION_HEADING = re.compile(r"^Q(\d)\.(\d+)\b\s*(.*)$")
ANSWER_MARK = "**Answer.**"
#: An italic note line ahead of the answer (the checkpoint and face set it is about), kept in the sheet.
_NOTE = re.compile(r"^\*[^*\n][^\n]*\*\s*\n\s*\n")


@dataclass
class Section:
    notebook: str
    heading: str
    question: str | None  # "T1.Q3" when the heading is "## Q1.3 ..."
    cells: list[dict] = field(default_factory=list)


@dataclass
class Answer:
    """One question of the sheet: where it is answered, the question quoted, the answer, the files saved with it."""
    question: str
    title: str | None = None
    notebook: str | None = None
    quote: str | None = None
    texts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return bool(self.texts)


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _sections(nb: dict, notebook: str) -> list[Section]:
    sections = [Section(notebook, "", None)]
    for cell in nb.get("cells", []):
        first = _source(cell).lstrip("\n").split("\n", 1)[0]
        m = _HEADING.match(first) if cell.get("cell_type") == "markdown" else None
        if m:
            heading = m.group(1).strip()
            q = _QUESTION_HEADING.match(heading)
            sections.append(Section(notebook, heading, f"T{q.group(1)}.Q{q.group(2)}" if q else None))
        sections[-1].cells.append(cell)
    return sections


def _quote(markdown: str) -> str | None:
    """The first block quote of a heading cell: the question as the assignment asks it."""
    lines, seen = [], False
    for line in markdown.splitlines()[1:]:
        if line.startswith(">"):
            lines.append(line.lstrip(">").strip())
            seen = True
        elif seen:
            break
    return " ".join(l for l in lines if l) or None


def _strip_heading_and_quote(markdown: str) -> str:
    """A prose answer without its ``## Q...`` heading line and the question's block quote."""
    lines = markdown.splitlines()
    if lines and _HEADING.match(lines[0]):
        lines = lines[1:]
    while lines and (not lines[0].strip() or lines[0].startswith(">")):
        lines = lines[1:]
    return "\n".join(lines).strip()


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _answer_texts(cell: dict) -> tuple[list[str], list[str]]:
    """(answer texts, problems) of one answer cell."""
    if cell.get("cell_type") == "markdown":
        text = _strip_heading_and_quote(_source(cell))
        return ([text], []) if text else ([], ["the answer cell's markdown is empty"])
    texts, errors = [], []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "error":
            errors.append(f"the answer cell raised {out.get('ename')}: {out.get('evalue')}")
        elif kind in {"display_data", "execute_result"}:
            data = out.get("data", {})
            if "text/markdown" in data:
                texts.append(_text(data["text/markdown"]).strip())
            elif "text/plain" in data and _text(data["text/plain"]).startswith(ANSWER_MARK):
                texts.append(_text(data["text/plain"]).strip())
        elif kind == "stream" and _text(out.get("text", "")).lstrip().startswith(ANSWER_MARK):
            texts.append(_text(out["text"]).strip())
    marked = [t for t in texts if _NOTE.sub("", t, count=1).startswith(ANSWER_MARK)]
    if errors:
        return marked, errors
    if not marked:
        return [], ["the answer cell has no output starting with **Answer.** (was the notebook executed?)"]
    return marked, []


# --- saved files, read from the section's code --------------------------------------------------------------------

def _literal(node) -> str | None:
    """A string constant, or an f-string as a glob pattern (``f"recall_{d}"`` -> ``recall_*``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "*" for v in node.values)
    return None


def _subfolder(node) -> str:
    """``ctx.out_dir / "test"`` -> ``"test"``; anything else -> ``""``."""
    parts = []
    while isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        part = _literal(node.right)
        if part is None:
            return ""
        parts.insert(0, part)
        node = node.left
    return "/".join(parts)


def saved_names(code: str) -> list[tuple[str, str]]:
    """``[("fig" | "table", "sub/name")]`` for every ``save_fig``/``save_table`` call in ``code``, in order."""
    try:
        tree = ast.parse("\n".join(l for l in code.splitlines() if not l.lstrip().startswith(("%", "!"))))
    except SyntaxError:
        return []
    found = []
    calls = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call)), key=lambda n: (n.lineno, n.col_offset))
    for node in calls:
        func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        kwargs = {k.arg: k.value for k in node.keywords}
        if func == "save_visualize":  # facekit.fau's per-subject overlays: one figure per face in a folder
            folder_node = node.args[1] if len(node.args) > 1 else kwargs.get("folder")
            folder = _literal(folder_node) if folder_node is not None else "visualize"
            if folder:
                found.append(("fig", f"{folder}/*"))
            continue
        if func not in {"save_fig", "save_table"}:
            continue
        name_node = node.args[1] if len(node.args) > 1 else kwargs.get("name")
        name = _literal(name_node) if name_node is not None else None
        if not name:
            continue
        out_node = node.args[2] if len(node.args) > 2 else kwargs.get("out_dir")
        sub = _subfolder(out_node) if out_node is not None else ""
        found.append(("fig" if func == "save_fig" else "table", f"{sub}/{name}" if sub else name))
    return sorted(set(found), key=found.index)


#: How the sheet flags a figure or table that the code saves but ``figures/`` lacks (:func:`sheet_problems` reads it).
NOT_FOUND = "(not found)"


def _resolve(kind: str, name: str, folder: Path) -> list[str]:
    """The saved files for one name: ``loss.png``, ``loss.pdf`` (figures) or ``x.csv``, ``x.tex`` (tables)."""
    stem = re.sub(r"\.(png|jpe?g|pdf|svg|csv)$", "", name)
    suffixes = (".png", ".jpg", ".jpeg", ".pdf", ".svg") if kind == "fig" else (".csv", ".tex")
    if folder.is_dir():  # the stem may hold wildcards in folder names too (``visualize/*/*``, from an f-string)
        files = sorted(p for p in folder.glob(stem + ".*") if p.suffix in suffixes
                       and fnmatch.fnmatchcase(p.relative_to(folder).with_suffix("").as_posix(), stem))
        if len(files) > 4 and "*" in stem:  # folders of per-face figures: one line per file type
            return [f"{folder.name}/{stem}{suffix} ({n} files)" for suffix in suffixes
                    if (n := sum(p.suffix == suffix for p in files))]
        if files:
            return [str(p.relative_to(folder.parent)) for p in files]
    first = Path(name).suffix if Path(name).suffix in suffixes else suffixes[0]
    return [f"{folder.name}/{stem}{first} {NOT_FOUND}"]


# --- the sheet -----------------------------------------------------------------------------------------------------

def collect_answers(executed_dir: str | os.PathLike, figures_root: str | os.PathLike) -> tuple[list[Answer], dict]:
    """Read every executed ``NN_*.ipynb`` in ``executed_dir``; return the 18 answers in order and run facts
    (``notebooks``, ``quick`` names of notebooks run in QUICK mode, ``started``/``finished`` times)."""

    executed_dir, figures_root = Path(executed_dir), Path(figures_root)
    answers = {q: Answer(q) for q in QUESTIONS}
    extra: list[Answer] = []
    run = {"notebooks": [], "quick": [], "started": [], "finished": []}
    for path in sorted(p for p in executed_dir.glob("*.ipynb") if NOTEBOOK_PATTERN.match(p.name)):
        nb = read_executed(path)  # ExecutedNotebookError names a cut-off file
        meta = nb.get("metadata", {}).get("papermill", {})
        run["notebooks"].append(path.stem)
        if meta.get("parameters", {}).get("QUICK"):
            run["quick"].append(path.stem)
        run["started"] += [meta["start_time"]] if meta.get("start_time") else []
        run["finished"] += [meta["end_time"]] if meta.get("end_time") else []
        for section in _sections(nb, path.stem):
            if section.question in answers and answers[section.question].title is None:
                a = answers[section.question]
                a.title, a.notebook = section.heading, path.stem
                a.quote = _quote(_source(section.cells[0]))
                for cell in section.cells:
                    if cell.get("cell_type") == "code":
                        for kind, name in saved_names(_source(cell)):
                            target = a.figures if kind == "fig" else a.tables
                            target += [f for f in _resolve(kind, name, figures_root / path.stem) if f not in target]
            for cell in section.cells:
                question = (cell.get("metadata", {}).get("facekit") or {}).get("question")
                if "answer" not in cell.get("metadata", {}).get("tags", []) or not question:
                    continue
                a = answers.get(question)
                if a is None:
                    a = Answer(question, notebook=path.stem, problems=[f"{question} is not one of the 18 questions"])
                    extra.append(a)
                a.notebook = a.notebook or path.stem
                texts, problems = _answer_texts(cell)
                a.texts += texts
                a.problems += [f"{path.name}: {p}" for p in problems]
    for a in answers.values():
        if not a.texts and not a.problems:
            where = f" (its section is in {a.notebook})" if a.notebook else ""
            a.problems.append(f"no answer cell yet: no executed notebook has a cell tagged `answer` with "
                              f"metadata.facekit.question = \"{a.question}\"{where}")
    run["provenance"] = provenance_markdown(figures_root)
    return [answers[q] for q in QUESTIONS] + extra, run


def provenance_markdown(figures_root: str | os.PathLike) -> str:
    """The ``## Checkpoints and face sets`` table from every ``<figures_root>/*/provenance.csv`` (empty when there is
    none): one row per (checkpoint, trained by, face set, faces), with the questions and notebooks that use it."""

    frames = []
    for path in sorted(Path(figures_root).glob("*/provenance.csv")):
        t = pd.read_csv(path, dtype=str).fillna("")
        missing = [c for c in PROVENANCE_COLUMNS if c not in t.columns]
        if missing:
            raise ValueError(f"{path}: provenance.csv lacks the columns {missing} (expected {list(PROVENANCE_COLUMNS)})")
        frames.append(t[list(PROVENANCE_COLUMNS)].assign(notebook=path.parent.name))
    if not frames:
        return ""
    t = pd.concat(frames)
    keys = ["checkpoint", "trained_by", "face_set", "n_faces"]
    rows = t.groupby(keys, sort=False).agg(lambda v: ", ".join(dict.fromkeys(v))).reset_index()
    cell = lambda v: str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["## Checkpoints and face sets", "",
             "Every number in the answers comes from one of these checkpoints scored on one of these face sets "
             "(each notebook's `provenance.csv`).", "",
             "| checkpoint | trained by | face set | faces | answers | notebook |", "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(cell(r[c]) for c in [*keys, "answers", "notebook"]) + " |" for _, r in rows.iterrows()]
    return "\n".join(lines) + "\n"


def _heading(a: Answer) -> str:
    task, q = a.question.split(".")
    return f"{a.question} ({'Task ' + task[1]}, question {q[1:]})" + (f": {a.title}" if a.title else "")


def answers_markdown(answers: list[Answer], run: dict, source: str) -> str:
    """The sheet as Markdown: a header with the run, then one ``##`` section per question."""
    lines = ["# Answer sheet", "",
             f"Generated by `facekit answers` from the executed notebooks in `{source}` "
             f"({_run_span(run)}). Do not edit: rerun the notebooks and regenerate it.", "",
             "The quoted questions are paraphrases: the assignment's own wording is not in this repository. "
             "Sections marked *extra* are not among the assignment's questions.", ""]
    if run["quick"]:
        lines += [f"**Warning: QUICK run** ({', '.join(run['quick'])}): small data, one epoch; not for the report.",
                  ""]
    answered = sum(a.answered for a in answers[:len(QUESTIONS)])
    lines += [f"{answered} of {len(QUESTIONS)} questions have a computed answer.", ""]
    if run.get("provenance"):
        lines += [run["provenance"]]
    for a in answers:
        lines += [f"## {_heading(a)}", ""]
        if a.notebook:
            lines += [f"*Notebook:* `{a.notebook}.ipynb`", ""]
        if a.quote:
            lines += [f"> {a.quote}", ""]
        for text in a.texts:
            lines += [text, ""]
        for problem in a.problems:
            lines += [f"**Missing:** {problem}.", ""]
        if a.figures:
            lines += ["*Figures:* " + ", ".join(f"`{f}`" for f in a.figures), ""]
        if a.tables:
            lines += ["*Tables:* " + ", ".join(f"`{t}`" for t in a.tables), ""]
    lines += [_glossary(answers)]
    return "\n".join(lines).rstrip() + "\n"


def _glossary(answers: list[Answer]) -> str:
    """The ``## Glossary`` section for the terms the answers use (empty when they use none)."""
    return glossary_markdown("\n".join(text for a in answers for text in a.texts))


def _run_span(run: dict) -> str:
    if not run["started"]:
        return "no papermill run times recorded"
    return f"run from {min(run['started'])[:19]} to {max(run['finished'] or run['started'])[:19]} UTC"


_MD_INLINE = re.compile(r"\*\*(.+?)\*\*|\*(.+?)\*|`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\)")


def markdown_to_latex(text: str) -> str:
    """The small Markdown the answers use (bold, italics, code, bullet lists, quotes, paragraphs) as LaTeX."""
    def inline(line: str) -> str:
        out, pos = [], 0
        for m in _MD_INLINE.finditer(line):
            out.append(latex_escape(line[pos:m.start()]))
            bold, italic, code, link, url = m.groups()
            if bold is not None:
                out.append(rf"\textbf{{{inline(bold)}}}")
            elif italic is not None:
                out.append(rf"\emph{{{inline(italic)}}}")
            elif code is not None:
                out.append(rf"\texttt{{{latex_escape(code)}}}")
            else:
                out.append(rf"{inline(link)} (\texttt{{{latex_escape(url)}}})")
            pos = m.end()
        out.append(latex_escape(line[pos:]))
        return "".join(out)

    lines, in_list = [], False
    for raw in text.splitlines():
        item = re.match(r"^\s*[-*]\s+(.*)$", raw)
        if item and not in_list:
            lines.append(r"\begin{itemize}")
            in_list = True
        elif not item and in_list and raw.strip() and not raw.startswith("  "):
            lines.append(r"\end{itemize}")
            in_list = False
        if item:
            lines.append(r"\item " + inline(item.group(1)))
        elif raw.startswith(">"):
            lines.append(r"\begin{quote}" + inline(raw.lstrip(">").strip()) + r"\end{quote}")
        else:
            lines.append(inline(raw))
    if in_list:
        lines.append(r"\end{itemize}")
    return "\n".join(lines)


def answers_latex(answers: list[Answer], run: dict, source: str) -> str:
    """The sheet as a LaTeX document (article, booktabs, graphicx) with one ``\\section*`` per question."""
    lines = [r"% Generated by facekit answers from the executed notebooks; regenerate it instead of editing it.",
             r"\documentclass{article}", r"\usepackage[utf8]{inputenc}", r"\usepackage{booktabs}",
             r"\usepackage{graphicx}", r"\usepackage{amssymb}", r"\begin{document}", r"\section*{Answer sheet}",
             latex_escape(f"From the executed notebooks in {source} ({_run_span(run)})."), ""]
    if run["quick"]:
        lines += [r"\textbf{Warning: QUICK run} (" + latex_escape(", ".join(run["quick"])) + ").", ""]
    for a in answers:
        lines += [rf"\subsection*{{{latex_escape(_heading(a))}}}"]
        if a.quote:
            lines += [markdown_to_latex("> " + a.quote)]
        for text in a.texts:
            lines += [markdown_to_latex(text), ""]
        for problem in a.problems:
            lines += [r"\textbf{Missing:} " + markdown_to_latex(problem) + ".", ""]
        for label, files in (("Figures", a.figures), ("Tables", a.tables)):
            if files:
                lines += [rf"\noindent\emph{{{label}:}} " + ", ".join(rf"\texttt{{{latex_escape(f)}}}" for f in files)
                          + ".", ""]
    if glossary := _glossary(answers):
        lines += [r"\subsection*{Glossary}", markdown_to_latex(glossary.split("\n", 2)[2]), ""]
    lines += [r"\end{document}", ""]
    return "\n".join(lines)


# "(table above)" reads fine in a notebook and dangles on the sheet, where the table is a file, not a neighbour
_DANGLING = re.compile(r"\b(?:table|figure|plot|cell|section|weight table|evaluation)s? (?:above|below)\b"
                       r"|\b(?:reconciled|shown|computed|see) (?:above|below)\b", re.IGNORECASE)


def sheet_problems(markdown: str) -> list[str]:
    """What a reader of the sheet cannot follow: a pointer to something "above"/"below" that is not on the sheet,
    or a figure or table named in the code but absent from ``figures/`` (flagged :data:`NOT_FOUND`)."""
    problems = [f"dangling reference: '{m.group(0)}'" for m in _DANGLING.finditer(markdown)]
    problems += [f"missing file: {m.group(1)}" for m in re.finditer(rf"`([^`]+) {re.escape(NOT_FOUND)}`", markdown)]
    return problems


def write_answer_sheet(executed_dir: str | os.PathLike | None = None, figures_root: str | os.PathLike | None = None,
                       out_dir: str | os.PathLike | None = None) -> tuple[Path, Path, list[Answer]]:
    """Write ``answers.md`` and ``answers.tex`` (default: into ``figures/``, from ``build/notebooks/``)."""
    executed_dir = Path(executed_dir) if executed_dir else paths.build_dir("notebooks")
    figures_root = Path(figures_root) if figures_root else paths.figures_dir()
    out_dir = Path(out_dir) if out_dir else figures_root
    if not any(executed_dir.glob("*.ipynb")):
        raise FileNotFoundError(f"No executed notebooks in {executed_dir}: run `make workbook` (or `facekit run`) "
                                "first; the answer sheet is built from their outputs.")
    answers, run = collect_answers(executed_dir, figures_root)
    try:
        source = str(executed_dir.resolve().relative_to(paths.repo_root()))
    except (ValueError, FileNotFoundError):
        source = str(executed_dir)
    md = atomic_write_text(out_dir / "answers.md", answers_markdown(answers, run, source))
    tex = atomic_write_text(out_dir / "answers.tex", answers_latex(answers, run, source))
    return md, tex, answers
