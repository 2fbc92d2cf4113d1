"""The answer prose of Task 2 (notebooks 05-08): every **Answer.** sentence the FAU notebooks display is written here,
chosen by small rules over the numbers the compute modules return (``fewshot``, ``ablation``, ``au_emotion``,
``robustness`` return numbers, never sentences). Each rule is tested with contrary numbers in
``tests/test_answers_task2.py``; the student edition stubs these functions (``facekit_tools/edition_prose.py``).

Also here: :func:`provenance_row`, one row of a notebook's ``provenance.csv`` (which checkpoint, trained how, on which
face set, how many faces), the table the answer sheet collects.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from facekit.answer_rules import change_kind, pp, source_domain_text, spread_change_text
from facekit.fau.au_emotion import ACTIVE_THRESHOLD, EMFACS_PROTOTYPES, compare_to_direct
from facekit.fau.fewshot import ICC_STEP, _metric_rule, compare_word
from facekit.fau.robustness import ALL_NUISANCE, AUGMENTED, LAB, WILD

# --- Q2.6-Q2.7: few-shot tuning (moved from fewshot.py) --------------------------------------------------------

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
        return spread_change_text("The training loss", first, last, spread) + f" and {clean}."
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


# --- Q2.11: the two studies of the component (moved from ablation.py) ------------------------------------------

def _sign(lo: float, hi: float) -> int:
    """+1 / -1 when an interval lies above / below 0, 0 when it contains 0."""
    return 1 if lo > 0 else -1 if hi < 0 else 0


def reconcile_text(domain: str, boot: dict, seed_diffs) -> str:
    """Reconcile the two studies of the component on one domain: the paired bootstrap over the evaluation faces of
    *one* training run (``boot``: d_icc, d_icc_lo, d_icc_hi) and the per-seed paired ICC differences of the small
    multi-seed study (``seed_diffs``). Rule: the bootstrap's sign (0 when its interval holds 0) against the seed
    study's sign (0 when the seeds disagree in sign). Same non-zero sign: they agree; one says nothing: the
    evidence is one-sided; opposite signs, or a bootstrap effect smaller than the seed-to-seed spread: the
    single-run difference is a property of that training run, not of the component."""
    seeds = np.asarray(list(seed_diffs), dtype=float)
    b = _sign(boot["d_icc_lo"], boot["d_icc_hi"])
    s = 0 if len(seeds) < 2 else (1 if (seeds > 0).all() else -1 if (seeds < 0).all() else 0)
    spread = float(seeds.std(ddof=1)) if len(seeds) > 1 else float("nan")
    nums = (f"On {domain} faces the bootstrap over one run's evaluation faces gives {boot['d_icc']:+.3f} "
            f"[{boot['d_icc_lo']:+.3f}, {boot['d_icc_hi']:+.3f}]; the {len(seeds)} pretraining seeds give "
            f"{seeds.mean():+.3f} on average (per seed {', '.join(f'{v:+.3f}' for v in seeds)}; std {spread:.3f}).")
    word = {1: "better", -1: "worse"}
    if b != 0 and b == s:
        return nums + f" **They agree**: the component is {word[b]} on {domain} faces, across runs too."
    if b != 0 and s == -b:
        return (nums + f" **They disagree**: this run's component is {word[b]}, but every seed of the seed study "
                f"finds it {word[s]}; the bootstrap covers only the choice of evaluation faces, not the training run, "
                "so the single-run difference is not a property of the component.")
    if b != 0:
        return (nums + f" **They do not agree**: the bootstrap finds this run's component {word[b]}, but the seeds "
                f"disagree in sign (spread {spread:.3f} vs the {abs(boot['d_icc']):.3f} effect): another training run "
                "could reverse it, so the component's effect is not established.")
    if s != 0:
        return (nums + f" The bootstrap finds no difference for this run, while every seed of the (smaller) seed "
                f"study finds the component {word[s]}: at most a small effect, not resolved by one run.")
    return nums + " **Both find no reliable difference**: the component neither helps nor hurts measurably here."


# --- Q2.5: AUs against the direct classifier (moved from au_emotion.py / robustness.py) ------------------------

def q5_verdict(table: pd.DataFrame, direct: str, au_methods: Sequence[str], au_errors: pd.DataFrame,
               margin: float = 0.10, top: int = 3, oracle: str | None = None) -> str:
    """Which wins where and why, chosen from the numbers: per domain, the best AU-route method against the direct
    classifier with 95 % intervals (:func:`compare_to_direct`); whether the AU route clears ``margin`` on wild with
    the intervals apart; and the ``top`` AUs whose reading degrades most from lab to wild (:func:`wild_au_errors`),
    the AUs that carry the AU route's wild errors. With ``oracle`` (the same route on the *true* AUs) it also says
    whether the AUs themselves would clear the bar, i.e. whether a miss is the reader's fault or the AUs'."""
    parts = []
    wild = None
    for d in ("lab", "wild"):
        c = compare_to_direct(table, direct, au_methods, d)
        span = (f"{c['best']} {c['acc_au']:.1%} [{c['ci_au'][0]:.1%}, {c['ci_au'][1]:.1%}] vs {direct} "
                f"{c['acc_direct']:.1%} [{c['ci_direct'][0]:.1%}, {c['ci_direct'][1]:.1%}]")
        if c["winner"] == "AU route":
            parts.append(f"On {d} faces the AU route wins ({span}; the 95 % intervals do not overlap).")
        elif c["winner"] == "direct":
            parts.append(f"On {d} faces the direct classifier wins ({span}; the 95 % intervals do not overlap).")
        else:
            parts.append(f"On {d} faces neither wins clearly ({span}; the 95 % intervals overlap).")
        if d == "wild":
            met = c["winner"] == "AU route" and c["diff"] >= margin
            parts.append(f"The AU route {'clears' if met else 'misses'} the bar of beating the direct classifier on "
                         f"wild faces by at least {pp(margin, 0, signed=False)} with separate intervals "
                         f"(difference {pp(c['diff'])}).")
            wild = (c, met)
    if oracle is not None and wild is not None:
        c, met = wild
        o = compare_to_direct(table, direct, [oracle], "wild")
        o_met = o["winner"] == "AU route" and o["diff"] >= margin
        lost = o["acc_au"] - c["acc_au"]
        if not met and o_met:
            parts.append(f"The AUs themselves would clear it: {oracle} reaches {o['acc_au']:.1%} on wild faces "
                         f"({pp(o['diff'])} over {direct}), so the miss is the AU reader's: "
                         f"{pp(lost, signed=False)} of accuracy is lost to reading errors.")
        elif not met:
            parts.append(f"Even the true AUs do not clear it ({oracle} {o['acc_au']:.1%}, {pp(o['diff'])} over "
                         f"{direct}): the AUs available carry too little of the emotion.")
        else:
            parts.append(f"Reading errors still cost {pp(lost, signed=False)} against {oracle} "
                         f"({o['acc_au']:.1%}).")
    worst = au_errors.head(top)
    listed = ", ".join(f"AU{str(a).removeprefix('AU')} (MAE {r.mae_lab:.2f} -> {r.mae_wild:.2f})"
                       for a, r in worst.iterrows())
    steady = au_errors.tail(1)
    parts.append(f"The wild errors of the AU reader are carried mostly by {listed}; the steadiest AU is "
                 f"AU{str(steady.index[0]).removeprefix('AU')} (MAE {steady.iloc[0].mae_lab:.2f} -> "
                 f"{steady.iloc[0].mae_wild:.2f}).")
    return " ".join(parts)


def describe_wild_gap(table: pd.DataFrame, model: str, margin: float = 0.05, faces: str | None = None) -> str:
    """One paragraph on ``model``'s rows of :func:`wild_gap`: the gap, the traits that recover most of it, and a
    verdict by rule on the augmentation row (within ``margin`` ICC of wild: the model has not learnt the invariance
    its augmentation asks for, so training is the lever; within ``margin`` of lab: the augmentation misses what
    wild has; else both). ``faces`` names the faces the table was measured on (it leads the paragraph, since they
    are not the faces of the answer around it)."""
    t = table[table.model == model].set_index("condition")
    if LAB not in t.index or WILD not in t.index:
        raise ValueError(f"describe_wild_gap: no lab/wild rows for model {model!r}")
    lab, wild = float(t.loc[LAB, "icc"]), float(t.loc[WILD, "icc"])
    gap = lab - wild
    traits = t.drop(index=[c for c in (LAB, WILD, ALL_NUISANCE, AUGMENTED) if c in t.index])
    traits = traits.sort_values("recovered", ascending=False)
    if gap <= margin:
        return (f"{'On ' + faces + ', t' if faces else 'T'}he {model} reads wild faces about as well as lab faces (mean ICC {wild:.2f} vs {lab:.2f}): "
                "there is no wild gap to explain.")
    named = [f"{c.removeprefix('wild, ').removesuffix(' as lab')} ({r:+.2f})"
             for c, r in traits["recovered"].items() if r > 0.01][:3]
    text = (f"{'On ' + faces + ', t' if faces else 'T'}he {model} loses {gap:.2f} mean ICC from lab ({lab:.2f}) to wild ({wild:.2f}). Drawing one trait "
            f"from lab's ranges, with everything else the same face, recovers most for "
            + (", ".join(named) if named else "no single trait (none recovers more than 0.01)") + ".")
    if ALL_NUISANCE in t.index:
        text += (f" Every nuisance trait as lab together recovers {t.loc[ALL_NUISANCE, 'recovered']:+.2f} "
                 f"({t.loc[ALL_NUISANCE, 'share']:.0%} of the gap); the rest is identity and how the traits combine.")
    if AUGMENTED in t.index:
        aug = float(t.loc[AUGMENTED, "icc"])
        text += f" Lab faces through the model's own training augmentation score {aug:.2f}: "
        if aug <= wild + margin:
            text += ("as low as wild, so the augmentation already spans the wild domain and the model has not learnt "
                     "to ignore it: more training (or capacity), not wider augmentation, is the lever.")
        elif aug >= lab - margin:
            text += ("as high as lab, so the model ignores its augmentation but the augmentation misses what wild "
                     "has: the traits above are what it must add.")
        else:
            text += ("between the two, so both count: the model has not fully learnt the augmentation's invariance, "
                     "and the augmentation does not cover all of wild.")
    return text


def emotions_without(aus: Sequence[int], prototypes: dict[str, tuple[int, ...]] = EMFACS_PROTOTYPES) -> list[str]:
    """The emotions whose EMFACS prototype contains none of ``aus`` (e.g. the 5 AUs of the demo model): a reader of
    only those AUs sees nothing of them."""
    return [e for e, proto in prototypes.items() if not set(proto) & set(aus)]


def five_au_text(table: pd.DataFrame, direct: str, five: str, aus: Sequence[int], checkpoint: str,
                 prototypes: dict[str, tuple[int, ...]] = EMFACS_PROTOTYPES) -> str:
    """Task 2's own model first: the route through the 5 AUs (``five``, a row of the accuracy ``table``) against the
    ``direct`` classifier per domain, by the rule of :func:`compare_to_direct` (95 % intervals apart or not), and why:
    the emotions whose prototype holds none of ``aus``."""
    parts = []
    for d in ("lab", "wild"):
        c = compare_to_direct(table, direct, [five], d)
        word = {"AU route": "wins", "direct": "loses", "neither": "neither wins clearly (95 % intervals overlap)"}[c["winner"]]
        parts.append(f"{d} {c['acc_au']:.1%} vs {c['acc_direct']:.1%} ({pp(c['diff'])}: {'' if c['winner'] == 'neither' else 'the 5-AU route '}{word})")
    missing = emotions_without(aus, prototypes)
    named = ", ".join(f"{e} ({'+'.join(str(a) for a in prototypes[e])})" for e in missing)
    why = (f" Why: of the EMFACS prototypes, {len(missing)} of {len(prototypes)} ({named}) contain none of "
           f"AU{', AU'.join(str(a) for a in aus)}, so their faces differ only in AUs this model does not read."
           if missing else f" Every EMFACS prototype contains at least one of AU{', AU'.join(str(a) for a in aus)}.")
    return (f"**Task 2's 5-AU model** ({checkpoint}) through a logistic regression against the direct classifier, {direct}: "
            + "; ".join(parts) + "." + why)


# --- Q2.1-Q2.4: the pretrained model (notebook 05) ---------------------------------------------------------------

def trained_text(settings: dict, train_seconds: float | None = None) -> str:
    """What the checkpoint's training record says, in words: faces, epochs, augmentation, time."""
    if not settings:
        return "no training record in the checkpoint"
    aug = ("lab-to-wild augmentation (`--robust`)" if settings.get("robust") else
           "light flip/shift/brightness augmentation" if settings.get("augment") else "no augmentation")
    took = f", {train_seconds / 60:.0f} min of training" if train_seconds else ""
    return (f"{settings.get('n_train', '?')} generated lab faces, {settings.get('epochs', '?')} epochs, {aug}, "
            f"seed {settings.get('seed', '?')}{took}")


