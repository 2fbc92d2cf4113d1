"""05_fau_demo in QUICK mode: the overlays, tables and metrics it promises, from the shipped checkpoint."""
import json

import pandas as pd
import pytest

AUS = ["AU6", "AU10", "AU12", "AU14", "AU17"]


@pytest.mark.notebook
def test_fau_demo_writes_overlays_tables_and_metrics(run_notebook):
    out = run_notebook("05_fau_demo")
    for folder in ("test", "test2"):
        assert sorted(p.name for p in (out / "visualize" / folder).glob("*.png")) == \
            [f"subject_{i}.png" for i in range(1, 6)]
        table = pd.read_csv(out / f"{folder}_intensities.csv", index_col=0)
        assert list(table.columns) == AUS and len(table) == 5
        assert table.to_numpy().min() >= 0 and table.to_numpy().max() <= 5
        assert (out / f"{folder}_intensity_table.png").stat().st_size > 1000
    assert len(list((out / "visualize" / "real").glob("*.png"))) >= 1
    for name in ("test2_grid.png", "real_grid.png", "target_heatmaps_subject_1.png"):
        assert (out / name).is_file()
    scores = pd.read_csv(out / "scores_by_domain.csv")
    assert set(scores["domain"]) == {"lab", "wild"} and set(scores["au"]) == {*AUS, "mean"}
    m = json.loads((out / "metrics.json").read_text())
    assert m["params_resnet50"] == 33_997_898 and m["roundtrip_error"] == 0
    assert m["checkpoint_mb"] < 25 and m["retrained"] is False
    # the shipped model must have learned something even on the 40 QUICK faces
    assert m["lab_icc"] > 0.3 and m["lab_pcc"] > 0.3
