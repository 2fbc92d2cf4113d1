"""Run the numbered notebooks headless through papermill, in order, the way ``make workbook`` and the tests do."""
from __future__ import annotations

import ast
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from facekit import paths

NOTEBOOK_PATTERN = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")


class NotebookFailed(RuntimeError):
    """A notebook raised: names the notebook, the cell and the error, and where the executed copy was kept."""

    def __init__(self, notebook: Path, cell: int | None, source: str, error: str, executed: Path):
        self.notebook, self.cell, self.error, self.executed = notebook, cell, error, executed
        first_line = next((line for line in source.splitlines() if line.strip()), "")
        where = f"cell {cell} ({first_line.strip()[:60]!r})" if cell is not None else "an unknown cell"
        super().__init__(f"Notebook {notebook.name} failed in {where}: {error}\n"
                         f"The executed notebook, with the traceback, is kept at {executed}")


@dataclass(frozen=True)
class NotebookRun:
    notebook: Path
    executed: Path
    out_dir: Path | None
    seconds: float


def list_notebooks(folder: str | os.PathLike | None = None) -> list[Path]:
    """The workbook's notebooks ``NN_name.ipynb``, in numeric order."""
    folder = Path(folder) if folder else paths.repo_root() / "notebooks"
    return sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_PATTERN.match(p.name))


def resolve_notebooks(names: list[str] | None, folder: str | os.PathLike | None = None) -> list[Path]:
    """Notebooks by path, exact file name, exact stem or number (``02`` or ``2``); all of them when ``names`` is
    empty. Nothing fuzzy: ``02_emotion_training.ipynbx`` or ``02_emotion`` match nothing (a typo must not start a
    long run of another notebook)."""
    available = list_notebooks(folder)
    if not names:
        return available
    picked = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb" and path.is_file():
            picked.append(path.resolve())
            continue
        number = f"{int(name):02d}_" if name.isdigit() else None
        matches = [p for p in available if name in (p.name, p.stem) or (number and p.name.startswith(number))]
        if len(matches) != 1:
            choices = ", ".join(p.stem for p in available)
            raise FileNotFoundError(f"No single notebook matches {name!r}; available: {choices}")
        picked.append(matches[0])
    return picked


def jupyter_env(base: str | os.PathLike | None = None) -> dict[str, str]:
    """Environment variables that keep Jupyter and IPython out of the home folder (CI runs as root, read-only home)."""
    base = Path(base) if base else paths.build_dir("jupyter")
    env = {
        "JUPYTER_CONFIG_DIR": base / "config",
        "JUPYTER_DATA_DIR": base / "data",
        "JUPYTER_RUNTIME_DIR": base / "runtime",
        "IPYTHONDIR": base / "ipython",
        "MPLCONFIGDIR": base / "matplotlib",
    }
    for value in env.values():
        value.mkdir(parents=True, exist_ok=True)
    return {key: str(value) for key, value in env.items()}


class _Echo:
    """A file-like sink for a kernel's stdout/stderr: complete lines go to the terminal (``tqdm.write``, so they
    print above the notebooks bar), indented; carriage-return updates keep only their last state."""

    def __init__(self, write=None, indent: str = "    ", width: int = 160):
        self.buffer, self.indent, self.width = "", indent, width
        self._write = write or tqdm.write

    def write(self, text: str) -> int:
        self.buffer += text
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            line = line.rsplit("\r", 1)[-1].rstrip()
            if line.strip():
                self._write(f"{self.indent}{line[:self.width]}")
        return len(text)

    def flush(self) -> None:
        pass


_CELL_REPORTER = None  # set by execute_notebook(echo=True) for the duration of one run


def _register_progress_engine() -> str:
    """Register (once) a papermill engine that reports every code cell as it starts: ``cell 7/31: <first line>``."""
    from papermill.engines import NBClientEngine, papermill_engines

    name = "facekit-progress"
    if name in papermill_engines._engines:
        return name

    class ProgressEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            start = nb_man.cell_start
            code = [i for i, c in enumerate(nb_man.nb.cells) if c.cell_type == "code"]

            def cell_start(cell, cell_index=None, **kw):
                if _CELL_REPORTER is not None and cell.cell_type == "code" and cell_index in code:
                    first = next((ln.strip() for ln in cell.source.splitlines() if ln.strip()), "")
                    _CELL_REPORTER(f"cell {code.index(cell_index) + 1}/{len(code)}: {first[:70]}")
                return start(cell, cell_index, **kw)

            nb_man.cell_start = cell_start
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register(name, ProgressEngine)
    return name


