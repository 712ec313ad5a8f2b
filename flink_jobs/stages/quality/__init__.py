"""The model-quality job's stages: labels and predictions in, outcomes per model version out."""
