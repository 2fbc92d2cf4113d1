"""The thread-policy rows of `facekit bench`: policies as child environments, ratios and targets from the rows."""
import math

import pytest

from facekit_tools.bench import BenchPlan
from facekit_tools.bench.load import POLICIES, busy_processes, policy_env
from facekit_tools.bench.suite import load_rows


def _rows(rates: dict) -> list[dict]:
    plan = BenchPlan(load_busy=(0, 1))
    results = {f"load_trainer_{p}_{b}": {"items": 1000, "seconds": 1000 / rate, "load_avg_1min": 1.0}
               for (p, b), rate in rates.items()}
    rows = []
    load_rows(results, plan, lambda g, m, v, u, res=None, how="", target_key=None:
              rows.append({"measure": m, "value": v, "target": target_key}))
    return rows


def _ratio(rows, busy):
    return next(r for r in rows if r["measure"] == f"trainer: facekit default / old default, {busy} busy")


def test_ratios_come_from_the_rows_and_carry_the_targets():
    good = _rows({("old", 0): 1000, ("facekit", 0): 950, ("old", 1): 250, ("facekit", 1): 600})
    assert _ratio(good, 0)["value"] == pytest.approx(0.95) and _ratio(good, 0)["target"] == "policy_idle"
    assert _ratio(good, 1)["value"] == pytest.approx(2.4) and _ratio(good, 1)["target"] == "policy_load"
    from facekit_tools.bench.suite import check_target

    assert check_target("policy_idle", 0.95)[1] == "yes" and check_target("policy_load", 2.4)[1] == "yes"
    bad = _rows({("old", 0): 1000, ("facekit", 0): 600, ("old", 1): 250, ("facekit", 1): 400})
    assert check_target("policy_idle", _ratio(bad, 0)["value"])[1] == "no"
    assert check_target("policy_load", _ratio(bad, 1)["value"])[1] == "no"
    assert math.isnan(_ratio(_rows({("old", 0): 1000}), 0)["value"]), "a missing row gives no ratio"


def test_policies_are_environments_set_before_torch_starts():
    assert policy_env("old", cores=2) == ({"OMP_WAIT_POLICY": None, "FACEKIT_THREADS": "2"}, 2, False)
    assert policy_env("passive", cores=2)[0]["OMP_WAIT_POLICY"] == "PASSIVE"
    assert policy_env("one", cores=2)[1] == 1
    env, threads, auto = policy_env("facekit", cores=2)
    assert auto and threads is None and env["FACEKIT_THREADS"] is None
    assert set(POLICIES) == {"old", "passive", "one", "facekit"}
    with pytest.raises(KeyError, match="known"):
        policy_env("fast")


def test_busy_processes_are_stopped_afterwards():
    with busy_processes(1, settle_s=0) as procs:
        assert procs[0].poll() is None
    assert procs[0].poll() is not None


def test_late_load_rows_show_what_the_governor_did():
    plan = BenchPlan(load_busy=(0, 1))
    results = {"load_trainer_old_late": {"items": 1000, "seconds": 2.5, "load_avg_1min": 1.0},
               "load_trainer_facekit_late": {"items": 1000, "seconds": 1.25, "load_avg_1min": 1.0,
                                             "thread_changes": [[3.4, 0.55, 1]]}}
    rows = []
    load_rows(results, plan, lambda g, m, v, u, res=None, how="", target_key=None:
              rows.append({"measure": m, "value": v, "how": how}))
    late = next(r for r in rows if r["measure"].startswith("trainer, facekit default") and "after the warm-up" in r["measure"])
    assert late["value"] == pytest.approx(800) and "1 threads at 3.4 s (others 0.55 cores)" in late["how"]
    ratio = next(r for r in rows if r["measure"] == "trainer: facekit default / old default, "
                                                    "1 busy process starting after the warm-up")
    assert ratio["value"] == pytest.approx(2.0)
