"""facekit.synth.photo: real LFW faces as identity textures (the opt-in "photo" feature), moved by the AUs."""
from __future__ import annotations

import pytest
import torch

from facekit.synth import AUS, FEATURES, OPTIONAL_FEATURES, render_faces
from facekit.synth import photo
from facekit.synth.render import draw_identity, face_geometry

PHOTO = FEATURES + ("photo",)


def test_the_photo_bank_holds_the_coded_neutral_crops():
    bank = photo.photo_bank()
    assert "photo" in OPTIONAL_FEATURES and "photo" not in FEATURES   # off unless asked for
    assert bank.shape == (len(photo.NEUTRAL_LFW), 1, 25, 25) and bank.dtype == torch.float32
    assert len(set(photo.NEUTRAL_LFW)) == len(photo.NEUTRAL_LFW) and max(photo.NEUTRAL_LFW) < 100  # faces, not the
    assert 0 <= float(bank.min()) and float(bank.max()) <= 1                                   # 100 non-faces after
    assert float(bank.std(dim=(1, 2, 3)).min()) > 0.05       # every crop is a picture, not a flat fill


def test_photo_faces_are_deterministic_paired_and_keep_the_ground_truth():
    a = render_faces(12, seed=41, features=PHOTO)
    b = render_faces(12, seed=41, features=PHOTO)
    drawn = render_faces(12, seed=41)
    assert torch.equal(a.images, b.images) and torch.equal(a.landmarks, b.landmarks)
    assert torch.equal(a.au, drawn.au) and torch.equal(a.emotion, drawn.emotion)      # same random streams
    assert float((a.images.float() - drawn.images.float()).abs().mean()) > 10        # but another face


def test_a_shared_identity_shares_the_photo():
    gen = torch.Generator().manual_seed(0)
    ident = draw_identity(6, gen, identity_seed=torch.tensor([5, 5, 5, 9, 9, 9]), features=PHOTO)
    assert len(set(ident["photo"][:3].tolist())) == 1 and len(set(ident["photo"][3:].tolist())) == 1
    many = draw_identity(400, torch.Generator().manual_seed(1), features=PHOTO)["photo"]
    assert len(set(many.long().tolist())) > 0.8 * 2 * len(photo.NEUTRAL_LFW)   # the photos and their mirrors used


def test_no_expression_means_no_warp_and_the_warp_carries_each_feature_to_its_new_place():
    au = torch.zeros(3, len(AUS))
    au[1, AUS.index(12)] = 5
    au[2, AUS.index(1)], au[2, AUS.index(2)] = 5, 5
    ident = draw_identity(3, torch.Generator().manual_seed(2), features=PHOTO)
    g0 = face_geometry(ident, torch.zeros_like(au), PHOTO)
    g = face_geometry(ident, au, PHOTO)
    ua = torch.linspace(0, 0.6, 31).view(1, 1, -1).expand(3, 41, 31)
    y = torch.linspace(-0.4, 0.8, 41).view(1, -1, 1).expand(3, 41, 31)
    su, sy = photo.expression_warp(g0, g, ua, y)
    assert torch.equal(su[0], ua[0]) and torch.equal(sy[0], y[0])          # neutral face: the photo as it is
    # AU12: the texture at the new mouth corner is the photo's mouth corner
    cu, cy = photo.expression_warp(g0, g, g["mw"].view(-1, 1, 1), g["m_corner_y"].view(-1, 1, 1))
    assert abs(float(cu[1]) - float(g0["mw"][1])) < 0.01 and abs(float(cy[1]) - float(g0["m_corner_y"][1])) < 0.01
    assert float(g["m_corner_y"][1]) < float(g0["m_corner_y"][1]) - 0.1         # ... which is higher up
    # AU1+2: the brows are lifted, so the texture at the raised brow comes from the neutral brow, below it
    bu, by = photo.expression_warp(g0, g, g["bx_out"].view(-1, 1, 1), g["by_out"].view(-1, 1, 1))
    assert abs(float(by[2]) - float(g0["by_out"][2])) < 0.01 and float(g["by_out"][2]) < float(g0["by_out"][2])