def gives_up_text(n_small: int, n_big: int, in_channels: int, input_size: int, map_size: int,
                  train_seconds: float | None) -> str:
    """What the small default gives up against the ResNet-50 layout, each item a number of this run."""
    bought = (f"; in exchange, its shipped checkpoint trained in {train_seconds / 60:.0f} min on the CPU"
              if train_seconds else "")
    return (f"It gives up {1 - n_small / n_big:.1%} of the parameters, colour ({in_channels} input channel"
            f"{'s' if in_channels > 1 else ''} instead of 3) and spatial precision (one map pixel = "
            f"{input_size // map_size} image pixels){bought}.")


#: A true intensity below this is "absent" when looking for false readings.
ABSENT = 0.5


def per_au_error_text(pred: pd.DataFrame, true: pd.DataFrame, absent: float = ABSENT,
                      threshold: float = ACTIVE_THRESHOLD) -> str:
    """How the errors vary across AUs (subject x AU tables): the per-AU MAE from best to worst, and the false
    readings (predicted >= ``threshold`` where the true intensity is below ``absent``; the largest named) and
    misses (true >= ``threshold``, predicted below ``absent``)."""
    err = (pred - true).abs().mean().sort_values()
    text = ("Per AU, the mean absolute error over the " + f"{len(pred)} faces runs from "
            + ", ".join(f"{a} {v:.2f}" for a, v in err.items()) + ".")
    false = [(pred.loc[s, a], s, a) for s in pred.index for a in pred.columns
             if true.loc[s, a] < absent and pred.loc[s, a] >= threshold]
    missed = [(true.loc[s, a], s, a) for s in pred.index for a in pred.columns
              if true.loc[s, a] >= threshold and pred.loc[s, a] < absent]
    if false:
        v, s, a = max(false)
        text += (f" False readings (predicted >= {threshold:g} where the truth is below {absent:g}): {len(false)}; "
                 f"the largest is **{a} = {v:.2f} on {s}, whose true {a} is {true.loc[s, a]:.2f}**.")
    else:
        text += f" No false reading: no AU is predicted >= {threshold:g} where its truth is below {absent:g}."
    if missed:
        v, s, a = max(missed)
        text += f" Misses (true >= {threshold:g}, predicted below {absent:g}): {len(missed)}, e.g. {a} on {s} (true {v:.2f})."
    return text


