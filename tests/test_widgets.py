"""facekit.widgets: the update functions of the playground, the Grad-CAM explorer and the photo widget return a
figure for every control value they offer; bad photos give a message; the debouncer keeps one pending update."""
from __future__ import annotations

import io
import threading

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from facekit.data import EMOTIONS
from facekit.synth import AUS, DOMAINS, EMFACS
from facekit import widgets as W
from facekit.widgets import explorer as X
from facekit.widgets import photo as P
from facekit.widgets import playground as PG


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return W.load_models()


@pytest.fixture(scope="module")
def view(models):
    return W.compute_view(W.prototype_controls("happy"), *models)


# --- playground ----------------------------------------------------------------------------------------------------

def test_playground_figure_for_every_control_value(models, view):
    fig = W.view_figure(view)
    assert isinstance(fig, Figure) and len(fig.axes) == 10
    offered = [W.Controls(au=(v,) * len(AUS)) for v in range(6)]                       # every FACS letter 0, A-E
    offered += [W.Controls(domain=d) for d in DOMAINS]
    offered += [W.Controls(yaw=y, light=light) for y in (-0.6, 0.6) for light in (0.0, 0.9)]
    offered += [W.Controls(identity=i) for i in (0, 99)]
    offered += [W.prototype_controls(e) for e in EMFACS]                                # every prototype button
    faces = set()
    for c in offered:
        v = W.compute_view(c, *models)
        assert W.view_figure(v, fig) is fig                                               # redrawn in place
        assert v.probs.shape == (7,) and abs(v.probs.sum() - 1) < 1e-4
        assert v.cam.shape == (48, 48) and 0 <= v.cam.min() and v.cam.max() <= 1
        assert v.fau.predicted.shape == (1, 5) and v.sensitivity.shape == (len(AUS),)
        faces.add(v.face128.tobytes())
    assert len(faces) == len(set(offered)), "every distinct control position should draw a different face"
    assert isinstance(W.playground_figure(W.Controls(domain="wild", yaw=0.4), *models), Figure)


def test_sliders_change_face_probabilities_and_intensities(models):
    low = W.compute_view(W.Controls(), *models)
    high = W.compute_view(W.Controls().with_au(12, 5).with_au(6, 5), *models)
    assert not np.array_equal(low.face128, high.face128)
    assert not np.allclose(low.probs, high.probs)
    au12 = list(PG.FAU_COLUMNS).index(12)
    assert high.fau.true[0, au12] == 5 and low.fau.true[0, au12] == 0
    assert high.fau.predicted[0, au12] > low.fau.predicted[0, au12] + 1, "the AU model should see the smile"
    assert EMOTIONS[high.pred] == "happy"


def test_controls_reject_bad_values():
    with pytest.raises(ValueError, match="0-5"):
        W.Controls(au=(6,) + (0,) * (len(AUS) - 1))
    with pytest.raises(ValueError, match="17 intensities"):
        W.Controls(au=(0, 1))
    with pytest.raises(ValueError, match="domain"):
        W.Controls(domain="mars")
    with pytest.raises(ValueError, match="Unknown emotion"):
        W.prototype_controls("bored")


def test_prototype_buttons_cycle_through_emfacs():
    first, second = W.prototype_controls("sad", which=0), W.prototype_controls("sad", which=1)
    assert {a for a, v in zip(AUS, first.au) if v} == set(EMFACS["sad"][0])
    assert {a for a, v in zip(AUS, second.au) if v} == set(EMFACS["sad"][1])
    assert W.prototype_controls("neutral").au == (0,) * len(AUS)


def test_finite_differences_step_down_at_the_top():
    rows, step = PG.au_steps((5,) + (0,) * (len(AUS) - 1))
    assert step[0] == -1 and rows[0, 0] == 4 and (step[1:] == 1).all() and rows[1, 1] == 1


def test_dependence_text_follows_the_numbers():
    sens = np.zeros(len(AUS))
    sens[AUS.index(12)], sens[AUS.index(6)] = 0.2, -0.05
    text = W.dependence_text("happy", 0.8, sens)
    assert "AU12 (lip corner puller) raises it by 20.0 points" in text and text.index("AU12") < text.index("AU6")
    assert "AU6 (cheek raiser) lowers it" in text
    flipped = W.dependence_text("happy", 0.8, -sens * 3)
    assert "AU12 (lip corner puller) lowers it by 60.0 points" in flipped and "AU6 (cheek raiser) raises" in flipped
    assert "no single AU" in W.dependence_text("neutral", 0.5, np.full(len(AUS), 0.001))


def test_playground_widget_redraws_when_a_slider_moves(models):
    pg = W.Playground(*models, threaded=False)
    box = pg.widget()
    assert box.children and pg.last_picture.startswith(b"\xff\xd8")  # JPEG
    before, text = pg.last_picture, pg._ui["text"].value
    pg._ui["au"][AUS.index(4)].value = 5
    assert pg.last_picture != before and pg.controls.au[AUS.index(4)] == 5
    assert "The classifier says" in pg._ui["text"].value and pg._ui["text"].value != text
    n = len(pg.latencies_ms)
    W.measure_latency(pg, moves=3)
    assert len(pg.latencies_ms) == n + 3


