"""The FAU demo: the browser's render function, tables, saved overlays, registration, the shipped test faces."""
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from facekit.fau.demo import (AU_LABELS, AUBrowser, FAUResults, grid_figure, peak_distances, save_visualize,
                              table_figure, variation_summary)
from facekit.fau.heatmaps import make_heatmaps, read_intensities
from facekit.fau.register import similarity_from_eyes


def fake_results(n=3, size=64, seed=0):
    rng = np.random.default_rng(seed)
    pts = torch.as_tensor(rng.uniform(8, size - 8, (n, 5, 2, 2)), dtype=torch.float32)
    true = rng.uniform(0, 5, (n, 5))
    hm = make_heatmaps(pts, torch.as_tensor(true), size // 4, image_size=size)
    images = rng.integers(0, 255, (n, size, size), dtype=np.uint8)
    return FAUResults(images, hm.numpy(), read_intensities(hm).numpy(), [f"s{i}" for i in range(n)], true), pts


def test_render_returns_a_figure_for_every_subject_and_au():
    import matplotlib.pyplot as plt

    res, _ = fake_results()
    browser = AUBrowser(res)
    for subject in res.names:
        for au in AU_LABELS:
            fig = browser.render(subject, au, opacity=0.3)
            assert isinstance(fig, Figure)
            assert f"{au} pred {res.predicted[res.names.index(subject), AU_LABELS.index(au)]:.2f}" in \
                fig.axes[0].get_title()
            plt.close(fig)
    assert isinstance(browser.render(0, 17, 1.0), Figure)     # index and AU number work too
    plt.close("all")


def test_widget_builds_without_a_browser():
    pytest.importorskip("ipywidgets")
    res = fake_results()[0]
    box = AUBrowser(res).widget()
    controls, intensity, _ = box.children
    assert [c.description for c in controls.children] == ["subject", "AU", "opacity"]
    assert f"predicted {res.predicted[0, AU_LABELS.index('AU17')]:.2f}" in intensity.value
    controls.children[0].value = res.names[1]  # moving the subject updates the intensity text
    assert f"predicted {res.predicted[1, AU_LABELS.index('AU17')]:.2f}" in intensity.value


def test_describe_names_subject_au_and_both_intensities():
    res = fake_results()[0]
    text = AUBrowser(res).describe(res.names[2], "AU12")
    j = AU_LABELS.index("AU12")
    assert text == f"{res.names[2]} AU12 intensity: predicted {res.predicted[2, j]:.2f}, true {res.true[2, j]:.2f}"


def test_table_and_summary_follow_the_numbers(tmp_path):
    res, pts = fake_results(4)
    table = res.table()
    assert list(table.columns) == AU_LABELS and list(table.index) == res.names
    v = variation_summary(table)
    assert v["strongest_au"] == table.mean().idxmax() and v["most_variable_au"] == (table.max() - table.min()).idxmax()
    assert isinstance(table_figure(table.T, highlight="AU17"), Figure)
    assert isinstance(grid_figure(res), Figure)
    # clean targets peak on their points (up to the 4-pixel map grid)
    assert peak_distances(res, pts).to_numpy().max() < 4.0
    paths = save_visualize(res, "visualize/test", out_dir=tmp_path)
    assert sorted(p.name for p in paths) == ["s0.png", "s1.png", "s2.png", "s3.png"]
    assert all((tmp_path / "visualize" / "test" / f"s{i}.png").stat().st_size > 1000 for i in range(4))


def test_similarity_maps_both_eyes_exactly():
    src = np.array([[200.0, 100.0], [250.0, 110.0]])
    dst = np.array([[45.0, 52.0], [83.0, 52.0]])
    m = similarity_from_eyes(src, dst)
    mapped = src @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(mapped, dst, atol=1e-9)


def test_real_photo_is_registered_with_eyes_on_the_template():
    skdata = pytest.importorskip("skimage.data")
    from facekit.fau.points import template_landmarks
    from facekit.fau.register import register_face

    reg = register_face(skdata.astronaut(), size=128)
    assert reg.image.shape == (128, 128) and reg.image.dtype == np.uint8
    assert reg.face_found and reg.eyes_found, reg.note
    tpl = template_landmarks(128)
    mapped = reg.eyes @ reg.matrix[:, :2].T + reg.matrix[:, 2]
    np.testing.assert_allclose(mapped, [tpl["eye_l"], tpl["eye_r"]], atol=1e-6)


def test_shipped_test_faces_load_with_labels_and_points():
    from facekit.fau.data import load_test_faces

    for name in ("test", "test2"):
        data = load_test_faces(name)
        assert len(data) == 5 and data.images.shape == (5, 128, 128)
        assert data.au.min() >= 0 and data.au.max() <= 5
        assert ((data.points > -32) & (data.points < 160)).all()   # wild poses may push a chin off the edge
        assert (data.points[:, :, 0, 0] < data.points[:, :, 1, 0]).all(), "left point must be image-left"


def test_test_faces_regenerate_deterministically(tmp_path):
    from facekit.fau.data import write_test_faces

    a = write_test_faces(tmp_path / "a", "lab", seed=7, n=2)
    b = write_test_faces(tmp_path / "b", "lab", seed=7, n=2)
    assert (a / "labels.csv").read_text() == (b / "labels.csv").read_text()
    assert (a / "subject_1.png").read_bytes() == (b / "subject_1.png").read_bytes()


def test_au_points_follow_the_generator_landmarks():
    from facekit.fau.points import AU_POINTS, au_points
    from facekit.synth import LANDMARK_NAMES

    lm = np.arange(len(LANDMARK_NAMES) * 2, dtype=np.float32).reshape(1, -1, 2)
    pts = au_points(lm)
    assert pts.shape == (1, 5, 2, 2)
    assert pts[0, 4, 0].tolist() == lm[0, LANDMARK_NAMES.index(AU_POINTS[17][0])].tolist()
    with pytest.raises(KeyError, match="lack"):
        au_points(lm[:, :3], LANDMARK_NAMES[:3])


def test_pyfeat_region_map_names_the_muscles_of_our_points():
    from facekit.fau.demo import au_region_reference

    try:
        table = au_region_reference()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    assert list(table.index) == AU_LABELS
    assert "mentalis" in table.loc["AU17", "pyfeat_muscles"]
    assert "zygomaticus_major" in table.loc["AU12", "pyfeat_muscles"]