def predicted_vs_true_text(pred: pd.DataFrame, true: pd.DataFrame | None) -> str:
    """How intensities vary across subjects and AUs, said as what the model *predicts* against the truth (the
    errors are the model's, not facts about the faces): per AU the predicted and true mean and range; the AU the
    model under-reads most and the one it over-reads most."""
    pm, pr = pred.mean(), pred.max() - pred.min()
    if true is None:
        return (f"Predicted (no labels): across subjects {pr.idxmax()} varies most (range {pr.max():.2f}); across "
                f"AUs the model predicts {pm.idxmax()} highest on average ({pm.max():.2f}) and {pm.idxmin()} lowest "
                f"({pm.min():.2f}). Without labels these are readings, not facts about the faces.")
    tm, tr = true.mean(), true.max() - true.min()
    bias = (pm - tm).sort_values()
    per_au = "; ".join(f"{a} {pm[a]:.2f} vs {tm[a]:.2f} (range {pr[a]:.2f} vs {tr[a]:.2f})" for a in pred.columns)
    text = f"Predicted against true mean intensity per AU over the {len(pred)} subjects (and range across them): {per_au}."
    lo, hi = bias.index[0], bias.index[-1]
    if bias[lo] < 0:
        text += f" The model under-reads {lo} most ({bias[lo]:+.2f} on average)"
    if bias[hi] > 0:
        text += (" and" if bias[lo] < 0 else " The model") + f" over-reads {hi} most ({bias[hi]:+.2f})"
    text += "." if bias[lo] < 0 or bias[hi] > 0 else ""
    true_top, pred_top = tm.idxmax(), pm.idxmax()
    if true_top != pred_top:
        text += (f" So the AU the model reads strongest ({pred_top}) is not the strongest in the faces ({true_top}): "
                 "a ranking of the predictions is a statement about the model, not the faces.")
    return text


