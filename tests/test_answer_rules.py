"""The answer texts choose their conclusions by rules over the numbers: contrary numbers change the words."""
import pandas as pd

from facekit.fau import answers as fa
from facekit import answer_rules as R
from facekit.emotion import answers as A


def _q17_inputs(test2: dict):
    rows = ["recall disgust", "predicted disgust", "precision disgust", "macro-F1", "balanced accuracy",
            "private accuracy"]
    table = pd.DataFrame({"before": [0.1, 5, 0.4, 0.3, 0.3, 0.5], "after": [0.35, 40, 0.3, 0.33, 0.36, 0.49],
                          "control": [0.12, 6, 0.4, 0.31, 0.31, 0.5]}, index=rows)
    counts = pd.DataFrame({"Training": [436], "PrivateTest": [55]}, index=["disgust"])
    cases = pd.DataFrame({"model": [m for m in test2 for _ in range(10)],
                          "correct": [i < round(test2[m] * 10) for m in test2 for i in range(10)]})
    return table, counts, cases


def test_q17_credits_the_fix_only_when_it_beats_the_control():
    table, counts, cases = _q17_inputs({"before": 0.4, "after": 0.5, "control": 0.6})
    text = A.before_after_text(table, counts, cases, "reweight", 0.25, 2)
    assert "`test2`, the share of faces right goes 40% -> 50% (+10 pp), but the control run scored 60%, so the " \
           "gain over the baseline is not the fix's; against the control the fix loses 10 pp" in text
    table, counts, cases = _q17_inputs({"before": 0.4, "after": 0.5, "control": 0.3})
    text = A.before_after_text(table, counts, cases, "reweight", 0.25, 2)
    assert "control run scored 30%: the fix gains +20 pp over the control" in text and "not the fix's" not in text
    # disgust recall: the same rule, per class
    assert "Disgust recall goes 10.0% -> 35.0% (+25.0 pp), and the control run scored 12.0%" in text
    table.loc["recall disgust", "control"] = 0.4
    text = A.before_after_text(table, counts, cases, "reweight", 0.25, 2)
    assert "Disgust recall goes 10.0% -> 35.0% (+25.0 pp), but the control run scored 40.0%, so the gain" in text


def test_versus_control_rule():
    assert R.versus_control_kind(0.4, 0.5, 0.6) == "control"
    assert R.versus_control_kind(0.4, 0.5, 0.5) == "control"       # a tie is not a credit
    assert R.versus_control_kind(0.4, 0.5, 0.3) == "credited"
    assert R.versus_control_kind(0.5, 0.4, 0.3) == "no gain"
    assert "no gain over the baseline" in R.versus_control_text("x", 0.5, 0.4, None)
    # no gain over the baseline, yet the fix's own effect (after - control) still has a sign: say it
    assert R.versus_control_text("x", 0.5, 0.4, 0.3, digits=0) == (
        "x goes 50% -> 40% (-10 pp): no gain over the baseline. The control run scored 30%: retraining alone costs "
        "20 pp, and the fix wins back 10 pp of it.")
    assert R.versus_control_text("x", 0.5, 0.4, 0.45, digits=0).endswith(
        "no gain over the baseline, and the control run scored 45%: against it the fix loses 5 pp.")
    assert R.versus_control_text("x", 0.5, 0.4, 0.4, digits=0).endswith("(the control run scored 40%, as much).")


def test_rate_differences_are_percentage_points():
    assert R.pp(0.564) == "+56.4 pp" and R.pp(-0.1, 0) == "-10 pp" and R.pct(0.582) == "58.2%"
    assert R.pp(0.2, signed=False) == "20.0 pp"
    table, counts, cases = _q17_inputs({"before": 0.4, "after": 0.5, "control": 0.6})
    text = A.before_after_text(table, counts, cases, "reweight", 0.25, 2)
    assert "(+25.0 pp)" in text and "(+25.0%)" not in text
    assert "balanced accuracy 30.0% -> 36.0%" in text and "balanced accuracy 0.300" not in text


def test_a_change_is_claimed_only_beyond_the_seed_spread():
    # the sheet's run: 0.0529 -> 0.0464 against a seed range 0.0407-0.0520
    assert R.spread_change_text("The training loss", 0.0529, 0.0464, (0.0407, 0.0520)) == \
        "The training loss goes 0.0529 -> 0.0464, a change within the seed spread (0.0407-0.0520), so no change is " \
        "claimed"
    assert R.spread_change_text("The training loss", 0.0529, 0.0300, (0.0407, 0.0520)).startswith(
        "The training loss **falls**")
    assert "**rises**" in R.spread_change_text("x", 0.03, 0.05, (0.040, 0.041))


