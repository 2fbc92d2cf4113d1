"""09_playground in QUICK mode under papermill: every widget saves the static figure of its default state."""
from __future__ import annotations

import json

import pytest

from facekit.data import EMOTIONS


@pytest.mark.notebook
def test_playground_notebook_saves_every_widget_default_state(run_notebook):
    out = run_notebook("09_playground")
    metrics = json.loads((out / "metrics.json").read_text())
    for name in ("playground", "gradcam_explorer", "your_photo"):
        assert (out / f"{name}.png").stat().st_size > 5000, f"{name}.png missing or blank"
    assert metrics["latency_moves"] == 5 and metrics["latency_median_ms"] > 0
    assert metrics["photo_prediction"] in EMOTIONS
