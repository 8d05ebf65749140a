"""Serving: a run behind an HTTP prediction service (FastAPI + uvicorn), torch or onnxruntime backend."""
