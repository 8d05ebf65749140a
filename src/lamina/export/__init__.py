"""Export: a run's model as ONNX (dynamic batch axis), checked against torch with onnxruntime."""
