"""The README's "Results of the full run" table, generated from the ``metrics.json`` files a full run wrote.

``facekit results-table`` prints it; ``--write README.md`` replaces the rows between the ``<!-- results:begin -->``
and ``<!-- results:end -->`` markers (atomically; nothing else in the file changes). ``make workbook`` runs it after
the notebooks, so the README's numbers always come from the run whose figures sit in ``figures/``.
"""
from __future__ import annotations

import json
from pathlib import Path

from facekit.io import atomic_write_text

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * float(v):.1f} %"


def _load(figures: Path) -> dict[str, dict]:
    out = {}
    for path in sorted(Path(figures).glob("*/metrics.json")):
        try:
            out[path.parent.name] = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc}); rerun that notebook (facekit run "
                             f"{path.parent.name}).") from None
    return out


def _ci(m: dict, key: str) -> str:
    return f"{_pct(m[f'{key}_accuracy'])} [{100 * m[f'{key}_acc_lo']:.0f}, {100 * m[f'{key}_acc_hi']:.0f}]"


def _rows_01(r: dict) -> list[tuple[str, str]]:
    """01_data: the judge on the synthetic faces and the real smile check."""
    rows: list[tuple[str, str]] = []
    rows.append((f"synthetic faces: the real-FER2013 model (judge) on {7 * r['n_per_class']} balanced `lab` faces "
                 f"(generator v{r['generator_version']})",
                 f"accuracy {_pct(r['judge_lab_accuracy'])}, balanced {_pct(r['judge_lab_balanced_accuracy'])} "
                 f"(at intensity C+ {_pct(r['judge_lab_balanced_accuracy_C_plus'])}), most predicted "
                 f"{r['judge_lab_most_predicted']} {_pct(r['judge_lab_max_class_share'])}; `wild` balanced "
                 f"{_pct(r['judge_wild_balanced_accuracy'])}; AU points inside the 128 px frame: lab "
                 f"{_pct(r['au_points_inside_lab_128'])}, wild {_pct(r['au_points_inside_wild_128'])}"))
    if "real_smiles_judge_happy_on_smiles" in r:
        rows.append(("real LFW faces (36 smiling, 45 expressionless; coded by eye): called happy / neutral",
                     "; ".join(f"{who} {_pct(r[f'real_smiles_{key}_happy_on_smiles'])} of smiles happy, "
                               f"{_pct(r[f'real_smiles_{key}_neutral_on_neutral'])} of expressionless neutral, "
                               f"{_pct(r[f'real_smiles_{key}_happy_on_neutral'])} of them happy"
                               for who, key in (("judge", "judge"), ("shipped synthetic-trained model", "shipped"))
                               if f"real_smiles_{key}_happy_on_smiles" in r)))
    return rows


def _rows_02(m: dict) -> list[tuple[str, str]]:
    """02: Task 1 training."""
    rows: list[tuple[str, str]] = []
    rows.append((f"Task 1, mini-Xception ({m['n_params']:,} parameters), {m['epochs']} epochs, {m['schedule']} "
                 "schedule",
                 f"train {_pct(m['train_acc'])}, PublicTest {_pct(m['public_acc'])}, PrivateTest "
                 f"{_pct(m['private_acc'])} (loss {m['private_loss']:.3f}), macro-F1 {m['macro_f1']:.2f}, balanced "
                 f"accuracy {m['balanced_accuracy']:.2f}, disgust recall {_pct(m['disgust_recall'])}; last "
                 f"{m['last_epochs_window']} epochs' PrivateTest spread {100 * m['last_epochs_private_spread']:.1f} "
                 f"points; picked by PublicTest: epoch {m['picked_epoch']} ({_pct(m['picked_private_acc'])}); "
                 f"Keras-momentum bug setting {_pct(m['keras_bn_bug_private_acc'])}"))
    rows.append(("Task 1 training speed / wall time",
                 f"{m['train_img_per_s']:,.0f} img/s, {m['wall_s']:,.0f} s for {m['epochs']} epochs including "
                 "evaluation"))
    return rows


