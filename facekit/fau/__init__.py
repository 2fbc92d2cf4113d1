"""Task 2: facial action unit intensity by heatmap regression (ResNet bottleneck + deconvolution, Fan et al. 2020).

model: :class:`FAUConfig`, :class:`Bottleneck`, :class:`ResNet`, :func:`build_fau_model`, strict loading;
heatmaps: targets and readout; metrics: ICC(3,1)/PCC/MAE; data: AU data sets; train: the trainer;
register: Haar-cascade face + eye registration of real photos; demo: overlays, tables and the browser widget.
Also here: ``points`` (where each AU sits, the template face), ``attention`` (the patch-attention component) and
``ablation`` (its study), ``fewshot`` (Q6-Q7), ``au_emotion`` (Q5). The names the notebooks use are re-exported.
"""
from facekit.fau.data import load_test_faces, make_au_data
from facekit.fau.demo import (AU_LABELS, AUBrowser, FAUResults, au_region_reference, grid_figure, peak_distances,
                              predict_results, real_photo_au_text, save_visualize, subject_figure, table_figure,
                              variation_summary)
from facekit.fau.heatmaps import make_heatmaps, read_intensities
from facekit.fau.metrics import icc, icc31, mae, pcc, score_aus, score_domains
from facekit.runtime import count_parameters
from facekit.fau.model import (ALL_AUS, FAU_AUS, Bottleneck, CheckpointMismatchError, FAUConfig, ResNet, build_fau_model,
                               load_fau_model, load_fau_weights)
from facekit.fau.points import AU_POINTS
from facekit.fau.register import register_face
from facekit.fau.train import predict_intensities, pretrain_fau

from facekit.fau.folders import (NO_LABELS, checkpoint_label, face_set_label, is_labelled, load_face_images,
                                 load_for_model, model_input_format, save_starter_visualize)

__all__ = ["NO_LABELS", "checkpoint_label", "face_set_label", "is_labelled", "load_face_images", "load_for_model", "model_input_format", "save_starter_visualize",
           "AU_LABELS", "AU_POINTS", "AUBrowser", "FAUResults", "au_region_reference", "grid_figure",
           "load_test_faces", "make_au_data", "peak_distances", "predict_intensities", "predict_results",
           "pretrain_fau", "register_face", "save_visualize", "subject_figure", "table_figure", "variation_summary",
           "ALL_AUS", "FAU_AUS", "Bottleneck", "CheckpointMismatchError", "FAUConfig", "ResNet", "build_fau_model",
           "count_parameters", "icc", "icc31", "load_fau_model", "load_fau_weights", "mae", "make_heatmaps", "pcc",
           "read_intensities", "score_aus", "score_domains", "real_photo_au_text"]
