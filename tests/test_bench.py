"""facekit bench: the table's shape, ratios computed from the measured numbers, atomic outputs, the naive baseline.

Nothing here asserts on wall-clock time: the numbers of a quick run are meaningless, only their bookkeeping is
checked.
"""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from facekit_tools.bench import COLUMNS, BenchPlan, run_bench
from facekit_tools.bench.naive import naive_loader, train_naive
from facekit_tools.bench.probes import FER_EVAL_SIZE, FER_TRAIN_SIZE, random_fer, run_probe
from facekit_tools.bench.suite import _measurements, build_table, check_target, write_outputs


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    return run_bench(quick=True, device="cpu", isolate=False, out_dir=out, progress=False), out


def _value(table: pd.DataFrame, prefix: str) -> float:
    rows = table[table["measure"].str.startswith(prefix)]
    assert len(rows) == 1, f"expected one row starting with {prefix!r}, found {list(rows['measure'])}"
    return float(rows["value"].iloc[0])


def _fake_results(plan: BenchPlan, **rates) -> dict:
    """Probe results with chosen img/s (items / seconds), as the probes return them."""
    results = {}
    for key, _, threads, kwargs in _measurements(plan, 2):
        rate = rates.get(key, 100.0)
        res = {"items": 1000, "seconds": 1000 / rate, "threads": threads, "peak_rss_mb": 500.0}
        if "n_train" in kwargs:
            res["n_train"] = kwargs["n_train"]
        results[key] = res
    return results


# --------------------------------------------------------------------------------------------- the quick run
def test_quick_run_table_has_every_measurement(quick):
    result, _ = quick
    table = result.table
    assert tuple(table.columns) == COLUMNS
    assert {"setup", "render", "task1", "explain", "fau", "scaling", "workbook"} <= set(table["group"])
    failed = table[table["how"].str.startswith("FAILED")]
    assert failed.empty, f"probes failed:\n{failed[['measure', 'how']].to_string()}"
    rates = table[table["unit"].isin(["img/s", "faces/s"])]
    assert (rates["value"] > 0).all() and rates["value"].map(math.isfinite).all()
    assert (table.loc[table["group"] != "setup", "met"].isin(["", "yes", "no", "n/a"])).all()
    assert set(table.loc[table["target"] != "", "met"]) <= {"yes", "no", "n/a"}
    assert result.machine["device"] == "cpu" and result.machine["usable_cpus"] >= 1


def test_quick_run_ratios_come_from_the_measured_rows(quick):
    table = quick[0].table
    trainer = _value(table, "facekit trainer")
    ceiling = _value(table, "raw forward+backward ceiling (channels_last)")
    naive = table[table["measure"].str.startswith("naive starter kit")]["value"].max()
    assert _value(table, "trainer / raw ceiling") == pytest.approx(trainer / ceiling, rel=1e-12)
    assert _value(table, "trainer / naive baseline") == pytest.approx(trainer / naive, rel=1e-12)
    epoch = _value(table, "one epoch")
    evaluation = _value(table, "evaluation (predict")
    assert epoch == pytest.approx(FER_TRAIN_SIZE / trainer + FER_EVAL_SIZE / evaluation, rel=1e-12)
    assert _value(table, "20 epochs") == pytest.approx(20 * epoch, rel=1e-12)


def test_quick_run_scaling_covers_sizes_and_threads(quick):
    scaling = quick[0].scaling
    plan = BenchPlan.quick()
    assert len(scaling) == len(plan.scale_fractions) * len(plan.scale_threads)
    assert sorted(set(scaling["threads"])) == sorted(plan.scale_threads)
    assert list(scaling["faces"].unique()) == [round(f * FER_TRAIN_SIZE) for f in plan.scale_fractions]
    assert list(scaling["epoch_seconds"]) == pytest.approx(list(scaling["faces"] / scaling["img_per_s"]))


