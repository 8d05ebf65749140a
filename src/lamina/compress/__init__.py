"""Compression: pruning, int8 quantization, distillation, and the size/latency/accuracy comparison."""
