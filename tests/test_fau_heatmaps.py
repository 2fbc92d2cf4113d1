"""Heatmap targets -> readout round trip, and the AU metrics against hand-checked values."""
import math

import numpy as np
import pytest
import torch

from facekit.fau.heatmaps import image_to_map, make_heatmaps, peak_locations, read_intensities
from facekit.fau.metrics import icc, icc31, mae, pcc, score_aus, score_domains


def random_points(b, size, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 5, 2, 2, generator=g) * (size - 1)


def test_clean_target_reads_back_its_intensity_exactly():
    g = torch.Generator().manual_seed(1)
    inten = torch.rand(8, 5, generator=g) * 5
    maps = make_heatmaps(random_points(8, 128), inten, map_size=32, sigma=2.0, image_size=128)
    assert maps.shape == (8, 10, 32, 32)
    assert torch.allclose(read_intensities(maps), inten, atol=1e-6)


def test_peak_sits_on_the_point_with_sigma_two():
    pts = torch.tensor([[[[10.0, 20.0], [25.0, 5.0]]] * 5])
    maps = make_heatmaps(pts, torch.full((1, 5), 3.0), map_size=32, sigma=2.0)
    assert peak_locations(maps)[0, 0].tolist() == [10, 20] and peak_locations(maps)[0, 1].tolist() == [25, 5]
    assert maps[0, 0, 20, 12].item() == pytest.approx(3.0 * math.exp(-4 / 8))   # two pixels away: exp(-d^2/2s^2)


def test_points_outside_the_image_are_clipped_so_the_peak_survives():
    pts = torch.tensor([[[[-5.0, 200.0], [140.0, -3.0]]] * 5])
    maps = make_heatmaps(pts, torch.full((1, 5), 2.5), map_size=32, image_size=128)
    assert torch.allclose(read_intensities(maps), torch.full((1, 5), 2.5))


def test_readout_averages_left_and_right_and_clips():
    maps = torch.zeros(1, 10, 8, 8)
    maps[0, 0, 1, 1], maps[0, 1, 2, 2] = 2.0, 4.0           # AU6: mean of the two maxima
    maps[0, 2, 0, 0] = maps[0, 3, 0, 0] = 9.0               # AU10 above the scale
    out = read_intensities(maps)
    assert out[0, 0].item() == 3.0 and out[0, 1].item() == 5.0 and out[0, 2].item() == 0.0


def test_image_to_map_keeps_pixel_centres():
    assert image_to_map(torch.tensor([1.5, 125.5]), 128, 32).tolist() == [0.0, 31.0]


def test_bad_shapes_say_what_is_expected():
    with pytest.raises(ValueError, match="batch, aus, points_per_au, 2"):
        make_heatmaps(torch.zeros(2, 10, 2), torch.zeros(2, 5), 32)
    with pytest.raises(ValueError, match="one value per AU"):
        make_heatmaps(torch.zeros(2, 5, 2, 2), torch.zeros(2, 4), 32)


def test_icc31_matches_shrout_fleiss_table():
    # Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges; ICC(3,1) = 0.71
    ratings = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    assert icc31(ratings) == pytest.approx(0.7148, abs=1e-4)


def test_icc_is_one_for_perfect_agreement_and_penalises_scale_unlike_pcc():
    y = np.array([0.0, 1, 2, 3, 4, 5])
    assert icc(y, y) == pytest.approx(1.0)
    assert icc(y, y + 1) == pytest.approx(1.0)                 # consistency: offsets are ignored
    assert pcc(y, 0.5 * y) == pytest.approx(1.0) and icc(y, 0.5 * y) < 0.9
    # hand-checked: y = [0, 2, 4], p = [1, 1, 4]: grand mean 2, row means 0.5, 1.5, 4 -> SS_rows = 13, BMS = 6.5;
    # column means 2, 2 -> SS_cols = 0; SS_total = 14 -> SS_err = 1, EMS = 1 / 2 -> (6.5 - 0.5) / (6.5 + 0.5)
    assert icc([0, 2, 4], [1, 1, 4]) == pytest.approx(6 / 7)
    assert math.isnan(icc([1, 1, 1], [1, 1, 1])) and mae([0, 2], [1, 1]) == 1.0


def test_score_tables_have_one_row_per_au_and_a_mean():
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 5, (50, 5))
    df = score_aus(t, t + rng.normal(0, 0.3, t.shape))
    assert list(df.index) == ["AU6", "AU10", "AU12", "AU14", "AU17", "mean"]
    assert list(df.columns) == ["icc", "pcc", "mae"] and (df["icc"] > 0.9).all()
    long = score_domains({"lab": (t, t), "wild": (t, t[::-1])})
    assert set(long["domain"]) == {"lab", "wild"} and len(long) == 12
    with pytest.raises(ValueError, match=r"\(n, 5\)"):
        score_aus(t[:, :4], t[:, :4])
