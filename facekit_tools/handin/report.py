"""Report-ready copies of what the notebooks save: vector PDF figures at IEEE widths, booktabs LaTeX tables.

This module is installed as a side-output writer of :mod:`facekit.io` (entry-point group ``facekit.side_outputs``):
:func:`facekit.io.save_fig` and :func:`facekit.io.save_table` call :func:`figure` and :func:`table`, which write
:func:`pdf_bytes` and :func:`table_to_latex` when :func:`enabled` says so. The switch is the environment variable ``FACEKIT_REPORT_OUTPUTS``: the runner sets it
to ``0`` for a QUICK run and ``1`` for a full run; unset (JupyterLab, Colab) means on.
"""
from __future__ import annotations

import io
import math
import numbers
import os
import re
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from facekit.io import atomic_write_bytes, atomic_write_text
from facekit.runtime import current_context
import pandas as pd

#: IEEE two-column layout: one column and the full text width, in inches.
COLUMN_WIDTH_IN = 3.5
PAGE_WIDTH_IN = 7.16
#: Figures no wider than this (in their notebook size) go to one column, and so do figures with one column of panels
#: up to twice as wide (a loss curve, a confusion matrix); the others span the page.
COLUMN_IF_AT_MOST_IN = 5.5
#: The tallest a report figure may be (an IEEE page's text height is about 9.5 in).
MAX_HEIGHT_IN = 9.0
#: Every text in a report figure ends up between these sizes, in points, at its printed size.
MIN_FONT_PT = 7.0
MAX_FONT_PT = 10.0
PAD_IN = 0.02

ENV = "FACEKIT_REPORT_OUTPUTS"


def enabled() -> bool:
    """Whether ``save_fig``/``save_table`` also write the PDF and ``.tex`` copies (``$FACEKIT_REPORT_OUTPUTS``)."""
    value = os.environ.get(ENV, "1").strip().lower()
    if value in {"1", "true", "yes", "on", ""}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{ENV}={value!r}: use 1 (write report PDFs and LaTeX tables) or 0 (PNG and CSV only).")


def report_width(fig, width: str | float | None = None) -> float:
    """The printed width in inches: ``"column"`` (3.5), ``"page"`` (7.16), a number, or chosen from the figure's size."""
    if width is None:
        narrow = fig.get_figwidth() <= COLUMN_IF_AT_MOST_IN
        one_panel_wide = _panel_columns(fig) <= 1 and fig.get_figwidth() <= 2 * COLUMN_IF_AT_MOST_IN
        return COLUMN_WIDTH_IN if narrow or one_panel_wide else PAGE_WIDTH_IN
    if width == "column":
        return COLUMN_WIDTH_IN
    if width == "page":
        return PAGE_WIDTH_IN
    if isinstance(width, numbers.Real) and width > 0:
        return float(width)
    raise ValueError(f"width={width!r}: use 'column', 'page' or a width in inches.")


def _panel_columns(fig) -> int:
    """How many columns of panels the figure has (colour bars and hidden axes do not count)."""
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    return len({round(ax.get_position().x0, 2) for ax in panels})


def _texts(fig):
    from matplotlib.text import Text  # lazy: plotting only; the CLI and training paths never load matplotlib

    return [t for t in fig.findobj(Text) if t.get_text()]


