"""Static and dynamic (DyQ-VLA) quantization, kernels and memory accounting."""
