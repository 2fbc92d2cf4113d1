"""EMFACS rules and the AU-vector classifier (facekit.fau.au_emotion)."""
import numpy as np
import pytest

from facekit.fau import au_emotion as ae
from facekit.data.fer import EMOTIONS

AUS17 = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 16, 17, 20, 23, 25, 26)


def prototype_vector(emotion, intensity=3.0, aus=AUS17):
    x = np.zeros(len(aus))
    for a in ae.EMFACS_PROTOTYPES.get(emotion, ()):
        x[aus.index(a)] = intensity
    return x


def test_synth_column_order_matches_the_one_tested_here():
    synth = pytest.importorskip("facekit.synth")
    assert tuple(synth.AUS) == AUS17


@pytest.mark.parametrize("emotion", EMOTIONS)
def test_rules_recover_each_prototype(emotion):
    x = prototype_vector(emotion)
    assert EMOTIONS[ae.predict_emotion_rules(x, aus=AUS17)[0]] == emotion


def test_fear_is_not_read_as_surprise_and_vice_versa():
    both = np.stack([prototype_vector("fear"), prototype_vector("surprise")])
    assert [EMOTIONS[i] for i in ae.predict_emotion_rules(both, aus=AUS17)] == ["fear", "surprise"]


def test_trace_noise_below_threshold_stays_neutral_and_does_not_flip_a_prototype():
    rng = np.random.default_rng(0)
    noise = rng.uniform(0, 0.9, size=(5, len(AUS17)))
    assert (ae.predict_emotion_rules(noise, aus=AUS17) == EMOTIONS.index("neutral")).all()
    sad = prototype_vector("sad") + noise[0]
    assert EMOTIONS[ae.predict_emotion_rules(sad, aus=AUS17)[0]] == "sad"


def test_active_aus_outside_every_prototype_read_as_neutral_and_explain():
    x = np.zeros(len(AUS17))
    x[AUS17.index(10)] = 2.0
    assert EMOTIONS[ae.predict_emotion_rules(x, aus=AUS17)[0]] == "neutral"
    assert ae.explain_rules(x, aus=AUS17) == "neutral because no prototype AU is present (active: AU10 = 2.0)"


def test_explanation_names_the_deciding_aus_with_their_values():
    x = prototype_vector("happy")
    x[AUS17.index(6)], x[AUS17.index(12)] = 3.1, 4.0
    assert ae.explain_rules(x, aus=AUS17) == "happy because AU6 = 3.1 and AU12 = 4.0"
    assert ae.explain_rules(np.zeros(17), aus=AUS17).startswith("neutral because")
    x[AUS17.index(12)] = 0.2
    assert ae.explain_rules(x, aus=AUS17) == "happy because AU6 = 3.1 (AU12 absent)"


def test_rules_refuse_an_au_set_that_lacks_prototype_aus():
    with pytest.raises(ValueError, match="need AU1"):
        ae.predict_emotion_rules(np.zeros((2, 5)), aus=(6, 10, 12, 14, 17))


def test_wrong_column_count_says_what_was_expected():
    with pytest.raises(ValueError, match=r"expected \(N, 17\)"):
        ae.predict_emotion_rules(np.zeros((2, 5)), aus=AUS17)


def test_classifier_on_five_aus_learns_happy_vs_rest_and_explains():
    rng = np.random.default_rng(1)
    n = 200
    y = rng.integers(0, len(EMOTIONS), n)
    au5 = rng.uniform(0, 1, size=(n, 5))
    happy = y == EMOTIONS.index("happy")
    au5[happy, 0] += 3  # AU6
    au5[happy, 2] += 3  # AU12
    clf = ae.fit_au_classifier(au5, y, aus=(6, 10, 12, 14, 17), seed=0)
    pred = clf.predict(au5)
    assert (pred[happy] == EMOTIONS.index("happy")).mean() > 0.9
    assert clf.predict_proba(au5).shape == (n, len(EMOTIONS))
    assert np.allclose(clf.predict_proba(au5).sum(1), 1)
    assert set(clf.weights().columns) == {"AU6", "AU10", "AU12", "AU14", "AU17"}
    i = int(np.flatnonzero(happy)[0])
    assert clf.explain(au5[i]).startswith("happy because AU")


@pytest.mark.notebook
def test_au_vs_direct_notebook_compares_every_method_in_both_domains(run_notebook):
    import json

    import pandas as pd

    out = run_notebook("06_au_vs_direct")
    metrics = json.loads((out / "metrics.json").read_text())
    for method in ("minixception", "au_pred5", "au_true17", "rules_true17", "au_true5", "rules_pred17", "au_pred17"):
        for domain in ("lab", "wild"):
            acc = metrics[f"{method}_{domain}_accuracy"]
            assert 0 <= metrics[f"{method}_{domain}_acc_lo"] <= acc <= metrics[f"{method}_{domain}_acc_hi"] <= 1
    # the oracle on all 17 true AUs must beat chance (1/7) clearly: the rules and the table are wired correctly
    assert metrics["au_true17_lab_accuracy"] > 0.35 and metrics["rules_true17_lab_accuracy"] > 0.35
    table = pd.read_csv(out / "au_vs_direct.csv")
    assert {"recall_happy", "macro_f1", "acc_lo", "acc_hi"} <= set(table.columns) and len(table) == 14
    for name in ("recall_lab.png", "recall_wild.png", "explained_wild.png"):
        assert (out / name).is_file(), name
    # the all-AU model is scored per AU and domain, and its readout beats a constant guess in the lab
    readout = pd.read_csv(out / "au_readout.csv")
    assert set(readout["model"]) == {"5-AU model", "all-AU model"} and set(readout["domain"]) == {"lab", "wild"}
    assert len(readout[readout["model"] == "all-AU model"]) == 2 * 18
    assert metrics["fau_all_icc_lab"] > 0.1
    errors = pd.read_csv(out / "au_errors_lab_to_wild.csv", index_col=0)
    assert len(errors) == 17 and errors["mae_rise"].is_monotonic_decreasing
    # the wild-gap attribution: every trait row for both models, paired against the same wild faces
    gap = pd.read_csv(out / "wild_gap.csv")
    from facekit.synth import WILD_FACTORS

    assert len(gap) == 2 * (len(WILD_FACTORS) + 4) and set(gap["model"]) == {"5-AU model", "all-AU model"}
    assert (gap.loc[gap["condition"] == "wild", "recovered"] == 0).all()
    assert "wild_gap_allau_lab_through_wild_augment" in metrics
