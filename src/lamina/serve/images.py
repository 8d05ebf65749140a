"""Image uploads for the prediction service: POST /predict/image with multipart/form-data image files.

Each uploaded file is decoded as the run's training images were (size, channels and
resize mode from the run folder), then goes through the service's shared array path
(:meth:`Predictor.predict_array`), so an upload gets the predictions ``lamina
evaluate`` and ``lamina predict`` give the same file. The body is read in chunks
under the same byte limit as /predict (413 beyond it) before anything is parsed.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import numpy as np

from lamina.errors import LaminaError
from lamina.runs import labelled_rows

MAX_FILES = 256


class TooLarge(Exception):
    """The body passed the byte limit while it was being read."""


async def image_answer(predictor: Any, request: Any, max_bytes: int) -> tuple[int, dict[str, Any]]:
    """The /predict/image answer: HTTP status and JSON content (``{"predictions": [...]}`` with each file's name).

    413 for a body over ``max_bytes``; 415 for a body that is not multipart/form-data; 422 for no file,
    a file that is not an image, or a run that was not trained on images.
    """
    from starlette.formparsers import MultiPartException, MultiPartParser

    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        return 413, _problem(["body"], f"the body is {declared} bytes; the limit is {max_bytes}")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return 415, _problem(["body"], "send images as multipart/form-data file fields (curl -F file=@photo.jpg)")
    shape = list(predictor.run.preprocessor.inputs.shape)
    if len(shape) != 3 or shape[0] not in (1, 3):
        return 422, _problem(["body"], f"this model takes inputs shaped {tuple(shape)}, not images; use /predict")
    try:
        form = await MultiPartParser(request.headers, _capped(request.stream(), max_bytes), max_files=MAX_FILES,
                                     max_part_size=max_bytes).parse()
    except TooLarge:
        return 413, _problem(["body"], f"the body exceeds the limit of {max_bytes} bytes")
    except MultiPartException as exc:
        return 422, _problem(["body"], f"the multipart body cannot be read: {exc.message}")
    uploads = [(key, value) for key, value in form.multi_items() if not isinstance(value, str)]
    if not uploads:
        return 422, _problem(["body"], "the form holds no file; send each image as a file field")
    return await _predictions(predictor, uploads, shape)


async def _predictions(predictor: Any, uploads: list[tuple[str, Any]], shape: list[int]) -> tuple[int, dict[str, Any]]:
    """Decode every upload, predict them as one batch, label each row with its file name."""
    from lamina.data.images import decode_image

    pixels = np.empty((len(uploads), *shape), np.uint8)
    resize = predictor.run.image_resize
    for i, (key, upload) in enumerate(uploads):
        try:
            pixels[i] = decode_image(await upload.read(), shape[0], shape[1:], resize)
        except Exception:  # noqa: BLE001 - Pillow raises many types for a bad file
            return 422, _problem(["body", key], f"file '{upload.filename}' is not a readable image")
    try:
        values = predictor.predict_array(pixels.astype(np.float32))
    except LaminaError as exc:
        return 422, _problem(["body"], str(exc))
    rows = labelled_rows(values, predictor.run.preprocessor.target)
    return 200, {"predictions": [{"file": upload.filename or key, **row} for (key, upload), row in zip(uploads, rows)]}


async def _capped(stream: AsyncGenerator[bytes, None], max_bytes: int) -> AsyncGenerator[bytes, None]:
    """The request's chunks, raising TooLarge once more than ``max_bytes`` have arrived."""
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > max_bytes:
            raise TooLarge
        yield chunk


def _problem(loc: list[Any], message: str) -> dict[str, Any]:
    return {"detail": [{"loc": loc, "msg": message}]}
