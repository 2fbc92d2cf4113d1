"""``supplementary.zip``: the code base, the executed notebooks of the last full run, the figures and a README.

What goes in is asked of git (tracked files plus untracked files git does not ignore, under :data:`INCLUDED`), so
``.venv/``, ``build/``, ``data/cache/`` and caches stay out; the notebooks come from ``build/notebooks/`` (the
runner's executed copies) with a standalone HTML rendering of each. The builder refuses, with the reason, when that
run is incomplete, failed, was a QUICK run, or is older than the code or the notebooks.
"""
from __future__ import annotations

import os
import subprocess
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tqdm.auto import tqdm

from facekit_tools.notebook_files import ExecutedNotebookError, read_executed
from facekit import paths
from facekit.io import atomic_path
from facekit_tools.notebook_files import list_notebooks

#: What the zip takes from the checkout (the notebooks come from the executed copies instead).
INCLUDED = ("facekit", "figures", "tests", "data", "pyproject.toml", "environment.yml", "Makefile")
#: Never shipped, whatever git says.
EXCLUDED_PARTS = {".venv", "build", "__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".git"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo", ".tmp"}
#: The zip's top folder, and the comment that marks a zip this module wrote (the only kind it overwrites).
TOP = "supplementary"
MARK = b"facekit supplementary"


class SupplementaryRefused(RuntimeError):
    """The zip cannot be built from this checkout; the message says why and what to run."""


@dataclass(frozen=True)
class ExecutedNotebook:
    path: Path
    started: datetime
    finished: datetime | None
    environment: dict | None


@dataclass(frozen=True)
class Supplementary:
    path: Path
    size: int
    files: int


def _git(root: Path, *args: str, stdin: str | None = None, ok: tuple[int, ...] = (0,)) -> str:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], input=stdin, capture_output=True, text=True,
                              check=False)
    except FileNotFoundError as exc:
        raise SupplementaryRefused("git is not installed: the zip asks git which files are ignored.") from exc
    if done.returncode not in ok:
        raise SupplementaryRefused(f"`git {' '.join(args)}` failed in {root}: {done.stderr.strip()} "
                                   "(the supplementary zip is built from a git checkout of the workbook).")
    return done.stdout


def shipped_files(root: str | os.PathLike) -> list[str]:
    """Paths (relative, POSIX) under :data:`INCLUDED` that git tracks or would track, minus anything ignored."""
    root = Path(root)
    listed = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *INCLUDED)
    paths = sorted({p for p in listed.split("\0") if p})
    ignored = set(_git(root, "check-ignore", "--no-index", "-z", "--stdin", stdin="\0".join(paths) + "\0",
                       ok=(0, 1))
                  .split("\0")) if paths else set()
    keep = []
    for rel in paths:
        parts = Path(rel).parts
        if rel in ignored or EXCLUDED_PARTS.intersection(parts) or Path(rel).suffix in EXCLUDED_SUFFIXES:
            continue
        full = root / rel
        if full.is_file() and not full.is_symlink():  # a tracked file deleted from the work tree is not shipped
            keep.append(rel)
    return keep


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)


def _unfinished(nb: dict, name: str) -> str | None:
    """Why an executed copy is not a complete, successful run (an error, a dead kernel, cells never run, no end
    time, no run record), or None."""
    meta = nb.get("metadata", {})
    pm_meta, record = meta.get("papermill", {}), meta.get("facekit", {})
    cells = nb.get("cells", [])
    failed = [i for i, cell in enumerate(cells, 1)
              if any(o.get("output_type") == "error" for o in cell.get("outputs", []))]
    if pm_meta.get("exception") or failed or record.get("failed"):
        where = f" (cell {failed[0]} of the executed copy)" if failed else ""
        why = f": {record['failed']}" if record.get("failed") else ""
        return f"{name} failed in the last run{where}{why}: fix it and rerun `make workbook`"
    not_run = [i for i, cell in enumerate(cells, 1) if cell.get("cell_type") == "code"
               and "".join(cell.get("source", "")).strip() and cell.get("execution_count") is None]
    if not_run:
        return (f"{name}: {len(not_run)} code cell(s) never ran (first: cell {not_run[0]} of the executed copy); the "
                "run stopped early (a dead kernel?): rerun `make workbook`")
    if not pm_meta.get("end_time") or not record.get("environment"):
        missing = "no end time" if not pm_meta.get("end_time") else "no run record (environment)"
        return f"{name}: the last run did not finish ({missing}; it was interrupted): rerun `make workbook`"
    return None