def execute_notebook(notebook: str | os.PathLike, *, quick: bool = False, out_dir: str | os.PathLike | None = None,
                     ckpt_dir: str | os.PathLike | None = None, executed_dir: str | os.PathLike | None = None,
                     parameters: dict | None = None, timeout: int | None = None, echo: bool = False) -> NotebookRun:
    """Execute one notebook with papermill (kernel ``python3`` of this environment, cwd = the notebook's folder).

    Injects ``QUICK``, ``INTERACTIVE=False``, ``OUT_DIR`` and ``CKPT_DIR`` (the latter two only when given, so the
    notebook's own defaults ``figures/<stem>/`` and ``build/checkpoints/`` apply otherwise). The executed copy goes to
    ``executed_dir`` (default ``build/notebooks/``) and is kept when the notebook fails. With ``echo`` the terminal
    shows each code cell as it starts and the lines the cells print (the trainer's per-epoch line, for example).
    The kernel chooses its own threads at the notebook's ``facekit.setup`` and follows the load while it trains
    (:func:`facekit.runtime.set_threads`).
    """
    import time

    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    notebook = Path(notebook).resolve()
    executed_dir = Path(executed_dir) if executed_dir else paths.build_dir("notebooks")
    executed_dir.mkdir(parents=True, exist_ok=True)
    executed = executed_dir / notebook.name
    params = {"QUICK": bool(quick), "INTERACTIVE": False}
    if out_dir is not None:
        params["OUT_DIR"] = str(Path(out_dir).resolve())
    if ckpt_dir is not None:
        params["CKPT_DIR"] = str(Path(ckpt_dir).resolve())
    params.update(parameters or {})
    for key, value in jupyter_env().items():
        os.environ.setdefault(key, value)
    global _CELL_REPORTER
    extra = {}
    if echo:
        _CELL_REPORTER = lambda text: tqdm.write(f"  {notebook.stem} {text}")  # noqa: E731
        extra = {"engine_name": _register_progress_engine(), "stdout_file": _Echo(), "stderr_file": _Echo()}
    start = time.perf_counter()
    try:
        with _report_outputs(not params["QUICK"]):
            pm.execute_notebook(str(notebook), str(executed), parameters=params, kernel_name="python3",
                                cwd=str(notebook.parent), progress_bar=False, execution_timeout=timeout, **extra)
    except PapermillExecutionError as exc:
        raise NotebookFailed(notebook, _source_cell_number(notebook, exc.source), exc.source,
                             f"{exc.ename}: {exc.evalue}", executed) from None
    finally:
        _CELL_REPORTER = None
    _record_environment(executed)
    return NotebookRun(notebook, executed, Path(params["OUT_DIR"]) if "OUT_DIR" in params else None,
                       time.perf_counter() - start)


@contextmanager
def _report_outputs(on: bool):
    """The kernel inherits ``FACEKIT_REPORT_OUTPUTS``: report PDFs and LaTeX tables for a full run, not for QUICK."""
    from facekit_tools.handin.report import ENV

    before = os.environ.get(ENV)
    os.environ[ENV] = "1" if on else "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before


def _record_environment(executed: Path) -> None:
    """Store the machine and software versions in the executed copy (``metadata.facekit.environment``)."""
    import json

    from facekit_tools.handin.environment import snapshot
    from facekit.io import atomic_write_text

    nb = json.loads(executed.read_text(encoding="utf-8"))
    nb.setdefault("metadata", {}).setdefault("facekit", {})["environment"] = snapshot()
    atomic_write_text(executed, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def _source_cell_number(notebook: Path, source: str) -> int | None:
    """1-based number of the failing cell in the source notebook, found by its code (papermill adds cells)."""
    import nbformat

    cells = nbformat.read(notebook, as_version=4).cells
    return next((i + 1 for i, cell in enumerate(cells) if cell.source == source), None)


def run_notebooks(names: list[str] | None = None, *, quick: bool = False, out: str | os.PathLike | None = None,
                  executed_dir: str | os.PathLike | None = None, echo: bool = False,
                  parameters: dict | None = None) -> list[NotebookRun]:
    """Execute notebooks in numeric order; with ``out``, everything the run writes stays under it: figures in
    ``out/<stem>/``, checkpoints in ``out/checkpoints/`` and the executed notebooks in ``out/notebooks/`` (instead
    of ``figures/``, ``build/checkpoints/`` and ``build/notebooks/``). ``echo`` shows cells and their printed
    progress in the terminal. ``parameters`` (``{"CHECKPOINT": "..."}``) go to every notebook that declares them in
    its ``parameters`` cell; a name that no chosen notebook declares is refused before anything runs. Stops at the
    first failure."""
    notebooks = resolve_notebooks(names)
    declared = {nb: notebook_parameters(nb) for nb in notebooks}
    unknown = sorted(set(parameters or {}) - set().union(*declared.values()))
    if unknown:
        known = ", ".join(sorted(set().union(*declared.values())))
        raise ValueError(f"No chosen notebook has the parameter(s) {', '.join(unknown)}; they have: {known}")
    if executed_dir is None and out:
        executed_dir = Path(out) / "notebooks"
    runs = []
    bar = tqdm(notebooks, desc="notebooks", unit="nb")
    for notebook in bar:
        bar.set_postfix_str(notebook.stem)
        out_dir = Path(out) / notebook.stem if out else None
        ckpt_dir = Path(out) / "checkpoints" if out else None
        own = {k: v for k, v in (parameters or {}).items() if k in declared[notebook]}
        runs.append(execute_notebook(notebook, quick=quick, out_dir=out_dir, ckpt_dir=ckpt_dir,
                                     executed_dir=executed_dir, echo=echo, parameters=own))
        tqdm.write(f"{notebook.name}: {runs[-1].seconds:.1f} s")
    return runs


def notebook_parameters(notebook: str | os.PathLike) -> set[str]:
    """The names a notebook's ``parameters`` cell assigns (what ``papermill -p`` and ``facekit run -p`` may set)."""
    import papermill as pm

    return set(pm.inspect_notebook(str(notebook)))


def parse_parameter(text: str):
    """A ``-p NAME VALUE`` value as a Python literal (``3``, ``0.5``, ``True``/``true``, ``None``, ``'x'``), else
    the text itself (a path, a checkpoint name)."""
    lowered = text.strip().lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    if lowered in {"none", "null"}:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return value if isinstance(value, (int, float, str, tuple, list, dict)) else text
