"""What every live widget shares: a debouncer that never queues more than one pending update, figure -> PNG bytes
for an ``ipywidgets.Image``, and latency statistics.

The widgets draw into an ``Image`` widget (PNG bytes) instead of re-displaying into an ``Output``: one comm message
per update, and the picture never flickers. Figures are built with ``matplotlib.figure.Figure`` (not pyplot), so
nothing is left in pyplot's registry and drawing from the debouncer's worker thread is safe.
"""
from __future__ import annotations

import io
import statistics
import threading
import time
from dataclasses import dataclass

import numpy as np


def figure_png(fig, dpi: int = 72) -> bytes:
    """The PNG bytes of a matplotlib ``Figure`` (Agg canvas, no pyplot)."""
    # lazy: plotting only; the CLI and training paths never load matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if fig.canvas is None or not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


class Debouncer:
    """Run ``work(state)`` for the LATEST submitted state only, one at a time, on a worker thread.

    A slider drag fires many ``value`` events; each :meth:`submit` replaces the pending state, so while one update
    runs at most one more is waiting (the newest), whatever the drag speed. ``threaded=False`` runs each submit
    synchronously (papermill, tests). Errors in ``work`` go to ``on_error`` (default: re-raise in sync mode, kept
    in :attr:`last_error` in threaded mode) so a bad value never kills the worker.
    """

    def __init__(self, work, threaded: bool = True, on_error=None):
        self.work, self.threaded, self.on_error = work, threaded, on_error
        self._cond = threading.Condition()
        self._pending = None
        self._has_pending = False
        self._busy = False
        self._thread = None
        self.runs = 0
        self.max_pending = 0
        self.last_error: BaseException | None = None

    def submit(self, state) -> None:
        if not self.threaded:
            self._run(state)
            return
        with self._cond:
            self._pending, self._has_pending = state, True
            self.max_pending = max(self.max_pending, 1)  # one slot: a newer state replaces the waiting one
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="facekit-widget-update", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self, state) -> None:
        try:
            self.work(state)
        except Exception as exc:  # noqa: BLE001 - shown in the widget, never a dead worker
            self.last_error = exc
            if self.on_error is not None:
                self.on_error(exc)
            elif not self.threaded:
                raise
        finally:
            self.runs += 1

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._has_pending:
                    self._cond.wait(timeout=30)
                    if not self._has_pending:
                        self._thread = None
                        return
                state, self._pending, self._has_pending = self._pending, None, False
                self._busy = True
            try:
                self._run(state)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def idle(self, timeout: float = 30.0) -> bool:
        """Wait until nothing is pending or running; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._has_pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(timeout=left)
        return True


@dataclass
class Latency:
    """Update times in milliseconds."""
    times_ms: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms) if self.times_ms else float("nan")

    @property
    def max(self) -> float:
        return max(self.times_ms) if self.times_ms else float("nan")

    def line(self, what: str = "update") -> str:
        return (f"{what} latency over {len(self.times_ms)} moves: median {self.median:.0f} ms, "
                f"max {self.max:.0f} ms")


def time_calls(fn, args_list) -> Latency:
    """Call ``fn(args)`` for each item and time each call (ms)."""
    times = []
    for args in args_list:
        t = time.perf_counter()
        fn(args)
        times.append(1000 * (time.perf_counter() - t))
    return Latency(times)


class BlitCanvas:
    """Redraw only the artists that change: the figure's static part (axes, ticks, labels) is drawn once and kept
    as a bitmap; each :meth:`png` restores it and draws ``dynamic`` artists (in the given order) over it.

    Text is what costs most in a matplotlib draw (about 4/5 of a full redraw of the playground), and almost all of
    it is static. The figure object itself is left untouched for ``savefig`` except that the dynamic artists are
    marked animated while this canvas is in use; :meth:`release` un-marks them.
    """

    def __init__(self, fig, dynamic, dpi: int = 72, fmt: str = "jpeg"):
        # lazy: plotting only; the CLI and training paths never load matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        self.fig, self.dynamic, self.fmt = fig, list(dynamic), fmt
        fig.set_dpi(dpi)
        self.canvas = FigureCanvasAgg(fig)
        self._background = None

    def png(self) -> bytes:
        """The current picture, encoded as :attr:`fmt` (JPEG by default: 5x faster to encode than PNG)."""
        import cv2  # lazy: OpenCV's native libraries load only when an image is decoded or a face detected

        if self._background is None:
            for artist in self.dynamic:
                artist.set_animated(True)
            self.canvas.draw()
            self._background = self.canvas.copy_from_bbox(self.fig.bbox)
        self.canvas.restore_region(self._background)
        renderer = self.canvas.get_renderer()
        for artist in self.dynamic:
            artist.draw(renderer)
        rgba = np.asarray(self.canvas.buffer_rgba())
        bgr = cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR)
        if self.fmt == "png":
            ok, png = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        else:
            ok, png = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise RuntimeError(f"OpenCV could not encode the widget picture as {self.fmt}")
        return png.tobytes()

    def release(self) -> None:
        for artist in self.dynamic:
            artist.set_animated(False)
        self._background = None


def latency_text(latency: Latency, budget_ms: float = 300.0, what: str = "one slider move") -> str:
    """The measured latency and whether it meets the budget (the median decides; the max is reported beside it)."""
    ok = latency.median <= budget_ms
    tail = "" if latency.max <= budget_ms else f", but the slowest of them took {latency.max:.0f} ms"
    return (f"{what[0].upper() + what[1:]} (render + both models + Grad-CAM + redraw) took a median "
            f"**{latency.median:.0f} ms** over {len(latency.times_ms)} moves (max {latency.max:.0f} ms): "
            + (f"within the {budget_ms:.0f} ms budget{tail}." if ok else
               f"**over** the {budget_ms:.0f} ms budget on this machine (a busy CPU? the debouncer still drops "
               "stale updates, so the picture lags but never queues up)."))
