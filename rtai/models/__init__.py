"""Models: training, ONNX export, optimized variants and registration in the Triton repository."""