def check_run(root: str | os.PathLike, executed_dir: str | os.PathLike | None = None) -> list[ExecutedNotebook]:
    """The executed copies of every notebook, or :class:`SupplementaryRefused` naming what is wrong with the run."""
    root = Path(root)
    executed_dir = Path(executed_dir) if executed_dir else root / "build" / "notebooks"
    sources = list_notebooks(root / "notebooks")
    if not sources:
        raise SupplementaryRefused(f"No notebooks in {root / 'notebooks'}.")
    code = [root / rel for rel in _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--",
                                       "facekit").split("\0") if rel and (root / rel).is_file()]
    newest_code = max(code, key=lambda p: p.stat().st_mtime) if code else None
    problems, runs = [], []
    for source in sources:
        executed = executed_dir / source.name
        if not executed.is_file():
            problems.append(f"{source.name} has no executed copy in {executed_dir}")
            continue
        try:
            nb = read_executed(executed)
        except ExecutedNotebookError as exc:
            problems.append(str(exc))
            continue
        meta = nb.get("metadata", {}).get("papermill", {})
        params = meta.get("parameters", {})
        unfinished = _unfinished(nb, source.name)
        if unfinished:
            problems.append(unfinished)
            continue
        if params.get("QUICK"):
            problems.append(f"{source.name} was executed in QUICK mode: the zip needs the full run (`make workbook`)")
            continue
        out_dir = params.get("OUT_DIR")
        if out_dir and Path(out_dir).resolve() != (root / "figures" / source.stem).resolve():
            problems.append(f"{source.name} wrote its figures to {out_dir}, not figures/{source.stem}/: "
                            "rerun it without --out")
            continue
        started = _parse_time(meta.get("start_time")) or _mtime(executed)
        for changed in (source, newest_code):
            if changed is not None and _mtime(changed) > started:
                what = changed.relative_to(root)
                problems.append(f"{source.name} is stale: executed {started:%Y-%m-%d %H:%M:%S} UTC, but {what} "
                                f"changed at {_mtime(changed):%Y-%m-%d %H:%M:%S} UTC; rerun `make workbook`")
                break
        else:
            runs.append(ExecutedNotebook(executed, started, _parse_time(meta.get("end_time")),
                                         nb.get("metadata", {}).get("facekit", {}).get("environment")))
    if problems:
        raise SupplementaryRefused("supplementary.zip not built:\n  - " + "\n  - ".join(problems))
    return runs


def notebook_html(path: Path) -> str:
    """A standalone HTML rendering of an executed notebook (nbconvert's lab template, styles and images inline)."""
    import nbformat  # lazy: Jupyter's notebook format, only for reading notebooks
    # lazy: nbconvert is slow to import, only the supplementary's HTML export needs it
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    exporter.embed_images = True
    body, _ = exporter.from_notebook_node(nbformat.read(path, as_version=4))
    return body


def _commit(root: Path) -> str:
    try:
        sha = _git(root, "rev-parse", "--short", "HEAD").strip()
    except SupplementaryRefused:
        return "no commit"
    dirty = _git(root, "status", "--porcelain", "--untracked-files=no", "--", "facekit", "notebooks").strip()
    return sha + (" with uncommitted changes to facekit/ or notebooks/" if dirty else "")


