"""The rules of Task 2's answer prose (facekit/fau/answers/): each is fed numbers that should flip its words, and the
answer sheet's provenance table is collected from any notebook's provenance.csv."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from facekit.fau import answers as fa
from facekit.fau import au_emotion as ae
from facekit.glossary import undefined_terms

FIVE = (6, 10, 12, 14, 17)
AUS = [f"AU{a}" for a in FIVE]
SUBJECTS = [f"subject_{k}" for k in range(1, 6)]


def _acc(acc: dict, n: int = 500) -> pd.DataFrame:
    rows = {(m, d): {"accuracy": a} for (m, d), a in acc.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["method", "domain"])
    return ae.add_intervals(table, {"lab": n, "wild": n})


def _frame(values) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(values, dtype=float), index=SUBJECTS, columns=AUS)


def test_five_au_route_names_the_emotions_it_cannot_see_and_follows_the_intervals():
    assert fa.emotions_without(FIVE) == ["angry", "disgust", "fear", "sad", "surprise"]
    assert fa.emotions_without((1, 4, 6)) == ["disgust"]
    loses = fa.five_au_text(_acc({("d", "lab"): 0.654, ("d", "wild"): 0.304, ("p5", "lab"): 0.334,
                                  ("p5", "wild"): 0.200}), "d", "p5", FIVE, "`fau_resnet.pt`")
    assert "the 5-AU route loses" in loses and "33.4% vs 65.4% (-32.0 pp" in loses
    assert "5 of 6 (angry (4+5+7+23)" in loses and "`fau_resnet.pt`" in loses
    wins = fa.five_au_text(_acc({("d", "lab"): 0.30, ("d", "wild"): 0.30, ("p5", "lab"): 0.60, ("p5", "wild"): 0.31}),
                           "d", "p5", (1, 2, 4, 6, 9), "x")
    assert "lab 60.0% vs 30.0% (+30.0 pp: the 5-AU route wins)" in wins and "wild 31.0% vs 30.0% (+1.0 pp: neither wins clearly" in wins
    assert "Every EMFACS prototype contains" in wins


def test_per_au_errors_name_the_largest_false_reading():
    true = _frame(np.full((5, 5), 2.0))
    true.loc["subject_5", "AU17"] = 0.0
    pred = true.copy()
    pred.loc["subject_5", "AU17"] = 1.42
    text = fa.per_au_error_text(pred, true)
    assert "**AU17 = 1.42 on subject_5, whose true AU17 is 0.00**" in text and "False readings" in text
    assert text.index("AU6 0.00") < text.index("AU17 0.28")          # per-AU MAE, best to worst
    pred.loc["subject_5", "AU17"] = 0.4                               # under the threshold: not a false reading
    assert "No false reading" in fa.per_au_error_text(pred, true)
    pred.loc["subject_1", "AU6"] = 0.1                                # true 2.0, read as absent: a miss
    assert "Misses" in fa.per_au_error_text(pred, true)


def test_predicted_vs_true_speaks_of_the_model_not_the_faces():
    true = _frame([[3, 1, 1, 1, 1]] * 5)
    pred = _frame([[1, 1, 1, 2, 1]] * 5)
    text = fa.predicted_vs_true_text(pred, true)
    assert "under-reads AU6 most (-2.00" in text and "over-reads AU14 most (+1.00)" in text
    assert "reads strongest (AU14) is not the strongest in the faces (AU6)" in text
    same = fa.predicted_vs_true_text(true, true)
    assert "not the strongest" not in same and "under-reads" not in same
    assert "no labels" in fa.predicted_vs_true_text(pred, None)


def test_domain_and_configuration_sentences_carry_their_numbers():
    mean = pd.DataFrame({"icc": [0.84, 0.33], "mae": [0.6, 1.2]}, index=["lab", "wild"])
    text = fa.domain_text(mean, 400, "seeds 1000 lab / 1001 wild", "`fau_resnet.pt`", "3000 lab faces")
    assert "loses 0.51 ICC" in text and "seeds 1000 lab / 1001 wild" in text and "`fau_resnet.pt`" in text
    assert "gains" in fa.domain_text(mean.iloc[::-1].set_axis(["lab", "wild"]), 400, "f", "m", "t")
    assert "about 0.7" not in text
    assert "96.6% of the parameters" in fa.gives_up_text(1_161_210, 33_997_898, 1, 128, 32, 114)
    assert "2 min" in fa.gives_up_text(1, 2, 1, 128, 32, 114) and "min" not in fa.gives_up_text(1, 2, 1, 128, 32, None)
    assert "lab-to-wild" in fa.trained_text({"robust": True, "n_train": 3000, "epochs": 4, "seed": 50})
    assert "light flip" in fa.trained_text({"robust": False, "augment": True})


def _summary(**rows) -> pd.DataFrame:
    return pd.DataFrame({k: dict(zip(("before", "after_mean", "after_std"), v)) for k, v in rows.items()}).T


def test_metric_agreement_is_per_metric_against_the_seed_spread():
    only_icc = _summary(wild_icc=(0.406, 0.441, 0.002), wild_mae=(1.102, 1.103, 0.007))
    assert "ICC better, MAE unchanged: tuning helped only on ICC" in fa.metric_agreement_text(only_icc)
    both = _summary(wild_icc=(0.406, 0.441, 0.002), wild_mae=(1.102, 1.00, 0.007))
    assert "helped on both metrics" in fa.metric_agreement_text(both)
    split = _summary(wild_icc=(0.406, 0.441, 0.002), wild_mae=(1.102, 1.30, 0.007))
    assert "the metrics disagree" in fa.metric_agreement_text(split)
    noisy = _summary(wild_icc=(0.406, 0.441, 0.05), wild_mae=(1.102, 1.103, 0.007))
    assert "no change beyond the seed spread" in fa.metric_agreement_text(noisy)
    assert fa.metric_agreement_text(noisy, "test2") == ""


def test_small_rate_and_checkpoint_difference_claim_no_mechanism():
    text = fa.small_rate_text(1e-5, 0.036, 0.036)
    assert "100%" in text and "BatchNorm" not in text
    assert "No swept rate improves" in fa.small_rate_text(1e-5, -0.01, -0.01)
    diff = fa.checkpoint_difference_text("`fau_resnet_robust.pt`", "`fau_resnet.pt`", 0.553, 1.166, 0.556, 1.058)
    assert "`fau_resnet_robust.pt`" in diff and "ICC 0.553, MAE 1.166" in diff


def test_budget_sentence_lists_shared_and_different_settings():
    budget = pd.DataFrame({"baseline": {"epochs": 4, "lr": 0.001, "seed": 60, "init": "a.pt", "parameters": 1,
                                        "train_csv": None},
                           "patch attention": {"epochs": 4, "lr": 0.001, "seed": 80, "init": "b.pt", "parameters": 2,
                                               "train_csv": None}})
    text = fa.budget_text(budget)
    assert "Shared by both checkpoints: epochs 4, lr 0.001." in text
    assert "seed 60 / 80" in text and "init a.pt / b.pt" in text and "parameters" not in text
    same = fa.budget_text(budget.assign(**{"patch attention": budget["baseline"]}))
    assert "Different" not in same and "seed 60" in same


def test_largest_drop_and_attention_spread_rules():
    rows = [("test", v, au, icc) for au in AUS for v, icc in (("baseline", 0.9), ("patch attention", 0.9))]
    table = pd.DataFrame(rows, columns=["set", "variant", "au", "icc"])
    assert "no AU's ICC falls by more than 0.3" in fa.largest_drop_text(table, "test")
    table.loc[(table.au == "AU17") & (table.variant == "patch attention"), "icc"] = 0.204
    text = fa.largest_drop_text(table, "test")
    assert "AU17's ICC falls most, 0.900 -> 0.204" in text and "lead to check" in text  # no generated set to check on
    assert fa.largest_drop_text(table, "test2") == ""
    lab = table.assign(set="lab")
    steady = fa.largest_drop_text(pd.concat([table, lab.assign(icc=0.9)]), "test", n_check=300)
    assert "on the 300 generated lab faces it does not (0.900 -> 0.900" in steady and "not to the component" in steady
    falls = fa.largest_drop_text(pd.concat([table, lab]), "test", n_check=300)
    assert "it falls too (0.900 -> 0.204): a cost of the component for AU17" in falls
    drops = fa.au_drops(pd.concat([table, lab]), ["lab", "wild"])
    assert drops.index[0] == ("lab", "AU17") and drops.iloc[0] == pytest.approx(0.696)
    assert fa.au_drops(table, ["wild"]).empty
    uniform = pd.DataFrame({"left": [0.42, 0.73], "right": [0.5, 0.6]})
    assert "**nearly uniform**" in fa.attention_spread_text(uniform) and "0.42-0.73" in fa.attention_spread_text(uniform)
    assert "separates the patches" in fa.attention_spread_text(pd.DataFrame({"left": [0.05, 0.95]}))


def test_limits_say_how_and_whether_the_run_shows_each():
    shown = fa.limits_text(0.048, -0.065, 0.31, 0.07, seeds_agree=False)
    assert shown.count("**shown by this run**") == 4 and shown.count("Address:") == 5
    assert "largest per-AU ICC drop on the generated lab and wild faces +0.070, threshold 0.05" in shown
    quiet = fa.limits_text(0.048, 0.06, 0.9, 0.013, seeds_agree=True)
    assert "**shown by this run**" not in quiet and quiet.count("not shown by this run") == 4


def test_this_run_is_said_apart_from_the_paper():
    boot = {"d_icc": 0.048, "d_icc_lo": 0.016, "d_icc_hi": 0.076}
    no_lm = {"d_icc": -0.065, "d_icc_lo": -0.099, "d_icc_hi": -0.032}
    assert "does not establish" in fa.run_shows_text(boot, no_lm, [0.024, -0.024, 0.014], 300)
    assert "supports the paper's claim" in fa.run_shows_text(boot, no_lm, [0.024, 0.02, 0.014], 300)
    assert "does not establish" in fa.run_shows_text({**boot, "d_icc_lo": -0.01}, no_lm, [0.02, 0.02], 300)


def test_wild_gap_paragraph_names_its_faces():
    t = pd.DataFrame([{"condition": c, "model": "m", "icc": v} for c, v in (("lab", 0.85), ("wild", 0.60))])
    t["recovered"], t["share"] = t["icc"] - 0.60, (t["icc"] - 0.60) / 0.25
    assert fa.describe_wild_gap(t, "m", faces="the 300 wild-gap faces").startswith("On the 300 wild-gap faces, the m")
    assert fa.describe_wild_gap(t, "m").startswith("The m loses 0.25")


def test_provenance_rows_are_collected_into_one_table(tmp_path):
    from facekit_tools.handin.answers import PROVENANCE_COLUMNS, answers_markdown, provenance_markdown

    class Model:
        checkpoint_path, checkpoint_format = "data/checkpoints/fau_resnet.pt", "facekit"
        train_settings = {"n_train": 3000, "epochs": 4, "seed": 60, "augment": True, "init": "x/fau_resnet.pt"}

    row = fa.provenance_row(Model(), "`data/fau/test2/`", 5, "T2.Q4")
    assert tuple(row) == PROVENANCE_COLUMNS == fa.PROVENANCE_COLUMNS
    assert row["checkpoint"] == "fau_resnet.pt" and "3000 generated lab faces" in row["trained_by"]
    assert provenance_markdown(tmp_path) == ""
    for nb, answers in (("05_fau_demo", "T2.Q4"), ("08_patch_attention", "T2.Q11")):
        (tmp_path / nb).mkdir()
        pd.DataFrame([{**row, "answers": answers}]).to_csv(tmp_path / nb / "provenance.csv", index=False)
    table = provenance_markdown(tmp_path)
    assert table.count("| fau_resnet.pt |") == 1                         # same checkpoint and faces: one row
    assert "T2.Q4, T2.Q11" in table and "05_fau_demo, 08_patch_attention" in table
    run = {"quick": [], "started": [], "finished": [], "provenance": table}
    assert "## Checkpoints and face sets" in answers_markdown([], run, "x")
    (tmp_path / "bad").mkdir()
    pd.DataFrame([{"checkpoint": "a"}]).to_csv(tmp_path / "bad" / "provenance.csv", index=False)
    with pytest.raises(ValueError, match="lacks the columns"):
        provenance_markdown(tmp_path)


def test_task2_answer_texts_use_only_defined_terms():
    texts = [fa.limits_text(0.048, -0.065, 0.31, 0.70, False),
             fa.five_au_text(_acc({("d", "lab"): 0.6, ("d", "wild"): 0.3, ("p", "lab"): 0.3, ("p", "wild"): 0.2}),
                             "d", "p", FIVE, "x"),
             fa.run_shows_text({"d_icc": 0.05, "d_icc_lo": 0.01, "d_icc_hi": 0.07}, {"d_icc": -0.06},
                               [0.02, -0.02], 300),
             fa.metric_agreement_text(_summary(wild_icc=(0.4, 0.44, 0.0), wild_mae=(1.1, 1.1, 0.0)))]
    assert undefined_terms(" ".join(texts)) == []


def test_heatmap_comparison_has_a_colour_bar_and_au_labels():
    import matplotlib

    matplotlib.use("Agg")
    import torch

    from facekit.fau import fewshot
    from facekit.fau.data import make_au_data
    from facekit.fau.model import build_fau_model
    from test_fewshot import tiny_config

    torch.manual_seed(0)
    model = build_fau_model(tiny_config()).eval()
    with torch.no_grad():
        model.final_layer.bias.fill_(3.0)                                 # every AU read >= 1: every label drawn
    data = make_au_data(2, seed=0, domain="wild", size=64)
    fig = fewshot.plot_heatmap_comparison({"before": model}, data)
    assert any(ax.get_ylabel() == "heatmap height = AU intensity (0-5)" for ax in fig.axes)
    labels = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert {f"AU{a}" for a in FIVE} <= labels


def _seed_summary(**rows) -> pd.DataFrame:
    cols = ("before", "after_mean", "after_std", "after_min", "after_max")
    return pd.DataFrame({k: dict(zip(cols, v)) for k, v in rows.items()}).T


def test_whole_q26_and_q27_answers_follow_their_numbers():
    summary = _seed_summary(final_train_loss=(0.0529, 0.0464, 0.003, 0.0407, 0.0520),
                            clean_loss_after=(0.0425, 0.0427, 0.0, 0.0420, 0.0430),
                            wild_icc=(0.406, 0.441, 0.002, 0.438, 0.443), wild_mae=(1.102, 1.103, 0.007, 1.097, 1.115),
                            test2_icc=(0.556, 0.589, 0.005, 0.583, 0.595), test2_mae=(1.058, 1.037, 0.01, 1.028, 1.054),
                            test_icc=(0.848, 0.844, 0.008, 0.833, 0.856), test_mae=(0.686, 0.672, 0.01, 0.66, 0.68))
    text = fa.q27_text(summary, 5, 1e-4, 200, "`fau_resnet_robust.pt`", "supervised", "`fau_resnet.pt`",
                       {"test2_icc": 0.553, "test2_mae": 1.166}, "no labels")
    assert text.startswith("**Answer.** Untuned = `fau_resnet_robust.pt`") and "tuning helped only on ICC" in text
    assert "ICC 0.553, MAE 1.166" in text and "most of the gain comes from BatchNorm" not in text
    worse = fa.q27_text(summary.assign(after_min=lambda t: t["after_min"] - 1), 5, 1e-4, 200, "a", "supervised",
                        None, {}, "no labels")
    assert "Not every seed" in worse and "two checkpoints" not in worse
    sweep = pd.DataFrame({"wild_icc": [0.406, 0.442, 0.43], "wild_spread": [0.74, 0.7, 0.48], "collapsed": [False] * 3,
                          "test_icc": [0.85, 0.84, 0.32]}, index=[0.0, 1e-5, 5e-3])
    history = pd.DataFrame({"train_loss": [0.0529, 0.0464]})
    history.attrs.update(clean_loss_before=0.0425, clean_loss_after=0.0427)
    q26 = fa.q26_text(sweep, history, summary, [1e-5, 5e-3], 1e-4, 5, 200, True, 0.05, "no labels")
    assert "**overfit**" in q26 and "100%" in q26 and "BatchNorm" not in q26
    assert "does not hurt" in fa.q26_text(sweep.assign(test_icc=0.85), history, summary, [1e-5, 5e-3], 1e-4, 5, 200,
                                          True, 0.05, "no labels")


def test_whole_q211_answer_carries_budget_drop_and_attention():
    boot = pd.DataFrame({"d_icc": [0.003, 0.048, -0.065], "d_icc_lo": [-0.008, 0.016, -0.099],
                         "d_icc_hi": [0.012, 0.076, -0.032], "d_mae": [0.006, -0.033, 0.02]},
                        index=pd.MultiIndex.from_tuples([("lab", "patch attention"), ("wild", "patch attention"),
                                                         ("wild", "patch attention, no landmarks")]))
    paired = pd.DataFrame({"wild_icc": [0.024, -0.024, 0.014], "lab_icc": [-0.105, -0.075, -0.089]})
    budget = pd.DataFrame({"baseline": {"epochs": 4, "seed": 60}, "patch attention": {"epochs": 4, "seed": 80}})
    rows = [("test", v, au, 0.9 if (au, v) != ("AU17", "patch attention") else 0.2) for au in AUS
            for v in ("baseline", "patch attention")]
    table = pd.DataFrame(rows, columns=["set", "variant", "au", "icc"])
    weights = pd.DataFrame({"left": [0.42, 0.73], "right": [0.5, 0.6]})
    text = fa.q211_text(boot, paired, None, 300, budget, table, weights, "no labels")
    assert "a real difference" in text and "the gain needs the landmarks" in text and "**They do not agree**" in text
    assert "seed 60 / 80" in text and "AU17's ICC falls most" in text and "**nearly uniform**" in text
    assert "no labels" in text


def test_whole_q25_answer_leads_with_the_five_au_model():
    acc = {("mx", "lab"): 0.654, ("mx", "wild"): 0.304, ("p5", "lab"): 0.334, ("p5", "wild"): 0.200,
           ("t5", "lab"): 0.388, ("t5", "wild"): 0.39, ("rp17", "lab"): 0.658, ("rp17", "wild"): 0.462,
           ("p17", "lab"): 0.764, ("p17", "wild"): 0.538, ("o17", "lab"): 0.802, ("o17", "wild"): 0.816}
    names = {k: k for k in ("mx", "p5", "t5", "rp17", "p17", "o17")}
    icc = {("5-AU model", "lab"): 0.67, ("5-AU model", "wild"): 0.23, ("all-AU model", "lab"): 0.82,
           ("all-AU model", "wild"): 0.53}
    errors = pd.DataFrame({"mae_lab": [0.34, 0.54], "mae_wild": [0.98, 0.68]}, index=["AU17", "AU25"])
    text = fa.q25_text(_acc(acc), names, icc, "the 500 emotion faces", "`fau_resnet.pt`", "`fau_resnet_allau.pt`",
                       {"mx": "a->b 3", "p17": "c->d 2"}, "happy because AU6 = 1.7", errors, "GAP", FIVE)
    assert text.startswith("**Answer.** **Task 2's 5-AU model** (`fau_resnet.pt`)") and "the 5-AU route loses" in text
    assert text.index("5-AU route") < text.index("**Second, a different model: all 17 AUs**")
    assert text.count("on the 500 emotion faces") == 3 and text.endswith("GAP")   # 5-AU ICC, 17-AU accuracies, 17-AU ICC