def domain_text(mean: pd.DataFrame, n: int, faces: str, model: str, training: str) -> str:
    """Q2.4's lab/wild scores: ``mean`` (index lab/wild, columns icc/mae), on ``n`` generated faces per domain
    (``faces`` names them), of ``model`` trained as ``training`` says."""
    lab, wild = mean.loc["lab"], mean.loc["wild"]
    move = "loses" if wild["icc"] < lab["icc"] else "gains"
    return (f"On {n} generated held-out faces per domain ({faces}), {model} has mean ICC(3,1) **{lab['icc']:.2f} on "
            f"lab** and **{wild['icc']:.2f} on wild** (MAE {lab['mae']:.2f} vs {wild['mae']:.2f}). It was trained on "
            f"{training}; on wild faces it {move} {abs(lab['icc'] - wild['icc']):.2f} ICC.")


# --- Q2.6-Q2.7 (new rules) ---------------------------------------------------------------------------------------

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


# --- Q2.9-Q2.11: patch attention (notebook 08) -------------------------------------------------------------------

def budget_text(budget: pd.DataFrame, skip: Sequence[str] = ("parameters", "train_seconds", "train_csv",
                                                                "init_backbone")) -> str:
    """Which training settings the two checkpoints share and which differ, read from the budget table (rows =
    settings, columns = the two models); ``skip``: rows that are outcomes, not settings, or empty."""
    a, b = budget.columns[:2]
    same, differ = [], []
    for k, row in budget.drop(index=[s for s in skip if s in budget.index]).iterrows():
        va, vb = row[a], row[b]
        if pd.isna(va) and pd.isna(vb):
            continue
        (same if str(va) == str(vb) else differ).append((k, va, vb))
    said = ("Shared by both checkpoints: " + ", ".join(f"{k} {v}" for k, v, _ in same) + "." if same else
            "The checkpoints share no training setting.")
    if differ:
        said += (f" Different ({a} / {b}): " + ", ".join(f"{k} {va} / {vb}" for k, va, vb in differ) + ".")
    return said