def _warp_determinant(au: torch.Tensor) -> torch.Tensor:
    """The expression warp's Jacobian determinant (n, H, W) over the face (finite differences on a fine grid)."""
    n = len(au)
    ident = draw_identity(n, torch.Generator().manual_seed(5), features=PHOTO)
    g0, g = face_geometry(ident, torch.zeros_like(au), PHOTO), face_geometry(ident, au, PHOTO)
    u, v = torch.linspace(0, 0.8, 121), torch.linspace(-0.9, 1.0, 286)
    Y, U = torch.meshgrid(v, u, indexing="ij")
    su, sy = photo.expression_warp(g0, g, U.expand(n, -1, -1), Y.expand(n, -1, -1))
    du, dv = float(u[1] - u[0]), float(v[1] - v[0])
    d = lambda f, axis: ((f[:, 1:-1, 2:] - f[:, 1:-1, :-2]) / (2 * du) if axis == 0  # noqa: E731
                         else (f[:, 2:, 1:-1] - f[:, :-2, 1:-1]) / (2 * dv))
    return d(su, 0) * d(sy, 1) - d(su, 1) * d(sy, 0)


def test_the_expression_warp_never_folds_the_photo():
    from facekit.synth.facs import EMFACS
    # every AU alone at E, and every EMFACS prototype at E: the photo is stretched or squeezed, never folded over
    # itself (a fold shows a feature twice and loses another: the warp this replaced fell to -3.7 for AU12)
    rows = [[au] for au in AUS] + [list(c) for combos in EMFACS.values() for c in combos if c]
    au = torch.zeros(len(rows), len(AUS))
    for i, combo in enumerate(rows):
        au[i, [AUS.index(a) for a in combo]] = 5.0
    det = _warp_determinant(au)
    assert float(det.min()) > 0.02, rows[int(det.amin(dim=(1, 2)).argmin())]


def test_a_raised_brow_and_a_smile_move_as_wholes():
    au = torch.zeros(2, len(AUS))
    au[0, AUS.index(1)], au[0, AUS.index(2)] = 5, 5
    au[1, AUS.index(12)] = 5
    ident = draw_identity(2, torch.Generator().manual_seed(6), features=PHOTO)
    g0, g = face_geometry(ident, torch.zeros_like(au), PHOTO), face_geometry(ident, au, PHOTO)
    # all along the raised brow (not only at its three control points) the texture comes from the neutral brow
    f = torch.linspace(0, 1, 9)
    bu = g["bx_in"][0] + f * (g["bx_out"][0] - g["bx_in"][0])
    by = g["by_in"][0] + f * (g["by_out"][0] - g["by_in"][0]) - g["b_arch"][0] * 4 * f * (1 - f)
    _, sy = photo.expression_warp({k: v[:1] for k, v in g0.items()}, {k: v[:1] for k, v in g.items()},
                                  bu.view(1, 1, -1), by.view(1, 1, -1))
    lift = sy.flatten() - by                                       # how far below each point its texture was
    assert float(lift.min()) > 0.6 * float(lift.max()) > 0.05, lift
    # the smiling lip line, halfway to the corner, shows the neutral lip line: the lip curves, not only its corner
    g1 = {k: v[1:] for k, v in g.items()}
    mid = 0.25 * g1["m_corner_y"] + 0.75 * g1["m_center_y"]
    mu, my = photo.expression_warp({k: v[1:] for k, v in g0.items()}, g1, (0.5 * g1["mw"]).view(1, 1, 1),
                                   mid.view(1, 1, 1))
    assert abs(float(my) - float(g0["m_center_y"][1])) < 0.01 and float(mid) < float(g0["m_center_y"][1]) - 0.02


@pytest.mark.parametrize("au", AUS)
def test_an_au_moves_a_photo_face_only_inside_its_region(au, au_step):
    n = 3
    a, b, region, diff = au_step(au, 48, PHOTO)
    assert int((diff[~region] > 3).sum()) == 0, f"AU{au} changed pixels outside its region"
    assert int((diff[region] > 12).sum()) >= n * 2, f"AU{au} barely changes its region"


def test_photo_faces_keep_every_au_point_inside_the_frame():
    for domain in ("lab", "wild"):
        b = render_faces(300, seed=43, domain=domain, features=PHOTO)
        inside = ((b.landmarks >= 0) & (b.landmarks <= 47)).all(-1)          # (n, landmarks)
        from facekit.synth import LANDMARK_NAMES
        from facekit.synth.regions import AU_LANDMARKS
        idx = sorted({LANDMARK_NAMES.index(p) for pair in AU_LANDMARKS.values() for p in pair})
        assert float(inside[:, idx].float().mean(0).min()) >= 0.97, domain