def test_source_domain_wording_is_one_rule():
    # the sheet's run: test MAE 0.686 -> 0.672 was "keeps its accuracy" and "(better)" at once
    assert R.source_domain_text(0.686, 0.672, higher_is_better=False, step=0.005) == "the source domain improves"
    assert R.source_domain_text(0.686, 0.684, higher_is_better=False, step=0.005) == \
        "the source domain keeps its accuracy"
    assert "costs accuracy" in R.source_domain_text(0.686, 0.70, higher_is_better=False, step=0.005)
    assert R.change_kind(0.686, 0.672, False, 0.005, spread=0.02) == "unchanged"   # within the seed spread


def test_fewshot_loss_claims_a_fall_only_beyond_the_seed_range():
    from facekit.fau import fewshot

    text = fa.loss_trend_text(0.0529, 0.0464, 0.0425, 0.0427, spread=(0.0407, 0.0520),
                                   clean_spread=(0.0415, 0.0429))
    assert "**falls**" not in text and "**rises**" not in text
    assert "The training loss goes 0.0529 -> 0.0464, a change within the seed spread (0.0407-0.0520)" in text
    assert "un-augmented handful goes 0.0425 -> 0.0427, a change within the seed spread (0.0415-0.0429)" in text
    text = fa.loss_trend_text(0.0529, 0.0300, 0.0425, 0.0600, spread=(0.0290, 0.0310),
                                   clean_spread=(0.0590, 0.0610))
    assert "The training loss **falls**" in text and "handful **rises**" in text


def test_fewshot_source_domain_sentence_agrees_with_the_verdicts():
    from facekit.fau import fewshot

    def summary(after, std):
        return pd.DataFrame({"before": [0.686], "after_mean": [after], "after_std": [std]}, index=["test_mae"])

    s = summary(0.672, 0.010)   # the sheet's run: "keeps its accuracy" beside "(better)"
    assert fa.source_text(s) == "the source domain improves" and "(better)" in fa.verdicts_text(s, ["test"])
    s = summary(0.672, 0.020)   # the same means inside a wider seed spread
    assert fa.source_text(s) == "the source domain keeps its accuracy"
    assert "(unchanged)" in fa.verdicts_text(s, ["test"])
    s = summary(0.720, 0.010)
    assert "costs accuracy" in fa.source_text(s) and "(**worse**)" in fa.verdicts_text(s, ["test"])


def test_the_sheet_ends_with_a_glossary_of_the_terms_its_answers_use():
    from facekit import glossary as G
    from facekit_tools.handin.answers import Answer, answers_latex, answers_markdown

    text = ("**Answer.** ROAD and the pointing game agree; test2 ICC 0.55, disgust recall +56.4 pp against the "
            "control run.")
    answers = [Answer("T1.Q1", texts=[text])]
    run = {"quick": [], "started": [], "finished": []}
    sheet = answers_markdown(answers, run, "build/notebooks")
    glossary = sheet.split("## Glossary", 1)[1]
    for term in G.used_terms(answers[0].texts[0]):
        assert f"- **{term}**: {G.GLOSSARY[term]}" in glossary
    assert {"ROAD", "pointing game", "ICC(3,1)", "percentage point", "control run"} <= set(G.used_terms(sheet))
    assert "**HiResCAM**" not in glossary                      # only the terms the answers use
    assert r"\subsection*{Glossary}" in answers_latex(answers, run, "build/notebooks")
    assert "## Glossary" not in answers_markdown([Answer("T1.Q1", texts=["No terms here."])], run, "x")
    for term in ("ROAD", "pointing game", "HiResCAM", "Grad-CAM", "guided backpropagation", "ICC(3,1)", "PCC",
                 "MAE", "EMFACS", "FACS", "AU", "label-free collapse", "percentage point", "control run"):
        assert term in G.GLOSSARY and term in G.used_terms(term), term


def test_the_term_detector_finds_an_undefined_term():
    from pathlib import Path

    from facekit import glossary as G

    assert G.undefined_terms("The SSIM of the heatmaps rose, AU12 and ICC(3,1) did not; METHOD=x; `LPIPS`") == ["SSIM"]
    assert G.undefined_terms("The ROAD score fell.", glossary={}) == ["ROAD"]
    sheet = Path(__file__).resolve().parents[1] / "figures" / "answers.md"
    if sheet.is_file():   # every acronym the last run's answers use is defined
        assert G.undefined_terms(sheet.read_text(encoding="utf-8")) == []


def test_epoch_axes_have_integer_ticks():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from facekit.emotion import plots

    history = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1.0, 0.8, 0.7], "public_loss": [1.1, 0.9, 0.85],
                            "train_acc": [0.3, 0.4, 0.5], "public_acc": [0.3, 0.35, 0.4]})
    for fig in (plots.plot_loss(history), plots.plot_acc(history, chance=0.25)):
        fig.canvas.draw()
        ax = fig.axes[0]
        labels = [t.get_text().replace("\N{MINUS SIGN}", "-") for t in ax.get_xticklabels() if t.get_text()]
        assert labels and all(label.lstrip("-").isdigit() for label in labels), labels
        assert all(float(x).is_integer() for x in ax.get_xticks())
        plt.close(fig)
