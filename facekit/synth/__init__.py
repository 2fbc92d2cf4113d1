"""Synthetic FACS faces: a procedural generator whose expressions are caused by Action Units, with ground truth.

Every face comes with what no public data set offers: its true emotion, the intensity of every AU (0-5), named
landmarks and the image region each AU moves. ``make_fer_dataset`` reproduces FER2013's exact split and class counts;
``make_au_dataset`` gives larger faces with widely varying AUs for Task 2. See ``data/README.md``.
"""
from facekit.data.fer import EMOTIONS
from facekit.synth.facs import AU_NAMES, AUS, EMFACS, LABEL_NOISE, au_index, label_confusion, sample_expressions
from facekit.synth.regions import au_region_masks
from facekit.synth.render import (DOMAINS, FEATURES, GENERATOR_VERSION, LANDMARK_NAMES, OPTIONAL_FEATURES,
                                   WILD_FACTORS, render_faces)
from facekit.synth.dataset import benchmark_render, make_au_dataset, make_fer_dataset, write_au_folder, write_fer_csv

__all__ = [
    "AUS", "AU_NAMES", "DOMAINS", "EMFACS", "FEATURES", "GENERATOR_VERSION", "EMOTIONS", "LABEL_NOISE", "LANDMARK_NAMES", "OPTIONAL_FEATURES",
    "WILD_FACTORS",
    "au_index", "au_region_masks", "benchmark_render", "write_au_folder", "write_fer_csv", "label_confusion", "make_au_dataset", "make_fer_dataset", "render_faces",
    "sample_expressions",
]
