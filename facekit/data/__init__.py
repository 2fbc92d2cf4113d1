"""Face data: the one face-set type (:class:`FaceSet`) shared by the synthetic generator and real data, and its loaders."""
from facekit.data.faceset import FaceSet
from facekit.data.fer import EMOTIONS, FER2013_COUNTS, SPLITS

__all__ = ["EMOTIONS", "FER2013_COUNTS", "SPLITS", "FaceSet"]
