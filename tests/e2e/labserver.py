"""Start JupyterLab from the project's ``.venv`` for a browser test, and always shut it down again.

``running_jupyterlab(root, state_dir)`` is a context manager: it picks a free port on 127.0.0.1, a random token,
keeps every Jupyter/IPython/JupyterLab state folder under ``state_dir`` (nothing in the home folder; CI runs as root),
adds ``--allow-root`` when running as root, waits until ``/api/status`` answers, and on exit (also after a failure)
asks the server to shut down, then terminates and finally kills its process group and any kernel it started.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

# Lab settings for an unattended browser: never write the notebook back to disk (the test edits its parameters cell
# in the browser and runs it; the committed file must stay untouched), and no news or update pop-ups.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
    # Every cell in the DOM (no virtual scrolling), so outputs below the fold can be found and photographed.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


class LabStartError(RuntimeError):
    """JupyterLab did not come up; the message carries the end of its log."""


@dataclass(frozen=True)
class LabServer:
    url: str  # http://127.0.0.1:<port>/
    token: str
    root: Path  # the folder JupyterLab serves (its working directory)
    log: Path
    pid: int

    def lab_url(self, relpath: str, workspace: str = "e2e") -> str:
        """The URL that opens ``relpath`` (relative to ``root``) in a fresh workspace, logged in with the token."""
        return f"{self.url}lab/workspaces/{workspace}/tree/{relpath}?reset&token={self.token}"

    def api(self, path: str, method: str = "GET", timeout: float = 5.0):
        request = urllib.request.Request(f"{self.url}api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now (the server is started with ``--port-retries=0``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def jupyter_lab_command(venv: Path) -> list[str]:
    """``jupyter lab`` of the project's virtual environment; a clear error when it is missing."""
    python = venv / "bin" / "python"
    if not python.is_file():
        raise FileNotFoundError(f"{python} not found: create the environment first with `make install`.")
    return [str(python), "-m", "jupyterlab"]


def lab_environment(state_dir: Path) -> dict[str, str]:
    """The server's environment: Jupyter/IPython state inside ``state_dir``, matplotlib's inline backend."""
    env = dict(os.environ)
    folders = {
        "JUPYTER_CONFIG_DIR": state_dir / "config",
        "JUPYTER_DATA_DIR": state_dir / "data",
        "JUPYTER_RUNTIME_DIR": state_dir / "runtime",
        "IPYTHONDIR": state_dir / "ipython",
        "MPLCONFIGDIR": state_dir / "matplotlib",
        "JUPYTERLAB_SETTINGS_DIR": state_dir / "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": state_dir / "lab-workspaces",
    }
    for key, folder in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        env[key] = str(folder)
    for name, settings in LAB_SETTINGS.items():
        target = folders["JUPYTERLAB_SETTINGS_DIR"] / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(settings))
    # The Makefile and tests/conftest.py export MPLBACKEND=Agg for headless runs. A person starting JupyterLab from
    # a shell has no such variable, and with it set ipykernel would not switch to the inline backend: figures shown
    # with plt.show() or as a cell's last value would silently not appear. Test what the person sees.
    env.pop("MPLBACKEND", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _descendants(pid: int) -> list[int]:
    """Process ids started (directly or not) by ``pid``, read from /proc (kernels run in their own session)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _log_tail(log: Path, lines: int = 40) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def _stop(process: subprocess.Popen, server: LabServer | None, grace: float) -> None:
    """Shut the server down: REST shutdown, SIGTERM to its process group, SIGKILL; then any kernel left behind."""
    if process.poll() is not None:
        return
    kernels = _descendants(process.pid)
    if server is not None:
        with contextlib.suppress(OSError, urllib.error.URLError):
            server.api("shutdown", method="POST", timeout=3)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    for pid in kernels:  # only processes this server started, by id
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def running_jupyterlab(root: Path, state_dir: Path, venv: Path | None = None, start_timeout: float = 90.0,
                       grace: float = 10.0):
    """Run JupyterLab on 127.0.0.1 serving ``root``; yield a :class:`LabServer`; always stop it."""
    root = Path(root).resolve()
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    venv = Path(venv) if venv else root / ".venv"
    port, token = free_port(), secrets.token_hex(24)
    command = jupyter_lab_command(venv) + [
        "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: kernel state and cell models for the waits
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--ServerApp.open_browser=False", "--ServerApp.shutdown_no_activity_timeout=900",
        "--MappingKernelManager.cull_idle_timeout=0",
        # Opening a notebook makes a checkpoint copy: keep it in the state folder, not in notebooks/.ipynb_checkpoints.
        f"--FileCheckpoints.root_dir={state_dir / 'checkpoints'}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = state_dir / "jupyterlab.log"
    server = None
    with open(log, "wb") as log_file:
        process = subprocess.Popen(command, cwd=root, env=lab_environment(state_dir), stdout=log_file,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            candidate = LabServer(f"http://127.0.0.1:{port}/", token, root, log, process.pid)
            deadline = time.monotonic() + start_timeout
            while True:
                if process.poll() is not None:
                    raise LabStartError(f"JupyterLab exited with status {process.returncode} before answering; "
                                        f"its log ({log}) ends:\n{_log_tail(log)}")
                with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                    if candidate.api("status", timeout=2) is not None:
                        server = candidate
                        break
                if time.monotonic() > deadline:
                    raise LabStartError(f"JupyterLab did not answer /api/status within {start_timeout:.0f} s; "
                                        f"its log ({log}) ends:\n{_log_tail(log)}")
                time.sleep(0.5)
            yield server
        finally:
            _stop(process, server or candidate, grace)


if __name__ == "__main__":  # manual check: start, print the URL, stop on Enter
    here = Path(__file__).resolve().parents[2]
    with running_jupyterlab(here, here / "build" / "e2e" / "jupyter") as lab:
        print(lab.lab_url("notebooks/00_setup.ipynb"), file=sys.stderr)
        input("Enter stops JupyterLab ")
