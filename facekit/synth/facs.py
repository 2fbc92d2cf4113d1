"""Facial Action Units, the EMFACS emotion table, and how a face's AU intensities are drawn.

Every synthetic expression is *caused* by AU intensities on the 0-5 FACS scale (0 = absent, A-E = 1-5). An emotion
is a set of AU combinations (EMFACS prototypes); a sampled face takes one prototype at a per-face intensity, may drop
some of its AUs (partial expression), may blend in a second emotion, and may carry stray AUs, as real faces do.

EMFACS prototypes used here (after Friesen & Ekman 1983, as summarised in the FACS Investigator's Guide):

=========  ===============================================================  ==================================
emotion    prototype AU combinations                                        what the face does
=========  ===============================================================  ==================================
happy      6+12, 12, 6+12+25, 12+25                                         cheeks up, lip corners up and out
sad        1+4+15, 1+4+15+17, 6+15, 1+4, 1+15                               inner brows up, lip corners down
surprise   1+2+5+26, 1+2+5+25, 1+2+26, 5+26                                 brows up, eyes wide, jaw drop
fear       1+2+4+5+20+26, 1+2+4+5+20+25, 1+2+4+5+25, 1+2+4+5, 5+20          brows up and together, lips stretched
angry      4+5+7+23, 4+5+7+10+25, 4+7+23, 4+5+23, 4+7+17+23                 brows down, lids tight, lips pressed
disgust    9+15+16, 10, 9, 9+17, 10+17, 9+16+25, 10+16+25                   nose wrinkled, upper lip raised
neutral    (none)                                                           relaxed face
=========  ===============================================================  ==================================

What makes the set FER-hard rather than a toy (see :func:`sample_expressions`): most expressions are subtle (A-B),
prototypes share AUs across the confusable pairs (fear/surprise share 1+2+5+26, sad/neutral differ by a weak 1+4+15,
anger/disgust share 4, 10 and 17), a share of faces blend two emotions, and about 10 % of labels are the confusable
answer an annotator gives instead of the true one (:data:`LABEL_CONFUSION`).
"""
from __future__ import annotations

import torch

from facekit.data.fer import EMOTIONS

#: The AUs the generator animates, in the column order of every AU array in facekit.
AUS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 16, 17, 20, 23, 25, 26)

#: FACS names of :data:`AUS`.
AU_NAMES: dict[int, str] = {
    1: "inner brow raiser", 2: "outer brow raiser", 4: "brow lowerer", 5: "upper lid raiser", 6: "cheek raiser",
    7: "lid tightener", 9: "nose wrinkler", 10: "upper lip raiser", 12: "lip corner puller", 14: "dimpler",
    15: "lip corner depressor", 16: "lower lip depressor", 17: "chin raiser", 20: "lip stretcher",
    23: "lip tightener", 25: "lips part", 26: "jaw drop",
}

#: Emotion -> its EMFACS prototype AU combinations (the table in this module's docstring).
EMFACS: dict[str, tuple[tuple[int, ...], ...]] = {
    "angry": ((4, 5, 7, 23), (4, 5, 7, 10, 25), (4, 7, 23), (4, 5, 23), (4, 7, 17, 23)),
    "disgust": ((9, 15, 16), (10,), (9,), (9, 17), (10, 17), (9, 16, 25), (10, 16, 25)),
    "fear": ((1, 2, 4, 5, 20, 26), (1, 2, 4, 5, 20, 25), (1, 2, 4, 5, 25), (1, 2, 4, 5), (5, 20)),
    "happy": ((6, 12), (12,), (6, 12, 25), (12, 25)),
    "sad": ((1, 4, 15), (1, 4, 15, 17), (6, 15), (1, 4), (1, 15)),
    "surprise": ((1, 2, 5, 26), (1, 2, 5, 25), (1, 2, 26), (5, 26)),
    "neutral": ((),),
}

#: The emotion an annotator confuses each emotion with, and how often (rows sum to 1); used for label noise.
_CONFUSABLE: dict[str, dict[str, float]] = {
    "angry": {"disgust": 0.35, "sad": 0.25, "fear": 0.15, "neutral": 0.25},
    "disgust": {"angry": 0.6, "sad": 0.2, "fear": 0.2},
    "fear": {"surprise": 0.45, "sad": 0.3, "angry": 0.1, "neutral": 0.15},
    "happy": {"neutral": 0.6, "surprise": 0.2, "sad": 0.2},
    "sad": {"neutral": 0.55, "fear": 0.2, "angry": 0.25},
    "surprise": {"fear": 0.6, "happy": 0.25, "neutral": 0.15},
    "neutral": {"sad": 0.5, "angry": 0.2, "happy": 0.15, "surprise": 0.15},
}

#: Share of faces whose FER label is the confusable answer instead of the true emotion (FER2013 has about 10 %).
LABEL_NOISE: float = 0.10

#: Which emotion most often blends into each one (a partial second expression at lower intensity).
_BLEND_WITH: dict[str, tuple[str, ...]] = {
    "angry": ("disgust", "sad"), "disgust": ("angry", "sad"), "fear": ("surprise", "sad"),
    "happy": ("surprise",), "sad": ("angry", "fear"), "surprise": ("fear", "happy"), "neutral": ("sad",),
}


def au_index(au: int) -> int:
    """Column of AU ``au`` in every AU array (``AUS.index``) with an error that lists the valid AUs."""
    try:
        return AUS.index(int(au))
    except ValueError:
        raise ValueError(f"AU{au} is not animated by the generator; valid AUs are {', '.join(map(str, AUS))}") from None


