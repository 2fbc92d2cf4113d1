"""The live widgets of issue 19 in JupyterLab + headless Chromium (09_playground, run in QUICK mode).

* FACS playground: moving the AU12 slider changes the face, the probability bars and the intensity bars (pixels of
  those panels) and the probability / intensity text; then 20 timed moves print the update latency (median, max),
  both as the browser sees it (key press -> new picture) and as the kernel measured it.
* Grad-CAM explorer: switching the layer redraws the map.
* Your own photo: a real photo from the installed assets goes through the FileUpload control and is analysed; a
  file that is not an image gets the message, not a traceback.
* Screenshots of the playground and the explorer go to figures/e2e/ (the README shows them).
"""
from __future__ import annotations

import json
import re
import statistics
import time
from pathlib import Path

import pytest

from .labdriver import LabNotebook
from .test_jupyterlab import E2E_DIR, ROOT, browser, lab, open_notebook  # noqa: F401 - the shared fixtures

pytestmark = pytest.mark.e2e

PLAYGROUND = "notebooks/09_playground.ipynb"
SHOTS = ROOT / "figures" / "e2e"
RUN_TIMEOUT = 300


def _panel_shots(page, image, regions) -> dict[str, bytes]:
    """PNG screenshots of fractional regions (x0, y0, x1, y1) of the widget picture."""
    box = image.bounding_box()
    shots = {}
    for name, (x0, y0, x1, y1) in regions.items():
        clip = {"x": box["x"] + x0 * box["width"], "y": box["y"] + y0 * box["height"],
                "width": (x1 - x0) * box["width"], "height": (y1 - y0) * box["height"]}
        shots[name] = page.screenshot(clip=clip)
    return shots


#: Where the playground draws each thing (fractions of its picture; see facekit.widgets.playground._build_figure).
PANELS = {"face": (0.02, 0.12, 0.16, 0.5), "probabilities": (0.36, 0.12, 0.65, 0.5),
          "intensities": (0.69, 0.12, 0.99, 0.5)}


def _kernel_status(cell) -> tuple[float, int] | None:
    """(ms, number of updates) from the playground's status line ``update 123 ms (7 updates)``."""
    for text in LabNotebook.texts_matching(cell, r"update \d+ ms"):
        m = re.search(r"update (\d+) ms \((\d+) updates\)", text)
        if m:
            return float(m.group(1)), int(m.group(2))
    return None


def _has_face(path) -> bool:
    import cv2

    from facekit.data.faces import detect_face

    return detect_face(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)) is not None


def _image_src(image) -> str:
    return image.evaluate("e => e.src")


@pytest.fixture(scope="module")
def playground_nb(lab, browser):  # noqa: F811
    """09_playground opened and run once (QUICK) for all the tests of this module."""
    if not (ROOT / PLAYGROUND).is_file():
        pytest.skip(f"{PLAYGROUND} does not exist")
    notebook = LabNotebook.open(browser, lab, PLAYGROUND)
    out = E2E_DIR / "out" / "09_playground"
    notebook.set_parameters(QUICK=True, INTERACTIVE=True, OUT_DIR=str(out))
    report = notebook.run_all(timeout=RUN_TIMEOUT)
    print(f"{PLAYGROUND}: Run All took {report.seconds:.1f} s for {report.cells} code cells")
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield notebook
    notebook.close()


def test_playground_slider_changes_face_probabilities_and_intensities(playground_nb):
    nb = playground_nb
    cell = nb.widget_cell(r"^\s*AU12\s*$")
    image = cell.locator("img.widget-image").first
    assert LabNotebook.count_loaded(image) == 1, "the playground shows no picture"
    LabNotebook.screenshot(LabNotebook.widget_view(cell, r"^\s*AU12\s*$"), SHOTS / "playground.png")
    before_px = _panel_shots(nb.page, image, PANELS)
    before = (nb.output_fingerprint(cell), LabNotebook.texts_matching(cell, "probabilities:"))
    assert before[1], "no probability/intensity text under the playground"
    control = LabNotebook.control(cell, r"^\s*AU12\s*$")
    value = nb.move_control(control, steps=1)
    after = nb.wait_for_change(cell, before, f"moving AU12 to {value}", text_pattern="probabilities:")
    after_px = _panel_shots(nb.page, image, PANELS)
    changed = {name: before_px[name] != after_px[name] for name in PANELS}
    assert all(changed.values()), f"moving AU12 to {value} left some panels unchanged: {changed}"
    probs = lambda t: re.search(r"probabilities: (.*?);", t[0]).group(1)  # noqa: E731
    inten = lambda t: re.search(r"predicted intensities: (.*)", t[0]).group(1)  # noqa: E731
    assert probs(before[1]) != probs(after[1]), "the probabilities did not change"
    assert inten(before[1]) != inten(after[1]), "the predicted intensities did not change"


