"""Checkpoints: full state, verified loading, fallback to the previous one, exact resume, refused changes."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import lamina
from lamina.errors import ConfigError, RunFolderError
from lamina.files import load_tensors
from lamina.train.callbacks import Callback
from lamina.train import checkpoint as checkpoint_module
from lamina.train.checkpoint import FILES, MANIFEST, load_checkpoint, newest_checkpoint, step_folders

ROOT = Path(__file__).resolve().parents[2]


def small(runs: Path, name: str = "r", **train) -> dict:
    """Iris, a dropout MLP, a cosine schedule and early stopping: every kind of state a checkpoint holds."""
    return {"name": name, "runs_dir": str(runs), "seed": 3, "data": {"dataset": "iris"},
            "model": {"arch": "mlp", "hidden": [16], "dropout": 0.2},
            "train": {"epochs": 4, "batch_size": 8, "tensorboard": False, "restore_best": False,
                      "optimizer": {"name": "adam", "lr": 0.01}, "schedule": {"name": "cosine"},
                      "early_stopping": {"patience": 50}, "checkpoint": {"every_steps": 5}, **train}}


class Interrupt(Callback):
    """Raise KeyboardInterrupt after optimizer step ``at`` (counted from the start of the run)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_batch_end(self, state) -> None:
        if state.step == self.at and state.at_update:
            raise KeyboardInterrupt


def same_files(a: Path, b: Path, *names: str) -> bool:
    return all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


