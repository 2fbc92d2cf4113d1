"""One-line definitions of the terms the answers use, the ``## Glossary`` section of the answer sheet, and a detector
for technical terms (acronyms) an answer uses without a definition here."""
from __future__ import annotations

import re

#: Term -> one-line definition.
GLOSSARY: dict[str, str] = {
    "AU": "action unit: one visible facial muscle movement of FACS, numbered (AU12 = lip-corner puller).",
    "FACS": "Facial Action Coding System: describes any facial expression as a set of action units and intensities.",
    "EMFACS": "Emotional FACS: the subset of FACS listing which action-unit combinations signal each basic emotion.",
    "FAU": "facial action unit (the same as AU).",
    "ICC(3,1)": "intraclass correlation, two-way mixed, consistency, single rater: how well predicted intensities "
                "agree with the labels up to an offset (1 = perfect, 0 = none).",
    "PCC": "Pearson correlation coefficient: linear agreement of two series, blind to offset and scale.",
    "MAE": "mean absolute error: the average of |prediction - label|, in the units of the labels.",
    "MSE": "mean squared error: the average of (prediction - label) squared.",
    "CAM": "class activation map: a heatmap of where the evidence for one class lies in the image.",
    "Grad-CAM": "gradient-weighted class activation map: a layer's feature maps weighted by the class score's "
                "average gradient, as a coarse heatmap of the evidence for that class.",
    "HiResCAM": "like Grad-CAM but weights each position by its own gradient (no averaging), so the map is faithful "
                "to what the score sums.",
    "guided backpropagation": "the input gradient with negative gradients zeroed at every ReLU: a sharp, "
                              "pixel-level (but not class-specific) picture of the edges the network responds to.",
    "pointing game": "an explanation's hit rate: how often the heatmap's maximum falls inside the region known to "
                     "hold the evidence.",
    "ROAD": "RemOve And Debias: removes the pixels a heatmap ranks highest (filling them from their neighbours) and "
            "measures how fast the class score drops; a faithful map makes it drop fast.",
    "label-free collapse": "the failure of a loss without labels (a model compared with itself): predicting the "
                           "same map for every face is a minimum, so training drifts to a constant output.",
    "percentage point": "pp: the difference of two percentages (50 % -> 60 % is +10 pp, a 20 % relative rise).",
    "control run": "the same start, data and schedule without the fix, so that after - control is the fix's own "
                   "effect, not that of training longer.",
    "FER2013": "the Kaggle facial-expression data set: 48x48 grey faces in seven emotion classes.",
    "BP4D": "a data set of lab-recorded faces with action-unit occurrence and intensity labels.",
}

#: Term -> the regular expression that finds it in a text (default: the term itself, case-insensitive).
PATTERNS: dict[str, str] = {
    "AU": r"\bAUs?\d*\b",
    "FAU": r"\bFAUs?\b",
    "CAM": r"(?<![-\w])CAMs?\b",
    "ICC(3,1)": r"\bICC(\(3,1\))?",
    "percentage point": r"percentage points?|\bpp\b",
    "control run": r"\bcontrol runs?\b",
    "label-free collapse": r"label-free (loss\W+)?collapse|collapse of the course's label-free loss",
    "FACS": r"(?<![A-Za-z])FACS\b",  # not the tail of EMFACS
}

#: Acronyms that are everyday computing words or labels of the sheet itself, not terms to define.
COMMON = frozenset({"CPU", "GPU", "RGB", "UTC", "CNN", "SGD", "PDF", "CSV", "PNG", "JPEG", "ID", "OK", "F1"})

_ACRONYM = re.compile(r"\b[A-Z][A-Z0-9]+s?\b(?!\s*=)")
_SHEET_LABEL = re.compile(r"^[QT]\d+$")


def _pattern(term: str) -> re.Pattern:
    return re.compile(PATTERNS.get(term, re.escape(term)), re.IGNORECASE if term not in PATTERNS else 0)


def used_terms(text: str, glossary: dict[str, str] = GLOSSARY) -> list[str]:
    """The glossary terms that ``text`` uses, in glossary order."""
    return [t for t in glossary if _pattern(t).search(text)]


def undefined_terms(text: str, glossary: dict[str, str] = GLOSSARY) -> list[str]:
    """Acronyms in ``text`` (outside code spans) that ``glossary`` does not define and that are not
    :data:`COMMON` words, sorted."""
    text = re.sub(r"`[^`]*`", " ", text)
    for term in glossary:
        text = _pattern(term).sub(" ", text)
    found = {m.group(0).removesuffix("s") if m.group(0)[:-1].isupper() else m.group(0)
             for m in _ACRONYM.finditer(text)}
    return sorted(a for a in found if a not in COMMON and "_" not in a and not _SHEET_LABEL.match(a))


def glossary_markdown(text: str | None = None, glossary: dict[str, str] = GLOSSARY) -> str:
    """The ``## Glossary`` section (Markdown): the terms ``text`` uses (every term when ``text`` is None), one line
    each; empty when ``text`` uses none."""
    terms = list(glossary) if text is None else used_terms(text, glossary)
    if not terms:
        return ""
    return "\n".join(["## Glossary", ""] + [f"- **{t}**: {glossary[t]}" for t in terms]) + "\n"
