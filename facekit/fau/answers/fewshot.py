"""The answer prose of Task 2, Q2.6-Q2.7, notebook 07: few-shot tuning."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from facekit.answer_rules import change_kind, source_domain_text, spread_change_text
from facekit.fau.fewshot import ICC_STEP, _metric_rule, compare_word

#: A relative change in the training loss below this (5 %) is "flat", not a fall.
LOSS_FALL = 0.05


def loss_trend_text(first: float, last: float, clean_before: float, clean_after: float,
                    fall: float = LOSS_FALL, spread: tuple[float, float] | None = None,
                    clean_spread: tuple[float, float] | None = None) -> str:
    """Whether the few-shot training loss fell: ``last`` below ``first`` by more than ``fall`` (relative) is a fall,
    above by as much is a rise, otherwise flat; the un-augmented handful's MSE before/after is reported beside it.
    With the seeds' range of the final loss (``spread``) and of the final clean MSE (``clean_spread``), a fall or rise
    is claimed only when the change is larger than that range (:func:`facekit.answer_rules.spread_change_text`)."""
    rel = (last - first) / max(abs(first), 1e-12)
    if spread is not None:
        clean = (spread_change_text("the heatmap MSE on the un-augmented handful", clean_before, clean_after,
                                    clean_spread) if clean_spread is not None else
                 f"the heatmap MSE on the un-augmented handful goes {clean_before:.4f} -> {clean_after:.4f}")
        return spread_change_text("The training loss", first, last, spread) + f"; {clean}."
    clean = f"the heatmap MSE on the un-augmented handful goes {clean_before:.4f} -> {clean_after:.4f}"
    if rel < -fall:
        return f"The training loss **falls** ({first:.4f} -> {last:.4f}, {rel:+.0%}) and {clean}."
    if rel > fall:
        return (f"The training loss **rises** ({first:.4f} -> {last:.4f}, {rel:+.0%}): the rate is too high for "
                f"these few faces; {clean}.")
    return (f"The training loss **does not fall** ({first:.4f} -> {last:.4f}, {rel:+.1%}): on ten augmented faces "
            f"the per-epoch loss is dominated by each epoch's random draws and the weights move little at this "
            f"rate; {clean}.")


def change_text(name: str, metric: str, before: float, after: float, spread: float = 0.0) -> str:
    """``name metric before -> after`` with a verdict: for ICC higher is better, for MAE lower is better; changes
    no larger than :data:`ICC_STEP` / :data:`MAE_STEP` or the seed ``spread`` are "unchanged"
    (:func:`facekit.answer_rules.change_kind`)."""
    step, better_up = _metric_rule(metric)
    kind = change_kind(before, after, better_up, step, spread)
    verdict = {"unchanged": "unchanged", "better": "better", "worse": "**worse**"}[kind]
    return f"{name} {metric.upper()} {before:.3f} -> {after:.3f} ({verdict})"


def _seed_std(summary: pd.DataFrame, key: str) -> float:
    std = float(summary.loc[key, "after_std"]) if "after_std" in summary else 0.0
    return std if np.isfinite(std) else 0.0


def verdicts_text(summary: pd.DataFrame, names: Sequence[str] = ("test2", "wild", "test")) -> str:
    """One clause per set and metric from :func:`summarise_seeds`' table (before vs the seed mean, the seeds'
    standard deviation as the spread), e.g. "test2 ICC 0.380 -> 0.380 (unchanged)"."""
    parts = [change_text(n, m, summary.loc[f"{n}_{m}", "before"], summary.loc[f"{n}_{m}", "after_mean"],
                         _seed_std(summary, f"{n}_{m}"))
             for n in names for m in ("icc", "mae") if f"{n}_{m}" in summary.index]
    return "Seed means against the untuned model: " + "; ".join(parts) + "."


def source_text(summary: pd.DataFrame, name: str = "test", metric: str = "mae") -> str:
    """Whether the source domain keeps, improves or loses its accuracy, by the same rule and spread as
    :func:`verdicts_text` (so the two sentences cannot disagree)."""
    key = f"{name}_{metric}"
    step, better_up = _metric_rule(metric)
    return source_domain_text(summary.loc[key, "before"], summary.loc[key, "after_mean"], better_up, step,
                              _seed_std(summary, key))


def large_rate_text(lr: float, test_icc: float, untuned_icc: float, step: float = ICC_STEP) -> str:
    """What the largest swept rate does to the source domain: the lab ICC on ``test`` at ``lr`` against the untuned
    model's. Lower by more than ``step``: it overfits the handful at the source's expense; otherwise it does not."""
    numbers = f"at lr {lr:g} the lab ICC on `test` is {test_icc:.2f}, untuned {untuned_icc:.2f}"
    if test_icc < untuned_icc - step:
        return f"what a too-large rate does instead is **overfit** the ten faces ({numbers})."
    return f"and the largest rate does not hurt the source domain either ({numbers})."


def _versus(word: str, other: str) -> str:
    return f"the same as {other} within the seed spread" if word.startswith("the same") else f"{word} than {other}"


def tuning_comparison_text(summary: pd.DataFrame, n_seeds: int, sets: Sequence[str] = ("wild", "test2", "test")) -> str:
    """The answer's verdict on label-free against supervised tuning, from :func:`summarise_tunings`: per set, ICC
    and MAE of both (mean ± std over ``n_seeds`` seeds) and the untuned value, each with words chosen by
    :func:`compare_word` (ICC higher is better, MAE lower), against supervised and against untuned."""
    said = []
    for name in sets:
        for metric, up in (("icc", True), ("mae", False)):
            if f"{name}_{metric}" not in summary.index:
                continue
            r = summary.loc[f"{name}_{metric}"]
            lf, sup = (r["label-free_mean"], r["label-free_std"]), (r["supervised_mean"], r["supervised_std"])
            said.append(f"`{name}` {metric.upper()} label-free {lf[0]:.3f} ± {lf[1]:.3f}, supervised {sup[0]:.3f} ± "
                        f"{sup[1]:.3f}, untuned {r['before']:.3f}: label-free is "
                        f"**{_versus(compare_word(*lf, *sup, higher_is_better=up), 'supervised')}** and "
                        f"{_versus(compare_word(lf[0], lf[1], r['before'], 0.0, higher_is_better=up), 'untuned')}")
    if not said:
        return "No labelled face set to compare the tunings on."
    return f"Over {n_seeds} seeds (mean ± std): " + "; ".join(said) + "."


def tuning_answer_text(summary: pd.DataFrame, n_seeds: int) -> str:
    """Q2.7's second answer, supervised against label-free tuning: the verdicts of :func:`tuning_comparison_text`,
    the rule behind their words, and what label-free tuning can and cannot do by construction."""
    return ("**Answer.** Supervised against label-free tuning. " + tuning_comparison_text(summary, n_seeds)
            + " A word of change is said only where the difference of the means exceeds the larger seed standard "
            "deviation. By construction, label-free tuning only re-fits the model to the handful's statistics and to "
            "its own mirror-averaged maps; without labels nothing tells it where a reading is wrong.")


def small_rate_text(lr_small: float, gain_small: float, gain_best: float) -> str:
    """What the smallest swept rate gives of the best wild-ICC gain: a measured fact, no mechanism (no control run
    separates BatchNorm's statistics from the weights here)."""
    if gain_best <= 0:
        return "No swept rate improves the wild ICC over the untuned model."
    return (f"The smallest rate, {lr_small:g}, already gives {gain_small:+.3f} of the best {gain_best:+.3f} wild-ICC "
            f"gain ({gain_small / gain_best:.0%}).")


def metric_agreement_text(summary: pd.DataFrame, name: str = "wild") -> str:
    """The verdict on one face set from both metrics (:func:`change_kind` against the seed std, as
    :func:`verdicts_text`): tuning *helped* only where no metric is worse and at least one is better; where ICC and
    MAE disagree the sentence says so (ICC is blind to an offset, MAE is not)."""
    kinds = {}
    for m in ("icc", "mae"):
        if f"{name}_{m}" in summary.index:
            r = summary.loc[f"{name}_{m}"]
            step, up = _metric_rule(m)
            kinds[m] = change_kind(r["before"], r["after_mean"], up, step, _seed_std(summary, f"{name}_{m}"))
    if not kinds:
        return ""
    said = ", ".join(f"{m.upper()} {k}" for m, k in kinds.items())
    if set(kinds.values()) == {"better"}:
        return f"On {name}: {said}: tuning helped on both metrics, beyond the seed spread."
    if "worse" in kinds.values() and "better" in kinds.values():
        return f"On {name}: {said}: the metrics disagree, so no overall verdict."
    if "better" in kinds.values():
        return (f"On {name}: {said}: tuning helped only on {'ICC' if kinds.get('icc') == 'better' else 'MAE'}; "
                + ("ICC (agreement up to an offset) rises while the absolute error stays, i.e. the readings order "
                   "the faces better but are not closer to the true values." if kinds.get("icc") == "better" else
                   "the readings are closer on average but not better ordered."))
    if "worse" in kinds.values():
        return f"On {name}: {said}: tuning hurt."
    return f"On {name}: {said}: no change beyond the seed spread."


def checkpoint_difference_text(name: str, other: str, icc: float, mae: float, this_icc: float, this_mae: float,
                               faces: str = "test2") -> str:
    """Why two notebooks report different untuned numbers on the same faces: they score different checkpoints."""
    return (f"\"Untuned\" here is {name}; notebooks 05 and 08 score {other} on the same `{faces}` faces (ICC "
            f"{icc:.3f}, MAE {mae:.3f}, against {this_icc:.3f}, {this_mae:.3f} for {name}): two checkpoints, two "
            f"sets of numbers.")


def q26_text(sweep: pd.DataFrame, history: pd.DataFrame, summary: pd.DataFrame, lrs: Sequence[float], lr: float,
             epochs: int, n_wild: int, supervised: bool, collapse_std: float, no_labels: str) -> str:
    """Q2.6 from the sweep (index = lr, 0 = untuned), the saved run's history and the seed summary."""
    collapsed = [f"{r:g}" for r, c in sweep["collapsed"].items() if r > 0 and c]
    best = sweep.loc[sweep.index > 0, "wild_icc"].idxmax()
    untuned = sweep.loc[0.0]
    loss = history["train_loss"]
    lab = (large_rate_text(lrs[-1], sweep.loc[lrs[-1], "test_icc"], untuned["test_icc"]) if "test_icc" in sweep
           and np.isfinite(untuned["test_icc"]) else f"the lab ICC on `test`: {no_labels}.")
    return (f"**Answer.** Tuning for {epochs} epochs at lr {lr:g} ends with a training loss of {loss.iloc[-1]:.4f} "
            "(with augmentation). "
            + loss_trend_text(loss.iloc[0], loss.iloc[-1], history.attrs["clean_loss_before"],
                              history.attrs["clean_loss_after"],
                              spread=tuple(summary.loc["final_train_loss", ["after_min", "after_max"]]),
                              clean_spread=tuple(summary.loc["clean_loss_after", ["after_min", "after_max"]]))
            + f" Over the sweep, the best ICC on {n_wild} held-out wild faces comes at lr {best:g} "
            f"({sweep.loc[best, 'wild_icc']:.3f} vs {untuned['wild_icc']:.3f} untuned); collapsed runs (prediction "
            f"spread < {collapse_std}): {', '.join(collapsed) or 'none'}. The prediction spread at the largest rate "
            f"is {sweep['wild_spread'].iloc[-1]:.2f} (untuned {untuned['wild_spread']:.2f}): with "
            f"{'real ' if supervised else 'fixed pseudo-'}targets a constant prediction is not a minimum of the loss, "
            "so the collapse of the course's label-free loss does not appear; " + lab + " "
            + small_rate_text(lrs[0], sweep.loc[lrs[0], "wild_icc"] - untuned["wild_icc"],
                              sweep.loc[best, "wild_icc"] - untuned["wild_icc"]))


def _seed_change(summary: pd.DataFrame, key: str, no_labels: str) -> str:
    if key not in summary.index:
        return no_labels
    r = summary.loc[key]
    return (f"{r['before']:.3f} -> {r['after_mean']:.3f} ± {r['after_std']:.3f} "
            f"(range {r['after_min']:.3f}..{r['after_max']:.3f})")


def q27_text(summary: pd.DataFrame, n_seeds: int, lr: float, n_wild: int, untuned: str, tuning: str,
             other: str | None, other_scores: dict, no_labels: str) -> str:
    """Q2.7 from the seed summary: the numbers per set and metric, the per-metric verdicts, the source domain, and
    which checkpoint "untuned" is (against ``other``, the checkpoint notebooks 05 and 08 score on ``test2``)."""
    c = lambda key: _seed_change(summary, key, no_labels)
    helped = summary.loc["wild_icc", "after_min"] > summary.loc["wild_icc", "before"]
    lab = (f"On the lab faces of `test`: {source_text(summary, 'test', 'mae')} (MAE {c('test_mae')}; ICC "
           f"{c('test_icc')}). " if "test_mae" in summary.index else f"On `test`: {no_labels}. ")
    differ = (checkpoint_difference_text(untuned, other, other_scores["test2_icc"], other_scores["test2_mae"],
                                         summary.loc["test2_icc", "before"], summary.loc["test2_mae", "before"]) + " "
              if other and "test2_icc" in other_scores and "test2_icc" in summary.index else "")
    return (f"**Answer.** Untuned = {untuned}; tuned = the same after {tuning} tuning. Over {n_seeds} seeds at lr "
            f"{lr:g}: test2 ICC {c('test2_icc')}, MAE {c('test2_mae')}; {n_wild} held-out generated wild faces ICC "
            f"{c('wild_icc')}, MAE {c('wild_mae')}. {'Every' if helped else 'Not every'} seed improves the wild ICC. "
            + " ".join(metric_agreement_text(summary, s) for s in ("wild", "test2")) + " " + lab
            + verdicts_text(summary) + " " + differ
            + "Why it helps is not tested by this run: no control run freezes BatchNorm's statistics, so how much of "
            "the change comes from re-estimated statistics rather than moved weights is left open. With five test "
            f"subjects the ICC of a single AU swings with one face, which is why the {n_wild} extra wild faces and "
            "the seed spread carry the conclusion, not the five-face table.")
