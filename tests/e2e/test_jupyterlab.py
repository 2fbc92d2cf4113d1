"""The workbook as its users see it: notebooks run in JupyterLab, sliders moved in a real (headless) Chromium.

Run by ``make e2e`` and, when Chromium is available, by ``make test``. Needs Debian's ``chromium`` (/usr/bin/chromium)
and Playwright's Python package (never ``playwright install``: no browser download). Without them the tests skip,
except with CI=true, where a missing browser is a failure. Screenshots land in ``build/e2e/`` for a person to look at.

Each notebook is opened from JupyterLab's root (the repository root, so the kernel's working directory is
``notebooks/``), its parameters cell is edited in the browser before Run All (QUICK = True so the full run's training
does not make the test slow; OUT_DIR into build/e2e/out/ so the committed figures/ are not overwritten), and nothing is
saved back to the notebook file.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from .labdriver import LabNotebook, chromium, require_browser, use_screenshot_dir
from .labserver import running_jupyterlab

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
E2E_DIR = ROOT / "build" / "e2e"
FIXTURE = "tests/e2e/fixtures/widget_fixture.ipynb"
FAU_DEMO = "notebooks/05_fau_demo.ipynb"
GRADCAM = "notebooks/03_gradcam.ipynb"
RUN_TIMEOUT = 240  # seconds for Run All of one notebook in QUICK mode (03_gradcam: ~115 s on 2 cores at load 12)


@pytest.fixture(scope="module")
def lab():
    """JupyterLab from .venv serving the repository root; shut down after the module, also on failure."""
    require_browser()
    E2E_DIR.mkdir(parents=True, exist_ok=True)
    use_screenshot_dir(E2E_DIR)
    state = E2E_DIR / "jupyter"
    shutil.rmtree(state, ignore_errors=True)  # fresh settings, workspaces and runtime files every time
    with running_jupyterlab(ROOT, state) as server:
        yield server
    saved = [line for line in server.log.read_text(errors="replace").splitlines() if "Saving file at" in line]
    assert not saved, f"JupyterLab wrote notebooks back to disk during the test: {saved}"


@pytest.fixture(scope="module")
def browser(lab):
    with chromium(profile_parent=E2E_DIR) as context:
        context.set_default_timeout(30_000)
        yield context


@pytest.fixture
def open_notebook(lab, browser):
    """``open_notebook(relpath) -> LabNotebook``; every opened notebook's kernel is shut down after the test."""
    opened: list[LabNotebook] = []

    def open_(relpath: str) -> LabNotebook:
        if not (ROOT / relpath).is_file():
            pytest.skip(f"{relpath} does not exist yet")
        notebook = LabNotebook.open(browser, lab, relpath)
        opened.append(notebook)
        return notebook

    yield open_
    for notebook in opened:
        notebook.close()


def _quick_parameters(stem: str) -> dict:
    """QUICK = True, and outputs under build/e2e/ (never the committed figures/ folder).

    CKPT_DIR stays as committed (None): the notebooks driven here only read checkpoints, from build/checkpoints/
    (or $FACEKIT_CKPT_DIR, which the kernel inherits) and then data/checkpoints/, exactly as for a person.
    """
    out = E2E_DIR / "out" / stem
    shutil.rmtree(out, ignore_errors=True)
    return {"QUICK": True, "INTERACTIVE": True, "OUT_DIR": str(out)}


def _run_quick(notebook: LabNotebook) -> Path:
    stem = Path(notebook.path).stem
    params = _quick_parameters(stem)
    notebook.set_parameters(**params)
    report = notebook.run_all(timeout=RUN_TIMEOUT)
    print(f"{notebook.path}: Run All took {report.seconds:.1f} s for {report.cells} code cells")
    out = Path(params["OUT_DIR"])
    assert (out / "metrics.json").is_file(), (
        f"{notebook.path} ran in JupyterLab but wrote no metrics.json into OUT_DIR={out}: "
        "does it build paths relative to the working directory?")
    return out


def _slide_and_check(notebook: LabNotebook, cell, description: str, name: str, text_pattern: str = "intensit"):
    """Move the control labelled ``description``; the image and the intensity text must change."""
    control = LabNotebook.control(cell, description)
    assert control.count(), f"{notebook.path}: no widget labelled /{description}/ in the widget cell"
    before = (notebook.output_fingerprint(cell), LabNotebook.texts_matching(cell, text_pattern))
    assert before[0], f"{notebook.path}: the widget cell shows no image before moving {description}"
    value = notebook.move_control(control, steps=1)
    after = notebook.wait_for_change(cell, before, f"moving {description} to {value}", text_pattern=text_pattern)
    LabNotebook.screenshot(cell, E2E_DIR / f"{Path(notebook.path).stem}-{name}.png")
    return before, after


