"""The answer prose of Task 2, Q2.9-Q2.11, notebook 08: patch attention under the same budget, and its limits."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


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


#: A per-AU ICC drop larger than this on the five test subjects is named in Q2.11 (one face can move an AU that far).
ICC_DROP = 0.3
#: A per-AU ICC drop larger than this on the generated evaluation sets (hundreds of faces) counts as a real cost.
ICC_DROP_GENERATED = 0.05


def au_drops(table: pd.DataFrame, sets: Sequence[str], a: str = "baseline",
             b: str = "patch attention") -> pd.Series:
    """Per-AU ICC of variant ``a`` minus variant ``b`` on each of ``sets`` (index (set, au)), largest first; empty
    when none of the sets or variants is in the per-AU table."""
    t = table[table["set"].isin(list(sets)) & (table["au"] != "mean")]
    t = t.pivot_table(index=["set", "au"], columns="variant", values="icc")
    if t.empty or a not in t or b not in t:
        return pd.Series(dtype=float)
    return (t[a] - t[b]).sort_values(ascending=False)


def largest_drop_text(table: pd.DataFrame, set_name: str, a: str = "baseline", b: str = "patch attention",
                      threshold: float = ICC_DROP, check_set: str = "lab", n_check: int | None = None) -> str:
    """The AU whose ICC falls most from variant ``a`` to ``b`` on ``set_name`` (rows of the per-AU table), named when
    the fall exceeds ``threshold``, then checked on the generated ``check_set``: the same AU falling there by more
    than :data:`ICC_DROP_GENERATED` makes it a cost of the component; otherwise it belongs to the few faces."""
    drops = au_drops(table, [set_name], a, b)
    if drops.empty:
        return ""
    (_, au), d = drops.index[0], drops.iloc[0]
    if d <= threshold:
        return f"On `{set_name}` no AU's ICC falls by more than {threshold:g} (largest: {au}, {d:+.3f})."
    icc = table.set_index(["set", "au", "variant"])["icc"]
    said = (f"On `{set_name}` {au}'s ICC falls most, {icc[(set_name, au, a)]:.3f} -> {icc[(set_name, au, b)]:.3f} "
            f"(more than {threshold:g})")
    check = au_drops(table, [check_set], a, b)
    if (check_set, au) not in check.index:
        return said + (f"; this is one AU on the few faces of `{set_name}`, so it is a lead to check on the generated "
                       "sets, not a finding.")
    dc = check[(check_set, au)]
    faces = f"the {n_check} generated {check_set} faces" if n_check else f"the generated {check_set} faces"
    moved = f"{icc[(check_set, au, a)]:.3f} -> {icc[(check_set, au, b)]:.3f}"
    if dc > ICC_DROP_GENERATED:
        return said + f"; on {faces} it falls too ({moved}): a cost of the component for {au}, not of the few faces."
    return (said + f"; on {faces} it does not ({moved}, a fall of {dc:+.3f}, within {ICC_DROP_GENERATED:g}): the "
            f"fall belongs to the few faces of `{set_name}`, where one face can move a single AU's ICC that far, not "
            "to the component.")


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
                seeds_agree: bool, spread: float = UNIFORM_SPREAD, drop: float = ICC_DROP_GENERATED,
                drop_where: str = "the generated lab and wild faces") -> str:
    """Q2.10's "how can they be addressed", one remedy per limit, each marked as shown or not shown by this run.
    ``worst_au_drop``: the largest per-AU ICC fall from baseline to component on ``drop_where`` (:func:`au_drops`)."""
    shown = lambda flag: "**shown by this run**" if flag else "not shown by this run"
    needs = d_nolandmarks < d_wild
    items = [
        f"- Landmarks at test time ({shown(needs)}: without them the wild ICC changes by {d_nolandmarks:+.3f} against "
        f"{d_wild:+.3f} with them). Address: train and test with a real landmark detector's points (or points "
        "jittered by its error) so the gate learns to tolerate them.",
        f"- Fixed patches ({shown(worst_au_drop > drop)}: largest per-AU ICC drop on {drop_where} "
        f"{worst_au_drop:+.3f}, threshold {drop:g}). Address: learn the patch size or offset per AU, or pool at two "
        "scales.",
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
            + "why the generated sets, the bootstrap and the seed study carry the conclusion (reconciled next). "
            f"Over {len(paired)} pretraining seeds of the smaller recipe the paired wild-ICC difference is "
            f"{w.mean():+.3f} (per seed: {', '.join(f'{v:+.3f}' for v in w)}), lab {paired['lab_icc'].mean():+.3f}"
            f"{'; every seed agrees in sign' if same_sign else ''}.\n\n"
            + " ".join(reconcile_text(dom, boot.loc[(dom, "patch attention")], paired[f"{dom}_icc"])
                       for dom in ("lab", "wild"))
            + "\n\n" + budget_text(budget) + " " + largest_drop_text(table, "test", n_check=n_eval) + " "
            + attention_spread_text(weights))