#: A per-AU ICC drop larger than this (on the five test subjects) is named in Q2.11.
ICC_DROP = 0.3


def largest_drop_text(table: pd.DataFrame, set_name: str, a: str = "baseline", b: str = "patch attention",
                      threshold: float = ICC_DROP) -> str:
    """The AU whose ICC falls most from variant ``a`` to ``b`` on ``set_name`` (rows of the per-AU table), named when
    the fall exceeds ``threshold``; on five faces one face can move a single AU's ICC that far."""
    t = table[(table["set"] == set_name) & (table["au"] != "mean")].pivot(index="au", columns="variant", values="icc")
    if t.empty or a not in t or b not in t:
        return ""
    drop = (t[a] - t[b]).sort_values(ascending=False)
    au, d = drop.index[0], drop.iloc[0]
    if d <= threshold:
        return f"On `{set_name}` no AU's ICC falls by more than {threshold:g} (largest: {au}, {d:+.3f})."
    return (f"On `{set_name}` {au}'s ICC falls most, {t.loc[au, a]:.3f} -> {t.loc[au, b]:.3f} (more than {threshold:g}); "
            f"this is one AU on the few faces of `{set_name}`, so it is a lead to check on the generated sets, not a "
            "finding.")


#: Attention weights whose max - min spread (over AU points and sides) is below this are "nearly uniform".
UNIFORM_SPREAD = 0.5


