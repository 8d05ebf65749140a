"""Neural architecture search space: a trial samples a layer chain (``model.layers``).

A chain is ``depth`` blocks; each block picks its width (units or filters), kernel
(for convolutions), whether a skip connection wraps it (``residual``), and the chain
shares one activation, a batchnorm switch and a dropout rate. The head is what the
preset of the same kind uses: flatten (or global pooling) then a dense output layer.
"""

from __future__ import annotations

from typing import Any

from lamina.config import NasSpec
from lamina.errors import ConfigError


def sample_chain(trial: Any, nas: NasSpec, input_shape: tuple[int, ...], n_outputs: int) -> list[Any]:
    """Ask the trial for an architecture and return it as layer-chain items."""
    if nas.kind == "cnn" and len(input_shape) not in (2, 3):
        raise ConfigError(f"tune.nas.kind 'cnn' needs image or sequence input; got shape {input_shape}. "
                          "Set data.view: image, or use tune.nas.kind: mlp")
    depth = trial.suggest_int("nas.depth", nas.depth[0], nas.depth[1])
    activation = trial.suggest_categorical("nas.activation", nas.activation)
    norm = trial.suggest_categorical("nas.batchnorm", nas.batchnorm)
    dropout = trial.suggest_categorical("nas.dropout", nas.dropout)
    conv = "conv2d" if len(input_shape) == 3 else "conv1d"
    chain: list[Any] = []
    if nas.kind == "mlp" and len(input_shape) > 1:
        chain.append("flatten")
    for i in range(depth):
        width = trial.suggest_categorical(f"nas.block{i}.width", nas.width)
        skip = trial.suggest_categorical(f"nas.block{i}.block", nas.blocks) == "residual"
        if nas.kind == "cnn":
            kernel = trial.suggest_categorical(f"nas.block{i}.kernel", nas.kernel)
            body: list[Any] = [{conv: {"filters": width, "kernel": kernel}}]
        else:
            body = [{"dense": width}]
        body += (["batchnorm"] if norm else []) + [activation]
        chain += [{"residual": body}] if skip else body
        if nas.kind == "cnn" and i % 2 == 1 and min(input_shape[1:]) >= 4 * 2 ** (i // 2):
            chain.append({"maxpool": 2})
        if dropout:
            chain.append({"dropout": dropout})
    if nas.kind == "cnn":
        chain.append("global_avgpool")
    chain.append({"dense": n_outputs})
    return chain