def label_confusion(noise: float = LABEL_NOISE) -> torch.Tensor:
    """7x7 matrix ``M[true, given]``: the chance an annotator gives label ``given`` to a face showing ``true``."""
    m = torch.zeros(len(EMOTIONS), len(EMOTIONS))
    for i, name in enumerate(EMOTIONS):
        m[i, i] = 1.0 - noise
        for other, p in _CONFUSABLE[name].items():
            m[i, EMOTIONS.index(other)] += noise * p
    return m


def _prototype_table() -> tuple[torch.Tensor, list[torch.Tensor]]:
    """All prototypes as 0/1 rows over :data:`AUS` and, per emotion, the rows that belong to it."""
    rows, owners = [], []
    for e, name in enumerate(EMOTIONS):
        for combo in EMFACS[name]:
            row = torch.zeros(len(AUS))
            for au in combo:
                row[au_index(au)] = 1.0
            rows.append(row)
            owners.append(e)
    table = torch.stack(rows)
    owners_t = torch.tensor(owners)
    return table, [torch.nonzero(owners_t == e).flatten() for e in range(len(EMOTIONS))]


def _pick_prototypes(emotion: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    table, members = _prototype_table()
    u = torch.rand(len(emotion), generator=gen)
    out = torch.zeros(len(emotion), len(AUS))
    for e in range(len(EMOTIONS)):
        rows = emotion == e
        k = members[e]
        choice = k[(u[rows] * len(k)).long().clamp(max=len(k) - 1)]
        out[rows] = table[choice]
    return out


def sample_expressions(emotion: torch.Tensor, gen: torch.Generator, *, subtle: float = 0.35) -> torch.Tensor:
    """AU intensities (n, len(AUS)) in 0-5 for faces whose true emotion is ``emotion`` (int64, n).

    Per face: one EMFACS prototype; an overall intensity that is subtle (A-B, about 0.4-2) for a share ``subtle``
    of faces, moderate (C) or strong (D-E) otherwise; per-AU jitter; each prototype AU dropped with chance 0.2
    (at least one kept: a partial expression); with chance 0.2 a second, confusable emotion blended in at a third
    to two thirds of the intensity; each other AU present at a trace level with chance 0.03. Neutral faces carry a
    stray trace AU with chance 0.35.
    """
    n = len(emotion)
    proto = _pick_prototypes(emotion, gen)
    band = torch.rand(n, generator=gen)
    level = torch.rand(n, generator=gen)
    strength = torch.where(band < subtle, 0.4 + 1.6 * level,
                           torch.where(band < subtle + 0.38, 1.8 + 1.7 * level, 3.2 + 1.8 * level))
    jitter = 0.65 + 0.6 * torch.rand(n, len(AUS), generator=gen)
    keep = torch.rand(n, len(AUS), generator=gen) > 0.2
    strongest = (proto * jitter).argmax(1)
    keep[torch.arange(n), strongest] = True
    au = proto * keep * jitter * strength[:, None]
    # blends with a confusable emotion
    blend = torch.rand(n, generator=gen) < 0.2
    partner = torch.zeros(n, dtype=torch.long)
    pick = torch.rand(n, generator=gen)
    for e, name in enumerate(EMOTIONS):
        options = torch.tensor([EMOTIONS.index(o) for o in _BLEND_WITH[name]])
        rows = emotion == e
        partner[rows] = options[(pick[rows] * len(options)).long().clamp(max=len(options) - 1)]
    second = _pick_prototypes(partner, gen)
    mix = (0.33 + 0.33 * torch.rand(n, 1, generator=gen)) * strength[:, None]
    au = torch.maximum(au, second * mix * blend[:, None])
    # stray trace AUs
    stray_p = torch.where(emotion == EMOTIONS.index("neutral"), 0.35 / 3, 0.03)[:, None]
    stray = torch.rand(n, len(AUS), generator=gen) < stray_p
    trace = 0.3 + 1.2 * torch.rand(n, len(AUS), generator=gen)
    au = torch.maximum(au, stray * trace)
    return au.clamp(0, 5).float()


def sample_independent_aus(n: int, gen: torch.Generator, aus: tuple[int, ...] = (6, 10, 12, 14, 17),
                           p_active: float = 0.6) -> torch.Tensor:
    """(n, len(aus)) intensities drawn independently: 0 with chance ``1 - p_active``, else uniform on 0.3-5."""
    active = torch.rand(n, len(aus), generator=gen) < p_active
    return (active * (0.3 + 4.7 * torch.rand(n, len(aus), generator=gen))).float()


def noisy_labels(clean: torch.Tensor, gen: torch.Generator, noise: float = LABEL_NOISE) -> torch.Tensor:
    """The label a FER annotator gives each face: its true emotion, or with chance ``noise`` a confusable one."""
    m = label_confusion(noise)
    return torch.multinomial(m[clean], 1, generator=gen).flatten() if len(clean) else clean.clone()


def clean_given_labels(labels: torch.Tensor, gen: torch.Generator, noise: float = LABEL_NOISE) -> torch.Tensor:
    """True emotions for faces whose annotator label is fixed (used to hit FER2013's exact label counts).

    Uses Bayes' rule on :func:`label_confusion` with a uniform prior, so about ``noise`` of the faces carry a label
    that differs from the emotion they show.
    """
    m = label_confusion(noise)
    posterior = m.T / m.T.sum(1, keepdim=True)  # P(true | given) under a uniform prior
    return torch.multinomial(posterior[labels], 1, generator=gen).flatten() if len(labels) else labels.clone()