def readme(root: Path, runs: list[ExecutedNotebook], built: datetime) -> str:
    """The zip's README: contents, the commands, the run's dates, machine and versions, then the project README."""
    env = next((r.environment for r in reversed(runs) if r.environment), None)
    started = min(r.started for r in runs)
    finished = max((r.finished or r.started) for r in runs)
    lines = ["# facekit: supplementary material", "",
             f"Built by `facekit supplementary` on {built:%Y-%m-%d %H:%M} UTC from commit {_commit(root)}.", "",
             "## Contents", "",
             "| path | what |", "|---|---|",
             "| `notebooks/` | the workbook's notebooks as executed by the run below (`.ipynb` with outputs, and a "
             "standalone `.html` of each) |",
             "| `figures/` | every figure (PNG and vector PDF) and table (CSV and LaTeX) the notebooks saved; "
             "`figures/answers.md` / `.tex` is the answer sheet |",
             "| `facekit/` | the helper package all notebooks import |",
             "| `tests/` | unit tests and the papermill smoke tests of every notebook |",
             "| `data/` | the small committed inputs: test faces and the checkpoints the project trained |",
             "| `pyproject.toml`, `environment.yml`, `Makefile` | the package, the conda environment, the commands |",
             "", "## The run", "",
             f"- notebooks executed from {started:%Y-%m-%d %H:%M} to {finished:%Y-%m-%d %H:%M} UTC "
             f"({(finished - started).total_seconds() / 60:.0f} min) with full parameters (`QUICK=False`, checked), by "
             "`make workbook` (`facekit run`):"]
    lines += [f"  - `{r.path.name}`: {r.started:%H:%M:%S}-{(r.finished or r.started):%H:%M:%S}" for r in runs]
    if env:
        m = env.get("machine", {})
        lines += [f"- machine: {m.get('os')}, CPU {m.get('cpu')} ({m.get('cores')} cores), "
                  f"GPU: {m.get('gpu') or 'none'}; Python {env.get('python')}",
                  "- software: " + ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items())]
    else:
        lines += ["- machine and versions: not recorded (the executed notebooks predate the runner's record)"]
    lines += ["", "## Commands", "", "Everything is regenerated from this folder (Python >= 3.10; `make` creates "
              "`.venv/` and installs facekit into it):", "", "```",
              "make workbook        # run every notebook with full parameters; figures/ and build/notebooks/",
              "make test            # the test suite (unit tests + every notebook in QUICK mode)",
              "make supplementary   # the answer sheet and this zip (build/supplementary.zip)",
              ".venv/bin/facekit run 02_emotion_training   # one notebook",
              "```", "",
              "The notebooks in `notebooks/` carry their outputs, so `tests/test_notebooks.py`'s check that "
              "committed notebooks are stripped reports them; strip them (`jupyter nbconvert --clear-output "
              "--inplace notebooks/*.ipynb`) before running the test suite here.", ""]
    project = root / "README.md"
    if project.is_file():
        lines += ["---", "", "# The project's README", "", project.read_text(encoding="utf-8")]
    return "\n".join(lines).rstrip() + "\n"


def build_supplementary(out: str | os.PathLike, root: str | os.PathLike | None = None,
                        executed_dir: str | os.PathLike | None = None, html: bool = True) -> Supplementary:
    """Check the run, then write ``out`` atomically; refuse to replace a file that is not an earlier such zip."""
    root = Path(root) if root else paths.repo_root()
    out = Path(out)
    if out.exists():
        try:
            with zipfile.ZipFile(out) as old:
                ours = old.comment.startswith(MARK)
        except (zipfile.BadZipFile, OSError):
            ours = False
        if not ours:
            raise SupplementaryRefused(f"{out} exists and is not a zip facekit built: choose another --out or "
                                       "move that file away.")
    runs = check_run(root, executed_dir)
    files = [rel for rel in shipped_files(root) if (root / rel).resolve() != out.resolve()]  # never zip itself
    built = datetime.now(timezone.utc)
    count = 0
    with atomic_path(out) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.comment = MARK + f" {built:%Y-%m-%dT%H:%M:%SZ}".encode()
            zf.writestr(f"{TOP}/README.md", readme(root, runs, built))
            count += 1
            for run in tqdm(runs, desc="notebooks (ipynb + html)", unit="nb", disable=not html):
                zf.write(run.path, f"{TOP}/notebooks/{run.path.name}")
                count += 1
                if html:
                    zf.writestr(f"{TOP}/notebooks/{run.path.stem}.html", notebook_html(run.path))
                    count += 1
            for rel in files:
                zf.write(root / rel, f"{TOP}/{rel}")
                count += 1
    return Supplementary(out, out.stat().st_size, count)