def attention_spread_text(weights: pd.DataFrame, spread: float = UNIFORM_SPREAD) -> str:
    """The spread of the sigmoid attention weights (columns = sides, rows = (domain, AU)) against a uniform gate:
    a spread below ``spread`` of the sigmoid's 0-1 range means the gate barely tells the patches apart, so the
    weights explain little."""
    v = weights.to_numpy(dtype=float)
    lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
    said = f"The attention weights range {lo:.2f}-{hi:.2f} (spread {hi - lo:.2f} of the sigmoid's 0-1)"
    if hi - lo < spread:
        return said + (f": below {spread:g}, so **nearly uniform**: every patch is kept at about the same weight, "
                       "and the weights say little about which region the prediction used.")
    return said + f": at least {spread:g}, so the gate separates the patches it keeps from those it mutes."


def limits_text(d_wild: float, d_nolandmarks: float, weights_spread: float, worst_au_drop: float,
                seeds_agree: bool, spread: float = UNIFORM_SPREAD, drop: float = ICC_DROP) -> str:
    """Q2.10's "how can they be addressed", one remedy per limit, each marked as shown or not shown by this run."""
    shown = lambda flag: "**shown by this run**" if flag else "not shown by this run"
    needs = d_nolandmarks < d_wild
    items = [
        f"- Landmarks at test time ({shown(needs)}: without them the wild ICC changes by {d_nolandmarks:+.3f} against "
        f"{d_wild:+.3f} with them). Address: train and test with a real landmark detector's points (or points "
        "jittered by its error) so the gate learns to tolerate them.",
        f"- Fixed patches ({shown(worst_au_drop > drop)}: largest per-AU ICC drop on `test` {worst_au_drop:+.3f}, "
        f"threshold {drop:g}). Address: learn the patch size or offset per AU, or pool at two scales.",
        f"- Coarse, nearly uniform attention ({shown(weights_spread < spread)}: weight spread {weights_spread:.2f}, "
        f"threshold {spread:g}). Address: a sparsity penalty on the weights, and a deletion test (mute the "
        "top-weighted patch, measure the drop) before reading them as an explanation.",
        f"- One training run ({shown(not seeds_agree)}: the pretraining seeds "
        f"{'agree' if seeds_agree else 'disagree'} in sign). Address: report the component over several seeds under "
        "the full recipe, not one run.",
        "- Single images and intensities, not the paper's video and occurrence (not testable here). Address: feed "
        "short clips to a temporal patch encoder, or compare on the paper's occurrence task.",
    ]
    return "**Answer.** How each limit can be addressed, and whether this run shows it:\n\n" + "\n".join(items)


