"""Explanations: Grad-CAM++ through the whole pipeline, embeddings for t-SNE."""
from ..utils.lazy import lazy_attributes

_WHERE = {
    "GradCAMPlusPlus": ".gradcam",
    "explain_clip": ".gradcam",
    "gradcam_plus_plus_weights": ".gradcam",
}

__all__ = list(_WHERE)
__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)
