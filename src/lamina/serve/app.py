"""The HTTP prediction service: POST /predict, GET /health, GET /metadata, and OpenAPI docs.

The model is loaded once, at start-up, from the run folder (the torch
weights, or for the onnxruntime backend the run's model.onnx written by
``lamina export``); nothing is fetched or unpickled. Bodies over ``max_bytes``
get 413, unparsable JSON 400, and any value of the wrong type, shape or
finiteness 422 naming the field; responses never contain filesystem paths.
"""

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from lamina.errors import LaminaError, RunFolderError
from lamina.runs import (Predictions, Run, check_finite_outputs, labelled_rows, load_run, non_finite_input_message,
                         prediction_rows, prediction_values)
from lamina.serve.graph import INPUT, serving_graph
from lamina.serve.payload import PayloadError, array_batch, array_inputs, model_inputs, plain_batch
from lamina.serve.workers import Busy, Workers

MAX_BYTES = 8 * 1024 * 1024
MAX_INSTANCES = 4096
BACKENDS = ("torch", "onnx")
_FLOAT32 = np.dtype(np.float32)  # native float32; other byte orders take the checked path


class PredictRequest(BaseModel):
    """A batch of samples: each an array (nested lists or flat features) or a record of named values."""

    model_config = ConfigDict(extra="forbid")
    instances: list[list[Any] | dict[str, float | str | None]] = Field(min_length=1, max_length=MAX_INSTANCES)


class PredictResponse(BaseModel):
    """One prediction per instance: the class and class probabilities, or the predicted values."""

    predictions: list[dict[str, float | str]]


class TorchBackend:
    """Runs the run's torch model (in eval mode, no autograd)."""

    name = "torch"
    predictions = None  # no serving graph: Predictor preprocesses and labels around outputs()

    def __init__(self, run: Run) -> None:
        self.run = run

    def outputs(self, x: np.ndarray) -> torch.Tensor:
        """Model outputs for preprocessed inputs (in inference mode, whichever thread calls)."""
        with torch.inference_mode():
            return self.run.outputs(x)