def test_setup_notebook_runs_in_jupyterlab(open_notebook):
    """The harness on the template notebook: parameters edited in the browser, Run All, a figure on screen."""
    notebook = open_notebook("notebooks/00_setup.ipynb")
    out = _run_quick(notebook)
    assert json.loads((out / "metrics.json").read_text())["repeatable"] is True
    shown = notebook.rendered_images()
    saved = len(list(out.glob("*.png")))
    notebook.screenshot_page("after-run-all")
    assert shown >= saved >= 1, f"00_setup saved {saved} figures but JupyterLab shows only {shown}"


def test_widget_fixture_slider_changes_image_and_text(open_notebook):
    """A tiny IntSlider -> matplotlib image + Label notebook: proves the slider driving and change detection."""
    notebook = open_notebook(FIXTURE)
    notebook.run_all(timeout=60)
    cell = notebook.widget_cell("subject")
    (image0, text0), (image1, text1) = _slide_and_check(notebook, cell, "subject", "slider")
    assert image0 != image1 and text0 != text1
    assert text1 and re.search(r"intensity: 0\.\d{3}", text1[0])
    assert LabNotebook.control(cell, "subject").locator(".widget-readout").inner_text().strip() == "1"
    _still_works_after_rerun(notebook, cell, "subject")


def test_fau_demo_controls_change_heatmap_and_intensity(open_notebook):
    """Task 2 demo: the subject and AU controls redraw the heatmap over the face and update the intensity text;
    the opacity slider changes the picture."""
    notebook = open_notebook(FAU_DEMO)
    _run_quick(notebook)
    cell = notebook.widget_cell("subject")
    view = LabNotebook.widget_view(cell, "subject")
    LabNotebook.screenshot(view, E2E_DIR / "05_fau_demo-browser.png")
    texts = []
    for description, name in (("subject", "subject"), (r"^\s*AU\s*$|action unit", "au"), ("opacity", "opacity")):
        control = LabNotebook.control(cell, description)
        assert control.count(), f"{FAU_DEMO}: the browser has no control labelled /{description}/"
        before = (notebook.output_fingerprint(cell), LabNotebook.texts_matching(cell, "intensit"))
        assert before[0], f"{FAU_DEMO}: the browser shows no image before moving {name}"
        value = notebook.move_control(control, steps=-3 if name == "opacity" else 1)
        after = notebook.wait_for_change(cell, before, f"moving {name} to {value}")
        LabNotebook.screenshot(view, E2E_DIR / f"05_fau_demo-after-{name}.png")
        assert after[0] != before[0], f"moving {name} to {value} did not change the rendered heatmap"
        texts.append((name, before[1], after[1]))
    _still_works_after_rerun(notebook, cell, "subject")
    assert all(before and after for _, before, after in texts), f"{FAU_DEMO}: no intensity text next to the heatmap"
    for name, before, after in texts[:2]:  # subject and AU change the intensity; opacity does not
        assert before != after, f"moving {name} did not change the intensity text ({before} -> {after})"


def _still_works_after_rerun(notebook: LabNotebook, cell, description: str) -> None:
    """Run the widget cell again (no kernel restart): the new widget must draw and react like the first one."""
    notebook.rerun_cell(notebook.cell_index(cell))
    cell = notebook.widget_cell(description)
    assert LabNotebook.count_loaded(LabNotebook.widget_images(cell)) >= 1, (
        f"{notebook.path}: the widget shows no image after re-running its cell")
    before = (notebook.output_fingerprint(cell), LabNotebook.texts_matching(cell, "intensit"))
    notebook.move_control(LabNotebook.control(cell, description), steps=1)
    notebook.wait_for_change(cell, before, f"moving {description} after re-running the widget cell")


def test_gradcam_notebook_figures_render(open_notebook):
    """Task 1 guided Grad-CAM: every figure the notebook saves is also shown in JupyterLab, and all of them load."""
    notebook = open_notebook(GRADCAM)
    out = _run_quick(notebook)
    shown = notebook.rendered_images()
    saved = [p.relative_to(out) for p in sorted(out.rglob("*")) if p.suffix in {".png", ".jpg"}]
    notebook.screenshot_page("after-run-all")
    assert saved, f"{GRADCAM} saved no figure into {out}"
    assert shown >= len(saved), f"{GRADCAM} saved {len(saved)} figures ({saved}) but JupyterLab shows only {shown}"
    cell = notebook.cell_with_source('"guided_gradcam.jpg"')
    assert notebook.rendered_images(cell) >= 1, "the guided Grad-CAM figure of the test faces is not shown"
    LabNotebook.screenshot(notebook.images(cell).first, E2E_DIR / "03_gradcam-grid.png")