@contextmanager
def resized_for_print(fig, width: str | float | None = None) -> Iterator:
    """Temporarily resize ``fig`` to its printed width with legible fonts; yields the page to save (a ``Bbox`` in
    inches, for ``savefig(bbox_inches=...)``) whose width is the target.

    The figure keeps its aspect ratio (height capped at :data:`MAX_HEIGHT_IN`); each font is scaled with the figure
    and clamped to [:data:`MIN_FONT_PT`, :data:`MAX_FONT_PT`], so a 10 pt label of a 10 in figure prints at 7.2 pt
    and a 4 pt one at 7 pt. The layout is redone, the figure is grown or shrunk until its *tight* bounding box is
    as wide as the target without exceeding it (margins in points do not scale, so this takes a few tries), and the
    page is that box widened to exactly the target. Size, fonts, layout, suptitle and axes positions are restored
    on exit, so the figure the notebook shows is unchanged.
    """
    target = report_width(fig, width)
    w0, h0 = fig.get_size_inches()
    fig.canvas.draw()  # creates the tick labels, so that they are scaled too
    fonts: dict = {}
    positions = [(ax, ax.get_position(original=True), ax.get_position(original=False)) for ax in fig.axes]
    sp = fig.subplotpars
    subplotpars = dict(left=sp.left, right=sp.right, bottom=sp.bottom, top=sp.top, wspace=sp.wspace, hspace=sp.hspace)
    engine = fig.get_layout_engine()
    # tight_layout reserves the suptitle's height at the very top of the figure, but the suptitle sits at y=0.98:
    # on a shorter printed figure the column titles then run into it. Move it to the top while printing.
    suptitle = getattr(fig, "_suptitle", None)
    suptitle_at = suptitle.get_position() if suptitle is not None else None
    try:
        if suptitle is not None and suptitle.get_va() == "top":
            suptitle.set_y(1.0)
        scale = target / w0
        height = min(h0 * scale, MAX_HEIGHT_IN)
        fig.set_size_inches(target, height, forward=False)
        aspect = fig.get_figheight() / fig.get_figwidth()
        best = None  # (printed width, figure width) of the widest try that fits the target
        for _ in range(5):
            for text in _texts(fig):  # texts a draw added (more ticks) are scaled as well
                if text not in fonts:
                    fonts[text] = text.get_fontsize()
                    text.set_fontsize(min(max(fonts[text] * scale, MIN_FONT_PT), MAX_FONT_PT))
            _relayout(fig, engine)
            w = fig.get_figwidth()
            printed = _tight_inches(fig).width
            if printed <= target and (best is None or printed > best[0]):
                best = (printed, w)
            if target * 0.98 <= printed <= target:
                break
            # margins keep their size in points, so the printed width does not follow the figure width exactly
            w_new = min(w * target / printed, 2.0 * target)
            fig.set_size_inches(w_new, min(w_new * aspect, MAX_HEIGHT_IN), forward=False)
        if best is None:  # never fitted: shrink until it does (the bounding box below then fixes the page width)
            best = (0.0, fig.get_figwidth() * target / printed)
        if best[1] != fig.get_figwidth():
            fig.set_size_inches(best[1], min(best[1] * aspect, MAX_HEIGHT_IN), forward=False)
            _relayout(fig, engine)
        yield print_bbox(fig, target)
    finally:
        if suptitle is not None:
            suptitle.set_position(suptitle_at)
        fig.set_size_inches(w0, h0, forward=False)
        for text, size in fonts.items():
            text.set_fontsize(size)
        if engine is None:
            fig.subplots_adjust(**subplotpars)
        for ax, original, active in positions:
            ax.set_position(original, which="original")
            ax.set_position(active, which="active")


def _tight_inches(fig):
    """The figure's tight bounding box in inches, padded by :data:`PAD_IN` (what ``bbox_inches="tight"`` saves)."""
    return fig.get_tightbbox(fig.canvas.get_renderer()).padded(PAD_IN)


def print_bbox(fig, target: float):
    """The tight bounding box widened (centred) to exactly ``target`` inches: the PDF page of the printed figure."""
    from matplotlib.transforms import Bbox  # lazy: plotting only; the CLI and training paths never load matplotlib

    box = _tight_inches(fig)
    extra = max(target - box.width, 0.0) / 2
    return Bbox.from_extents(box.x0 - extra, box.y0, box.x1 + extra, box.y1)


def _relayout(fig, engine) -> None:
    if engine is not None:  # constrained or tight layout: let it place the axes at the new size
        fig.canvas.draw_without_rendering() if hasattr(fig.canvas, "draw_without_rendering") else fig.canvas.draw()
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # axes placed by hand are left where they are
        try:
            fig.tight_layout(pad=0.3)
        except Exception:  # noqa: BLE001 - a figure tight_layout cannot handle is saved with its own layout
            pass


