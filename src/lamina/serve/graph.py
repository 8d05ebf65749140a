"""The serving graph: the run's model.onnx with its preprocessing in front and its prediction head behind.

At batch 1 a model like the digits MLP runs in a few microseconds, so numpy
preprocessing, a torch softmax and a finiteness check in Python (each about a
microsecond of call overhead) would cost as much as the model. The serving
graph, built once at start-up from model.onnx and preprocess.json (the files
are not changed), moves all of that into the one onnxruntime call:

- the fitted scaling ``(raw - offset) / divisor`` is folded into the first
  Gemm's weights and bias when the model starts with one (exact up to float
  rounding), and otherwise applied by Sub and Mul nodes;
- a head turns outputs into what a client reads: softmax class probabilities,
  ``[1 - p, p]`` for binary, or values in the target's own units;
- a zero-weight Gemm over the raw inputs feeds the last layer's bias (or is
  added to the outputs), so a NaN or infinite value anywhere in a sample makes
  that sample's predictions NaN (``0 * inf`` is NaN). The caller then checks
  the first column (at batch 1, one number) and searches the inputs for the
  offending value only when it is not finite.

Runs whose inputs are tables or tokens, and seq2seq runs, get no serving graph
(:func:`serving_graph` returns None) and are served by model.onnx as it is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lamina.data.preprocess import Preprocessor

INPUT = "raw"
OUTPUT = "predictions"
TASKS = ("binary", "multiclass", "regression")
FUSED_CHECK_LIMIT = 1 << 16  # zero weights (features x outputs) beyond which the check is a separate Add


def serving_graph(model_bytes: bytes, prep: Preprocessor) -> bytes | None:
    """ONNX bytes mapping raw array inputs ``raw`` (N, *shape) to ``predictions`` (N, outputs), or None.

    None means the run is not an array run with a classification or regression head, or model.onnx is
    not the single-input ``x`` to single-output ``y`` graph that ``lamina export`` writes.
    """
    if prep.inputs.kind != "array" or prep.target.task not in TASKS:
        return None
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    if [i.name for i in graph.input] != ["x"] or [o.name for o in graph.output] != ["y"]:
        return None
    shape = [int(d) for d in prep.inputs.shape]
    features, n_out = int(np.prod(shape)), prep.target.n_outputs
    weights = {t.name: t for t in graph.initializer}
    body = list(graph.node)
    front: list[Any] = []
    flat = INPUT
    if len(shape) != 1:
        flat = "lamina_flat_raw"
        front.append(helper.make_node("Flatten", [INPUT], [flat], axis=1))
    front += _scaling(graph, body, weights, prep, shape)
    checked, back = _finiteness_check(graph, body, weights, flat, features, n_out)
    back += _head(graph, checked, prep)
    del graph.node[:]
    graph.node.extend(front + body + back)
    del graph.input[:]
    graph.input.append(helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", *shape]))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", n_out]))
    del graph.value_info[:]  # shapes inside changed names; onnxruntime infers them again
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _constant(graph: Any, name: str, value: np.ndarray) -> str:
    from onnx import numpy_helper

    graph.initializer.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
    return name


def _attribute(node: Any, name: str, default: Any) -> Any:
    from onnx import helper

    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


def _scaling(graph: Any, body: list[Any], weights: dict[str, Any], prep: Preprocessor, shape: list[int]) -> list[Any]:
    """Apply the fitted input scaling: folded into a leading Gemm, else as Sub and Mul nodes in front."""
    from onnx import helper

    offset = np.asarray(prep.inputs.offset, dtype=np.float64)
    scale = 1.0 / np.asarray(prep.inputs.divisor, dtype=np.float64)
    consumers = [n for n in body if "x" in n.input]
    if len(shape) == 1 and len(consumers) == 1 and _fold_into_gemm(graph, consumers[0], body, weights, offset, scale):
        _rename_input(consumers, "x", INPUT)
        return []
    _rename_input(consumers, "x", "lamina_scaled")
    offsets = _constant(graph, "lamina_offset", offset.reshape(shape))
    scales = _constant(graph, "lamina_scale", scale.reshape(shape))
    return [helper.make_node("Sub", [INPUT, offsets], ["lamina_centred"]),
            helper.make_node("Mul", ["lamina_centred", scales], ["lamina_scaled"])]


def _rename_input(nodes: list[Any], old: str, new: str) -> None:
    for node in nodes:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new


def _fold_into_gemm(graph: Any, gemm: Any, body: list[Any], weights: dict[str, Any], offset: np.ndarray,
                    scale: np.ndarray) -> bool:
    """Fold ``(x - offset) * scale`` into a Gemm on ``x`` whose weights are its own; False if it cannot be."""
    from onnx import numpy_helper

    if gemm.op_type != "Gemm" or list(gemm.input[:1]) != ["x"] or gemm.input[1] not in weights:
        return False
    if _attribute(gemm, "transA", 0) or _attribute(gemm, "alpha", 1.0) != 1.0 or _attribute(gemm, "beta", 1.0) != 1.0:
        return False
    has_bias = len(gemm.input) > 2 and gemm.input[2] != ""
    if has_bias and gemm.input[2] not in weights:
        return False
    owned = [gemm.input[1], *([gemm.input[2]] if has_bias else [])]
    if any(sum(name in n.input for n in body) != 1 for name in owned):  # shared (tied) weights stay as they are
        return False
    stored = numpy_helper.to_array(weights[gemm.input[1]])
    if stored.dtype != np.float32 or stored.ndim != 2:
        return False
    weight = stored.astype(np.float64)
    weight = weight * scale[None, :] if _attribute(gemm, "transB", 0) else weight * scale[:, None]
    per_output = weight @ offset if _attribute(gemm, "transB", 0) else offset @ weight
    bias = numpy_helper.to_array(weights[gemm.input[2]]).astype(np.float64) if has_bias else np.zeros(len(per_output))
    if bias.shape != per_output.shape:
        return False
    weights[gemm.input[1]].CopyFrom(numpy_helper.from_array(weight.astype(np.float32), gemm.input[1]))
    if has_bias:
        weights[gemm.input[2]].CopyFrom(numpy_helper.from_array((bias - per_output).astype(np.float32), gemm.input[2]))
    else:
        gemm.input.append(_constant(graph, "lamina_folded_bias", bias - per_output))
    return True


def _finiteness_check(graph: Any, body: list[Any], weights: dict[str, Any], flat: str, features: int,
                      n_out: int) -> tuple[str, list[Any]]:
    """Make any non-finite input turn the outputs into NaN; returns the checked outputs' name and nodes to append."""
    from onnx import helper, numpy_helper

    producers = [n for n in body if "y" in n.output]
    last = producers[0] if len(producers) == 1 else None
    fusable = (last is not None and last.op_type == "Gemm" and len(last.input) == 3 and last.input[2] in weights
               and _attribute(last, "beta", 1.0) == 1.0 and features * n_out <= FUSED_CHECK_LIMIT
               and tuple(numpy_helper.to_array(weights[last.input[2]]).shape) == (n_out,)
               and sum(last.input[2] in n.input for n in body) == 1)
    if fusable:  # zero-weight Gemm with the last bias as its own bias: bias, or NaN rows
        zeros = _constant(graph, "lamina_check_weights", np.zeros((features, n_out)))
        body.insert(0, helper.make_node("Gemm", [flat, zeros, last.input[2]], ["lamina_checked_bias"]))
        last.input[2] = "lamina_checked_bias"
        return "y", []
    zeros = _constant(graph, "lamina_check_weights", np.zeros((features, 1)))
    return "lamina_checked_y", [helper.make_node("Gemm", [flat, zeros], ["lamina_check"]),
                                helper.make_node("Add", ["y", "lamina_check"], ["lamina_checked_y"])]


def _head(graph: Any, outputs: str, prep: Preprocessor) -> list[Any]:
    """Nodes from model outputs to ``predictions``: probabilities, or values in the target's units."""
    from onnx import helper

    target = prep.target
    if target.task == "multiclass":
        return [helper.make_node("Softmax", [outputs], [OUTPUT], axis=1)]
    if target.task == "binary":  # softmax over [0, logit] is [1 - sigmoid, sigmoid]
        zero = _constant(graph, "lamina_zero", np.zeros(()))
        return [helper.make_node("Mul", [outputs, zero], ["lamina_zero_logit"]),
                helper.make_node("Concat", ["lamina_zero_logit", outputs], ["lamina_logit_pair"], axis=1),
                helper.make_node("Softmax", ["lamina_logit_pair"], [OUTPUT], axis=1)]
    std = _constant(graph, "lamina_target_std", np.asarray(target.std))
    mean = _constant(graph, "lamina_target_mean", np.asarray(target.mean))
    return [helper.make_node("Mul", [outputs, std], ["lamina_unscaled"]),
            helper.make_node("Add", ["lamina_unscaled", mean], [OUTPUT])]