def test_playground_latency_over_20_moves(playground_nb):
    nb = playground_nb
    cell = nb.widget_cell(r"^\s*AU12\s*$")
    control = LabNotebook.control(cell, r"^\s*AU12\s*$")
    image = cell.locator("img.widget-image").first
    handle = control.locator(".noUi-handle").first
    readout = control.locator(".widget-readout").first
    browser_ms, kernel_ms = [], []
    count = _kernel_status(cell)[1]
    for k in range(20):
        letter = readout.inner_text().strip()
        key = "ArrowLeft" if letter == "E" or (letter != "0" and k % 10 >= 5) else "ArrowRight"
        src = _image_src(image)
        handle.focus()
        start = time.perf_counter()
        handle.press(key)
        nb.page.wait_for_function("([e, s]) => e.src !== s && e.complete", arg=[image.element_handle(), src],
                                  polling=10, timeout=30_000)
        browser_ms.append(1000 * (time.perf_counter() - start))
        # the kernel writes its own timing just after the picture: wait for this move's line
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status = _kernel_status(cell)
            if status and status[1] > count:
                count = status[1]
                kernel_ms.append(status[0])
                break
            time.sleep(0.02)
    result = {"moves": len(browser_ms), "browser_median_ms": statistics.median(browser_ms),
              "browser_max_ms": max(browser_ms), "kernel_median_ms": statistics.median(kernel_ms),
              "kernel_max_ms": max(kernel_ms)}
    (E2E_DIR / "widget_latency.json").write_text(json.dumps(result, indent=1))
    print(f"\nplayground update latency over {len(browser_ms)} moves: key press -> new picture median "
          f"{result['browser_median_ms']:.0f} ms, max {result['browser_max_ms']:.0f} ms; in the kernel (render + "
          f"both models + Grad-CAM + redraw) median {result['kernel_median_ms']:.0f} ms, "
          f"max {result['kernel_max_ms']:.0f} ms")
    assert len(browser_ms) == 20 and len(kernel_ms) == 20


def test_explorer_layer_switch_redraws_the_map(playground_nb):
    nb = playground_nb
    cell = nb.widget_cell(r"^\s*layer\s*$")
    view = LabNotebook.widget_view(cell, r"^\s*layer\s*$")
    before = (nb.output_fingerprint(cell), LabNotebook.texts_matching(cell, "region score|no true AU|empty map"))
    assert before[0], "the explorer shows no picture"
    value = nb.move_control(LabNotebook.control(cell, r"^\s*layer\s*$"), steps=2)
    after = nb.wait_for_change(cell, before, f"switching the layer to {value}",
                               text_pattern="region score|no true AU|empty map")
    assert after[0] != before[0], f"switching the layer to {value} did not redraw the map"
    LabNotebook.screenshot(view, SHOTS / "gradcam_explorer.png")


def test_upload_a_real_photo_and_a_non_image(playground_nb, tmp_path):
    from facekit.assets import feat_photo_paths

    nb = playground_nb
    cell = nb.widget_cell(r"^\s*path\s*$")
    button = cell.locator(".widget-upload").first

    def upload(path):
        # the FileUpload's <input type=file> is not in the page; clicking the button opens the file chooser
        with nb.page.expect_file_chooser() as chooser:
            button.click()
        chooser.value.set_files(str(path))
    photo = next(p for p in list(feat_photo_paths().values())[1:] if _has_face(p))  # not the path box's photo
    before = nb.output_fingerprint(cell)
    upload(photo)
    # the browser reads the file, then sends it to the kernel: wait for the analysis of THIS photo
    nb.wait_for(f"the analysis of the uploaded {photo.name}", 60,
                "(name) => document.body.innerText.includes(name + ': face found')", arg=photo.name)
    nb.wait_for("the new picture", 30, "() => true")
    texts = LabNotebook.texts_matching(cell, "classifier says")
    assert any(t.startswith(photo.name) for t in texts), texts
    assert LabNotebook.count_loaded(LabNotebook.widget_images(cell)) == 1
    assert nb.output_fingerprint(cell) != before, "the picture did not change for the uploaded photo"
    LabNotebook.screenshot(LabNotebook.widget_view(cell, r"^\s*path\s*$"), E2E_DIR / "09_playground-upload.png")
    junk = tmp_path / "notes.png"
    junk.write_text("this is not a picture")
    upload(junk)
    nb.wait_for("the upload message about notes.png", 30,
                "(cellText) => document.body.innerText.includes('notes.png is not a JPEG or PNG image')")
    assert not cell.locator(".jp-OutputArea-output[data-mime-type*='error']").count(), "a traceback was shown"