def pdf_bytes(fig, width: str | float | None = None) -> bytes:
    """``fig`` as a vector PDF at its printed width (see :func:`resized_for_print`), fonts embedded as TrueType.

    Type 3 fonts (matplotlib's default) are refused by IEEE PDF eXpress; ``pdf.fonttype = 42`` embeds TrueType.
    The creation date is left out, so rerunning a notebook gives the same bytes.
    """
    import matplotlib  # lazy: plotting only; the CLI and training paths never load matplotlib

    if not hasattr(fig.canvas, "get_renderer"):  # a bare ``Figure()`` (e.g. a widget's) has no drawing canvas yet
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
    buf = io.BytesIO()
    with matplotlib.rc_context({"pdf.fonttype": 42}), resized_for_print(fig, width) as page, _native_images(fig):
        fig.savefig(buf, format="pdf", dpi=300, bbox_inches=page, metadata={"CreationDate": None})
    return buf.getvalue()


@contextmanager
def _native_images(fig) -> Iterator[None]:
    """Embed images drawn with matplotlib's default interpolation at their own resolution (``"none"``).

    A 48x48 face shown 2 in wide is otherwise resampled to 300 dpi (600x600 pixels) inside the PDF; upsampled that
    much, the default ``"antialiased"`` is nearest-neighbour anyway, so the page looks the same and the file is
    several times smaller. Images with a chosen interpolation (a smoothed heatmap) keep it.
    """
    from matplotlib.image import AxesImage  # lazy: plotting only; the CLI and training paths never load matplotlib

    changed = [im for im in fig.findobj(AxesImage) if im.get_interpolation() in {"antialiased", "auto"}]
    before = [im.get_interpolation() for im in changed]
    for im in changed:
        im.set_interpolation("none")
    try:
        yield
    finally:
        for im, value in zip(changed, before):
            im.set_interpolation(value)


# --- LaTeX ----------------------------------------------------------------------------------------------------------

_LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                   "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
#: Characters the answers and tables use that pdflatex cannot typeset from UTF-8 alone.
_UNICODE = {"→": r"$\rightarrow$", "←": r"$\leftarrow$", "±": r"$\pm$", "×": r"$\times$", "−": r"$-$",
            "·": r"$\cdot$", "≥": r"$\geq$", "≤": r"$\leq$", "≈": r"$\approx$", "≠": r"$\neq$", "…": r"\ldots{}",
            "–": "--", "—": "---", "κ": r"$\kappa$", "σ": r"$\sigma$", "μ": r"$\mu$", "Δ": r"$\Delta$",
            "α": r"$\alpha$", "β": r"$\beta$", "λ": r"$\lambda$", "ρ": r"$\rho$", "°": r"$^\circ$",
            "✓": r"$\checkmark$", "✗": r"$\times$", "’": "'", "‘": "`", "“": "``", "”": "''"}
_ESCAPE = re.compile("|".join(re.escape(c) for c in [*_LATEX_SPECIALS, *_UNICODE]))


def latex_escape(text: object) -> str:
    """``text`` with LaTeX's special characters escaped and common symbols (→, ±, ≥, ...) in math mode."""
    return _ESCAPE.sub(lambda m: _LATEX_SPECIALS.get(m.group(0)) or _UNICODE[m.group(0)], str(text))


def format_cell(value: object, decimals: int = 3, integer_column: bool = False) -> str:
    """One table cell as text: integers as integers, floats rounded to ``decimals`` (as the notebooks display
    them with ``.round(3)``), missing values as ``--``."""
    if value is None or value is _pd_na() or (isinstance(value, float) and math.isnan(value)):
        return "--"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        if math.isnan(value):
            return "--"
        if math.isinf(value):
            return r"$\infty$" if value > 0 else r"$-\infty$"
        if integer_column:
            return str(int(round(value)))
        return f"{value:.{decimals}f}"
    return latex_escape(value)


