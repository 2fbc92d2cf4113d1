"""Task 1: the mini-Xception emotion classifier, its in-memory CPU trainer, metrics and plots."""
from facekit.emotion.xception import MiniXception, count_parameters, deprocess, layer_table, preprocess

__all__ = ["MiniXception", "count_parameters", "deprocess", "layer_table", "preprocess"]
