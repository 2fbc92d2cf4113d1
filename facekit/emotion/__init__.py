"""Task 1: the mini-Xception emotion classifier, its in-memory CPU trainer, metrics and plots.

``import facekit.emotion as emo`` then ``emo.MiniXception``, ``emo.preprocess``, ``emo.train_classifier``,
``emo.load_emotion_model``, ``emo.predict``, ``emo.plot_loss`` ...
"""
from facekit.emotion.augment import center_crop, random_crop_flip
from facekit.emotion.checkpoint import CHECKPOINT_NAME, load_emotion_model, save_emotion_model
from facekit.emotion.metrics import Predictions, confusion, per_class_report, predict, summarize
from facekit.emotion.plots import plot_acc, plot_confusion, plot_loss
from facekit.emotion.train import TrainConfig, Trainer, TrainingDiverged, safe_batch_size, train_classifier
from facekit.emotion.xception import MiniXception, count_parameters, deprocess, layer_table, preprocess

__all__ = [
    "CHECKPOINT_NAME", "MiniXception", "Predictions", "TrainConfig", "Trainer", "TrainingDiverged", "center_crop",
    "confusion", "count_parameters", "deprocess", "layer_table", "load_emotion_model", "per_class_report",
    "plot_acc", "plot_confusion", "plot_loss", "predict", "preprocess", "random_crop_flip", "safe_batch_size",
    "save_emotion_model", "summarize", "train_classifier",
]
