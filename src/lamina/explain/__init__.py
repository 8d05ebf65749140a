"""Interpretability through captum: saliency, integrated gradients, Grad-CAM, SHAP."""
