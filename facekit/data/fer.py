"""FER2013's vocabulary: the emotion names and their order, the splits, the exact class counts.

A FER2013-style data set in memory is a :class:`facekit.data.faceset.FaceSet` (48x48 uint8 faces, ``emotion`` 0-6,
``usage`` the split of each row); real FER2013 (``load_fer2013``) and the synthetic generator (``facekit.synth``)
both return one, so the trainer and the notebooks never ask where the faces came from.
"""
from __future__ import annotations

import re

#: FER2013's label order: the integer in the ``emotion`` column indexes this tuple.
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

#: Other names of the FER2013 classes seen in course folders and Kaggle re-uploads (file or folder names).
EMOTION_SYNONYMS: dict[str, str] = {
    "anger": "angry", "mad": "angry", "disgusted": "disgust", "fearful": "fear", "afraid": "fear", "scared": "fear",
    "happiness": "happy", "joy": "happy", "smile": "happy", "sadness": "sad", "surprised": "surprise",
    "calm": "neutral", "contempt": None,
}


def emotion_from_name(name: str) -> str | None:
    """The FER2013 emotion a file or folder name stands for (``surprised.jpg`` -> ``surprise``, ``Happy_2`` ->
    ``happy``, ``anger`` -> ``angry``), or ``None`` when the name is no emotion. Case, the extension and a trailing
    number (``_2``, ``-03``, ``1``) are ignored."""

    stem = re.sub(r"\.[a-z0-9]{2,5}$", "", str(name).strip().lower())
    stem = re.sub(r"[\s_\-]*\(?\d+\)?$", "", stem)
    if stem in EMOTIONS:
        return stem
    return EMOTION_SYNONYMS.get(stem)


#: FER2013's ``Usage`` values, in the order of the integer codes of :attr:`FaceSet.usage`.
SPLITS: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")

#: FER2013's exact class counts per split, in :data:`EMOTIONS` order (35,887 faces in all).
FER2013_COUNTS: dict[str, tuple[int, ...]] = {
    "Training": (3995, 436, 4097, 7215, 4830, 3171, 4965),
    "PublicTest": (467, 56, 496, 895, 653, 415, 607),
    "PrivateTest": (491, 55, 528, 879, 594, 416, 626),
}
