"""The rules of notebook 05's answer prose (facekit/fau/answers/pretrained.py: Q2.1 Bottleneck, Q2.2 deconvolution
head, Q2.3 test/): each is fed numbers that should flip its words."""
from __future__ import annotations

import numpy as np
import pandas as pd

from facekit.fau import answers as fa
from facekit.fau.model import FAUConfig

AUS = ["AU6", "AU10", "AU12", "AU14", "AU17"]
SUBJECTS = [f"subject_{k}" for k in range(1, 6)]


def _frame(values) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(values, dtype=float), index=SUBJECTS, columns=AUS)


def _regions(**muscles) -> pd.DataFrame:
    points = {"AU6": "cheek_l / cheek_r", "AU10": "upper_lip_l / upper_lip_r",
              "AU12": "mouth_corner_l / mouth_corner_r", "AU14": "dimple_l / dimple_r", "AU17": "chin_l / chin_r"}
    return pd.DataFrame({"our_points": points, "pyfeat_muscles": {a: muscles.get(a, "-") for a in AUS}})


def test_bottleneck_text_follows_the_shapes_and_the_two_layouts():
    big, small = FAUConfig.resnet50(), FAUConfig()
    text = fa.bottleneck_text((256, 128, 512), (32, 16), 33_997_898, 1_161_210, big, small, 114)
    assert "squeezes the channels with a 1x1 convolution (256 -> 128)" in text and "the thin tensor" in text
    assert "(with stride 2 here: 32 -> 16 pixels)" in text and "expands 4x with a second 1x1 (512 channels)" in text
    assert "three 256-filter deconvolutions has **33,997,898 parameters** at 256x256 RGB input (64x64 maps)" in text
    assert "**1,161,210** (3.4%): one block per stage instead of [3, 4, 6, 3]" in text
    assert "grey 128x128 input and 32x32 maps" in text and "96.6% of the parameters" in text and "2 min" in text
    # contrary numbers: no squeeze, no stride, a deeper RGB default, no training time
    other = FAUConfig(layers=(2, 2, 2, 2), in_channels=3, input_size=256)
    flipped = fa.bottleneck_text((64, 64, 128), (32, 32), 33_997_898, 5_000_000, big, other, None)
    assert "squeezes" not in flipped and "thin" not in flipped and "does not squeeze (64 -> 64)" in flipped
    assert "stride 1 here: the side stays 32 pixels" in flipped and "expands 2x" in flipped
    assert "[2, 2, 2, 2] blocks per stage" in flipped and "one block per stage" not in flipped
    assert "RGB 256x256 input and 64x64 maps" in flipped and "min" not in flipped and "**5,000,000** (14.7%)" in flipped


def test_head_text_points_to_the_table_file_and_follows_the_numbers():
    muscles = {"AU6": "orb_oculi_orbital_L, orb_oculi_orbital_R", "AU17": "mentalis"}
    text = fa.head_text(128, 32, (6, 10, 12, 14, 17), 2, 0.0, _regions(**muscles))
    assert "(`au_regions_vs_pyfeat.csv`)" in text and "above" not in text
    assert "so three of them bring `layer4`'s 1/32 map back to 1/4 of the input: 32x32 here, 64x64" in text
    assert "gives 10 maps, two per AU in the order AU6, AU10, AU12, AU14, AU17 (left then right point)" in text
    assert "recovers the labels to within 0.0e+00" in text
    assert "AU6 = orb_oculi_orbital_L, orb_oculi_orbital_R (our cheek points)" in text
    assert "AU17 = mentalis (our chin points)." in text
    # contrary numbers: two deconvolutions (1/8), three AUs, a readout that does not invert, other muscles named
    flipped = fa.head_text(256, 32, (1, 2, 4), 2, 0.37, _regions(AU12="zygomaticus_major_L"), table="regions.csv")
    assert "so two of them" in flipped and "1/8 of the input: 32x32 here, 32x32 for a 256x256 input" in flipped
    assert "gives 6 maps, two per AU in the order AU1, AU2, AU4" in flipped
    assert "misses the labels by up to 0.37" in flipped and "recovers" not in flipped
    assert "(`regions.csv`)" in flipped and "AU12 = zygomaticus_major_L (our mouth corner points)" in flipped
    assert "AU6 =" not in flipped and "above" not in flipped
    assert "names no muscles" in fa.head_text(128, 32, (6,), 2, 0.0, _regions())


def test_per_au_error_text_names_the_smallest_then_the_largest_error():
    true = _frame(np.full((5, 5), 2.0))
    pred = true + _frame([[0.1, 0.5, 0.2, 0.3, 0.4]] * 5)
    text = fa.per_au_error_text(pred, true)
    assert "runs from 0.10 (AU6) to 0.50 (AU10): AU6 0.10, AU12 0.20, AU14 0.30, AU17 0.40, AU10 0.50." in text
    flipped = fa.per_au_error_text(true + _frame([[0.5, 0.1, 0.2, 0.3, 0.4]] * 5), true)
    assert "runs from 0.10 (AU10) to 0.50 (AU6)" in flipped
    assert "is the same for every AU" in fa.per_au_error_text(true + 0.3, true)


def test_q23_labelled_names_the_strongest_au17_and_the_per_au_errors():
    true = _frame([[2, 2, 2, 2, v] for v in (1.0, 2.4, 0.0, 1.5, 0.0)])
    pred = true.copy()
    pred["AU17"] = [1.0, 3.3, 0.2, 1.5, 1.4]
    text = fa.q23_text(pred, true, 0.62, 0.4, 128)
    assert "Overlays for all five subjects" in text and "course_test" not in text
    assert "strongest for **subject_2** (3.30; true 2.40) and weakest for subject_3 (0.20; true 0.00)" in text
    assert "its mean absolute error is 0.50 intensity points, against 0.62 for all five AUs" in text
    assert "peak 0.4 pixels (of 128) from the chin points" in text
    assert "runs from 0.00 (AU" in text and "to 0.50 (AU17)" in text and "**AU17 = 1.40 on subject_5" in text
    # contrary numbers: subject_4 strongest, subject_1 weakest; AU17 absent everywhere; MAE computed here
    pred["AU17"], true["AU17"] = [0.1, 0.3, 0.2, 0.9, 0.2], 0.0
    flipped = fa.q23_text(pred, true, None, float("nan"), 128)
    assert "strongest for **subject_4** (0.90; true 0.00) and weakest for subject_1 (0.10" in flipped
    assert "subject_2**" not in flipped and "present on none of the faces" in flipped and "pixels (of" not in flipped
    assert "against 0.07 for all five AUs" in flipped


def test_q23_unlabelled_mentions_no_error_number():
    pred = _frame([[1, 1, 1, 1, v] for v in (0.5, 2.5, 0.1, 1.0, 1.2)])
    text = fa.q23_text(pred.iloc[:3], None)
    assert "Overlays for all 3 subjects" in text and "`visualize/course_test/`" in text
    assert "strongest for **subject_2** (2.50) and weakest for subject_3 (0.10)" in text
    assert "Errors against the truth: no labels: not computed." in text
    assert "mean absolute error" not in text and "true" not in text.replace("the truth", "")
    flipped = fa.q23_text(pred.assign(AU17=[2.0, 0.3, 1.1, 2.5, 0.1]), None, no_labels="none")
    assert "all 5 subjects" in flipped
    assert "strongest for **subject_4** (2.50) and weakest for subject_5 (0.10)" in flipped
    assert flipped.endswith("Errors against the truth: none.")
