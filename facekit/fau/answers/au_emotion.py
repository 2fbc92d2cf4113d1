"""The answer prose of Task 2, Q2.5, notebook 06: AUs against the direct classifier."""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from facekit.answer_rules import pp
from facekit.fau.au_emotion import (
    EMFACS_PROTOTYPES,
    compare_to_direct,
)
from facekit.fau.robustness import ALL_NUISANCE, AUGMENTED, LAB, WILD


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
            "one weight per AU and emotion (`weights_predicted_17_aus.csv`).\n\n" + gap_text)