def run_shows_text(d: dict, dn: dict, seed_diffs, n_eval: int) -> str:
    """Q2.9's second half: what this run shows, apart from what the paper claims. ``d`` / ``dn``: the wild bootstrap
    rows with / without landmarks (``d_icc``, ``d_icc_lo``, ``d_icc_hi``); ``seed_diffs``: per-seed wild-ICC
    differences."""
    seeds = np.asarray(list(seed_diffs), dtype=float)
    agree = len(seeds) > 1 and ((seeds > 0).all() or (seeds < 0).all())
    sure = d["d_icc_lo"] > 0 or d["d_icc_hi"] < 0
    return (f"**Answer.** What this run shows, apart from the paper's claim: on {n_eval} generated wild faces the component changes the mean ICC by {d['d_icc']:+.3f} "
            f"[{d['d_icc_lo']:+.3f}, {d['d_icc_hi']:+.3f}] ({'interval excludes 0' if sure else 'interval includes 0'}), "
            f"without landmarks by {dn['d_icc']:+.3f}; over {len(seeds)} pretraining seeds the wild difference "
            f"{'keeps its sign' if agree else 'changes sign'} ({', '.join(f'{v:+.3f}' for v in seeds)}). So this run "
            + ("supports the paper's claim of an improvement, for this synthetic intensity task." if sure and agree
               and d["d_icc"] > 0 else "does not establish the paper's claim of an improvement on this task."))


# --- provenance ----------------------------------------------------------------------------------------------------

#: Columns of every notebook's ``provenance.csv`` (collected into the answer sheet's table).
PROVENANCE_COLUMNS = ("checkpoint", "trained_by", "face_set", "n_faces", "answers")


def _init_name(init, path) -> str:
    name = Path(str(init)).name
    return f"an earlier `{name}`" if path is not None and name == Path(str(path)).name else f"`{name}`"


def provenance_row(model, face_set: str, n_faces, answers: str, trained_by: str | None = None) -> dict:
    """One row of ``provenance.csv``: the checkpoint file behind ``model``, how it was trained (from its record, or
    ``trained_by``), the face set and its size, and the questions whose numbers come from it."""
    path = getattr(model, "checkpoint_path", None)
    if trained_by is None:
        if getattr(model, "checkpoint_format", "facekit") != "facekit":
            trained_by = "the starter's own training (converted on load)"
        else:
            s = dict(getattr(model, "train_settings", {}) or {})
            cfg = getattr(model, "config", None)
            extra = [x for x, on in (("17 AUs", cfg is not None and len(getattr(cfg, "aus", ())) > 5),
                                     ("patch attention", getattr(cfg, "patch_attention", False))) if on]
            init = s.get("init")
            trained_by = ("`facekit train-fau`: " + trained_text(s) + "".join(f", {e}" for e in extra)
                          + (f", continued from {_init_name(init, path)}" if init else "")) if s else "no record"
    return {"checkpoint": Path(str(path)).name if path else "?", "trained_by": trained_by, "face_set": face_set,
            "n_faces": n_faces, "answers": answers}


# --- whole answers (the notebooks only display them) ----------------------------------------------------------------

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


def _interval(r) -> str:
    return f"{r['d_icc']:+.3f} [{r['d_icc_lo']:+.3f}, {r['d_icc_hi']:+.3f}]"


