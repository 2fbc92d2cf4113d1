"""Answer prose of notebook 03 (Task 1, Q1.4-Q1.5): the `test` scores, where the maps sit (the face regions of
:func:`facekit.explain.cases.face_region_masks`) and why each `test2` failure fails, as far as its map shows; the
crop and the context line every answer on a face folder starts with."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from facekit.explain.cases import FACE_REGIONS, REGION_COLUMNS, emotion_face_regions, face_region_areas
from facekit.kit_formats import checkpoint_label
from facekit import paths


#: A face region holding at least this share of a CAM's mass is where the map "mostly" sits.
MOSTLY = 0.5
#: A map is "concentrated" on a region holding more than this multiple of the region's area share (1.2: 20 % more
#: mass than a uniform map puts there).
CONCENTRATED = 1.2
#: Real photos are said to lean on what surrounds the face when their maps hold more than this (10 pp) more mass
#: outside the face than the synthetic cases' maps.
OUTSIDE_STEP = 0.1


def _shares(row) -> dict:
    return {r: float(getattr(row, c)) for r, c in zip(FACE_REGIONS, REGION_COLUMNS)}


def region_shares_text(shares: dict) -> str:
    """``"62% upper face, 20% mid face, 8% mouth, 10% outside the face"``."""
    return ", ".join(f"{v:.0%} {r}" for r, v in shares.items())


def _on(region: str) -> str:
    return region if region == "outside the face" else f"on the {region}"


def map_reason_text(true: str, pred: str, shares: dict, no_face: bool = False) -> str:
    """Why one failed face failed, as far as its CAM shows (rule over the region shares against the regions' areas,
    :func:`facekit.explain.cases.face_region_areas`): a map with :data:`MOSTLY` of its mass outside the face rests
    on no facial cue; a map that holds no region above :data:`CONCENTRATED` x its area is spread out and singles
    out no cue; otherwise the region where it is most concentrated is compared with the regions where the true and
    the predicted emotion's AUs act (:func:`facekit.explain.cases.emotion_face_regions`). A photo where no face was
    found says so first."""
    prefix = ("no face was found in this photo, so the model saw a centre crop and the regions are only those of the "
              "crop; " if no_face else "")
    if not all(math.isfinite(v) for v in shares.values()):
        return prefix + "its map is empty: no positive evidence for the predicted class at this layer"
    area = face_region_areas()
    outside = shares.get("outside the face", 0.0)
    if outside >= MOSTLY:
        return prefix + (f"the map sits mostly outside the face (background, hair: {outside:.0%} of its mass on "
                         f"{area['outside the face']:.0%} of the crop): the prediction rests on no facial cue")
    lift = {r: shares[r] / area[r] for r in shares if area.get(r, 0) > 0}
    top = max(lift, key=lift.get)
    if lift[top] <= CONCENTRATED:
        return prefix + (f"the map is spread over the crop (no region holds more than {CONCENTRATED:.1f}x its area's "
                         "share), so it singles out no cue")
    where = f"the map is most concentrated {_on(top)} ({shares[top]:.0%} of its mass on {area[top]:.0%} of the crop)"
    if top == "outside the face":
        return prefix + f"{where}: much of the evidence is not on the face"
    t_reg, p_reg = emotion_face_regions(true), emotion_face_regions(pred)
    t_on = " and ".join(map(_on, t_reg)) or "nowhere"
    if not p_reg:                                   # predicted neutral: the class without AUs
        why = (f"where {true}'s AUs act, yet the evidence there was too weak and {pred}, the class without AUs, won"
               if top in t_reg else
               f"away from where {true}'s AUs act ({t_on}), so no {true} cue was found and {pred}, the class "
               "without AUs, won")
    elif top in t_reg and top in p_reg:
        why = f"where both {true}'s and {pred}'s AUs act: it looked where the cue is and read it as {pred}"
    elif top in t_reg:
        why = f"where {true}'s AUs act, yet that evidence did not carry {true}"
    elif top in p_reg:
        why = f"where {pred}'s AUs act but {true}'s do not ({true} acts {t_on}): it read {pred} from a region that " \
              f"cannot show {true}"
    else:
        why = f"where neither {true}'s nor {pred}'s AUs act ({true} acts {t_on})"
    return prefix + f"{where}, {why}"


def _count(frame) -> str:
    return f"{int(frame['correct'].sum())} of {len(frame)}"


def scored_cases(table: pd.DataFrame) -> pd.DataFrame:
    """The rows with a true label (a face with no label is never scored as wrong), ``correct`` as bool."""
    table = table[table["correct"].notna()]
    return table.assign(correct=table["correct"].astype(bool))


def case_names(frame) -> str:
    """"face (true -> predicted), ..." for the rows of a case table."""
    return ", ".join(f"{r.face} ({r.true} -> {r.pred})" for r in frame.itertuples())


def labelled_faces_text(table, where: str = "`test`") -> str:
    """"On `test` the model gets 3 of 4 labelled faces right (...)" with every face's prediction; unlabelled faces
    are listed as "no label", and with no label at all the sentence says nothing was scored."""
    scored = table["correct"].dropna().astype(bool)
    unlabelled = int(table["correct"].isna().sum())
    faces = ", ".join(f"{r.face}: {r.pred} {r.prob:.0%}" + (" (no label)" if getattr(r, "true", None) == "no label" else "")
                      for r in table.itertuples())
    if not len(scored):
        return f"On {where} no face has a true label, so nothing is scored ({faces})."
    which = "labelled faces" if unlabelled else "faces"
    text = f"On {where} the model gets **{int(scored.sum())} of {len(scored)}** {which} right ({faces})."
    if unlabelled:
        text += f" {unlabelled} face(s) have no label and are not scored."
    return text


def test_answer_text(test_table, summary, held_accuracy: float, n_held: int, gb_shares: dict | None = None) -> str:
    """The Q1.4 answer (Markdown) from the test ``case_table``, the region-score ``summary``
    (``facekit.explain.summarize_scores``) and, when given, the mean share of guided backpropagation's magnitude per
    face region on the `test` faces (``gb_shares``, region -> share); every number is computed."""
    overall = summary[summary["emotion"] == "all"].set_index(["method", "layer"])
    base = overall.loc[("gradcam", "last_conv")]
    best = overall["region_share"].idxmax()
    per = summary[(summary["method"] == "gradcam") & (summary["layer"] == "last_conv") & (summary["emotion"] != "all")]
    per = per.dropna(subset=["region_share"])  # an emotion whose maps are all empty has no region share
    lift = (per["region_share"] - per["chance"]).to_numpy()
    text = "**Answer.** " + labelled_faces_text(test_table) + " "
    text += (
            f"On {n_held} held-out synthetic faces ({held_accuracy:.0%} correct), Grad-CAM at `last_conv` puts "
            f"**{base.region_share:.0%}** of its mass inside the true emotion's AU regions, "
            f"{'above' if base.region_share > base.chance else 'not above'} the {base.chance:.0%} a uniform map "
            f"would get; its peak lands inside them for **{base.pointing_hit:.0%}** of faces ({base.empty_cam:.0%} "
            f"of its maps are empty: no positive evidence for the true class at that layer); ROAD {base.road:+.3f}.")
    if len(per):
        top, low = per.iloc[lift.argmax()], per.iloc[lift.argmin()]
        text += (f" Per emotion it localises best for {top.emotion} ({top.region_share:.0%} vs chance "
                 f"{top.chance:.0%}) and worst for {low.emotion} ({low.region_share:.0%} vs {low.chance:.0%}).")
    text += (f" The best-localised map is **{best[0]} @ {best[1]}**: {overall.loc[best, 'region_share']:.0%} in the "
             f"regions, pointing game {overall.loc[best, 'pointing_hit']:.0%}, ROAD {overall.loc[best, 'road']:+.3f}. "
             "The `last_conv` maps are 3x3 blobs (`cam_methods_layers.png`), so they cannot separate neighbouring "
             "regions; guided backpropagation adds pixel-level detail inside them (`test/guided_gradcam.jpg`)")
    if gb_shares:
        text += f": on the `test` faces its magnitude lies {region_shares_text(gb_shares)}"
    return text + ("; whether that detail reflects the trained model or just the image is what the randomisation "
                   "check measures.")


def stress_label(why, words: int = 8) -> str:
    """A case's stress in a few words: the first clause of its ``labels.csv`` ``why`` (up to the first ``:``, ``;``
    or ``(``), at most ``words`` words; ``""`` when there is none."""
    if not isinstance(why, str) or not why.strip():
        return ""
    head = re.split(r"[:;(]", why)[0].strip().rstrip(",").split()
    return " ".join(head[:words]) + (" ..." if len(head) > words else "")


def failure_answer_text(both) -> str:
    """The Q1.5 answer (Markdown) from the test2 case tables of both models (``case_table`` rows, models
    ``synthetic`` and ``real-FER2013``).

    Rules: a failure's "why" is read from its map (:func:`map_reason_text` over the face-region shares), and a
    photo where no face was found says so; a case's stress (the ``why`` of its ``labels.csv`` row) is blamed only
    when the synthetic-data model got it *wrong*, cases it got right are listed as handled. Between the two models
    on the real photos an accuracy gap is claimed only when they get a different number right; otherwise the answer
    compares their confidence (mean top probability)."""
    both = scored_cases(both)
    syn = both[both["model"] == "synthetic"]
    folder, real = syn[syn["kind"] == "folder"], both[both["kind"] == "real photo"]
    failed, handled = folder[~folder["correct"]], folder[folder["correct"]]
    case = lambda r: f"case: {stress_label(getattr(r, 'stress', ''))}; " if stress_label(  # noqa: E731
        getattr(r, "stress", "")) else ""
    parts = [f"**Answer.** On the wild synthetic cases the synthetic-data model gets **{_count(folder)}** right."]
    if len(failed):
        parts.append("It fails on " + "; ".join(
            f"**{r.face}** ({case(r)}true {r.true}, predicted {r.pred} at {r.prob:.0%}, true class {r.p_true:.0%}; "
            f"CAM {region_shares_text(_shares(r))}): {map_reason_text(r.true, r.pred, _shares(r), r.no_face_found)}"
            for r in failed.itertuples()) + ".")
    else:
        parts.append("It fails on none of them.")
    if len(handled):
        parts.append("It gets right " + "; ".join(f"{r.face} ({case(r)}{r.pred} at {r.prob:.0%})"
                                                 for r in handled.itertuples())
                     + ": those stresses do not explain a failure in this run.")
    if len(failed) and len(handled):
        up_fail, up_ok = failed["share_upper_face"].mean(), handled["share_upper_face"].mean()
        parts.append(f"Its CAM puts {up_fail:.0%} of its mass on the upper face when it fails and {up_ok:.0%} when it "
                     f"is right" + (" (no clear difference: the map's position does not separate failures from "
                                    "successes here)." if abs(up_fail - up_ok) < 0.1 else "."))
    if len(real):
        parts += _real_photos_text(both, folder)
    parts.append("\n\nWhat to look at: `test2/guided_gradcam.jpg`, each failed row against its CAM shares in this "
                 "answer (the face regions are `facekit.explain.cases.FACE_LAYOUT`); the maps show where the evidence "
                 "was taken from, not why it was weighed as it was.")
    return " ".join(parts)


def _real_photos_text(both, folder) -> list[str]:
    real = both[both["kind"] == "real photo"]
    by = {m: g for m, g in real.groupby("model")}
    syn_r, fer_r = by.get("synthetic"), by.get("real-FER2013")
    parts = []
    if syn_r is not None and fer_r is not None:
        k_syn, k_fer = int(syn_r["correct"].sum()), int(fer_r["correct"].sum())
        conf_syn, conf_fer = syn_r["prob"].mean(), fer_r["prob"].mean()
        if k_syn == k_fer:
            who = "more" if conf_fer > conf_syn else "less"
            parts.append(f"On the {len(syn_r)} real photos both models get **{k_syn} of {len(syn_r)}** right: "
                         f"no accuracy gap between them; the real-FER2013 model is only {who} confident (mean "
                         f"top probability {conf_fer:.0%} vs {conf_syn:.0%}).")
        else:
            better = "real-FER2013" if k_fer > k_syn else "synthetic-data"
            parts.append(f"On the {len(syn_r)} real photos the real-FER2013 model gets {k_fer} right and the "
                         f"synthetic-data model {k_syn}: the {better} model is ahead by {abs(k_fer - k_syn)} "
                         f"photo(s) (mean top probability {conf_fer:.0%} vs {conf_syn:.0%}); with "
                         f"{len(syn_r)} photos one face is {1 / len(syn_r):.0%}, so this is a hint, not a measured gap.")
    wrong = real[(real["model"] == "synthetic") & ~real["correct"]]
    if len(wrong):
        parts.append("The synthetic-data model misreads " + "; ".join(
            f"{r.face} (true {r.true} -> {r.pred}; CAM {region_shares_text(_shares(r))}: "
            f"{map_reason_text(r.true, r.pred, _shares(r), r.no_face_found)})" for r in wrong.itertuples()) + ".")
        out_real, out_syn = wrong["share_outside_the_face"].mean(), folder["share_outside_the_face"].mean()
        parts.append(f"On those photos {out_real:.0%} of the map lies outside the face, against {out_syn:.0%} on the "
                     "wild synthetic cases" + (": on real photos the model leans more on what surrounds the face."
                                               if out_real - out_syn > OUTSIDE_STEP else
                                               f" (within {OUTSIDE_STEP * 100:.0f} pp), so where the map looks does "
                                               "not explain these misreads; compare the rows of "
                                               "`test2/guided_gradcam.jpg`."))
    fer_folder = both[(both["model"] == "real-FER2013") & (both["kind"] == "folder")]
    if len(fer_folder):
        parts.append(f"The real-FER2013 model gets {_count(fer_folder)} of the wild synthetic cases right"
                     + (": it never saw the synthetic faces' look." if fer_folder["correct"].mean() < 0.5 else "."))
    return parts


def crop_choice_text(table, chosen: str) -> str:
    """What CROP changes, from :func:`crop_comparison`'s table: the pixel difference, how many predictions differ,
    and the score of each crop on the labelled faces (a difference is claimed only when the counts differ)."""
    diff = table["grey_level_diff"]
    changed = table[table["pred_facekit"] != table["pred_starter"]]
    labelled = table[table["true"] != "no label"]
    right = {c: int((labelled[f"pred_{c}"] == labelled["true"]).sum()) for c in ("facekit", "starter")}
    text = (f"**What `CROP` changes** (this run uses `{chosen}`). The two crops of the same {len(table)} files differ "
            f"by {diff.mean():.0f} grey levels on average ({diff.min():.0f}-{diff.max():.0f} per face). ")
    if len(changed):
        text += (f"{len(changed)} of {len(table)} predictions change: " + ", ".join(
            f"{r.face} {r.pred_facekit} {r.prob_facekit:.0%} (facekit) vs {r.pred_starter} {r.prob_starter:.0%} "
            f"(starter)" for r in changed.itertuples()) + ". ")
    else:
        text += f"No prediction changes (the crops move the probabilities by up to " \
                f"{(table['prob_facekit'] - table['prob_starter']).abs().max():.0%}). "
    if len(labelled):
        if right["facekit"] == right["starter"]:
            text += f"Both crops get {right['facekit']} of {len(labelled)} labelled faces right."
        else:
            better = max(right, key=right.get)
            text += (f"On the {len(labelled)} labelled faces the facekit crop gets {right['facekit']} right and the "
                     f"starter crop {right['starter']}: the {better} crop matches this model better here (a model "
                     "trained on one crop expects its framing and grey conversion).")
    return text


def model_label(model, name) -> str:
    """How an answer names a model: the checkpoint (file name) and its format (:func:`facekit.kit_formats.checkpoint_label`)."""
    return checkpoint_label(model, name)


def folder_label(folder, which: str) -> str:
    """How an answer names a face folder, and whether it holds the shipped synthetic faces or the user's images."""
    if folder is None or Path(folder).resolve() == paths.data_dir(which).resolve():
        return f"`data/{which}/` (the shipped **synthetic** faces facekit renders; your photos plug in the same way)"
    return f"`{folder}` (your folder: real images)"


def context_text(model, name, folder, which: str, crops) -> str:
    """One line that every Task 1 answer on a face folder starts with: which model, which folder, which crop, and
    where the labels came from."""
    labels = {"labels.csv": "labels from labels.csv", "file names": "labels from the file names",
              "none": "no labels"}[getattr(crops, "label_source", "labels.csv")]
    return (f"*Model {model_label(model, name)}; faces from {folder_label(folder, which)}, "
            f"`{getattr(crops, 'crop', 'facekit')}` crop, {labels}.*")
