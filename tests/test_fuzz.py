"""Property tests: configs round-trip through YAML; mutated config and checkpoint files only ever
raise lamina's own errors, quickly.

A mutated file either loads (a harmless change, such as a digit in a comment)
or is refused with a :class:`LaminaError` naming it; never a KeyError, a
TypeError or a traceback from inside torch, and never slower than 2 s.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lamina
from lamina import registry
from lamina.config import RunSpec, load_config, parse_run_spec, save_config
from lamina.data.batches import make_batches
from lamina.errors import LaminaError
from lamina.nn.build import build_model
from lamina.train.callbacks import EarlyStopping
from lamina.train.checkpoint import FILES, MANIFEST, Checkpoints, load_checkpoint, step_folders
from lamina.train.loop import State
from lamina.train.optim import make_optimizer, make_schedule

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FUZZ = settings(max_examples=1000, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
LIMIT_S = 2.0

# ---------------------------------------------------------------- valid configs

names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,12}", fullmatch=True)
floats = st.floats(min_value=1e-6, max_value=1.0, allow_nan=False, allow_infinity=False)
layer_items = st.sampled_from(["relu", "tanh", "gelu", "layernorm", "flatten", {"dropout": 0.25}, {"dense": 7}])
model_specs = st.one_of(
    st.fixed_dictionaries({"arch": st.just("mlp"), "hidden": st.lists(st.integers(1, 64), max_size=3),
                           "dropout": st.floats(0, 0.9), "batchnorm": st.booleans(),
                           "activation": st.sampled_from(["relu", "tanh", "gelu"])}),
    st.fixed_dictionaries({"layers": st.lists(layer_items, min_size=1, max_size=5).map(lambda c: c + [{"dense": 3}]),
                           "init": st.sampled_from(sorted(e.name for e in registry.INITIALIZERS))}),
)
train_specs = st.fixed_dictionaries(
    {"epochs": st.integers(1, 10**6), "batch_size": st.integers(1, 4096), "accumulate_steps": st.integers(1, 64),
     "optimizer": st.fixed_dictionaries({"name": st.sampled_from(sorted(e.name for e in registry.OPTIMIZERS)),
                                         "lr": floats, "weight_decay": st.floats(0, 1)}),
     "schedule": st.fixed_dictionaries({"name": st.sampled_from(sorted(e.name for e in registry.SCHEDULES)),
                                        "warmup_epochs": st.floats(0, 5)}),
     "precision": st.sampled_from(["fp32", "bf16", "fp16"]),
     "clip_norm": st.one_of(st.none(), floats), "l2": st.floats(0, 1), "label_smoothing": st.floats(0, 0.5),
     "checkpoint": st.fixed_dictionaries({"every_steps": st.one_of(st.none(), st.integers(1, 10**6)),
                                          "every_seconds": st.one_of(st.none(), st.floats(1, 1e5)),
                                          "keep": st.integers(2, 10)}),
     "early_stopping": st.one_of(st.none(), st.fixed_dictionaries({"patience": st.integers(1, 100)}))})
configs = st.fixed_dictionaries({
    "name": names, "seed": st.integers(0, 2**31), "runs_dir": st.sampled_from(["runs", "out/runs", "/tmp/x"]),
    "data": st.fixed_dictionaries({"dataset": st.sampled_from(["iris", "wine", "digits", "breast_cancer"]),
                                   "split": st.fixed_dictionaries({"val": st.floats(0, 0.4), "test": st.floats(0, 0.4),
                                                                   "seed": st.integers(0, 99)})}),
    "model": model_specs, "train": train_specs,
})


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(configs)
def test_any_valid_config_round_trips_through_yaml(raw: dict) -> None:
    import tempfile

    spec = parse_run_spec(raw)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        save_config(spec, path)
        again = load_config(path)
    assert again == spec and again.to_dict() == spec.to_dict()
    assert parse_run_spec(yaml.safe_load(yaml.safe_dump(spec.to_dict()))).to_dict() == spec.to_dict()


# ---------------------------------------------------------------- mutations

SPECIAL = b":-[]{},#&*!|>'\"%@`\n\t 0123456789.eE+~\x00\xff"
TOKENS = [b"2001-13-45", b"[" * 3000, b"{a: " * 2000, b"9" * 5000, b"1e999", b"-1", b"0", b"null", b"~", b".nan",
          b"!!python/object/apply:os.system ['true']", b"&a [1]", b"*a", b"!!binary aGk=", b"? [1]: 2",
          b"{1: 2}", b"\n- ", b"\n  ", b'"\\x', b"\xef\xbb\xbf", b"NaN", b"Infinity", b'"step": -5,', b"[]", b"{}"]
mutation = st.one_of(
    st.tuples(st.just("insert"), st.floats(0, 1, exclude_max=True), st.sampled_from(TOKENS)),
    st.tuples(st.just("flip"), st.floats(0, 1, exclude_max=True), st.integers(0, 7)),
    st.tuples(st.just("set"), st.floats(0, 1, exclude_max=True), st.sampled_from(list(SPECIAL))),
    st.tuples(st.just("insert"), st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.floats(0, 1, exclude_max=True), st.integers(1, 64)),
    st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True), st.just(0)),
    st.tuples(st.just("repeat"), st.floats(0, 1, exclude_max=True), st.integers(1, 200)),
)
mutations = st.lists(mutation, min_size=1, max_size=4)


def mutate(data: bytes, changes: list[tuple]) -> bytes:
    out = bytearray(data)
    for kind, where, arg in changes:
        i = int(where * len(out)) if out else 0
        if kind == "flip" and out:
            out[i] ^= 1 << arg
        elif kind == "set" and out:
            out[i] = arg
        elif kind == "insert":
            out[i:i] = arg
        elif kind == "delete":
            del out[i : i + arg]
        elif kind == "truncate":
            del out[i:]
        elif kind == "repeat":
            out[i:i] = out[i : i + arg]
    return bytes(out)


CONFIG_SOURCES = sorted(EXAMPLES.glob("*.yaml"))


def test_mutated_configs_raise_only_lamina_errors_quickly(tmp_path: Path) -> None:
    seen = {"examples": 0, "loaded": 0, "refused": 0, "slowest": 0.0}
    sources = [p.read_bytes() for p in CONFIG_SOURCES]

    @FUZZ
    @given(st.integers(0, len(sources) - 1), mutations)
    def check(which: int, changes: list[tuple]) -> None:
        path = tmp_path / "config.yaml"
        path.write_bytes(mutate(sources[which], changes))
        started = time.perf_counter()
        try:
            spec = load_config(path)
            assert isinstance(spec, RunSpec)
            seen["loaded"] += 1
        except LaminaError:
            seen["refused"] += 1
        elapsed = time.perf_counter() - started
        seen["examples"] += 1
        seen["slowest"] = max(seen["slowest"], elapsed)
        assert elapsed < LIMIT_S

    check()
    assert seen["examples"] >= 1000 and seen["refused"] > 300 and seen["loaded"] > 10, seen
    print(f"mutated configs: {seen}")


@pytest.mark.parametrize("text", [
    "seed: 2001-13-45", "data: " + "[" * 5000 + "]" * 5000, "data: " + "{a: " * 3000 + "1" + "}" * 3000,
    "seed: " + "9" * 5000, "1: 2", "model: {arch: mlp, 3: 4}", "data: !!set {a, b}", "data: !!binary aGk=",
    "data: !!python/object/apply:os.system ['true']", "model: {hidden: {[1]: 2}}",
])
def test_hostile_yaml_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data: {dataset: iris}\nmodel: {arch: mlp}\n" + text + "\n")
    with pytest.raises(LaminaError, match=r"c.yaml"):
        load_config(path)


@pytest.fixture(scope="module")
def checkpoint_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    runs = tmp_path_factory.mktemp("fuzzrun")
    raw = {"name": "f", "runs_dir": str(runs), "data": {"dataset": "iris"},
           "model": {"arch": "mlp", "hidden": [8], "dropout": 0.1},
           "train": {"epochs": 2, "batch_size": 16, "tensorboard": False, "schedule": {"name": "cosine"},
                     "early_stopping": {"patience": 5}, "checkpoint": {"every_steps": 3}}}

    class Stop(lamina.Callback):
        def on_batch_end(self, state) -> None:
            if state.step == 10:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # leaves a mid-epoch checkpoint (step 9: epoch 2, batch 2)
        lamina.fit(raw, progress="none", extra_callbacks=[Stop()])
    return raw, step_folders(runs / "f" / "checkpoints")[0]


def fresh_state(raw: dict) -> State:
    """What fit builds before restoring: model, optimizer, schedule, scaler, batches and callbacks."""
    from lamina.data.prepare import prepare_data

    spec = parse_run_spec(raw)
    data = prepare_data(spec.data)
    model = build_model(spec.model, data.input_shape, data.n_outputs).model
    optimizer = make_optimizer(model.parameters(), spec.train.optimizer)
    batches = make_batches(data.train.x, data.train.y, spec.train.batch_size, True, torch.device("cpu"), path="memory")
    callbacks = [EarlyStopping("val_loss", "min", 5, 0.0), Checkpoints(Path("unused"), spec.train.checkpoint,
                                                                       "val_loss", "min", spec.to_dict())]
    return State(model, optimizer, make_schedule(optimizer, spec.train.schedule, spec.train.epochs, len(batches)),
                 spec.train, spec.train.epochs, len(batches), lambda o, t: o, torch.device("cpu"), data, batches,
                 torch.amp.GradScaler("cpu", enabled=False), callbacks)


def test_the_checkpoint_under_fuzz_restores_cleanly(checkpoint_run) -> None:
    raw, folder = checkpoint_run
    state = fresh_state(raw)
    load_checkpoint(folder).restore(state)
    assert (state.epoch, state.batch, state.step) == (1, 2, 9)


def test_mutated_checkpoints_raise_only_lamina_errors_quickly(checkpoint_run, tmp_path: Path) -> None:
    import hashlib
    import json

    raw, pristine = checkpoint_run
    template = fresh_state(raw)
    originals = {name: (pristine / name).read_bytes() for name in FILES + (MANIFEST,)}
    seen = {"examples": 0, "loaded": 0, "refused_by_manifest": 0, "refused_by_parser": 0, "slowest": 0.0}
    folder = tmp_path / "step-000000009"

    @FUZZ
    @given(st.sampled_from(FILES + (MANIFEST,)), mutations, st.booleans())
    def check(name: str, changes: list[tuple], resign: bool) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        files = dict(originals)
        files[name] = mutate(files[name], changes)
        if resign and name != MANIFEST:  # vouch for the damaged file, so its own parser must refuse it
            manifest = json.loads(files[MANIFEST])
            manifest["files"][name] = {"bytes": len(files[name]), "sha256": hashlib.sha256(files[name]).hexdigest()}
            files[MANIFEST] = json.dumps(manifest).encode()
        for file, data in files.items():
            (folder / file).write_bytes(data)
        state = fresh_state_copy(template)
        started = time.perf_counter()
        try:
            load_checkpoint(folder).restore(state)
            seen["loaded"] += 1
        except LaminaError as exc:
            seen["refused_by_parser" if resign else "refused_by_manifest"] += 1
            assert str(folder) in str(exc)
        elapsed = time.perf_counter() - started
        seen["examples"] += 1
        seen["slowest"] = max(seen["slowest"], elapsed)
        assert elapsed < LIMIT_S

    check()
    assert seen["examples"] >= 1000 and seen["refused_by_parser"] > 200, seen
    print(f"mutated checkpoints: {seen}")


def fresh_state_copy(template: State) -> State:
    """A state like ``template`` with its own model, optimizer, schedule and callbacks (cheap to make)."""
    import copy

    model = copy.deepcopy(template.model)
    spec = template.spec
    optimizer = make_optimizer(model.parameters(), spec.optimizer)
    callbacks = [copy.copy(cb) for cb in template.callbacks]
    return State(model, optimizer, make_schedule(optimizer, spec.schedule, spec.epochs, template.steps_per_epoch),
                 spec, template.epochs, template.steps_per_epoch, template.loss_fn, template.device, template.data,
                 make_batches(template.data.train.x, template.data.train.y, spec.batch_size, True, template.device,
                              path="memory"),
                 torch.amp.GradScaler("cpu", enabled=False), callbacks)


# ---------------------------------------------------------------- hostile YAML (issue 25)

def laughs(depth: int, width: int) -> str:
    """Anchors l0..l<depth-1> (unknown top-level keys, so such a config is refused either way), each a list of
    ``width`` aliases of the one before: width**depth values once expanded."""
    return "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width if i else ["lol"] * width) + "]\n"
                   for i in range(depth))


hostile_values = st.one_of(
    st.sampled_from(["8", "[8, 4]", "iris", "[]", "accuracy", "1", "-1", "0", "1e400", "-.inf", ".nan", "null"]),
    st.integers(min_value=2**31, max_value=2**80).map(str),
    st.integers(min_value=-(2**80), max_value=-1).map(str),
    st.integers(min_value=1, max_value=200_000).map(lambda n: '"' + "x" * n + '"'),
    st.text(max_size=40).map(lambda text: json.dumps(text)),
    st.integers(min_value=0, max_value=8).map(lambda i: f"*l{i}"),
    st.lists(st.sampled_from(["1", "100000", "*l3", "10000000000", '"a"']), max_size=4).map(lambda v: f"[{', '.join(v)}]"),
)
FIELDS = ("name", "seed", "drop", "workers", "hidden", "epochs", "threads", "metrics")


HOSTILE = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                   suppress_health_check=list(HealthCheck))


def test_hostile_yaml_configs_raise_only_lamina_errors_quickly(tmp_path: Path) -> None:
    seen = {"loaded": 0, "refused": 0, "slowest": 0.0}

    @HOSTILE
    @given(st.one_of(st.none(), st.tuples(st.integers(1, 9), st.integers(2, 10))),
           st.dictionaries(st.sampled_from(FIELDS), hostile_values, max_size=3),
           st.lists(st.integers(0, 5), max_size=2))
    def check(bomb: tuple[int, int] | None, values: dict, repeated: list[int]) -> None:
        v = {**dict(zip(FIELDS, ("run", "0", "[]", "0", "[8]", "1", "1", "auto"))), **values}
        lines = [f"name: {v['name']}", f"seed: {v['seed']}",
                 f"data: {{dataset: iris, drop: {v['drop']}, loader_workers: {v['workers']}}}",
                 f"model: {{arch: mlp, hidden: {v['hidden']}}}",
                 f"train: {{epochs: {v['epochs']}, threads: {v['threads']}, tensorboard: false}}",
                 f"eval: {{metrics: {v['metrics']}}}"]
        lines += [lines[i] for i in repeated]  # a section given twice
        path = tmp_path / "c.yaml"
        path.write_text((laughs(*bomb) if bomb else "") + "\n".join(lines) + "\n")
        started = time.perf_counter()
        try:
            assert isinstance(load_config(path), RunSpec)
            seen["loaded"] += 1
        except LaminaError as exc:
            assert len(str(exc)) < 5000, str(exc)[:300]  # every echoed value is capped
            seen["refused"] += 1
        seen["slowest"] = max(seen["slowest"], time.perf_counter() - started)
        assert time.perf_counter() - started < LIMIT_S

    check()
    assert seen["loaded"] >= 2 and seen["refused"] >= 100, seen
    print(f"hostile configs: {seen}")
