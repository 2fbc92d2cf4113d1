"""Drive a notebook in JupyterLab through Playwright and Debian's Chromium: open, set parameters, run all, widgets.

Never downloads a browser: Chromium is ``/usr/bin/chromium`` (Debian package ``chromium``), started headless with
the flags below and a fresh profile folder. Every wait is bounded and fails with a message that says what was awaited.
The notebook file on disk is never written: autosave is off (see ``labserver.LAB_SETTINGS``) and nothing saves.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking/component-update/sync flags Chromium floods an offline machine with refused
# connections. --user-data-dir is passed by Playwright's launch_persistent_context (a fresh temporary folder).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class LabTimeout(AssertionError):
    """A bounded wait in the browser ran out; says what was awaited."""


class NotebookError(AssertionError):
    """A cell raised while the browser ran the notebook; names the cell and the error."""


def missing_browser() -> list[str]:
    """What the browser test lacks on this machine (empty when it can run)."""
    missing = []
    if not Path(CHROMIUM).is_file():
        missing.append(f"{CHROMIUM} (Debian package 'chromium'; `make browser` installs it as root)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("Playwright's Python package (`make browser` pip-installs it into .venv)")
    return missing


def require_browser() -> None:
    """Skip the calling test when Chromium or Playwright is missing; fail instead when CI=true."""
    import pytest

    missing = missing_browser()
    if missing:
        message = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI=true, so a missing browser is a failure", pytrace=False)
        pytest.skip(message)


@contextlib.contextmanager
def chromium(viewport: tuple[int, int] = (1400, 1100), profile_parent: Path | None = None):
    """A headless Chromium browser context with a fresh profile; closed (and the profile removed) on exit."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="chromium-profile-", dir=profile_parent) as profile:
        with sync_playwright() as playwright:
            # Chromium also writes crash reports and dconf state under $HOME/.config and $HOME/.cache: keep them
            # in the throw-away profile too (CI runs as root; nothing goes into the home folder).
            home = {"HOME": profile, "XDG_CONFIG_HOME": f"{profile}/.config", "XDG_CACHE_HOME": f"{profile}/.cache"}
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
                env={**os.environ, **home},
                viewport={"width": viewport[0], "height": viewport[1]}, device_scale_factor=1)
            try:
                yield context
            finally:
                context.close()


# JavaScript run in the page. `window.jupyterapp` exists because the server runs with expose_app_in_browser.
_PANEL_JS = """
(path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return null;
  return Array.from(app.shell.widgets('main')).find(w => w.context && w.context.path === path && w.content) || null;
}
"""

_STATE_JS = """
(path) => {
  const panel = (%s)(path);
  if (!panel) return {ready: false, why: 'notebook panel not open'};
  const session = panel.sessionContext && panel.sessionContext.session;
  const kernel = session && session.kernel;
  const status = kernel ? kernel.status : 'no kernel';
  const cells = panel.content.widgets.map((cell, index) => {
    const model = cell.model;
    if (model.type !== 'code') return null;
    const outputs = model.outputs.toJSON();
    const error = outputs.find(o => o.output_type === 'error');
    return {index, empty: model.sharedModel.getSource().trim() === '', count: model.executionCount,
            running: (cell.promptNode && cell.promptNode.textContent || '').includes('*'),
            error: error ? {ename: error.ename, evalue: error.evalue, traceback: (error.traceback || []).join('\\n')}
                         : null};
  }).filter(c => c !== null);
  return {ready: true, status, cells};
}
""" % _PANEL_JS


@dataclass
class RunReport:
    seconds: float
    cells: int


