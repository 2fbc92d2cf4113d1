"""Live widgets that browse what the models compute: the FACS playground (every AU a slider, both models live), the
Grad-CAM explorer of ``03_gradcam`` and "try your own photo".

One module per widget; each has a pure update function (controls in, matplotlib ``Figure`` out) that the tests and
papermill call, and a class whose ``widget()`` wires it to ipywidgets. :mod:`facekit.widgets.live` holds the
debouncer (never more than one pending update), the blitted redraw and the latency measurement.
"""
from facekit.widgets.explorer import (LAYERS, CAM_TARGETS, ExplorerFaces, GradCamExplorer, explorer_figure,
                                      load_explorer_faces, region_text)
from facekit.widgets.live import BlitCanvas, Debouncer, Latency, figure_png, latency_text
from facekit.widgets.photo import PhotoAnalyzer, PhotoError, analyse_photo, decode_photo, photo_figure
from facekit.widgets.playground import (FACS_LETTERS, Controls, Playground, compute_view, dependence_text,
                                        load_models, measure_latency, playground_figure, prototype_controls,
                                        view_figure)

__all__ = ["FACS_LETTERS", "LAYERS", "CAM_TARGETS", "BlitCanvas", "Controls", "Debouncer", "ExplorerFaces",
           "GradCamExplorer", "Latency", "PhotoAnalyzer", "PhotoError", "Playground", "analyse_photo",
           "compute_view", "decode_photo", "dependence_text", "explorer_figure", "figure_png", "latency_text", "load_explorer_faces",
           "load_models", "measure_latency", "photo_figure", "playground_figure", "prototype_controls",
           "region_text", "view_figure"]
