"""Answer prose of notebook 04 (Task 1, Q1.6-Q1.7): which explainer the maps use, why the method (tied to what
Q1.5 found), and the before / after against the control run, the seeds, the label noise and the `test2` failures."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from facekit.answer_rules import pp, versus_control_text
from facekit.emotion.answers.gradcam import case_names, scored_cases
from facekit.emotion.imbalance import METHODS, class_weights
from facekit.emotion.metrics import wilson_interval

def explainer_note(choice: dict, n_per_class: int) -> str:
    """Which explainer notebook 04's guided Grad-CAM rows use: notebook 03's choice, by the same rule and seed
    (``facekit.explain.sanity.resolve_explainer``), or the ``EXPLAINER`` parameter."""
    name = f"**{choice['method']} @ {choice['layer']}**"
    if choice.get("by") == "parameter":
        return f"*Maps: {name}, set by the `EXPLAINER` parameter.*"
    return (f"*Maps: {name}, notebook 03's explainer (chosen by the same rule: best {choice['by'].replace('_', ' ')} "
            f"on {n_per_class} generated validation faces per emotion, {choice['score']:.0%}).*")



#: A class with fewer training faces than this share of the mean class count is *rare* (FER2013: disgust only).
RARE_SHARE = 0.5
#: A per-class recall change smaller than this (2 points) is not called a gain or a cost.
RECALL_STEP = 0.02

#: What each method does (its mechanism, independent of any run's numbers); the run's reason follows it.
METHOD_REASONS: dict[str, str] = {
    "reweight": ("it changes only the loss: each disgust face counts {ratio:.0f}x as much as a happy face, and it is "
                 "the easiest fix to compare with a control run"),
    "finetune": ("a balanced sampler shows every class equally often while the frozen early blocks keep the features "
                 "learnt on all faces, so the few disgust faces ({n_disgust:,}) adapt only the top of the network"),
    "transfer": ("it starts from the real-FER2013 weights, whose features were learnt from real faces and far more "
                 "examples than our {n_disgust:,} disgust faces"),
}


def rare_classes(train_counts: pd.Series, share: float = RARE_SHARE) -> list[str]:
    """The classes with fewer than ``share`` x the mean class count of training faces."""
    return [c for c, n in train_counts.items() if n < share * train_counts.mean()]


def q15_link_text(method: str, cases: pd.DataFrame, rare: list[str]) -> str:
    """Why ``method`` fits what Q1.5 found (rule over the synthetic-data model's `test2` case table, ``cases``): how
    many failures are rare-class faces and how many real photos; reweight / finetune address the former, transfer
    the latter, and the text says which failures the method is not expected to change."""
    scored = scored_cases(cases)
    failed = scored[~scored["correct"]]
    if not len(failed):
        return (f"Q1.5 found no `test2` failure, so no case there motivates {method}; the reason is the per-class "
                "recall of Q1.3.")
    rare_f, other_f = failed[failed["true"].isin(rare)], failed[~failed["true"].isin(rare)]
    text = (f"Q1.5 found {len(failed)} of {len(scored)} `test2` faces wrong, {len(rare_f)} of them on a rare class "
            f"({', '.join(rare) or 'none'})" + (f": {case_names(rare_f)}" if len(rare_f) else ""))
    if method == "transfer":
        real = failed[failed["kind"] == "real photo"]
        return text + (f"; {len(real)} failures are real photos ({case_names(real)}), which a start from real-face "
                       "features targets." if len(real) else
                       "; none is a real photo, so transfer is not chosen for these failures but for the rare "
                       "classes' recall (Q1.3).")
    if len(rare_f):
        return text + (f"; {method} targets those" + (f", while the {len(other_f)} common-class failures "
                                                      f"({case_names(other_f)}) are not imbalance and no re-balancing is "
                                                      "expected to fix them." if len(other_f) else "."))
    return text + (f"; none is a rare class, so {method} is not expected to fix them: it is chosen for the rare "
                   "classes' recall (Q1.3), not for these cases.")


def method_answer_text(method: str, counts: pd.DataFrame, control: bool, cases: pd.DataFrame | None = None) -> str:
    """The Q1.6 answer (Markdown): which method this run uses, what it does, with the class counts that motivate
    it, why it fits Q1.5's failures (:func:`q15_link_text`, when ``cases`` is given), and where the run tests the
    choice (the control run, when there is one)."""
    if method not in METHODS:
        raise ValueError(f"METHOD must be one of {', '.join(METHODS)}, got {method!r}.")
    train = counts["Training"]
    weights = class_weights(torch.as_tensor(np.repeat(np.arange(len(train)), train.to_numpy().astype(int))))
    w = dict(zip(train.index, weights.tolist()))
    ratio = w.get("disgust", float("nan")) / w.get("happy", float("nan"))
    what = METHOD_REASONS[method].format(ratio=ratio, n_disgust=int(train.get("disgust", 0)))
    text = (f"**Answer.** This run uses **{method}** (`METHOD = \"{method}\"`; the others are one parameter away). "
            f"The training split holds {int(train.max()):,} {train.idxmax()} but only {int(train.min()):,} "
            f"{train.idxmin()} faces. What {method} does: {what}.")
    if cases is not None:
        text += " Why here: " + q15_link_text(method, cases, rare_classes(train))
    if control:
        text += (" Whether the choice was right is measured in Q1.7 against a control run with the same start and "
                 "schedule but no fix; only the difference after - control is credited to the method.")
    else:
        text += " `CONTROL = False`: without the control run, Q1.7 cannot separate the fix from simply training longer."
    return text


def fix_kind(d_recall: float, d_macro_f1: float, step: float = 0.005) -> str:
    """The rule behind :func:`fix_verdict`: ``"supported"`` when the fix's own effect (after - control) raises
    disgust recall and macro-F1 (by more than ``step``), ``"not supported"`` when macro-F1 falls by more than
    ``step``, else ``"mixed"``."""
    if d_recall > 0 and d_macro_f1 > step:
        return "supported"
    if d_macro_f1 < -step:
        return "not supported"
    return "mixed"


def fix_verdict(d_recall: float, d_macro_f1: float, method: str, step: float = 0.005) -> str:
    """Whether this run supports the choice of ``method`` (Q1.6), in words (:func:`fix_kind`)."""
    kind = fix_kind(d_recall, d_macro_f1, step)
    if kind == "supported":
        return (f"So the choice of {method} is **supported** by this run: the rare class gains and the macro "
                "average gains with it, beyond what the same training without the fix does.")
    if kind == "not supported":
        trade = (f" while disgust recall rises ({pp(d_recall)}): the fix buys the rare class with the others"
                 if d_recall > 0 else "")
        return (f"So this run does **not support** {method}: against the control the macro-F1 falls"
                f"{trade}; try another METHOD.")
    return (f"So the evidence for {method} is **mixed**: disgust recall {pp(d_recall)} and macro-F1 "
            f"{d_macro_f1:+.3f} against the control.")


def spread_verdict(spread: pd.DataFrame, method: str, step: float = 0.005) -> str:
    """:func:`fix_verdict` over seeds: the verdict of every seed's (``d_recall``, ``d_macro_f1``); when all seeds
    give the same one it stands, with the range of the effects; otherwise the evidence is mixed because the seeds
    disagree. One seed cannot carry a conclusion that the next seed reverses."""
    if spread.empty:
        return ""
    kinds = {fix_kind(r.d_recall, r.d_macro_f1, step) for r in spread.itertuples()}
    seeds = ", ".join(str(int(x)) for x in spread["seed"])
    rng = (f"disgust recall {pp(spread['d_recall'].min())} to {pp(spread['d_recall'].max())} and macro-F1 "
           f"{spread['d_macro_f1'].min():+.3f} to {spread['d_macro_f1'].max():+.3f} against the control")
    if len(spread) == 1:
        return f"With one seed ({seeds}) the fix's effect is {rng}; the spread over seeds is unknown."
    if len(kinds) > 1:
        return (f"Over seeds {seeds} the fix's effect is {rng}: the seeds **disagree** "
                f"({', '.join(sorted(kinds))}), so the evidence for {method} is mixed.")
    kind = kinds.pop()
    word = {"supported": "**supported** in every seed", "not supported": "**not supported** in any seed",
            "mixed": "**mixed** in every seed"}[kind]
    trade = (": disgust recall rises in every seed, but the fix buys it with the other classes"
             if kind == "not supported" and (spread["d_recall"] > 0).all() else "")
    return f"Over seeds {seeds} the fix's effect is {rng}: {method} is {word}{trade}."


def recall_shift_text(table: pd.DataFrame, step: float = RECALL_STEP) -> str:
    """Which classes gained and which paid: per-class recall after vs the reference (the control run when the
    table has one, so the effect of the fix itself; else before). Changes within ``step`` are called unchanged."""
    rows = [r for r in table.index if r.startswith("recall ")]
    if not rows:
        return ""
    ref = "control" if "control" in table else "before"
    delta = (table.loc[rows, "after"] - table.loc[rows, ref]).astype(float)
    delta.index = [r.removeprefix("recall ") for r in rows]
    fmt = lambda names: ", ".join(  # noqa: E731
        f"{n} ({table.loc['recall ' + n, ref]:.0%} -> {table.loc['recall ' + n, 'after']:.0%})" for n in names)
    gained = delta[delta > step].sort_values(ascending=False).index.tolist()
    paid = delta[delta < -step].sort_values().index.tolist()
    against = "the control run" if ref == "control" else "the model before"
    text = f"Per class, against {against}: "
    text += (f"recall rose for {fmt(gained)}" if gained else "no class gained more than "
             f"{step * 100:.0f} points of recall")
    text += (f"; the classes that paid for it are {fmt(paid)}." if paid else
             f"; no class lost more than {step * 100:.0f} points, so no class paid for the fix.")
    return text


def _pct(value: float) -> str:
    return "n/a (no face called disgust)" if not np.isfinite(value) else f"{value:.1%}"


def label_noise_text(noise: dict | None, method: str, rare: list[str]) -> str:
    """The label noise of the training split (:func:`facekit.emotion.imbalance.label_noise`) in one or two
    sentences, with the rare classes' own noise; ``""`` when the data record no clean emotion (real FER2013)."""
    if not noise:
        return ""
    swaps = ", ".join(f"{c} faces labelled {l} ({n})" for (c, l), n in noise["pairs"].head(3).items())
    text = (f"{noise['rate']:.0%} of the {noise['n']:,} training labels differ from the emotion the face was rendered "
            f"with (the generator's annotator noise)" + (f"; the most frequent swaps are {swaps}" if swaps else ""))
    noisy_rare = [c for c in rare if noise["into"].get(c, 0) > noise["rate"]]
    if noisy_rare:
        text += ("; of the faces labelled " + ", ".join(f"{c}, {noise['into'][c]:.0%} show another emotion"
                                                        for c in noisy_rare)
                 + " (more than the average)")
    if method in ("reweight", "finetune"):
        text += ". Re-balancing by label gives a rare class's wrong labels the same extra weight as its right ones"
    return text + "."


def test2_reason_text(cases: pd.DataFrame, rare: list[str]) -> str:
    """Which `test2` faces still fail after the fix, which it turned right or wrong, and whether the remaining
    failures are rare-class faces (which re-balancing can reach) or not (rule: the larger group names the
    conclusion); from the ``case_table`` rows of the models ``before`` and ``after``."""
    if not {"face", "true", "model", "correct"} <= set(cases.columns):
        return ""
    scored = scored_cases(cases)
    before = scored[scored["model"] == "before"].set_index("face")["correct"]
    after = scored[scored["model"] == "after"]
    if not len(after):
        return ""
    failed = after[~after["correct"]]
    a = after.set_index("face")["correct"]
    fixed = [f for f in a.index if f in before.index and a[f] and not before[f]]
    broken = [f for f in a.index if f in before.index and not a[f] and before[f]]
    text = f"After the fix {len(failed)} of {len(after)} `test2` faces are still wrong"
    if len(failed):
        rare_f, other_f = failed[failed["true"].isin(rare)], failed[~failed["true"].isin(rare)]
        text += (f": {len(rare_f)} on a rare class ({', '.join(rare) or 'none'})"
                 + (f" ({case_names(rare_f)})" if len(rare_f) else "")
                 + f" and {len(other_f)} on common classes" + (f" ({case_names(other_f)})" if len(other_f) else ""))
        text += (", so most remaining failures are not imbalance and re-balancing cannot reach them (each case's "
                 "stress: the `stress` column of `test2_before_after.csv`)" if len(other_f) > len(rare_f) else
                 ", so the remaining failures are mostly the rare classes the fix targets: it did not reach them")
    moved = ([f"{', '.join(fixed)} right"] if fixed else []) + ([f"{', '.join(broken)} wrong"] if broken else [])
    return text + (f". The fix turned {' and '.join(moved)}." if moved else "; the fix changed no face from wrong to "
                                                                            "right or back.")


def before_after_text(table: pd.DataFrame, counts: pd.DataFrame, cases: pd.DataFrame, method: str,
                      train_fraction: float, epochs: int, spread: pd.DataFrame | None = None,
                      noise: dict | None = None, synthetic: bool = True) -> str:
    """The Q1.7 answer (Markdown) with every number taken from the before/after ``table``, the class ``counts``
    (``FaceSet.class_counts()``), the test2 ``cases`` table (:func:`facekit.explain.cases.case_table` rows of the
    models before / after / control), when given the :func:`facekit.emotion.imbalance.seed_spread` table (its
    verdict replaces the one-seed verdict) and the training split's label ``noise``."""
    t = table
    p = float(t.loc["recall disgust", "after"])
    n_private = int(counts.loc["disgust", "PrivateTest"])
    n_train = int(counts.loc["disgust", "Training"])
    rare = rare_classes(counts["Training"])
    lo, hi = wilson_interval(round(p * n_private), n_private)
    acc2 = cases.groupby("model")["correct"].mean()
    control = "control" in t
    ref = lambda row: float(t.loc[row, "control"]) if control else None  # noqa: E731
    text = (f"**Answer.** With **{method}**, the model calls "
            f"{int(t.loc['predicted disgust', 'before'])} -> {int(t.loc['predicted disgust', 'after'])} private faces "
            f"disgust (precision {_pct(t.loc['precision disgust', 'before'])} -> "
            f"{_pct(t.loc['precision disgust', 'after'])}); macro-F1 {t.loc['macro-F1', 'before']:.3f} -> "
            f"{t.loc['macro-F1', 'after']:.3f}; balanced accuracy {_pct(t.loc['balanced accuracy', 'before'])} -> "
            f"{_pct(t.loc['balanced accuracy', 'after'])}. "
            + versus_control_text("Disgust recall", t.loc["recall disgust", "before"], p, ref("recall disgust"))
            + " " + versus_control_text("Private-test accuracy", t.loc["private accuracy", "before"],
                                        t.loc["private accuracy", "after"], ref("private accuracy")))
    if control:
        text += (f" The control run (same start and schedule, no fix) reaches disgust recall "
                 f"{_pct(t.loc['recall disgust', 'control'])} and macro-F1 {t.loc['macro-F1', 'control']:.3f}: the "
                 f"fix itself accounts for {pp(p - t.loc['recall disgust', 'control'])} disgust recall and "
                 f"{t.loc['macro-F1', 'after'] - t.loc['macro-F1', 'control']:+.3f} macro-F1. "
                 + (fix_verdict(t.loc["recall disgust", "after"] - t.loc["recall disgust", "control"],
                                t.loc["macro-F1", "after"] - t.loc["macro-F1", "control"], method)
                    if spread is None or len(spread) < 2 else spread_verdict(spread, method)))
    if int(t.loc["predicted disgust", "after"]) == 0:
        text += (" The retrained model still never predicts disgust: for this start and schedule the fix is too weak "
                 "(more epochs or a larger `TRAIN_FRACTION`, a higher learning rate `LR`, or "
                 "`METHOD = \"finetune\"`, whose balanced sampler shows disgust in every batch).")
    text += " " + recall_shift_text(t)
    text += (" " + versus_control_text("On `test2`, the share of faces right", acc2.get("before", float("nan")),
                                       acc2.get("after", float("nan")), acc2.get("control"), digits=0)
             + " " + test2_reason_text(cases, rare) + "\n\n"
             f"**Limitations.** The private set holds only {n_private} disgust faces, so a disgust recall of {p:.1%} "
             f"is known only to within a 95 % interval of {lo:.0%}-{hi:.0%}: differences of a few points are noise "
             + ("(one seed, one run). " if spread is None or len(spread) < 2 else
                f"(and {len(spread)} seeds give disgust recalls from {spread['after_recall_disgust'].min():.0%} to "
                f"{spread['after_recall_disgust'].max():.0%}). ")
             + (label_noise_text(noise, method, rare) + " " if noise else "")
             + f"Retraining used {train_fraction:.0%} of the Training split ({round(n_train * train_fraction)} disgust "
             f"faces) for {epochs} epoch(s)"
             + (" on **synthetic** faces, so the size of the effect need not carry over to real FER2013." if synthetic
                else " of real FER2013."))
    return text