def test_blitted_picture_matches_a_full_redraw(models, view):
    pg = W.Playground(*models, threaded=False)
    pg.update(view.controls)
    blit = pg.last_picture
    fig = W.view_figure(view)
    for artist in (*fig._playground["prob_labels"], fig._playground["sens"]):   # live, these are text lines
        artist.set_visible(False)
    full = W.figure_png(fig)
    import cv2
    a = cv2.imdecode(np.frombuffer(blit, np.uint8), cv2.IMREAD_COLOR).astype(int)
    b = cv2.imdecode(np.frombuffer(full, np.uint8), cv2.IMREAD_COLOR).astype(int)
    assert a.shape == b.shape
    assert np.abs(a - b).mean() < 2.0, "the fast redraw must show what a full redraw shows"


# --- debouncer -----------------------------------------------------------------------------------------------------

def test_debouncer_keeps_only_the_latest_pending_update():
    gate, seen = threading.Event(), []

    def work(state):
        seen.append(state)
        if state == 0:
            gate.wait(10)

    d = W.Debouncer(work)
    d.submit(0)
    for _ in range(100):                                     # wait until update 0 is running
        if seen:
            break
        threading.Event().wait(0.01)
    for i in range(1, 50):                                   # a fast drag while update 0 runs
        d.submit(i)
    gate.set()
    assert d.idle(10)
    assert seen == [0, 49], f"only the newest state may wait behind the running one, ran {seen}"


def test_debouncer_reports_errors_and_keeps_working():
    errors, seen = [], []

    def work(state):
        if state == "bad":
            raise ValueError("boom")
        seen.append(state)

    d = W.Debouncer(work, on_error=errors.append)
    d.submit("bad")
    assert d.idle(10)
    d.submit("good")
    assert d.idle(10)
    assert seen == ["good"] and str(errors[0]) == "boom"
    with pytest.raises(ValueError):
        W.Debouncer(work, threaded=False).submit("bad")


# --- Grad-CAM explorer ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def faces():
    return W.load_explorer_faces()


def test_explorer_faces_have_true_regions_except_real_photos(faces):
    assert any(n.startswith("test/") for n in faces.names) and any(n.startswith("real/") for n in faces.names)
    for name, mask in zip(faces.names, faces.masks):
        assert (mask is None) == name.startswith("real/")
        if mask is not None:
            assert mask.shape == (48, 48) and 0 < mask.mean() < 1


def test_case_regions_belong_to_the_faces_on_disk(faces):
    from facekit.explain.cases import TEST_CASES, render_case

    for case in TEST_CASES:
        # Same bytes up to float rounding: another CPU (AVX2 vs AVX-512 kernels) can round a pixel that sits on a
        # .5 boundary the other way, so one grey level on a handful of pixels is allowed; a stale face (another
        # generator version, pose or AU) differs by far more.
        diff = np.abs(render_case(case).astype(int) - faces.images[faces.index(f"test/{case.name}")].astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 0.002, (
            f"data/test/{case.name}.png is stale ({(diff > 0).sum()} pixels differ, by up to {diff.max()} grey "
            "levels): regenerate with python -m facekit.explain.cases")


def test_explorer_figure_for_every_control_value(models, faces):
    em = models[0]
    for method in X.METHODS:
        for layer in W.LAYERS:
            assert isinstance(W.explorer_figure(em, faces, faces.names[1], method, layer), Figure)
    for target in W.CAM_TARGETS:
        assert isinstance(W.explorer_figure(em, faces, faces.names[0], target=target), Figure)
    for name in faces.names:
        assert isinstance(W.explorer_figure(em, faces, name), Figure)
    with pytest.raises(ValueError, match="No face"):
        W.explorer_figure(em, faces, "nobody")


def test_explorer_widget_switches_layer(models, faces):
    ex = W.GradCamExplorer(models[0], faces, threaded=False)
    box = ex.widget()
    layer = next(c for row in box.children[:2] for c in row.children if c.description == "layer")
    before = ex._ui["image"].value
    layer.value = "block2"
    assert ex._ui["image"].value != before


def test_region_text_follows_the_numbers():
    mask = np.zeros((48, 48), bool)
    mask[:10] = True
    inside, outside = np.zeros((48, 48)), np.zeros((48, 48))
    inside[2, 2], outside[40, 40] = 1.0, 1.0
    assert "100%" in W.region_text(inside, mask) and "above chance" in W.region_text(inside, mask)
    assert "peak inside" in W.region_text(inside, mask)
    assert "not above chance" in W.region_text(outside, mask) and "peak outside" in W.region_text(outside, mask)
    assert "empty map" in W.region_text(np.zeros((48, 48)), mask)
    assert "no true AU regions" in W.region_text(inside, None)


# --- your own photo ------------------------------------------------------------------------------------------------

def _photo_bytes(fmt="JPEG", orientation=None):
    from PIL import Image

    from facekit.assets import feat_photo_paths

    img = Image.open(next(iter(feat_photo_paths().values())))
    exif = Image.Exif()
    if orientation is not None:
        # store the picture rotated and let the EXIF tag say how to turn it upright
        img = img.rotate(-90 if orientation == 8 else 90, expand=True)
        exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, fmt, exif=exif) if fmt == "JPEG" else img.save(buf, fmt)
    return buf.getvalue(), img.size


