"""Live widgets that browse what the models compute: the FACS playground (every AU a slider, both models live), the
Grad-CAM explorer of ``03_gradcam`` and "try your own photo".

One module per widget; each has a pure update function (controls in, matplotlib ``Figure`` out) that the tests and
papermill call, and a class whose ``widget()`` wires it to ipywidgets. :mod:`facekit.widgets.live` holds the
debouncer (never more than one pending update) and the latency measurement.
"""
from facekit.widgets.live import Debouncer, Latency, figure_png
from facekit.widgets.playground import (Controls, Playground, compute_view, dependence_text, load_models,
                                        measure_latency, playground_figure, prototype_controls, view_figure)

__all__ = ["Controls", "Debouncer", "Latency", "Playground", "compute_view", "dependence_text", "figure_png",
           "load_models", "measure_latency", "playground_figure", "prototype_controls", "view_figure"]