def _pd_na():

    return pd.NA


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9:._-]+", "-", text).strip("-")


def table_to_latex(df, caption: str, label: str, decimals: int = 3, index: bool = True) -> str:
    """A ``DataFrame`` as a booktabs ``table`` float: one row per data row, numbers rounded to ``decimals``.

    The index (each level of a MultiIndex) becomes the first column(s) when ``index`` is true; MultiIndex column
    labels are joined with `` / ``. Numeric columns are right-aligned, and a float column whose values are all
    whole numbers prints as integers. Tables with more than six columns use ``table*`` (the full page width).
    """

    frame = df.to_frame() if isinstance(df, pd.Series) else df
    if index:
        names = [n if n is not None else "" for n in frame.index.names]
        frame = frame.copy()
        frame.columns = [_column_name(c) for c in frame.columns]
        index_frame = frame.index.to_frame(index=False)
        index_frame.columns = [str(n) for n in names] if len(names) > 1 else [str(names[0])]
        frame = pd.concat([index_frame, frame.reset_index(drop=True)], axis=1)
    else:
        frame = frame.reset_index(drop=True)
        frame.columns = [_column_name(c) for c in frame.columns]
    columns = list(frame.columns)
    numeric = [pd.api.types.is_numeric_dtype(frame.iloc[:, j]) and not pd.api.types.is_bool_dtype(frame.iloc[:, j])
               for j in range(len(columns))]
    integer = []
    for j, is_num in enumerate(numeric):
        col = frame.iloc[:, j]
        finite = col[pd.notna(col)] if is_num else col
        integer.append(bool(is_num and len(finite) and all(float(v).is_integer() for v in finite)))
    spec = "".join("r" if is_num else "l" for is_num in numeric)
    env = "table*" if len(columns) > 6 else "table"
    lines = [f"% {label}: generated by facekit from the notebook's table; regenerate it instead of editing it.",
             r"% needs \usepackage{booktabs}",
             rf"\begin{{{env}}}[t]", r"\centering", r"\small",
             rf"\caption{{{latex_escape(caption)}}}", rf"\label{{{_label(label)}}}",
             rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(latex_escape(c) for c in columns) + r" \\", r"\midrule"]
    for row in frame.itertuples(index=False, name=None):
        cells = [format_cell(v, decimals, integer[j]) if numeric[j] else format_cell(v, decimals)
                 for j, v in enumerate(row)]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", rf"\end{{{env}}}", ""]
    return "\n".join(lines)


def _column_name(label: object) -> str:
    if isinstance(label, tuple):
        return " / ".join(str(part) for part in label if str(part) != "")
    return str(label)


def default_caption(name: str, notebook: str | None) -> str:
    """``"per class (02_emotion_training)"``: the caption when the notebook passes none."""
    words = re.sub(r"[_]+", " ", name).strip()
    return f"{words} ({notebook})" if notebook else words


def figure(fig, path: Path, *, width: str | float | None = None, report: bool | None = None) -> None:
    """Write ``<path>.pdf`` beside a saved figure when report outputs are on (``report``, default :func:`enabled`)."""
    if enabled() if report is None else report:
        atomic_write_bytes(Path(path).with_suffix(".pdf"), pdf_bytes(fig, width))


def table(df, path: Path, *, caption: str | None = None, decimals: int = 3, index: bool = True,
          report: bool | None = None) -> None:
    """Write ``<path>.tex`` beside a saved table when report outputs are on (``report``, default :func:`enabled`)."""
    if not (enabled() if report is None else report):
        return
    path = Path(path)
    ctx = current_context()
    notebook = ctx.name if ctx is not None else path.parent.name
    text = table_to_latex(df, caption or default_caption(path.stem, notebook), f"tab:{notebook}:{path.stem}",
                          decimals=decimals, index=index)
    atomic_write_text(path.with_suffix(".tex"), text)