def _rows_03(m: dict) -> list[tuple[str, str]]:
    """03: guided Grad-CAM, the randomisation check, test/test2."""
    rows: list[tuple[str, str]] = []
    shares = "; ".join(f"{k} {_pct(v)} (pointing game {_pct(m['pointing_game'][k])})"
                       for k, v in m["region_share"].items())
    rows.append((f"guided Grad-CAM: share of CAM mass in the emotion's AU regions (chance "
                 f"{_pct(m['chance_region_share'])})",
                 f"{shares}; explainer chosen on validation faces: {m['explainer']} "
                 f"({_pct(m['explainer_validation_score'])})"))
    rows.append(("model-randomisation check (Spearman rank correlation with the trained model's maps; top 2 / all "
                 "layers randomised)",
                 f"guided backprop {m['randomisation_top2_gb_rank_corr']:.2f} / "
                 f"{m['randomisation_all_gb_rank_corr']:.2f}; {m['explainer']} "
                 f"{m['randomisation_top2_cam_rank_corr']:.2f} / {m['randomisation_all_cam_rank_corr']:.2f}"))
    t2 = m["test2_accuracy"]
    rows.append(("`test` / `test2`",
                 f"{_pct(m['test_accuracy'])} of `test`; `test2` (wild faces + real photos): synthetic-data model "
                 f"{_pct(t2.get('synthetic'))}, real-FER2013 model {_pct(t2.get('real-FER2013'))}; held-out "
                 f"generated faces {_pct(m['held_out_accuracy'])}"))
    return rows


def _rows_04(m: dict) -> list[tuple[str, str]]:
    """04: the imbalance experiment."""
    rows: list[tuple[str, str]] = []
    b, a, c = m["before"], m["after"], m["control"]
    rows.append((f"class imbalance: {m['method']} ({m['epochs']} epochs on {m['train_fraction']:.0%} of Training, "
                 "against a control run)",
                 f"disgust recall {_pct(b['recall disgust'])} -> {_pct(a['recall disgust'])} (control "
                 f"{_pct(c['recall disgust'])}), macro-F1 {b['macro-F1']:.2f} -> {a['macro-F1']:.2f} (control "
                 f"{c['macro-F1']:.2f}), private accuracy {_pct(b['private accuracy'])} -> "
                 f"{_pct(a['private accuracy'])} (control {_pct(c['private accuracy'])})"
                 + _spread_text(m.get("seed_spread"))))
    return rows


def _rows_05(m: dict) -> list[tuple[str, str]]:
    """05: the FAU model per domain."""
    rows: list[tuple[str, str]] = []
    per = ", ".join(f"AU{a} {m[f'lab_icc_AU{a}']:.2f}" for a in (6, 10, 12, 14, 17))
    rows.append((f"Task 2, FAU heatmap model ({m['params_default'] / 1e6:.2f} M parameters, "
                 f"{m['checkpoint_mb']:.1f} MB), {m['n_eval']} faces per domain",
                 f"mean ICC(3,1) lab {m['lab_icc']:.2f} ({per}), wild {m['wild_icc']:.2f}"))
    return rows


def _rows_06(m: dict) -> list[tuple[str, str]]:
    """06: emotions from AUs versus direct, the wild gap."""
    rows: list[tuple[str, str]] = []
    rows.append(("Q5: emotions, lab / wild (95 % intervals)",
                 f"mini-Xception {_ci(m, 'minixception_lab')} / {_ci(m, 'minixception_wild')}; logistic on 17 "
                 f"predicted AUs {_ci(m, 'au_pred17_lab')} / {_ci(m, 'au_pred17_wild')}; on 5 predicted AUs "
                 f"{_ci(m, 'au_pred5_lab')} / {_ci(m, 'au_pred5_wild')}; on the 17 true AUs "
                 f"{_ci(m, 'au_true17_lab')} / {_ci(m, 'au_true17_wild')}; all-AU model ICC lab "
                 f"{m['fau_all_icc_lab']:.2f}, wild {m['fau_all_icc_wild']:.2f}"))
    gap = {k.removeprefix("wild_gap_allau_"): v for k, v in m.items() if k.startswith("wild_gap_allau_")}
    if gap:
        traits = sorted(((k.removeprefix("wild_").removesuffix("_as_lab"), v - gap["wild"]) for k, v in gap.items()
                         if k.endswith("_as_lab") and not k.startswith("wild_every")), key=lambda kv: -kv[1])
        rows.append(("where the all-AU model's wild gap comes from (mean ICC; one wild trait drawn from lab's "
                     "ranges)",
                     f"lab {gap['lab']:.2f}, wild {gap['wild']:.2f}; "
                     + ", ".join(f"{k} {v:+.2f}" for k, v in traits[:3])
                     + f"; every nuisance trait {gap['wild_every_nuisance_trait_as_lab'] - gap['wild']:+.2f}; lab "
                     f"faces through the training augmentation {gap['lab_through_wild_augment']:.2f}"))
    return rows


