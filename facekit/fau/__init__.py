"""Task 2: facial action unit intensity by heatmap regression (ResNet bottleneck + deconvolution, Fan et al. 2020).

model: :class:`FAUConfig`, :class:`Bottleneck`, :class:`ResNet`, :func:`build_fau_model`, strict loading;
heatmaps: targets and readout; metrics: ICC(3,1)/PCC/MAE; data: AU data sets; train: the trainer;
register: Haar-cascade face + eye registration of real photos; demo: overlays, tables and the browser widget.
Submodules are imported on use, so ``import facekit.fau`` stays light.
"""
from facekit.fau.heatmaps import make_heatmaps, read_intensities
from facekit.fau.metrics import icc, icc31, mae, pcc, score_aus, score_domains
from facekit.fau.model import (FAU_AUS, Bottleneck, CheckpointMismatchError, FAUConfig, ResNet, build_fau_model,
                               count_parameters, load_fau_model, load_fau_weights)

__all__ = ["FAU_AUS", "Bottleneck", "CheckpointMismatchError", "FAUConfig", "ResNet", "build_fau_model",
           "count_parameters", "icc", "icc31", "load_fau_model", "load_fau_weights", "mae", "make_heatmaps", "pcc",
           "read_intensities", "score_aus", "score_domains"]