def test_photo_analysis_and_figure(models):
    data, _ = _photo_bytes("PNG")
    res = W.analyse_photo(data, "face.png", *models)
    assert abs(res.probs.sum() - 1) < 1e-4 and res.face.shape == (48, 48) and res.fau.predicted.shape == (1, 5)
    assert isinstance(W.photo_figure(res), Figure)
    assert "the classifier says" in res.summary()


@pytest.mark.parametrize("orientation", [6, 8])
def test_exif_orientation_is_honoured(models, orientation):
    data, stored = _photo_bytes("JPEG", orientation)
    upright = W.decode_photo(data, "rotated.jpg")
    assert upright.shape[:2] == (stored[0], stored[1]), "EXIF orientation 6/8 must swap width and height"
    assert W.analyse_photo(data, "rotated.jpg", *models).box is not None


@pytest.mark.parametrize("data, name, message", [
    (b"", "empty.jpg", "is empty"),
    (b"%PDF-1.4 not a photo", "doc.pdf", "not a JPEG or PNG"),
    (b"\xff\xd8\xff\xe0 truncated", "broken.jpg", "cannot be decoded"),
])
def test_bad_uploads_give_a_message(models, data, name, message):
    with pytest.raises(W.PhotoError, match=message):
        W.analyse_photo(data, name, *models)
    box = W.PhotoAnalyzer(*models)
    box.widget()
    assert box.show(data, name) is False
    assert message in box._ui["message"].value and name in box._ui["message"].value


def test_photo_without_a_face_gives_a_message(models):
    import cv2

    ok, png = cv2.imencode(".png", np.random.default_rng(0).integers(0, 255, (300, 300, 3), dtype=np.uint8))
    with pytest.raises(W.PhotoError, match="No face found in noise.png"):
        W.analyse_photo(png.tobytes(), "noise.png", *models)


def test_photo_path_box(models, tmp_path):
    box = W.PhotoAnalyzer(*models)
    box.widget(path=tmp_path / "missing.jpg")
    assert "does not exist" in box._ui["message"].value
    data, _ = _photo_bytes("PNG")
    (tmp_path / "me.png").write_bytes(data)
    box.widget(path=tmp_path / "me.png")
    assert bytes(box._ui["image"].value).startswith(b"\x89PNG") and "me.png" in box._ui["message"].value
    with pytest.raises(W.PhotoError, match="is a folder"):
        box.analyse_path(tmp_path)


def test_latency_text_follows_the_numbers():
    fast, slow = W.Latency([100.0] * 19 + [250.0]), W.Latency([400.0] * 20)
    assert "median **100 ms**" in W.latency_text(fast) and "within the 300 ms budget." in W.latency_text(fast)
    assert "**over** the 300 ms budget" in W.latency_text(slow)
    assert "slowest of them took 900 ms" in W.latency_text(W.Latency([100.0] * 19 + [900.0]))


def test_upload_control_analyses_and_resets(models):
    import datetime

    NOW = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)  # noqa: N806
    box = W.PhotoAnalyzer(*models)
    ui = box.widget()
    upload = ui.children[0].children[0]
    data, _ = _photo_bytes("PNG")
    upload.value = ({"name": "upload.png", "type": "image/png", "size": len(data), "content": memoryview(data),
                     "last_modified": NOW},)
    assert "upload.png" in box._ui["message"].value and box.result.name == "upload.png"
    assert upload.value == (), "the control is emptied so the same file can be uploaded again"
    upload.value = ({"name": "junk.jpg", "type": "image/jpeg", "size": 4, "content": memoryview(b"junk"),
                     "last_modified": NOW},)
    assert "junk.jpg is not a JPEG or PNG" in box._ui["message"].value


def test_dragging_a_playground_slider_coalesces_updates(models):
    pg = W.Playground(*models, threaded=True)
    pg.widget()
    runs = pg.debouncer.runs
    slider = pg._ui["au"][AUS.index(12)]
    for v in (0, 1, 2, 3, 4, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5):      # a fast drag: 16 value events
        slider.value = v
    assert pg.debouncer.idle(60)
    assert pg.debouncer.runs - runs < 16, "a drag must not run one update per event"
    assert pg.controls.au[AUS.index(12)] == 5 and pg.view.controls.au[AUS.index(12)] == 5, "the last position wins"
