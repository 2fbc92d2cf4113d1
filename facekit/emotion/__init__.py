"""Task 1: the mini-Xception emotion classifier, its data source, in-memory CPU trainer, metrics, plots, the Keras
import of the real FER2013 model (``keras_import``) and the class-imbalance experiment (``imbalance``).

``import facekit.emotion as emo`` then ``emo.MiniXception``, ``emo.preprocess``, ``emo.train_classifier``,
``emo.load_emotion_model``, ``emo.predict``, ``emo.plot_loss`` ...
"""
from facekit.emotion.augment import center_crop, random_crop_flip
from facekit.emotion.batchnorm import plot_running_mean, rerun_bn_statistics, trace_running_mean
from facekit.emotion.checkpoint import CHECKPOINT_NAME, checkpoint_label, load_emotion_model, save_emotion_model
from facekit.emotion.data import load_emotion_data
from facekit.emotion.keras_import import load_keras_minixception
from facekit.emotion.metrics import Predictions, confusion, per_class_report, predict, summarize
from facekit.emotion.plots import plot_acc, plot_confusion, plot_loss
from facekit.emotion.realism import describe_ablation, describe_realism, realism_metrics, realism_report
from facekit.emotion.train import TrainConfig, Trainer, TrainingDiverged, safe_batch_size, train_classifier
from facekit.emotion.xception import MiniXception, deprocess, layer_table, preprocess
from facekit.runtime import count_parameters

__all__ = [
    "CHECKPOINT_NAME", "MiniXception", "checkpoint_label", "Predictions", "TrainConfig", "Trainer", "TrainingDiverged", "center_crop",
    "confusion", "count_parameters", "deprocess", "layer_table", "load_emotion_data", "load_emotion_model",
    "load_keras_minixception", "per_class_report", "plot_acc", "plot_confusion", "plot_loss", "plot_running_mean", "predict", "preprocess",
    "describe_ablation", "describe_realism", "realism_metrics", "realism_report", "random_crop_flip", "rerun_bn_statistics", "safe_batch_size",
    "save_emotion_model", "summarize", "trace_running_mean", "train_classifier",
]
