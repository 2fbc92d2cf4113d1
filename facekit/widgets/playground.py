"""The FACS playground: every AU of the generator is a slider, and both models answer live.

:func:`compute_view` is the whole update (render the face, run the Task 1 classifier with Grad-CAM and the Task 2 AU
model, finite differences over the AU sliders) and :func:`view_figure` draws it; :func:`playground_figure` chains
the two, which is what the widget, the static figure and the tests call. :class:`Playground` wires it to ipywidgets
with a :class:`facekit.widgets.live.Debouncer`, so dragging a slider never queues more than one pending update.
"""
from __future__ import annotations

import html
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from facekit.data.fer import EMOTIONS
from facekit.synth.facs import AU_NAMES, AUS, EMFACS
from facekit.synth.render import DOMAINS
from facekit.emotion.checkpoint import load_emotion_model
from facekit.emotion.xception import preprocess
from facekit.explain.cam import cam_overlay
from facekit.explain.cam import compute_cams
from facekit.fau.data import au_columns
from facekit.fau.demo import AU_LABELS
from facekit.fau.demo import predict_results
from facekit.fau.model import load_fau_model
from facekit import paths
from facekit.plotting import show_image
from facekit.synth.render import _generator
from facekit.synth.render import draw_identity
from facekit.synth.render import draw_nuisance
from facekit.synth.render import render_chunk
from facekit.widgets.live import BlitCanvas
from facekit.widgets.live import Debouncer
from facekit.widgets.live import time_calls

#: FACS intensity letters: 0 = absent, A (trace) .. E (maximum) = 1 .. 5.
FACS_LETTERS = ("0", "A", "B", "C", "D", "E")
#: The five AUs the Task 2 model measures, as columns of :data:`facekit.synth.AUS`.
FAU_COLUMNS = (6, 10, 12, 14, 17)
#: Intensity the prototype buttons set (D on the FACS scale).
_PROTOTYPE_INTENSITY = 4


@dataclass(frozen=True)
class Controls:
    """One position of every playground control."""
    au: tuple[int, ...] = (0,) * len(AUS)
    identity: int = 0
    domain: str = "lab"
    yaw: float = 0.0
    light: float = 0.0
    cam_layer: str = "last_conv"

    def __post_init__(self):
        if len(self.au) != len(AUS):
            raise ValueError(f"Controls.au needs {len(AUS)} intensities (one per AU {AUS}), got {len(self.au)}.")
        bad = [f"AU{a}={v}" for a, v in zip(AUS, self.au) if not 0 <= v <= 5]
        if bad:
            raise ValueError(f"AU intensities must lie in 0-5 (FACS 0, A-E): {', '.join(bad)}.")
        if self.domain not in DOMAINS:
            raise ValueError(f"domain must be one of {', '.join(DOMAINS)}, got {self.domain!r}.")

    def with_au(self, au: int, value: int) -> "Controls":
        values = list(self.au)
        values[AUS.index(au)] = int(value)
        return replace(self, au=tuple(values))


def prototype_controls(emotion: str, base: Controls | None = None, which: int = 0,
                       intensity: int = _PROTOTYPE_INTENSITY) -> Controls:
    """``base`` with every AU at 0 except those of the emotion's ``which``-th EMFACS prototype (at ``intensity``)."""
    if emotion not in EMFACS:
        raise ValueError(f"Unknown emotion {emotion!r}; choose one of {', '.join(EMFACS)}.")
    combo = EMFACS[emotion][which % len(EMFACS[emotion])]
    return replace(base or Controls(), au=tuple(intensity if a in combo else 0 for a in AUS))