class LabNotebook:
    """One notebook open in JupyterLab in one browser tab."""

    def __init__(self, page, server, relpath: str, timeout: float = 60.0):
        self.page, self.server, self.path, self.timeout = page, server, relpath, timeout

    # -- opening -----------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, context, server, relpath: str, timeout: float = 90.0) -> "LabNotebook":
        """Open ``relpath`` (relative to the server root) in a fresh workspace and wait for an idle kernel."""
        page = context.new_page()
        notebook = cls(page, server, relpath, timeout)
        page.goto(server.lab_url(relpath), timeout=timeout * 1000, wait_until="domcontentloaded")
        notebook.wait_for(f"JupyterLab to open {relpath} and start its kernel", timeout,
                          "(path) => { const s = (%s)(path); return s.ready && s.status === 'idle'; }" % _STATE_JS)
        return notebook

    def close(self) -> None:
        """Shut this notebook's kernel down (through the REST API) and close the tab, discarding all edits."""
        with contextlib.suppress(Exception):
            kernel_id = self.page.evaluate("(path) => { const p = (%s)(path); const k = p && p.sessionContext.session"
                                           " && p.sessionContext.session.kernel; return k ? k.id : null; }"
                                           % _PANEL_JS, self.path)
            if kernel_id:
                self.server.api(f"kernels/{kernel_id}", method="DELETE")
        with contextlib.suppress(Exception):
            self.page.close(run_before_unload=False)

    # -- waiting -----------------------------------------------------------------------------------------------
    def wait_for(self, what: str, timeout: float, js: str, arg=None, polling: int = 300):
        """Wait until the JavaScript function ``js(arg)`` returns something truthy; :class:`LabTimeout` otherwise."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            return self.page.wait_for_function(js, arg=self.path if arg is None else arg,
                                               timeout=timeout * 1000, polling=polling).json_value()
        except PlaywrightTimeout:
            raise LabTimeout(f"Waited {timeout:.0f} s for {what}; screenshot: "
                             f"{self.screenshot_page('timeout')}") from None

    def state(self) -> dict:
        return self.page.evaluate(_STATE_JS, self.path)

    # -- parameters and running ----------------------------------------------------------------------------------
    def parameters_source(self) -> str:
        return self.page.evaluate("(path) => { const p = (%s)(path); const c = p.content.widgets.find(c => "
                                  "(c.model.getMetadata('tags') || []).includes('parameters'));"
                                  " return c ? c.model.sharedModel.getSource() : null; }" % _PANEL_JS, self.path)

    def set_parameters(self, **values) -> str:
        """Edit the parameters cell in the browser (``NAME: type = value  # comment`` lines); returns the new source.

        The same edit a person makes before "Run All"; the file on disk is not changed (nothing is saved).
        """
        source = self.parameters_source()
        if source is None:
            raise AssertionError(f"{self.path}: no cell tagged 'parameters' to edit")
        for name, value in values.items():
            pattern = re.compile(rf"^({re.escape(name)}\s*(?::[^=\n]+)?=\s*)([^#\n]*?)(\s*#.*)?$", re.MULTILINE)
            if not pattern.search(source):
                raise AssertionError(f"{self.path}: the parameters cell has no line '{name} = ...'")
            source = pattern.sub(lambda m: f"{m.group(1)}{value!r}{m.group(3) or ''}", source, count=1)
        self.page.evaluate("([path, text]) => { const p = (%s)(path); p.content.widgets.find(c => "
                           "(c.model.getMetadata('tags') || []).includes('parameters')).model.sharedModel"
                           ".setSource(text); }" % _PANEL_JS, [self.path, source])
        return source

    def run_all(self, timeout: float) -> RunReport:
        """Run > Run All Cells, then wait (at most ``timeout`` s) until every code cell has run and the kernel idles.

        A cell that raises stops the wait at once with :class:`NotebookError` (its traceback in the message).
        """
        start = time.monotonic()
        self.page.evaluate("(path) => { const app = window.jupyterapp; const p = (%s)(path);"
                           " app.shell.activateById(p.id); app.commands.execute('notebook:run-all-cells'); }"
                           % _PANEL_JS, self.path)
        done = self.wait_for(
            f"every cell of {self.path} to finish (Run All)", timeout,
            "(path) => { const s = (%s)(path); if (!s.ready) return false;"
            " const failed = s.cells.find(c => c.error); if (failed) return {failed};"
            " if (s.status === 'dead') return {dead: true};"
            " const todo = s.cells.filter(c => !c.empty && (c.count === null || c.running));"
            " return todo.length === 0 && s.status === 'idle' ? {cells: s.cells.length} : false; }" % _STATE_JS,
            polling=500)
        if "failed" in done:
            cell = done["failed"]
            raise NotebookError(f"{self.path}: cell {cell['index'] + 1} raised {cell['error']['ename']}: "
                                f"{cell['error']['evalue']}\n{ANSI.sub('', cell['error']['traceback'])[-3000:]}")
        if "dead" in done:
            raise NotebookError(f"{self.path}: the kernel died while running all cells (out of memory?)")
        return RunReport(time.monotonic() - start, done["cells"])

    def rerun_cell(self, index: int, timeout: float = 60.0) -> None:
        """Select cell ``index`` (0-based) and run it again (Shift+Enter's command), waiting until it has finished."""
        count = self.page.evaluate(
            "([path, i]) => { const app = window.jupyterapp; const p = (%s)(path); app.shell.activateById(p.id);"
            " p.content.activeCellIndex = i; const n = p.content.widgets[i].model.executionCount;"
            " app.commands.execute('notebook:run-cell'); return n; }" % _PANEL_JS, [self.path, index])
        self.wait_for(f"cell {index + 1} of {self.path} to run again", timeout,
                      "([path, i, n]) => { const s = (%s)(path); const c = s.cells.find(c => c.index === i);"
                      " return c && (c.error || (c.count !== null && c.count !== n && !c.running"
                      " && s.status === 'idle')); }" % _STATE_JS, arg=[self.path, index, count])
        error = next((c["error"] for c in self.state()["cells"] if c["index"] == index and c["error"]), None)
        if error:
            raise NotebookError(f"{self.path}: cell {index + 1} raised {error['ename']} when run again: "
                                f"{error['evalue']}")

    def cell_index(self, cell) -> int:
        """0-based position of a cell locator among the notebook's cells."""
        return cell.evaluate("c => Array.from(c.parentElement.children).filter("
                             "e => e.classList.contains('jp-Cell')).indexOf(c)")

    # -- locating outputs -------------------------------------------------------------------------------------
    def cells(self):
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")

    def widget_cell(self, control_text: str, timeout: float = 30.0):
        """The first cell whose output holds a widget control whose description matches ``control_text`` (regex)."""
        js = """([path, pattern]) => {
          const cells = Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell'));
          const re = new RegExp(pattern, 'i');
          return cells.findIndex(cell => Array.from(cell.querySelectorAll('.jp-OutputArea .widget-inline-hbox'))
              .some(box => { const label = box.querySelector('.widget-label');
                             return label && re.test(label.textContent); })) + 1;
        }"""
        index = self.wait_for(f"a widget labelled /{control_text}/ in {self.path}", timeout, js,
                              arg=[self.path, control_text])
        return self.cells().nth(index - 1)

    def cell_with_source(self, text: str):
        """The first cell whose source contains ``text``."""
        index = self.page.evaluate("([path, text]) => (%s)(path).content.widgets.findIndex("
                                   "c => c.model.sharedModel.getSource().includes(text))" % _PANEL_JS, [self.path, text])
        if index < 0:
            raise AssertionError(f"{self.path}: no cell contains {text!r}")
        return self.cells().nth(index)

    @staticmethod
    def control(cell, description: str):
        """The widget control (slider, dropdown, toggle buttons) in ``cell`` whose label matches ``description``."""
        boxes = cell.locator(".jp-OutputArea .widget-inline-hbox").filter(
            has=cell.page.locator(".widget-label", has_text=re.compile(description, re.IGNORECASE)))
        return boxes.first

    def images(self, scope=None):
        """``img`` elements in output areas (all cells, or one cell), the way figures appear in JupyterLab."""
        scope = scope or self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
        return scope.locator(".jp-OutputArea-output img")

    def rendered_images(self, scope=None, timeout: float = 20.0) -> int:
        """How many output images (in ``scope``: the notebook or a cell) have loaded with a non-zero size."""
        return self.count_loaded(self.images(scope), timeout)

    @staticmethod
    def count_loaded(images, timeout: float = 20.0) -> int:
        """How many of the ``img`` elements located by ``images`` have loaded; waits for them to finish decoding."""
        deadline = time.monotonic() + timeout
        while True:
            sizes = images.evaluate_all("els => els.map(e => e.complete ? e.naturalWidth * e.naturalHeight : -1)")
            if all(size >= 0 for size in sizes) or time.monotonic() > deadline:
                return sum(size > 0 for size in sizes)
            time.sleep(0.3)

    # -- widgets ----------------------------------------------------------------------------------------------
    def move_control(self, control, steps: int = 1) -> str:
        """Move a slider with the keyboard (focus its handle, press the arrow key), or pick another dropdown option.

        Returns the new value as the widget shows it.
        """
        handle = control.locator(".noUi-handle").first
        select = control.locator("select").first
        if handle.count():
            handle.focus()
            key = "ArrowRight" if steps > 0 else "ArrowLeft"
            for _ in range(abs(steps)):
                handle.press(key)
            return control.locator(".widget-readout").first.inner_text().strip()
        if select.count():
            options = select.locator("option").all_inner_texts()
            current = select.evaluate("s => s.selectedIndex")
            target = (current + steps) % len(options)
            select.select_option(index=target)
            return options[target].strip()
        buttons = control.locator("button")
        if buttons.count():
            pressed = buttons.evaluate_all("bs => bs.findIndex(b => b.classList.contains('mod-active'))")
            target = (max(pressed, 0) + steps) % buttons.count()
            buttons.nth(target).click()
            return buttons.nth(target).inner_text().strip()
        raise AssertionError(f"don't know how to move the widget {control.inner_text()!r}")

    @staticmethod
    def widget_images(cell):
        """Images drawn by widgets in ``cell`` (in an ``Output`` widget or an ``Image`` widget), not the cell's
        ordinary figure outputs, which the controls cannot change."""
        return cell.locator(".jp-OutputArea-output .widget-output img, .jp-OutputArea-output img.widget-image")

    @staticmethod
    def widget_view(cell, description: str):
        """The cell output holding the control labelled ``description`` (the whole browser widget when its controls
        and its picture share one box)."""
        label = cell.page.locator(".widget-label", has_text=re.compile(description, re.IGNORECASE))
        return cell.locator(".jp-OutputArea-output").filter(has=label).last

    def output_fingerprint(self, cell) -> str:
        """A hash of the pixels of the widget images in ``cell`` ("" when none has loaded).

        Read in the page (a data: URL is the PNG itself; anything else is drawn onto a canvas), so an image being
        redrawn or scrolled away cannot make the comparison flaky.
        """
        pixels = self.widget_images(cell).evaluate_all("""els => els.filter(e => e.complete && e.naturalWidth > 0)
            .map(e => { if (e.src.startsWith('data:')) return e.src;
                        const c = document.createElement('canvas'); c.width = e.naturalWidth;
                        c.height = e.naturalHeight; c.getContext('2d').drawImage(e, 0, 0); return c.toDataURL(); })""")
        return hashlib.sha256("|".join(pixels).encode()).hexdigest() if pixels else ""

    @staticmethod
    def texts_matching(cell, pattern: str) -> list[str]:
        """The texts in ``cell``'s output (labels, HTML, printed text) that match ``pattern``, slider readouts aside."""
        return cell.evaluate("""(cell, pattern) => {
          const re = new RegExp(pattern, 'i');
          const found = [];
          cell.querySelectorAll('.jp-OutputArea-output *').forEach(el => {
            if (el.closest('.widget-readout') || el.closest('select')) return;
            const own = Array.from(el.childNodes).filter(n => n.nodeType === Node.TEXT_NODE)
                             .map(n => n.textContent).join('').trim();
            if (own && re.test(own)) found.push(el.innerText.trim());
          });
          return found;
        }""", pattern)

    def wait_for_change(self, cell, before: tuple[str, list[str]], what: str, timeout: float = 30.0,
                        text_pattern: str = "intensit"):
        """Poll until the images or the texts in ``cell`` differ from ``before`` and have settled; return them."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.state().get("status") == "idle" and self.count_loaded(self.widget_images(cell), timeout=5):
                now = (self.output_fingerprint(cell), self.texts_matching(cell, text_pattern))
                if now != before and now == last:  # changed, and the same twice in a row: the redraw is done
                    return now
                last = now
            time.sleep(0.5)
        raise LabTimeout(f"Waited {timeout:.0f} s for the output to change after {what}; screenshot: "
                         f"{self.screenshot_page('no-change')}")

    # -- screenshots ------------------------------------------------------------------------------------------
    def screenshot_page(self, name: str, folder: Path | None = None) -> Path:
        folder = folder or _SCREENSHOTS.get("dir") or Path(tempfile.gettempdir())
        path = Path(folder) / f"{Path(self.path).stem}-{name}.png"
        with contextlib.suppress(Exception):
            self.page.screenshot(path=str(path), timeout=10_000)
        return path

    @staticmethod
    def screenshot(locator, path: Path) -> Path:
        locator.scroll_into_view_if_needed(timeout=10_000)
        locator.screenshot(path=str(path), animations="disabled", timeout=15_000)
        return path


_SCREENSHOTS: dict[str, Path] = {}


def use_screenshot_dir(folder: Path) -> None:
    """Where failure screenshots go (the test sets ``build/e2e/``)."""
    _SCREENSHOTS["dir"] = Path(folder)
