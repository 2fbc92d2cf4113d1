"""Face data: the in-memory emotion data set shared by the synthetic generator and real FER2013, and its loaders."""
from facekit.data.fer import EMOTIONS, FER2013_COUNTS, SPLITS, FERData

__all__ = ["EMOTIONS", "FER2013_COUNTS", "SPLITS", "FERData"]
