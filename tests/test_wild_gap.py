"""The wild-gap attribution: wild faces with one trait drawn from lab's ranges (paired with the plain wild faces),
and the rule that reads the table (fed contrary numbers)."""
import pandas as pd
import pytest
import torch

from facekit.fau import answers as fa
from facekit.fau import robustness as rb
from facekit.synth import WILD_FACTORS, render_faces
from facekit.synth import render as R


def test_as_lab_empty_keeps_the_bytes():
    a = render_faces(6, seed=3, domain="wild", size=48)
    b = render_faces(6, seed=3, domain="wild", size=48, as_lab=())
    assert torch.equal(a.images, b.images) and torch.equal(a.landmarks, b.landmarks)


def test_as_lab_draws_lab_ranges_with_the_same_random_numbers():
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    wild = R.draw_nuisance(400, g1, "wild")
    mixed = R.draw_nuisance(400, g2, "wild", as_lab=("noise", "light"))
    for k in ("noise", "light", "light_dir"):
        lo, hi = R._NUISANCE[k][:2]
        assert mixed[k].min() >= lo - 1e-6 and mixed[k].max() <= hi + 1e-6
        assert wild[k].max() > hi or wild[k].min() < lo          # wild's own range is wider
        # paired: the same uniform maps to the same relative place in each range
        wl, wh = R._NUISANCE[k][2:]
        assert torch.allclose((mixed[k] - lo) / (hi - lo), (wild[k] - wl) / (wh - wl), atol=1e-5)
    for k in ("roll", "yaw", "contrast"):
        assert torch.equal(wild[k], mixed[k])


def test_as_lab_probabilities_follow_the_trait():
    g1, g2 = torch.Generator().manual_seed(2), torch.Generator().manual_seed(2)
    wild = R.draw_nuisance(4000, g1, "wild")
    lab_occ = R.draw_nuisance(4000, g2, "wild", as_lab=("occlusion",))
    assert abs(float(wild["occ"].mean()) - R._P_OCCLUDED["wild"]) < 0.03
    assert abs(float(lab_occ["occ"].mean()) - R._P_OCCLUDED["lab"]) < 0.03


def test_identity_as_lab_changes_the_face_not_the_pose():
    a = render_faces(4, seed=5, domain="wild", size=48)
    b = render_faces(4, seed=5, domain="wild", size=48, as_lab=("identity",))
    assert not torch.equal(a.images, b.images)
    assert torch.equal(a.au, b.au) and torch.equal(a.clean_emotion, b.clean_emotion)
    assert set(WILD_FACTORS["identity"]) == set(R._IDENTITY)


def test_unknown_trait_is_named():
    with pytest.raises(ValueError, match="unknown trait or parameter 'lighting'.*traits: pose, light"):
        render_faces(2, domain="wild", as_lab=("lighting",))


def _table(lab, wild, traits, aug, all_nuisance=None):
    rows = [(rb.LAB, lab), (rb.WILD, wild), *((f"wild, {k} as lab", v) for k, v in traits.items()),
            (rb.AUGMENTED, aug)]
    if all_nuisance is not None:
        rows.append((rb.ALL_NUISANCE, all_nuisance))
    t = pd.DataFrame([{"condition": c, "model": "m", "icc": v} for c, v in rows])
    t["recovered"] = t["icc"] - wild
    t["share"] = t["recovered"] / (lab - wild)
    return t


def test_describe_training_is_the_lever():
    text = fa.describe_wild_gap(_table(0.8, 0.4, {"light": 0.5, "pose": 0.45, "noise": 0.405}, aug=0.42, all_nuisance=0.7), "m")
    assert "loses 0.40" in text and "light (+0.10), pose (+0.05)" in text and "noise" not in text
    assert "more training" in text and "75% of the gap" in text


def test_describe_augmentation_misses_wild():
    text = fa.describe_wild_gap(_table(0.8, 0.4, {"identity": 0.6}, aug=0.78), "m")
    assert "misses what wild has" in text and "identity (+0.20)" in text and "more training" not in text


def test_describe_both_and_no_gap():
    assert "both count" in fa.describe_wild_gap(_table(0.8, 0.4, {"blur": 0.401}, aug=0.6), "m")
    assert "no single trait" in fa.describe_wild_gap(_table(0.8, 0.4, {"blur": 0.401}, aug=0.6), "m")
    assert "no wild gap" in fa.describe_wild_gap(_table(0.8, 0.78, {}, aug=0.7), "m")


def test_wild_gap_runs_and_is_paired(tmp_path):
    from facekit.fau.model import FAUConfig, build_fau_model

    torch.manual_seed(0)
    model = build_fau_model(FAUConfig.all_aus())
    t = rb.wild_gap({"untrained": model}, n=4, seed=11, factors=("noise",))
    assert list(t.condition) == [rb.LAB, rb.WILD, "wild, noise as lab", rb.ALL_NUISANCE, rb.AUGMENTED]
    assert t.loc[t.condition == rb.WILD, "recovered"].item() == 0
    # each model meets its own training augmentation: the ranges its checkpoint records (here: skin tone on)
    import copy

    skin = copy.deepcopy(model)
    skin.train_settings = {"robust": {"skin": (0.3, 0.3)}}
    assert rb.training_ranges(model) == {} and rb.training_ranges(skin) == {"skin": (0.3, 0.3)}
    both = rb.wild_gap({"plain": model, "skin": skin}, n=4, seed=11, factors=("noise",)).set_index(["model", "condition"])
    assert list(both.index.get_level_values(0)) == ["plain"] * 5 + ["skin"] * 5
    assert both.loc[("plain", rb.WILD), "icc"] == both.loc[("skin", rb.WILD), "icc"]
    assert both.loc[("plain", rb.AUGMENTED), "icc"] != both.loc[("skin", rb.AUGMENTED), "icc"]
