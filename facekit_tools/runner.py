"""Run the numbered notebooks headless through papermill, in order, the way ``make workbook`` and the tests do."""
from __future__ import annotations

import ast
import errno
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tqdm.auto import tqdm

from facekit import paths
from facekit.io import atomic_write_text, sweep_temp_files
from facekit_tools.notebook_files import ExecutedNotebookError, list_notebooks, read_executed
from facekit_tools.handin.environment import snapshot
from facekit_tools.handin.report import ENV
import time

class NotebookFailed(RuntimeError):
    """A notebook raised: names the notebook, the cell and the error, and where the executed copy was kept."""
    def __init__(self, notebook: Path, cell: int | None, source: str, error: str, executed: Path):
        self.notebook, self.cell, self.error, self.executed = notebook, cell, error, executed
        first_line = next((line for line in source.splitlines() if line.strip()), "")
        where = f"cell {cell} ({first_line.strip()[:60]!r})" if cell is not None else "an unknown cell"
        super().__init__(f"Notebook {notebook.name} failed in {where}: {error}\n"
                         f"The executed notebook, with the traceback, is kept at {executed}")


class RunWriteError(OSError):
    """The run could not write where it must (disk full, read-only, a file where a folder belongs); names the path."""
    def __str__(self) -> str:
        return str(self.strerror)


class RunLocked(RuntimeError):
    """Another ``facekit run`` is writing into the same output folder."""


#: What the kernel's death most likely means, for the message.
DEAD_KERNEL_CAUSE = ("the kernel died (most likely it ran out of memory and the system's OOM killer ended it, or "
                     "it crashed)")


@dataclass(frozen=True)
class NotebookRun:
    notebook: Path
    executed: Path
    out_dir: Path | None
    seconds: float


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
_CURRENT_CELL: dict = {}  # the code cell running now (index, source), to name it when the kernel dies


