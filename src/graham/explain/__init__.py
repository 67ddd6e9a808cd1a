"""Explanations: Grad-CAM++ through the whole pipeline, embeddings for t-SNE."""

from .gradcam import GradCAMPlusPlus, explain_clip, gradcam_plus_plus_weights

__all__ = ["GradCAMPlusPlus", "explain_clip", "gradcam_plus_plus_weights"]