def test_quick_run_writes_csv_json_markdown_and_plot(quick):
    result, out = quick
    csv = pd.read_csv(out / "bench.csv", keep_default_na=False, na_values=[""])
    assert list(csv.columns) == list(COLUMNS)
    assert list(csv["measure"]) == list(result.table["measure"])
    data = json.loads((out / "bench.json").read_text())
    assert {"machine", "plan", "rows", "scaling", "targets"} <= set(data)
    assert [r["measure"] for r in data["rows"]] == list(result.table["measure"])
    assert "trainer / raw ceiling (channels_last)" in data["targets"]
    assert (out / "bench_scaling.csv").is_file()
    assert (out / "bench_scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## What it costs" in (out / "bench.md").read_text()
    assert not [p.name for p in out.iterdir() if ".tmp" in p.name], "temporary files left behind"


def test_outputs_are_atomic_when_a_write_fails(quick, tmp_path, monkeypatch):
    result, _ = quick
    (tmp_path / "bench.csv").write_text("old table\n")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("facekit.io.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_outputs(result, tmp_path, tmp_path)
    assert (tmp_path / "bench.csv").read_text() == "old table\n"
    assert [p.name for p in tmp_path.iterdir()] == ["bench.csv"]


# ------------------------------------------------------------------------------------------ table arithmetic
def test_ratios_and_targets_follow_the_numbers():
    plan = BenchPlan.quick()
    results = _fake_results(plan, trainer=1200.0, ceiling=1500.0, naive_0=300.0, inference_eval=4000.0,
                            render_48=6000.0)
    table = build_table(results, plan)
    ratio = table[table["measure"].str.startswith("trainer / raw ceiling")].iloc[0]
    assert ratio["value"] == pytest.approx(0.8) and ratio["met"] == "no" and ratio["target"] == ">= 0.85 x"
    naive = table[table["measure"] == "trainer / naive baseline"].iloc[0]
    assert naive["value"] == pytest.approx(1200 / 300) and naive["met"] == "yes"
    epochs = table[table["measure"] == "20 epochs"].iloc[0]
    assert epochs["value"] == pytest.approx(20 * (FER_TRAIN_SIZE / 1200 + FER_EVAL_SIZE / 4000))
    assert epochs["met"] == "yes"
    render = table[table["measure"] == "synthetic faces 48x48"].iloc[0]
    assert render["value"] == pytest.approx(6000.0) and render["met"] == "yes"


def test_naive_ratio_uses_the_fastest_naive_setting():
    plan = BenchPlan(naive_workers=(0, 2))
    table = build_table(_fake_results(plan, trainer=900.0, naive_0=300.0, naive_2=450.0), plan)
    row = table[table["measure"] == "trainer / naive baseline"].iloc[0]
    assert row["value"] == pytest.approx(2.0) and "workers=2" in row["how"] and row["met"] == "yes"


def test_a_failed_probe_is_reported_not_raised():
    plan = BenchPlan.quick()
    results = _fake_results(plan)
    results["render_48"] = {"error": "ModuleNotFoundError: No module named 'facekit.synth'"}
    row = build_table(results, plan).set_index("measure").loc["synthetic faces 48x48"]
    assert math.isnan(row["value"]) and row["met"] == "n/a" and row["how"].startswith("FAILED: ModuleNotFound")


def test_check_target_directions():
    assert check_target("render_48", 5000.0) == (">= 5000 faces/s", "yes")
    assert check_target("epochs_20", 600.0) == ("< 600 s", "no")
    assert check_target("workbook", float("nan"))[1] == "n/a"


# ------------------------------------------------------------------------------------------------- probes
def test_isolated_probe_reports_its_own_threads_and_memory():
    res = run_probe("idle", threads=1, isolate=True, timeout=300)
    assert "error" not in res, res
    assert res["isolated"] and res["threads"] == 1 and res["peak_rss_mb"] > 10


def test_unknown_probe_is_an_error_row_that_names_the_known_ones():
    res = run_probe("warp_drive", isolate=False)
    assert "warp_drive" in res["error"] and "trainer" in res["error"]


# -------------------------------------------------------------------------------------------- naive baseline
def test_naive_loader_serves_starter_kit_batches():
    x, y = next(iter(naive_loader(random_fer(40), batch_size=8)))
    assert x.shape == (8, 1, 44, 44) and x.dtype == torch.float32 and x.is_contiguous()
    assert -1.0 <= float(x.min()) and float(x.max()) <= 1.0 and y.dtype == torch.int64


def test_naive_training_is_seeded_and_counts_what_it_timed():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = random_fer(24)
        a = train_naive(data, steps=3, warmup=1, batch_size=8)   # 4 batches > 3 per epoch: the loader restarts
        b = train_naive(data, steps=3, warmup=1, batch_size=8)
    finally:
        torch.set_num_threads(threads)
    assert (a.images, a.steps) == (24, 3) and a.loss == b.loss and math.isfinite(a.loss)


def test_naive_training_rejects_nonsense_sizes():
    with pytest.raises(ValueError, match="steps must be >= 1"):
        train_naive(random_fer(8), steps=0)
