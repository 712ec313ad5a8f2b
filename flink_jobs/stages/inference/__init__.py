"""Inference stages: the model's inputs, the Triton call, and the batching operator that fuses
the inference job's stages."""