def test_unknown_feature_names_the_optional_ones():
    with pytest.raises(ValueError, match="photo"):
        render_faces(2, seed=1, features=("sparkles",))


def test_the_photo_twin_is_cached_apart_and_says_what_it_is(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FACEKIT_CACHE", str(tmp_path))
    import facekit.emotion.data as emotion_data
    monkeypatch.setattr(emotion_data, "real_fer2013_path", lambda: None)
    drawn = emotion_data.load_emotion_data(n_scale=0.004, seed=3)
    faces = emotion_data.load_emotion_data(n_scale=0.004, seed=3, photo=True)
    assert "photo identities" in faces.source and "photo" not in drawn.source
    assert faces.meta["features"] == sorted(FEATURES + ("photo",)) and drawn.meta["features"] is None
    assert torch.equal(faces.emotion, drawn.emotion) and torch.equal(faces.au, drawn.au)   # same plan and AUs
    assert not torch.equal(faces.images, drawn.images)
    names = sorted(p.name for p in (tmp_path / "synth").glob("*.pt"))
    assert len(names) == 2 and any(f"_photo{photo.PHOTO_VERSION}_" in n for n in names)   # a new warp, a new file
    assert faces.meta["photo_version"] == photo.PHOTO_VERSION and drawn.meta["photo_version"] is None
    again = emotion_data.load_emotion_data(n_scale=0.004, seed=3, photo=True)
    assert "cached" in capsys.readouterr().out and torch.equal(again.images, faces.images)


def test_train_emotions_refuses_to_ship_a_photo_model(capsys):
    from facekit_tools.cli import main

    assert main(["train-emotions", "--photo", "--ship", "--epochs", "1"]) == 2
    assert "--photo cannot be shipped" in capsys.readouterr().err


def test_real_smile_check_counts_what_a_model_says():
    from facekit.data.fer import EMOTIONS
    from facekit.emotion import realism

    assert not set(photo.SMILING_LFW) & set(photo.NEUTRAL_LFW)     # a smile is never an identity texture

    class Always(torch.nn.Module):
        def __init__(self, emotion):
            super().__init__()
            self.emotion = EMOTIONS.index(emotion)

        def forward(self, x):
            out = torch.zeros(len(x), len(EMOTIONS))
            out[:, self.emotion] = 5.0
            return out

    happy = realism.real_smile_check(Always("happy"), judge=True)
    assert happy == {"n_smiles": 36, "n_neutral": 45, "happy_on_smiles": 1.0, "neutral_on_neutral": 0.0,
                     "happy_on_neutral": 1.0}
    neutral = realism.real_smile_check(Always("neutral"), judge=True)
    assert neutral["happy_on_smiles"] == 0.0 and neutral["neutral_on_neutral"] == 1.0
    metrics = realism.realism_metrics(_fake_result([{"model": "judge (real FER2013)", **happy},
                                                    {"model": "synthetic-trained (shipped)", **neutral}]))
    assert metrics["real_smiles_judge_happy_on_smiles"] == 1.0 and metrics["real_smiles_shipped_neutral_on_neutral"] == 1.0


def _fake_result(smiles):
    domain = {"accuracy": 0.2, "balanced_accuracy": 0.2, "balanced_accuracy_ci": (0.1, 0.3), "max_class_share": 0.3,
              "most_predicted": "sad", "recall": {}, "by_intensity": {}}
    points = {d: {128: {"au_points": {"AU1": 1.0}}} for d in ("lab", "wild")}
    return {"generator_version": 7, "n_per_class": 1, "lab": domain, "wild": domain, "au_points": points,
            "real_smiles": smiles}


def test_photo_faces_render_in_colour_and_at_other_sizes():
    b = render_faces(3, seed=44, size=64, color=True, features=PHOTO)
    assert b.images.shape == (3, 3, 64, 64) and b.images.dtype == torch.uint8
    assert float(b.images.float().std()) > 10                     # a picture, not a flat fill
    gray = render_faces(3, seed=44, size=64, features=PHOTO)
    assert gray.images.shape == (3, 64, 64) and torch.equal(gray.au, b.au)