def _render_controls(c: Controls, sizes=(48, 128), extra_au: torch.Tensor | None = None) -> dict[int, np.ndarray]:
    """uint8 faces (n, S, S) per size for the controls (row 0) and any ``extra_au`` rows (same identity and light).

    The face is seeded by ``identity`` (identity and, in the wild domain, background and texture); pose is the
    ``yaw`` slider (no roll or shift), light a side light of strength ``light``; no occluder and no pixel noise, so
    two renders differ only where the AUs differ (what the finite differences need).
    """

    au = torch.tensor([c.au], dtype=torch.float32)
    if extra_au is not None:
        au = torch.cat([au, extra_au.float()])
    n = len(au)
    ident = draw_identity(n, domain=c.domain, identity_seed=int(c.identity))
    nuis = draw_nuisance(1, _generator("playground", int(c.identity), c.domain), c.domain,
                         enabled=c.domain != "lab")
    nuis.update({"yaw": torch.tensor([float(c.yaw)]), "roll": torch.zeros(1), "tx": torch.zeros(1),
                 "ty": torch.full((1,), -0.06), "scale": torch.full((1,), 1.1), "light": torch.tensor([float(c.light)]),
                 "light_dir": torch.zeros(1), "occ": torch.zeros(1), "noise": torch.zeros(1), "blur": torch.zeros(1)})
    nuis = {k: (v if k == "noise_field_seed" else v.expand(n, *v.shape[1:])) for k, v in nuis.items()}
    out = {}
    for size in sizes:
        img, _, _ = render_chunk(ident, au, nuis, size, False, c.domain, _generator("playground-noise", 0))
        out[size] = (img[:, 0] * 255).round().to(torch.uint8).numpy()
    return out




def au_steps(au: tuple[int, ...]) -> tuple[torch.Tensor, np.ndarray]:
    """One row per AU with that AU moved one FACS step (up, or down when it is at E) and the step taken (+1/-1)."""
    base = torch.tensor(au, dtype=torch.float32)
    step = np.where(base.numpy() >= 5, -1.0, 1.0)
    rows = base.repeat(len(AUS), 1)
    rows[torch.arange(len(AUS)), torch.arange(len(AUS))] += torch.as_tensor(step, dtype=torch.float32)
    return rows, step


@dataclass
class PlaygroundView:
    """Everything one playground update shows (arrays for one face)."""
    controls: Controls
    face48: np.ndarray
    face128: np.ndarray
    probs: np.ndarray              # (7,)
    pred: int
    cam: np.ndarray                # (48, 48) in [0, 1]
    fau: object                    # facekit.fau.demo.FAUResults for this one face
    sensitivity: np.ndarray        # (len(AUS),) change of P(pred) per +1 FACS step of each AU
    text: str = ""
    timings_ms: dict = field(default_factory=dict)

    def numbers(self) -> str:
        """The probabilities and the predicted intensities as one line of text (what the bars show)."""
        probs = ", ".join(f"{e} {p:.1%}" for e, p in zip(EMOTIONS, self.probs))
        aus = ", ".join(f"AU{a} {v:.2f}" for a, v in zip(FAU_COLUMNS, self.fau.predicted[0]))
        return f"probabilities: {probs}; predicted intensities: {aus}"


def dependence_text(emotion: str, prob: float, sensitivity, top: int = 3, floor: float = 0.005) -> str:
    """Which AUs the prediction depends on most, from finite differences ``sensitivity`` (change of P(emotion) per
    +1 FACS step of each AU, in :data:`AUS` order). AUs whose step moves P by less than ``floor`` are left out."""
    sens = np.asarray(sensitivity, dtype=float)
    order = [i for i in np.argsort(-np.abs(sens)) if abs(sens[i]) >= floor][:top]
    head = f"The classifier says <b>{html.escape(emotion)}</b> ({prob:.0%})"
    if not order:
        return (head + "; no single AU moves that probability by half a point: no one slider drives this "
                "prediction here.")
    parts = [f"AU{AUS[i]} ({AU_NAMES[AUS[i]]}) {'raises' if sens[i] > 0 else 'lowers'} it by "
             f"{abs(sens[i]) * 100:.1f} points" for i in order]
    return head + "; one FACS step up on " + "; ".join(parts) + "."


def compute_view(c: Controls, emotion_model, fau_model) -> PlaygroundView:
    """Render, classify, explain and measure the AUs for one position of the controls."""
    t0 = time.perf_counter()
    rows, step = au_steps(c.au)
    faces = _render_controls(c, sizes=(48,), extra_au=rows)[48]
    face128 = _render_controls(c, sizes=(128,))[128][0]
    t1 = time.perf_counter()
    x = preprocess(torch.from_numpy(faces))
    emotion_model.eval()
    with torch.no_grad():
        probs = emotion_model(x).softmax(1).numpy()
    pred = int(probs[0].argmax())
    sens = (probs[1:, pred] - probs[0, pred]) * step
    cam = compute_cams(emotion_model, x[:1], [pred], layer=c.cam_layer)[0]
    t2 = time.perf_counter()
    true = au_columns(np.asarray([c.au], dtype=np.float32))
    fau = predict_results(fau_model, face128[None], ["playground"], true=true)
    t3 = time.perf_counter()
    text = dependence_text(EMOTIONS[pred], float(probs[0, pred]), sens)
    return PlaygroundView(c, faces[0], face128, probs[0], pred, cam, fau, sens, text,
                          {"render": 1000 * (t1 - t0), "classifier+cam": 1000 * (t2 - t1), "fau": 1000 * (t3 - t2)})


