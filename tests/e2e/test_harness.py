"""The browser-test harness itself: skip/fail rules, the server's environment, and shutdown even on failure."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from . import labdriver
from .labserver import free_port, jupyter_lab_command, lab_environment, running_jupyterlab

ROOT = Path(__file__).resolve().parents[2]


def test_missing_chromium_skips_locally_and_fails_on_ci(monkeypatch):
    monkeypatch.setattr(labdriver, "CHROMIUM", Path("/nonexistent/chromium"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="/nonexistent/chromium"):
        labdriver.require_browser()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        labdriver.require_browser()


def test_missing_playwright_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)  # makes the import fail
    assert any("Playwright" in item for item in labdriver.missing_browser())


def test_chromium_flags_keep_an_offline_machine_quiet():
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"):
        assert flag in labdriver.CHROMIUM_ARGS


def test_lab_environment_stays_in_state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    env = lab_environment(tmp_path)
    for key in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR",
                "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR"):
        assert Path(env[key]).is_dir() and Path(env[key]).is_relative_to(tmp_path), key
    assert "MPLBACKEND" not in env, "Agg would stop figures from showing inline in JupyterLab"
    settings = Path(env["JUPYTERLAB_SETTINGS_DIR"]) / "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings"
    assert json.loads(settings.read_text())["autosave"] is False


def test_free_port_is_bindable():
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_missing_venv_is_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="make install"):
        jupyter_lab_command(tmp_path / "no-venv")


@pytest.mark.e2e
def test_jupyterlab_is_shut_down_after_a_failure(tmp_path):
    """The server answers with its token only, and its process is gone after an exception inside the block."""
    import urllib.error
    import urllib.request

    with pytest.raises(RuntimeError, match="deliberate"):
        with running_jupyterlab(ROOT, tmp_path / "jupyter", start_timeout=120) as lab:
            pid = lab.pid
            assert "started" in lab.api("status")
            with pytest.raises(urllib.error.HTTPError):  # no token, no access
                urllib.request.urlopen(f"{lab.url}api/kernels", timeout=5)
            raise RuntimeError("deliberate")
    assert not os.path.exists(f"/proc/{pid}") or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