def same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run of ``small``."""
    runs = tmp_path_factory.mktemp("reference")
    return lamina.fit(small(runs, "ref"), progress="none").folder.root


@pytest.mark.parametrize(("checkpoint", "stops"), [({"every_steps": 5}, [23]), ({"every_steps": 5}, [3, 20, 33, 47]),
                                                   ({"epoch_seconds": 3600}, [20, 33])])  # epoch ends written at the stop
def test_interrupted_runs_resume_exactly(reference: Path, tmp_path: Path, checkpoint: dict, stops: list[int]) -> None:
    for at in stops:  # mid-epoch stops (14 batches an epoch); each resume starts from the newest checkpoint
        with pytest.raises(KeyboardInterrupt):
            lamina.fit(small(tmp_path, checkpoint=checkpoint), progress="none", extra_callbacks=[Interrupt(at)],
                       resume=True)
    run = lamina.fit(small(tmp_path, checkpoint=checkpoint), progress="none", resume=True).folder.root
    assert run.name == "r"
    assert same_files(reference, run, "metrics.jsonl", "losses.jsonl", "preprocess.json")
    assert same_tensors(load_tensors(reference / "model.safetensors"), load_tensors(run / "model.safetensors"))
    mine, theirs = load_checkpoint(step_folders(run / "checkpoints")[0]), load_checkpoint(step_folders(reference / "checkpoints")[0])
    assert same_tensors(mine.optimizer, theirs.optimizer) and mine.meta.optimizer == theirs.meta.optimizer
    assert mine.meta.history == theirs.meta.history and mine.meta.step == theirs.meta.step == 4 * 14


def test_a_checkpoint_holds_the_whole_state(reference: Path) -> None:
    ckpt = load_checkpoint(step_folders(reference / "checkpoints")[0])
    meta = ckpt.meta
    assert (meta.epoch, meta.batch, meta.step) == (4, 0, 56)
    assert meta.scheduler["last_epoch"] == 56 and meta.config["train"]["schedule"]["name"] == "cosine"
    assert len(meta.config_hash) == 64 and {"torch", "lamina", "numpy", "safetensors", "python"} <= set(meta.versions)
    assert {"rng.torch", "rng.batches", "losses.done", "losses.epoch"} <= set(ckpt.tensors)
    assert len(ckpt.tensors["losses.done"]) == 56 and len(meta.rng.numpy.keys) == 624
    assert meta.callbacks["EarlyStopping"]["waited"] >= 0 and "best_folder" in meta.callbacks["Checkpoints"]
    assert {k.split(".")[2] for k in ckpt.optimizer} == {"exp_avg", "exp_avg_sq", "step"}
    manifest = json.loads((ckpt.folder / MANIFEST).read_text())
    assert sorted(manifest["files"]) == sorted(FILES)


def test_checkpoints_every_n_steps_and_m_seconds(tmp_path: Path) -> None:
    lamina.fit(small(tmp_path, "a", epochs=1, checkpoint={"every_steps": 4, "keep": 20}), progress="none")
    names = {p.name for p in step_folders(tmp_path / "a" / "checkpoints")}
    assert names == {f"step-{s:09d}" for s in (4, 8, 12, 14)}  # 14: the epoch's end
    lamina.fit(small(tmp_path, "b", epochs=1, checkpoint={"every_seconds": 1e-9, "keep": 100}), progress="none")
    assert len(step_folders(tmp_path / "b" / "checkpoints")) == 14


def test_epoch_ends_are_saved_by_time_and_the_newest_and_best_when_training_ends(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def saved(name: str) -> set[int]:
        return {int(p.name[5:]) for p in step_folders(tmp_path / name / "checkpoints")}

    lamina.fit(small(tmp_path, "every", checkpoint={"epoch_seconds": 0, "keep": 10}), progress="none")
    assert saved("every") == {14, 28, 42, 56}  # 14 batches an epoch
    hour = {"epoch_seconds": 3600}  # an epoch's end is saved an hour after the last save, or when training ends
    run = lamina.fit(small(tmp_path, "timed", checkpoint=hour), progress="none").folder.root
    best = json.loads((run / "summary.json").read_text())["best_epoch"]
    assert saved("timed") == {56, 14 * best}
    assert json.loads((run / "checkpoints" / "best.json").read_text())["folder"] == f"step-{14 * best:09d}"
    with pytest.raises(KeyboardInterrupt):  # in epoch 3: epoch 2's end, only in memory until now, is written
        lamina.fit(small(tmp_path, "stopped", checkpoint=hour), progress="none", extra_callbacks=[Interrupt(33)])
    assert max(saved("stopped")) == 28 and load_checkpoint(step_folders(tmp_path / "stopped" / "checkpoints")[0]).meta.epoch == 2
    monkeypatch.setattr(checkpoint_module, "HOLD_BYTES", 1000)  # as for a large model: never held in memory
    lamina.fit(small(tmp_path, "large", checkpoint={**hour, "keep": 10}), progress="none")
    assert saved("large") == {14, 28, 42, 56}


def test_truncated_or_flipped_checkpoints_are_refused_and_resume_uses_the_previous(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(KeyboardInterrupt):
        lamina.fit(small(tmp_path), progress="none", extra_callbacks=[Interrupt(12)], resume=True)
    newest, previous = step_folders(tmp_path / "r" / "checkpoints")[:2]
    assert (newest.name, previous.name) == ("step-000000010", "step-000000005")
    pristine = tmp_path / "pristine"
    shutil.copytree(newest, pristine)
    weights = pristine / "model.safetensors"
    header = 8 + int.from_bytes(weights.read_bytes()[:8], "little")
    size = weights.stat().st_size
    offsets = sorted(set(range(0, 9)) | set(random.Random(0).sample(range(9, header), 20))
                     | set(random.Random(1).sample(range(header, size), 21)))
    assert len(offsets) == 50
    for offset in offsets:
        shutil.rmtree(newest)
        shutil.copytree(pristine, newest)
        (newest / "model.safetensors").write_bytes(weights.read_bytes()[:offset])
        with pytest.raises(RunFolderError, match=rf"{newest.name}/model.safetensors has {offset} bytes; the manifest says {size}"):
            load_checkpoint(newest)
        chosen, refused = newest_checkpoint(tmp_path / "r" / "checkpoints")
        assert chosen.folder == previous and "model.safetensors" in refused[0]
    for name in FILES + (MANIFEST,):
        shutil.rmtree(newest)
        shutil.copytree(pristine, newest)
        data = bytearray((newest / name).read_bytes())
        data[len(data) // 2] ^= 0x10
        (newest / name).write_bytes(bytes(data))
        with pytest.raises(RunFolderError, match=rf"{newest.name}/{'' if name == MANIFEST else name}"):
            load_checkpoint(newest)
        assert newest_checkpoint(tmp_path / "r" / "checkpoints")[0].folder == previous
    # the last bit flip (in the manifest) stays; resuming takes the previous checkpoint and says why
    capsys.readouterr()
    run = lamina.fit(small(tmp_path), progress="plain", resume=True).folder.root
    err = capsys.readouterr().err
    assert f"note: refused {newest}/" in err and "resuming from step-000000005" in err
    assert json.loads((run / "summary.json").read_text())["epochs_run"] == 4


def test_a_foreign_file_is_refused_by_name(tmp_path: Path) -> None:
    folder = tmp_path / "step-000000001"
    folder.mkdir()
    (folder / MANIFEST).write_text('{"format": "something-else", "files": {}}')
    with pytest.raises(RunFolderError, match="manifest.json is not a lamina-checkpoint-2 manifest"):
        load_checkpoint(folder)
    (folder / MANIFEST).unlink()
    with pytest.raises(RunFolderError, match="manifest.json is missing: the checkpoint is incomplete"):
        load_checkpoint(folder)


def test_resume_refuses_a_changed_model_or_optimizer_with_the_difference(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        lamina.fit(small(tmp_path), progress="none", extra_callbacks=[Interrupt(7)])
    changed = small(tmp_path)
    changed["model"]["hidden"] = [32]
    changed["train"]["optimizer"]["lr"] = 0.02
    with pytest.raises(ConfigError) as caught:
        lamina.fit(changed, progress="none", resume=True)
    message = str(caught.value)
    assert "cannot resume from" in message and "model.hidden: [16] -> [32]" in message
    assert "train.optimizer.lr: 0.01 -> 0.02" in message and "Start a new run instead" in message
    with pytest.raises(ConfigError, match=r"train.batch_size: 8 -> 16"):
        lamina.resume(tmp_path / "r", ["train.batch_size=16"], progress="none")


def test_other_changes_are_allowed_and_reported(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(KeyboardInterrupt):
        lamina.fit(small(tmp_path, epochs=2), progress="none", extra_callbacks=[Interrupt(20)])
    capsys.readouterr()
    run = lamina.resume(tmp_path / "r", ["train.epochs=3"], progress="plain")
    err = capsys.readouterr().err
    assert "resuming with changed settings: train.epochs: 2 -> 3" in err and "resuming from step-000000015 (epoch 2, batch 1, step 15)" in err
    assert len(run.folder.metrics.read_text().splitlines()) == 3
    with pytest.raises(RunFolderError, match="has finished .*nothing to resume"):
        lamina.resume(tmp_path / "r", progress="none")


def test_resume_without_a_checkpoint_starts_over_and_data_changes_are_refused(tmp_path: Path, tabular_csv: Path) -> None:
    raw = small(tmp_path, epochs=1)
    raw["data"] = {"path": str(tabular_csv), "target": "label"}
    with pytest.raises(KeyboardInterrupt):
        lamina.fit(raw, progress="none", extra_callbacks=[Interrupt(2)])
    assert not step_folders(tmp_path / "r" / "checkpoints")
    lines = tabular_csv.read_text().splitlines()
    tabular_csv.write_text("\n".join(lines[:-30]) + "\n")
    with pytest.raises(ConfigError, match="the data changed since the run started"):
        lamina.fit(raw, progress="none", resume=True)
    tabular_csv.write_text("\n".join(lines) + "\n")
    run = lamina.fit(raw, progress="none", resume=True)
    assert run.folder.root.name == "r" and (run.folder.root / "summary.json").is_file()


def test_cli_resume_and_train_resume(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lamina.cli import app

    with pytest.raises(KeyboardInterrupt):
        lamina.fit(small(tmp_path, epochs=2), progress="none", extra_callbacks=[Interrupt(9)])
    result = CliRunner().invoke(app, ["resume", str(tmp_path / "r"), "--progress", "none"])
    assert result.exit_code == 0, result.output
    assert "run folder:" in result.output
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps(small(tmp_path, epochs=2)))
    result = CliRunner().invoke(app, ["train", str(config), "--resume", "--progress", "none"])
    assert result.exit_code == 2 and "has finished (summary.json exists)" in result.output
    result = CliRunner().invoke(app, ["resume", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "config.yaml is missing" in result.output


FULL_DISK = textwrap.dedent("""
    import resource, signal, sys
    from pathlib import Path
    import lamina
    from lamina.train.callbacks import Callback
    from lamina.train.checkpoint import step_folders

    config = {"name": "r", "runs_dir": sys.argv[1], "seed": 0, "data": {"dataset": "digits"},
              "model": {"arch": "mlp", "hidden": [64]},
              "train": {"epochs": 2, "batch_size": 64, "tensorboard": False, "checkpoint": {"every_steps": 5}}}

    class FillDisk(Callback):
        def on_batch_end(self, state):
            if step_folders(Path(sys.argv[1]) / "r" / "checkpoints"):
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
                resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # smaller than the weights file

    try:
        lamina.fit(config, progress="none", extra_callbacks=[FillDisk()])
    except lamina.RunFolderError as exc:
        print(exc)
        sys.exit(3)
""")


def test_a_save_that_hits_a_full_disk_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", FULL_DISK, str(tmp_path)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "could not write checkpoint" in done.stdout and "step-000000010" in done.stdout
    assert "the previous checkpoint is kept" in done.stdout
    checkpoints = tmp_path / "r" / "checkpoints"
    assert [p.name for p in step_folders(checkpoints)] == ["step-000000010", "step-000000005"]
    assert not (checkpoints / "step-000000010" / MANIFEST).exists()
    assert not list((checkpoints / "step-000000010").glob("*.tmp"))  # the temp file was removed
    assert newest_checkpoint(checkpoints)[0].folder.name == "step-000000005"
    run = lamina.resume(tmp_path / "r", progress="none")  # the disk has room again
    assert len(run.folder.metrics.read_text().splitlines()) == 2