def view_figure(view: PlaygroundView, fig=None):
    """The playground's picture: face, Grad-CAM overlay, the seven probabilities, predicted vs slider intensities
    of the five Task 2 AUs, and their heatmaps over the face.

    ``fig``: a figure this function drew before; its artists are updated in place (about 3x faster than building
    a new figure, which is what keeps a slider move under 300 ms).
    """
    if fig is None or not hasattr(fig, "_playground"):
        fig = _build_figure(view)
    a = fig._playground
    a["face"].set_data(view.face128)
    a["face_title"].set_text(f"face ({view.controls.domain}, id {view.controls.identity})")
    a["cam"].set_data(_cam_rgb(view))
    a["cam_title"].set_text(f"Grad-CAM @ {view.controls.cam_layer}\nfor {EMOTIONS[view.pred]}")
    for i, (bar, label) in enumerate(zip(a["prob_bars"], a["prob_labels"])):
        p = float(view.probs[i])
        bar.set_width(p)
        bar.set_color("tab:orange" if i == view.pred else "tab:blue")
        label.set_x(min(p + 0.02, 0.85))
        label.set_text(f"{p:.0%}")
    for j in range(len(FAU_COLUMNS)):
        a["true_bars"][j].set_height(float(view.fau.true[0, j]))
        a["pred_bars"][j].set_height(float(view.fau.predicted[0, j]))
        a["hm_face"][j].set_data(view.fau.images[0])
        a["hm"][j].set_data(np.clip(view.fau.au_map(0, j), 0, 5))
        a["hm_title"][j].set_text(f"AU{FAU_COLUMNS[j]} pred {view.fau.predicted[0, j]:.2f}, "
                                  f"slider {view.fau.true[0, j]:.0f}")
    top = np.argsort(-np.abs(view.sensitivity))[:5]
    a["sens"].set_text("d P(" + EMOTIONS[view.pred] + ") per step\n" + "\n".join(
        f"AU{AUS[i]:<3d} {view.sensitivity[i] * 100:+.1f} pts" for i in top))
    active = ", ".join(f"AU{au}={FACS_LETTERS[v]}" for au, v in zip(AUS, view.controls.au) if v) or "no AU active"
    a["title"].set_text(f"FACS playground: {active}")
    return fig


def _cam_rgb(view: PlaygroundView) -> np.ndarray:

    return cam_overlay(view.face48, view.cam)