class OnnxBackend:
    """Runs the run's model.onnx with onnxruntime (the fastest at small batches).

    For array runs it also holds the serving graph (:mod:`lamina.serve.graph`): raw samples in, class
    probabilities or target values out, preprocessing and the finiteness check inside the one call.
    """

    name = "onnx"

    def __init__(self, run: Run, threads: int = 1) -> None:
        import onnxruntime as ort

        path = run.folder.root / "model.onnx"
        if not path.is_file():
            raise RunFolderError(f"{path} is missing; write it first with: lamina export {run.folder.root} --format onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        model = path.read_bytes()
        try:
            graph = serving_graph(model, run.preprocessor)
            self.session = ort.InferenceSession(graph or model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnx and onnxruntime raise their own types for a damaged file
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise RunFolderError(f"{path} is damaged or not an ONNX model ({reason}); write it again with: "
                                 f"lamina export {run.folder.root} --format onnx") from None
        self.output_names = [output.name for output in self.session.get_outputs()]
        self._run = self.session.run
        self.predictions = self._predictions if graph else None

    def _predictions(self, raw: np.ndarray) -> np.ndarray:
        """The serving graph on raw float32 samples (N, *shape): (N, outputs); a NaN row for a sample with a non-finite value."""
        return self._run(self.output_names, {INPUT: raw})[0]

    def outputs(self, x: np.ndarray) -> torch.Tensor:
        """Model outputs for preprocessed inputs (runs without a serving graph: tables, tokens, seq2seq)."""
        if self.predictions is not None:
            raise LaminaError("this backend serves raw arrays through its serving graph; call predictions()")
        if x.dtype != np.float32 or not x.flags.c_contiguous:
            x = np.ascontiguousarray(x, dtype=np.float32)
        return torch.from_numpy(self.session.run(self.output_names, {"x": x})[0])


class Predictor:
    """The in-process core of the service: validate instances, preprocess, run the backend, label outputs."""

    def __init__(self, run: Run, backend: str = "torch") -> None:
        if backend not in BACKENDS:
            raise LaminaError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
        self.run = run
        self.backend = TorchBackend(run) if backend == "torch" else OnnxBackend(run)
        self._graph = self.backend.predictions
        self._sample_shape = tuple(run.preprocessor.inputs.shape)

    def predict(self, instances: list[Any]) -> list[dict[str, Any]]:
        """Predictions for raw instances (as in a request body), or a PayloadError naming the bad field."""
        prep = self.run.preprocessor
        try:
            if self._graph is not None:
                return labelled_rows(self._graph_values(instances), prep.target)
            x, report = model_inputs(instances, prep.inputs)
            self._check_finite(x)
        except PayloadError:
            raise
        except LaminaError as exc:
            raise PayloadError(["instances"], str(exc)) from None
        return Predictions(prediction_rows(self.backend.outputs(x), prep), report)

    def _check_finite(self, x: np.ndarray) -> None:
        """A PayloadError (422) naming the instance and column whose value overflowed once preprocessed."""
        found = non_finite_input_message(x, self.run.preprocessor.inputs, "instances")
        if found is not None:
            raise PayloadError(["instances", found[0]], found[1])

    def _graph_values(self, instances: list[Any]) -> np.ndarray:
        """Serving-graph predictions for array instances: one numpy conversion when they are well formed
        (lists of plain numbers of the sample shape, every value finite as float32), else the value-by-value
        checks, which name the bad value."""
        batch = plain_batch(instances, self._sample_shape)
        if batch is not None:
            with np.errstate(over="ignore"):  # beyond float32 becomes inf: a NaN row, so the checks below
                values = self._through_graph(batch.astype(np.float32))
            if values is not None:
                return values
        return self.predict_array(array_inputs(instances, self.run.preprocessor.inputs))

    def predict_array(self, x: np.ndarray) -> np.ndarray:
        """Numeric predictions for a numpy batch of raw samples: class probabilities (N, classes) or values.

        The in-process fast path. With the onnx backend a float32 batch of the model's sample shape goes
        straight into the serving graph, and only a non-finite result leads to the exact
        checks; anything else (other dtypes, flat features, the torch backend) is checked and converted
        first by :func:`lamina.serve.payload.array_batch`. Bad input raises PayloadError naming the value.
        """
        out = self._through_graph(x)
        if out is not None:
            return out
        prep = self.run.preprocessor
        raw = array_batch(x, prep.inputs)
        if self._graph is not None:
            values = self._graph(raw)
            check_finite_outputs(values)  # finite float32 inputs the scaling overflows give NaN rows
            return values
        inputs = prep.inputs.transform_array(raw, "instances")
        self._check_finite(inputs)
        return prediction_values(self.backend.outputs(inputs), prep.target)

    def _through_graph(self, x: Any) -> np.ndarray | None:
        """The serving graph's predictions for a native float32 batch of the sample shape whose every value is
        finite; None for anything else (no serving graph, another dtype or shape, a non-finite value)."""
        graph = self._graph
        if graph is not None and type(x) is np.ndarray and x.dtype is _FLOAT32 and x.shape[1:] == self._sample_shape \
                and len(x):
            out = graph(x)
            if math.isfinite(out.item(0) if len(out) == 1 else float(out[:, 0].sum())):  # NaN rows: non-finite inputs
                return out
        return None

    def metadata(self) -> dict[str, Any]:
        """What a client needs to call the model: task, input schema, outputs, limits (no paths)."""
        inputs = self.run.preprocessor.inputs
        target = self.run.preprocessor.target
        schema: dict[str, Any] = {"kind": inputs.kind, "shape": list(inputs.shape)}
        if inputs.kind == "table":
            schema["columns"] = [{"name": c.name, "type": "number" if c.kind == "numeric" else "category",
                                  **({"categories": c.categories} if c.kind != "numeric" else {})}
                                 for c in inputs.columns]
        else:
            schema["features"] = list(inputs.feature_names)
        return {"name": self.run.spec.name, "task": target.task, "input": schema,
                "outputs": {"names": target.names, "classes": target.classes},
                "backend": self.backend.name, "max_instances": MAX_INSTANCES}


def parse_body(body: bytes | bytearray) -> Any:
    """The JSON value of a request body, or a PayloadError (400) when it is not JSON.

    orjson parses it (several times faster than the standard parser, which matters at batch 1); where
    orjson refuses what the standard parser reads (NaN, Infinity, numbers beyond float range), the
    standard parser's reading is used, so such values reach the checks that name their place (422).
    """
    import orjson

    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise PayloadError([], "the body must be JSON: {\"instances\": [...]}", status=400) from None


def answer(predictor: Predictor, body: bytes | bytearray) -> tuple[int, bytes]:
    """The /predict answer to a request body within the size limit: HTTP status and JSON bytes.

    200 with ``{"predictions": [...]}``; 400 for a body that is not JSON; 422 for a request of the wrong
    form (pydantic's messages, five at most) or a value of the wrong type, shape or finiteness (one
    message naming its place). Everything but the HTTP framing, so it can be tested and timed alone.
    """
    from pydantic import ValidationError

    try:
        rows = predictor.predict(PredictRequest.model_validate(parse_body(body)).instances)
    except ValidationError as exc:
        errors = [{"loc": ["body", *e["loc"]], "msg": e["msg"]} for e in exc.errors(include_url=False)[:5]]
        return 422, _json_bytes({"detail": errors})
    except PayloadError as exc:
        return exc.status, _json_bytes({"detail": [{"loc": exc.loc, "msg": str(exc)}]})
    report = getattr(rows, "report", None)
    return 200, _json_bytes({"predictions": rows, **({"metadata": {"inputs": report.as_dict()}} if report else {})})


def _json_bytes(content: dict[str, Any]) -> bytes:
    """JSON bytes by orjson; by the standard module (ASCII escapes) for text orjson cannot write, a lone surrogate
    that the standard parser let into a record's key, so that such a request still gets its 422."""
    import orjson

    try:
        return orjson.dumps(content)
    except TypeError:
        return json.dumps(content).encode()


_served: Predictor | None = None  # in a worker process of the service: the predictor it loaded at start


def start_worker(folder: str, backend: str) -> None:
    """Load the run in a worker process of the service, once (one torch thread: the pool has one per core)."""
    global _served
    torch.set_num_threads(1)
    _served = Predictor(load_run(folder), backend)


def answer_in_worker(body: bytes) -> tuple[int, bytes]:
    """:func:`answer` with the worker process's own predictor (see :func:`start_worker`)."""
    if _served is None:
        raise RuntimeError("answer_in_worker runs only in a worker process started by start_worker")
    return answer(_served, body)


def check_limits(port: int | None = None, max_bytes: int = MAX_BYTES) -> None:
    """Refuse a port outside 1-65535 or a body limit below one byte (every request would get 413)."""
    if port is not None and not 1 <= port <= 65535:
        raise LaminaError(f"--port must be between 1 and 65535; got {port}")
    if max_bytes < 1:
        raise LaminaError(f"--max-bytes must be at least 1 (a body limit in bytes); got {max_bytes}")


def create_app(run: Run | str | Path, backend: str = "torch", max_bytes: int = MAX_BYTES,
               workers: Workers | None = None):
    """The FastAPI application serving ``run`` (loaded now, once).

    /predict reads the body on the event loop and parses and predicts in ``workers`` (by default worker
    processes, one per core up to eight, each with its own copy of the model; a bounded number of requests
    admitted: 503 with Retry-After beyond), so /health stays fast while large bodies are being answered:
    parsing in a thread of this process would hold the GIL the event loop needs.
    """
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response

    check_limits(None, max_bytes)
    predictor = Predictor(run if isinstance(run, Run) else load_run(run), backend)
    pool = workers or Workers(processes=True)

    async def start_pool() -> None:
        await pool.start(start_worker, str(predictor.run.folder.root), backend)

    @asynccontextmanager
    async def lifespan(_app: Any):
        await start_pool()  # the worker processes are up before the first request
        yield
        pool.close()

    app = FastAPI(title=f"lamina: {predictor.run.spec.name}", version="1", lifespan=lifespan,
                  description="Predictions from a lamina run. POST /predict with {\"instances\": [...]}.")

    def problem(status: int, loc: list[Any], message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"detail": [{"loc": loc, "msg": message}]}, status_code=status, headers=headers)

    @app.get("/health")
    def health() -> dict[str, str]:
        """Liveness: the model is loaded and the service answers."""
        return {"status": "ok"}

    @app.get("/metadata")
    def metadata() -> dict[str, Any]:
        """The model's task, input schema (names, types, shape), outputs and request limits."""
        return {**predictor.metadata(), "max_bytes": max_bytes}

    @app.post("/predict", response_model=PredictResponse, openapi_extra={"requestBody": {
        "required": True, "content": {"application/json": {"schema": PredictRequest.model_json_schema()}}}},
        responses={400: {"description": "Body is not JSON"}, 413: {"description": "Body too large"},
                   422: {"description": "A field has the wrong type, shape or a non-finite value"},
                   503: {"description": "Every worker is busy; retry after the Retry-After seconds"}})
    async def predict(request: Request) -> Any:
        """Predict for a batch of instances (arrays or records), with the run's preprocessing applied."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            return problem(413, ["body"], f"the body is {declared} bytes; the limit is {max_bytes}")
        try:
            pool.admit()
        except Busy:
            return problem(503, ["body"], f"all {pool.waiting} request slots are taken; retry shortly",
                           {"Retry-After": "1"})
        try:
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_bytes:
                    return problem(413, ["body"], f"the body exceeds the limit of {max_bytes} bytes")
            try:
                if pool.processes:
                    await start_pool()  # already done, unless the app runs without its lifespan (or a worker died)
                    status, content = await pool.run(answer_in_worker, bytes(body))
                else:
                    status, content = await pool.run(answer, predictor, body)
            except Busy:
                return problem(503, ["body"], "a worker process stopped; it is being replaced, retry shortly",
                               {"Retry-After": "1"})
        finally:
            pool.release()
        return Response(content, status_code=status, media_type="application/json")

    @app.post("/predict/image", responses={413: {"description": "Body too large"},
                                           415: {"description": "Body is not multipart/form-data"},
                                           422: {"description": "No file, or a file that is not an image"}})
    async def predict_image(request: Request) -> Any:
        """Predict for uploaded image files (multipart/form-data), decoded as the run's training images were."""
        from lamina.serve.images import image_answer

        status, content = await image_answer(predictor, request, max_bytes)
        return JSONResponse(content, status_code=status)

    return app


def serve(run: str | Path, host: str = "127.0.0.1", port: int = 8000, backend: str = "torch",
          max_bytes: int = MAX_BYTES) -> None:
    """Run the service with uvicorn until interrupted (binds loopback unless ``host`` says otherwise)."""
    import uvicorn

    check_limits(port, max_bytes)
    uvicorn.run(create_app(run, backend, max_bytes), host=host, port=port, log_level="warning")