def q211_text(boot: pd.DataFrame, paired: pd.DataFrame, summary: pd.DataFrame | None, n_eval: int,
              budget: pd.DataFrame, table: pd.DataFrame, weights: pd.DataFrame, no_labels: str) -> str:
    """Q2.11 from the bootstrap table (index (set, variant)), the per-seed paired differences, the five-face
    summary (None when test/test2 have no labels), the budget, the per-AU table and the attention weights."""
    d, dl = boot.loc[("wild", "patch attention")], boot.loc[("lab", "patch attention")]
    dn = boot.loc[("wild", "patch attention, no landmarks")]
    sure = ("a real difference (the 95 % interval excludes 0)" if d["d_icc_lo"] > 0 or d["d_icc_hi"] < 0 else
            "within noise (the 95 % interval includes 0)")
    if summary is not None:
        s = lambda k, v: summary.loc[k, ("icc", v)]
        five = (f"On the five subjects of test / test2 the mean ICC goes {s('test', 'baseline'):.3f} -> "
                f"{s('test', 'patch attention'):.3f} and {s('test2', 'baseline'):.3f} -> "
                f"{s('test2', 'patch attention'):.3f}; five faces are too few to rank the models, which is ")
    else:
        five = f"On `test` / `test2`: {no_labels} (their intensities and overlays are in `visualize/`); which is "
    w = paired["wild_icc"]
    same_sign = len(paired) > 1 and (w.gt(0).all() or w.lt(0).all())
    return (f"**Answer.** With landmarks, patch attention changes the mean ICC by {_interval(dl)} on {n_eval} lab "
            f"faces and by {_interval(d)} on {n_eval} wild faces, the MAE by {dl['d_mae']:+.3f} and {d['d_mae']:+.3f}: "
            f"on wild faces this is {sure}. Without landmarks (patches at the average training positions) the wild "
            f"ICC changes by {_interval(dn)}: "
            f"{'the gain needs the landmarks' if dn['d_icc'] < d['d_icc'] else 'the landmarks add little'}. " + five
            + "why the generated sets, the bootstrap and the seed study carry the conclusion (reconciled below). "
            f"Over {len(paired)} pretraining seeds of the smaller recipe the paired wild-ICC difference is "
            f"{w.mean():+.3f} (per seed: {', '.join(f'{v:+.3f}' for v in w)}), lab {paired['lab_icc'].mean():+.3f}"
            f"{'; every seed agrees in sign' if same_sign else ''}.\n\n"
            + " ".join(reconcile_text(dom, boot.loc[(dom, "patch attention")], paired[f"{dom}_icc"])
                       for dom in ("lab", "wild"))
            + "\n\n" + budget_text(budget) + " " + largest_drop_text(table, "test") + " "
            + attention_spread_text(weights))


def q25_text(table: pd.DataFrame, m: dict, icc: dict, faces: str, five: str, all17: str, errors: dict,
             example: str, au_errors: pd.DataFrame, gap_text: str, aus: Sequence[int]) -> str:
    """Q2.5: Task 2's 5-AU route first (:func:`five_au_text`), then, labelled, the all-AU model (:func:`q5_verdict`),
    every ICC named with its faces, then the wild-gap paragraph (which names its own faces). ``m``: method names
    (keys ``mx``, ``p5``, ``t5``, ``rp17``, ``p17``, ``o17``); ``icc``: mean readout ICC per (model, domain)."""
    t = table["accuracy"].unstack("domain")
    drop = t["lab"] - t["wild"]
    a = lambda k: f"{t.loc[m[k], 'lab']:.1%} / {t.loc[m[k], 'wild']:.1%}"
    return ("**Answer.** " + five_au_text(table, m["mx"], m["p5"], aus, five) + f" The 5-AU model's mean ICC on "
            f"{faces} is {icc[('5-AU model', 'lab')]:.2f} lab / {icc[('5-AU model', 'wild')]:.2f} wild; true 5 AUs "
            f"would give {t.loc[m['t5'], 'lab']:.1%} on lab.\n\n"
            f"**Second, a different model: all 17 AUs** ({all17}, trained with lab-to-wild augmentations), on "
            f"{faces}: rules on its 17 read AUs {a('rp17')}; logistic regression on them {a('p17')}; oracle (true 17 "
            f"AUs) {a('o17')}. " + q5_verdict(table, m["mx"], [m["p17"], m["rp17"]], au_errors, oracle=m["o17"])
            + f" Its mean ICC on {faces}: {icc[('all-AU model', 'lab')]:.2f} lab / {icc[('all-AU model', 'wild')]:.2f} "
            f"wild. From lab to wild mini-Xception changes by {pp(-drop[m['mx']])}, the 17-AU pipeline by "
            f"{pp(-drop[m['p17']])}, the true-AU oracle by {pp(-drop[m['o17']])} (its input does not depend on "
            f"pixels). Most frequent wild errors: mini-Xception {errors[m['mx']]}; 17-AU pipeline {errors[m['p17']]}. "
            f"Interpretability: every AU decision is a sentence, e.g. '{example}', and the classifier's whole rule is "
            "the weight table above.\n\n" + gap_text)
