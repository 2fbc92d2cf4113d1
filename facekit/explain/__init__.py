"""Task 1 Q4-Q5: explanations of the emotion classifier.

* :mod:`facekit.explain.cam`: the ONE place that calls the ``grad-cam`` package (Grad-CAM family, guided backprop,
  guided Grad-CAM, region scores, ROAD); its public names are re-exported here, so ``explain.guided_gradcam`` works.
* :mod:`facekit.explain.cases`: the ``test`` / ``test2`` faces (synthetic lab faces, wild failure cases, real photos).
* :mod:`facekit.explain.plots`: the figures (guided Grad-CAM rows, CAM grids, region scores, before/after).
"""
from facekit.explain.cam import (METHODS, Explanation, cam_class, cam_overlay, compute_cams, gradient_image,
                                 guided_backprop, guided_gradcam, hooks_attached, mask_area, pointing_game,
                                 region_share, road_scores, score_explanations, summarize_scores, target_layer)

__all__ = [
    "METHODS", "Explanation", "cam_class", "cam_overlay", "compute_cams", "gradient_image", "guided_backprop",
    "guided_gradcam", "hooks_attached", "mask_area", "pointing_game", "region_share", "road_scores",
    "score_explanations", "summarize_scores", "target_layer",
]