def _build_figure(view: PlaygroundView):
    from matplotlib.figure import Figure  # lazy: plotting only; the CLI and training paths never load matplotlib


    fig = Figure(figsize=(11, 4.6))
    gs = fig.add_gridspec(2, 6, left=0.02, right=0.99, top=0.86, bottom=0.03, wspace=0.35, hspace=0.4)
    a = {}
    ax = fig.add_subplot(gs[0, 0])
    show_image(ax, view.face128, "face")
    a["face"], a["face_title"] = ax.images[0], ax.title
    ax = fig.add_subplot(gs[0, 1])
    a["cam"] = ax.imshow(_cam_rgb(view))
    ax.set_xticks([]), ax.set_yticks([])
    a["cam_title"] = ax.set_title("Grad-CAM", fontsize=8)
    ax = fig.add_subplot(gs[0, 2:4])
    a["prob_bars"] = list(ax.barh(range(len(EMOTIONS)), view.probs))
    ax.set_yticks(range(len(EMOTIONS)), EMOTIONS, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.tick_params(labelsize=7)
    ax.set_title("Task 1 classifier: probabilities", fontsize=9)
    a["prob_labels"] = [ax.text(0, i, "", va="center", fontsize=7) for i in range(len(EMOTIONS))]
    ax = fig.add_subplot(gs[0, 4:6])
    pos = np.arange(len(AU_LABELS))
    a["true_bars"] = list(ax.bar(pos - 0.2, view.fau.true[0], 0.4, label="slider", color="0.65"))
    a["pred_bars"] = list(ax.bar(pos + 0.2, view.fau.predicted[0], 0.4, label="Task 2 model", color="tab:green"))
    ax.set_xticks(pos, AU_LABELS, fontsize=8)
    ax.set_ylim(0, 5)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title("AU intensities: slider vs predicted", fontsize=9)
    a["hm_face"], a["hm"], a["hm_title"] = [], [], []
    for j in range(len(AU_LABELS)):
        ax = fig.add_subplot(gs[1, j])
        show_image(ax, view.fau.images[0])
        a["hm_face"].append(ax.images[0])
        a["hm"].append(ax.imshow(np.zeros(view.fau.images.shape[-2:]), cmap="jet", alpha=0.5, vmin=0, vmax=5))
        a["hm_title"].append(ax.set_title("", fontsize=8))
    ax = fig.add_subplot(gs[1, 5])
    ax.axis("off")
    a["sens"] = ax.text(0, 1, "", va="top", family="monospace", fontsize=8, transform=ax.transAxes)
    a["title"] = fig.suptitle("", fontsize=10)
    fig._playground = a
    return fig


def _dynamic_artists(fig) -> list:
    """The artists :func:`view_figure` changes, in drawing order (for :class:`facekit.widgets.live.BlitCanvas`)."""
    a = fig._playground
    shown = [a["face"], a["face_title"], a["cam"], a["cam_title"], *a["prob_bars"], *a["prob_labels"],
             *a["true_bars"], *a["pred_bars"], *[x for pair in zip(a["hm_face"], a["hm"]) for x in pair],
             *a["hm_title"], a["sens"], a["title"]]
    return [artist for artist in shown if artist.get_visible()]


def playground_figure(controls: Controls, emotion_model, fau_model):
    """The update function: controls in, Figure out (what the widget shows and papermill saves)."""
    return view_figure(compute_view(controls, emotion_model, fau_model))


def load_models(ckpt_dir=None, emotion_checkpoint: str = "emotion_minixception.pt",
                fau_checkpoint: str = "fau_resnet.pt"):
    """The Task 1 classifier and the Task 2 AU model (this run's checkpoints first, then ``data/checkpoints/``)."""
    emotion = load_emotion_model(emotion_checkpoint, ckpt_dir=ckpt_dir)
    fau = load_fau_model(paths.find_checkpoint(fau_checkpoint, ckpt_dir))
    return emotion.eval(), fau.eval()


class Playground:
    """The FACS playground widget. ``Playground(emotion_model, fau_model).widget()`` in a notebook;
    :meth:`update` is the synchronous update (controls -> view -> PNG on the image widget)."""

    def __init__(self, emotion_model, fau_model, controls: Controls | None = None, threaded: bool = True):
        self.emotion_model, self.fau_model = emotion_model, fau_model
        self.controls = controls or prototype_controls("happy")
        self.threaded = threaded
        self.view: PlaygroundView | None = None
        self.latencies_ms: list[float] = []
        self.last_picture = b""
        self._ui = None
        self._canvas = None

    def figure(self, controls: Controls | None = None):
        return playground_figure(controls or self.controls, self.emotion_model, self.fau_model)

    def update(self, controls: Controls) -> PlaygroundView:
        """Recompute and redraw for ``controls``; records the time taken (render + models + Grad-CAM + PNG)."""
        t = time.perf_counter()
        view = compute_view(controls, self.emotion_model, self.fau_model)
        if self._canvas is None:
            fig = view_figure(view)
            # live, the numbers go to the text lines under the picture (text is the slowest thing to draw)
            for artist in (*fig._playground["prob_labels"], fig._playground["sens"]):
                artist.set_visible(False)
            self._canvas = BlitCanvas(fig, _dynamic_artists(fig))
        else:
            view_figure(view, self._canvas.fig)
        png = self._canvas.png()
        self.view, self.controls, self.last_picture = view, controls, png
        if self._ui is not None:
            self._ui["image"].value = png
            self._ui["text"].value = view.text
            self._ui["numbers"].value = html.escape(view.numbers())
        ms = 1000 * (time.perf_counter() - t)
        self.latencies_ms.append(ms)
        if self._ui is not None:
            self._ui["status"].value = f"update {ms:.0f} ms ({len(self.latencies_ms)} updates)"
        return view

    def _read(self) -> Controls:
        ui = self._ui
        return Controls(au=tuple(int(s.value) for s in ui["au"]), identity=int(ui["identity"].value),
                        domain=ui["domain"].value, yaw=float(ui["yaw"].value), light=float(ui["light"].value),
                        cam_layer=self.controls.cam_layer)

    def widget(self):
        """Sliders (17 AUs with FACS letters, identity, domain, pose, light), one button per EMFACS prototype,
        the picture and the computed "depends most on" line."""
        import ipywidgets as w  # lazy: widgets exist only in a notebook front end


        c = self.controls
        style, layout = {"description_width": "52px"}, w.Layout(width="236px")
        au = [w.SelectionSlider(options=[(f"{FACS_LETTERS[v]}", v) for v in range(6)], value=c.au[i],
                                description=f"AU{a}", tooltip=AU_NAMES[a], style=style, layout=layout,
                                continuous_update=True) for i, a in enumerate(AUS)]
        identity = w.IntSlider(value=c.identity, min=0, max=99, description="identity", style=style, layout=layout)
        domain = w.Dropdown(options=list(DOMAINS), value=c.domain, description="domain", style=style, layout=layout)
        yaw = w.FloatSlider(value=c.yaw, min=-0.6, max=0.6, step=0.1, description="pose", style=style, layout=layout)
        light = w.FloatSlider(value=c.light, min=0.0, max=0.9, step=0.1, description="light", style=style,
                              layout=layout)
        buttons = [w.Button(description=e, tooltip=" / ".join("+".join(map(str, p)) for p in EMFACS[e]),
                            layout=w.Layout(width="78px")) for e in EMFACS]
        image = w.Image(format="jpeg", layout=w.Layout(width="800px"))
        text, numbers, status = w.HTML(), w.HTML(), w.HTML()
        self._ui = {"au": au, "identity": identity, "domain": domain, "yaw": yaw, "light": light, "image": image,
                    "text": text, "numbers": numbers, "status": status, "hold": False, "clicks": {}}

        def on_error(exc):
            status.value = f"<span style='color:#b00'>update failed: {html.escape(str(exc))}</span>"

        debounce = Debouncer(self.update, threaded=self.threaded, on_error=on_error)
        self.debouncer = debounce

        def changed(_=None):
            if not self._ui["hold"]:
                debounce.submit(self._read())

        def load(button):
            clicks = self._ui["clicks"]
            k = clicks[button.description] = clicks.get(button.description, -1) + 1
            proto = prototype_controls(button.description, self._read(), which=k)
            self._ui["hold"] = True
            try:
                for s, v in zip(au, proto.au):
                    s.value = v
            finally:
                self._ui["hold"] = False
            changed()

        for control in (*au, identity, domain, yaw, light):
            control.observe(changed, names="value")
        for b in buttons:
            b.on_click(load)
        self.update(self._read())
        grid = w.GridBox([*au, identity, domain, yaw, light],
                         layout=w.Layout(grid_template_columns="repeat(4, 240px)", grid_gap="0px 6px"))
        return w.VBox([w.HBox([w.HTML("<b>EMFACS prototypes:</b>&nbsp;"), *buttons]),
                       w.HTML("<b>Action units</b> on the FACS scale: 0 (absent), A (trace) to E (maximum)"),
                       grid, image, text, numbers, status])


def measure_latency(playground: Playground, moves: int = 20, au: int = 12):
    """Move one AU slider ``moves`` times (0 -> 5 and back, after one untimed first draw) through
    :meth:`Playground.update`; a
    :class:`facekit.widgets.live.Latency` of the full updates (render + both models + Grad-CAM + redraw to PNG)."""

    values = [(k % 10) if k % 10 <= 5 else 10 - k % 10 for k in range(1, moves + 1)]
    start = playground.controls.with_au(au, 0)
    if playground._canvas is None:  # the first draw builds the figure and its static background: not a move
        playground.update(start)
    return time_calls(playground.update, [start.with_au(au, v) for v in values])