def _register_progress_engine() -> str:
    """Register (once) a papermill engine that reports every code cell as it starts: ``cell 7/31: <first line>``."""
    # lazy: papermill loads Jupyter's client stack (~1 s), only a run needs it
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
                if cell.cell_type == "code":
                    _CURRENT_CELL.update(index=cell_index, source=cell.source)
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

    Nothing half-done passes for done: the previous executed copy is removed first, papermill writes to a hidden
    ``.<name>.partial.ipynb`` that replaces the copy only when it is complete (or failed, with the error in it),
    and a dead kernel raises :class:`NotebookFailed` naming the cell and the likely cause (memory).
    """

    import papermill as pm  # lazy: papermill loads Jupyter's client stack (~1 s), only a run needs it
    from nbclient.exceptions import DeadKernelError  # lazy: Jupyter's client stack, only a run needs it
    # lazy: papermill loads Jupyter's client stack (~1 s), only a run needs it
    from papermill.exceptions import PapermillExecutionError

    notebook = Path(notebook).resolve()
    executed_dir = Path(executed_dir) if executed_dir else paths.build_dir("notebooks")
    executed, partial = _prepare_executed(executed_dir, notebook.name)
    params = {"QUICK": bool(quick), "INTERACTIVE": False}
    if out_dir is not None:
        params["OUT_DIR"] = str(Path(out_dir).resolve())
    if ckpt_dir is not None:
        params["CKPT_DIR"] = str(Path(ckpt_dir).resolve())
    params.update(parameters or {})
    for key, value in jupyter_env().items():
        os.environ.setdefault(key, value)
    global _CELL_REPORTER
    extra = {"engine_name": _register_progress_engine()}
    if echo:
        _CELL_REPORTER = lambda text: tqdm.write(f"  {notebook.stem} {text}")  # noqa: E731
        extra.update(stdout_file=_Echo(), stderr_file=_Echo())
    _CURRENT_CELL.clear()
    start = time.perf_counter()
    try:
        with _report_outputs(not params["QUICK"]):
            pm.execute_notebook(str(notebook), str(partial), parameters=params, kernel_name="python3",
                                cwd=str(notebook.parent), progress_bar=False, execution_timeout=timeout, **extra)
    except PapermillExecutionError as exc:
        _keep_failed(partial, executed, f"{exc.ename}: {exc.evalue}")
        raise NotebookFailed(notebook, _source_cell_number(notebook, exc.source), exc.source,
                             f"{exc.ename}: {exc.evalue}", executed) from None
    except DeadKernelError:
        source = _CURRENT_CELL.get("source", "")
        _keep_failed(partial, executed, DEAD_KERNEL_CAUSE)
        raise NotebookFailed(notebook, _source_cell_number(notebook, source) if source else None, source,
                             f"{DEAD_KERNEL_CAUSE}. Close other programs, run with fewer threads "
                             "(FACEKIT_THREADS=1) or try --quick first", executed) from None
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise _write_error(exc, executed) from None
    except BaseException:  # Ctrl-C, SIGTERM: the partial copy is not a run
        partial.unlink(missing_ok=True)
        raise
    finally:
        _CELL_REPORTER = None
    _finish_executed(partial, executed)
    return NotebookRun(notebook, executed, Path(params["OUT_DIR"]) if "OUT_DIR" in params else None,
                       time.perf_counter() - start)


def _prepare_executed(executed_dir: Path, name: str) -> tuple[Path, Path]:
    """``(executed, partial)`` paths; the folder made, the previous copy and leftovers of killed runs removed."""
    try:
        executed_dir.mkdir(parents=True, exist_ok=True)
        executed, partial = executed_dir / name, executed_dir / f".{Path(name).stem}.partial.ipynb"
        sweep_temp_files(executed_dir, [name])
        partial.unlink(missing_ok=True)  # a run killed with SIGKILL left it
        executed.unlink(missing_ok=True)  # the old copy must not pass for this run's
    except OSError as exc:
        raise _write_error(exc, executed_dir / name) from None
    return executed, partial


def _write_error(exc: OSError, path: Path) -> RunWriteError:
    reasons = {errno.ENOSPC: "the disk is full: free some space", errno.EROFS: "the file system is read-only",
               errno.EACCES: "permission denied", errno.ENOTDIR: "a file stands where a folder belongs",
               errno.EEXIST: "a file stands where a folder belongs"}
    why = reasons.get(exc.errno, exc.strerror or str(exc))
    return RunWriteError(exc.errno, f"Cannot write {path}: {why} ({exc.filename or path}). Choose a writable "
                                    "--out (or free space) and rerun; nothing of this notebook's run was kept.")


def _keep_failed(partial: Path, executed: Path, reason: str) -> None:
    """Keep a failed run's copy (with its traceback) as ``executed``, marked failed, when it is readable."""
    try:
        nb = read_executed(partial)
    except (OSError, ExecutedNotebookError):
        partial.unlink(missing_ok=True)
        return
    nb.setdefault("metadata", {}).setdefault("papermill", {})["exception"] = True
    nb["metadata"].setdefault("facekit", {})["failed"] = reason
    try:
        atomic_write_text(executed, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    finally:
        partial.unlink(missing_ok=True)


def _finish_executed(partial: Path, executed: Path) -> None:
    """Write the run record (environment, finish time) into the complete copy and move it into place atomically."""
    try:
        nb = read_executed(partial)
        nb.setdefault("metadata", {}).setdefault("facekit", {})["environment"] = snapshot()
        nb["metadata"]["facekit"]["run"] = {"complete": True,
                                            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        atomic_write_text(executed, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise _write_error(exc, executed) from None
    finally:
        partial.unlink(missing_ok=True)


@contextmanager
def _report_outputs(on: bool):
    """The kernel inherits ``FACEKIT_REPORT_OUTPUTS``: report PDFs and LaTeX tables for a full run, not for QUICK."""
    before = os.environ.get(ENV)
    os.environ[ENV] = "1" if on else "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before


def _source_cell_number(notebook: Path, source: str) -> int | None:
    """1-based number of the failing cell in the source notebook, found by its code (papermill adds cells)."""
    import nbformat  # lazy: Jupyter's notebook format, only for reading notebooks

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
    first failure. A second run into the same folder while one is going is refused (:class:`RunLocked`)."""
    notebooks = resolve_notebooks(names)
    declared = {nb: notebook_parameters(nb) for nb in notebooks}
    unknown = sorted(set(parameters or {}) - set().union(*declared.values()))
    if unknown:
        known = ", ".join(sorted(set().union(*declared.values())))
        raise ValueError(f"No chosen notebook has the parameter(s) {', '.join(unknown)}; they have: {known}")
    if executed_dir is None and out:
        executed_dir = Path(out) / "notebooks"
    executed_dir = Path(executed_dir) if executed_dir else paths.build_dir("notebooks")
    runs = []
    with run_lock(executed_dir):
        bar = tqdm(notebooks, desc="notebooks", unit="nb")
        for notebook in bar:
            bar.set_postfix_str(notebook.stem)
            out_dir = Path(out) / notebook.stem if out else None
            ckpt_dir = Path(out) / "checkpoints" if out else None
            own = {k: v for k, v in (parameters or {}).items() if k in declared[notebook]}
            try:
                runs.append(execute_notebook(notebook, quick=quick, out_dir=out_dir, ckpt_dir=ckpt_dir,
                                             executed_dir=executed_dir, echo=echo, parameters=own))
            except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: say what is done and what to run next
                left = [nb.stem[:2] for nb in notebooks[len(runs):]]
                exc.facekit_note = (f"{len(runs)} notebook(s) finished; {notebook.name} was stopped and its "
                                    "executed copy removed. ")
                exc.facekit_again = "facekit run " + " ".join(
                    [*left, *(["--quick"] if quick else []), *([f"--out {out}"] if out else [])])
                raise
            tqdm.write(f"{notebook.name}: {runs[-1].seconds:.1f} s")
    return runs


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


@contextmanager
def run_lock(folder: str | os.PathLike):
    """Hold ``<folder>/.facekit-run.lock`` (this process's id) while a run writes there; a lock whose process is
    gone (a killed run) is taken over, a live one refused with :class:`RunLocked`."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(exc, folder) from None
    lock = folder / ".facekit-run.lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            try:
                pid = int(lock.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pid = None
            if pid is not None and pid != os.getpid() and _pid_alive(pid):
                raise RunLocked(f"Another facekit run (process {pid}) is writing into {folder}; wait for it to "
                                f"finish, or give this run another --out. (If no run is going, delete {lock}.)")
            lock.unlink(missing_ok=True)  # its run was killed: take the folder over
        except OSError as exc:
            raise _write_error(exc, lock) from None
    else:
        raise RunLocked(f"Could not take {lock}: another run keeps creating it; give this run another --out.")
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{os.getpid()}\n")
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)


def notebook_parameters(notebook: str | os.PathLike) -> set[str]:
    """The names a notebook's ``parameters`` cell assigns (what ``papermill -p`` and ``facekit run -p`` may set)."""
    import papermill as pm  # lazy: papermill loads Jupyter's client stack (~1 s), only a run needs it

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