def _rows_07(m: dict) -> list[tuple[str, str]]:
    """07: few-shot tuning."""
    rows: list[tuple[str, str]] = []
    rows.append((f"few-shot tuning on {m['n_fewshot_faces']} wild faces ({len(m['seeds'])} seeds, robust 5-AU "
                 "model)",
                 f"wild ICC {m['wild_icc_before']:.3f} -> {m['wild_icc_after_mean']:.3f} +- "
                 f"{m['wild_icc_after_std']:.3f}; `test2` {m['test2_icc_before']:.3f} -> "
                 f"{m['test2_icc_after_mean']:.3f} +- {m['test2_icc_after_std']:.3f}; lab `test` "
                 f"{m['test_icc_before']:.3f} -> {m['test_icc_after_mean']:.3f}"))
    return rows


def _rows_08(m: dict) -> list[tuple[str, str]]:
    """08: patch attention."""
    rows: list[tuple[str, str]] = []
    rows.append(("patch attention vs plain ResNet (same budget)",
                 f"lab ICC {m['lab_icc_baseline']:.3f} -> {m['lab_icc_patch_attention']:.3f} (95 % interval of "
                 f"the gain {m['lab_patch_attention_d_icc_lo']:+.3f} to {m['lab_patch_attention_d_icc_hi']:+.3f}); "
                 f"{m['n_seeds']}-seed study: mean lab gain {m['seed_lab_icc_diff_mean']:+.3f}, wild "
                 f"{m['seed_wild_icc_diff_mean']:+.3f}"))
    return rows


def _rows_09(m: dict) -> list[tuple[str, str]]:
    """09: the playground's latency."""
    rows: list[tuple[str, str]] = []
    rows.append(("playground: one slider move (render + both models + Grad-CAM + redraw)",
                 f"median {m['latency_median_ms']:.0f} ms, max {m['latency_max_ms']:.0f} ms over "
                 f"{m['latency_moves']} moves"))
    return rows


def _rows(mx: dict[str, dict]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if part := mx.get("01_data", {}).get("realism"):
        rows += _rows_01(part)
    if part := mx.get("02_emotion_training"):
        rows += _rows_02(part)
    if part := mx.get("03_gradcam"):
        rows += _rows_03(part)
    if part := mx.get("04_imbalance"):
        rows += _rows_04(part)
    if part := mx.get("05_fau_demo"):
        rows += _rows_05(part)
    if part := mx.get("06_au_vs_direct"):
        rows += _rows_06(part)
    if part := mx.get("07_fewshot"):
        rows += _rows_07(part)
    if part := mx.get("08_patch_attention"):
        rows += _rows_08(part)
    if part := mx.get("09_playground"):
        rows += _rows_09(part)
    return rows


def _spread_text(spread) -> str:
    """``; over seeds 0, 1, 2 the fix's own effect: ...`` from 04's ``seed_spread`` records ('' without them)."""
    if not spread or len(spread) < 2:
        return ""
    dr = [r["d_recall"] for r in spread]
    df = [r["d_macro_f1"] for r in spread]
    seeds = ", ".join(str(r["seed"]) for r in spread)
    return (f"; over seeds {seeds} the fix's own effect (after - control): disgust recall "
            f"{min(dr) * 100:+.1f} to {max(dr) * 100:+.1f} points, macro-F1 {min(df):+.3f} to {max(df):+.3f}")


def results_table(figures: str | Path) -> str:
    """The markdown table (header included) from ``figures/*/metrics.json``; raises if there is none."""
    mx = _load(Path(figures))
    rows = _rows(mx)
    if not rows:
        raise FileNotFoundError(f"No notebook metrics in {figures}/*/metrics.json: run `make workbook` first.")
    return "\n".join(["| what | number |", "|---|---|", *(f"| {w} | {n} |" for w, n in rows)])


def write_results(readme: str | Path, figures: str | Path) -> Path:
    """Replace the table between the results markers of ``readme``; refuses a README without both markers."""
    readme = Path(readme)
    text = readme.read_text()
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError(f"{readme}: expected one '{BEGIN}' line before one '{END}' line around the results table; "
                         "add them, or print the table without --write.")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    atomic_write_text(readme, f"{head}{BEGIN}\n{results_table(figures)}\n{END}{tail}")
    return readme
