"""Image folders through the command line: train from a folder as well as from the same arrays, evaluate,
predict a folder, serve an upload (the same predictions), and bad folders get one error line and exit 2."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.data.image_folders import save_image, write_digit_arrays, write_digit_folder
from tests.e2e.test_cli import invoke, write_config

SPLIT = {"val": 0.15, "test": 0.3, "seed": 0}
MODELS = {"cnn": ({"arch": "cnn", "channels": [8, 16], "dense": [32]}, 4),
          "vit": ({"arch": "vit", "patch": 8, "dim": 32, "depth": 1, "heads": 2, "dropout": 0.0}, 6)}


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Digits as an image folder (mixed formats and modes) and as an NPZ in the same order."""
    tmp = tmp_path_factory.mktemp("images")
    write_digit_folder(tmp / "photos")
    write_digit_arrays(tmp / "digits.npz")
    return tmp


def _train(tmp: Path, name: str, data: dict, arch: str) -> tuple[Path, float]:
    model, epochs = MODELS[arch]
    config = write_config(tmp / f"{name}.yaml", {
        "name": name, "runs_dir": str(tmp / "runs"), "seed": 0, "data": {**data, "split": SPLIT}, "model": model,
        "train": {"epochs": epochs, "batch_size": 64, "tensorboard": False, "optimizer": {"name": "adamw", "lr": 0.003}},
    })
    code, out = invoke("train", str(config), "--progress", "none")
    assert code == 0, out
    folder = tmp / "runs" / name
    return folder, json.loads((folder / "summary.json").read_text())["test"]["accuracy"]


def _folder_data(tmp: Path) -> dict:
    return {"path": str(tmp / "photos"), "image": {"channels": 1, "cache": str(tmp / "cache")}}


@pytest.fixture(scope="module")
def folder_run(digits: Path) -> tuple[Path, float]:
    """A cnn trained through the CLI on the image folder."""
    return _train(digits, "folder-cnn", _folder_data(digits), "cnn")


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["cnn", "vit"])
def test_folder_trains_to_within_one_point_of_the_same_arrays(digits: Path, folder_run, arch: str) -> None:
    folder_accuracy = folder_run[1] if arch == "cnn" else _train(digits, "folder-vit", _folder_data(digits), arch)[1]
    arrays = {"path": str(digits / "digits.npz"), "view": "image"}
    _, array_accuracy = _train(digits, f"arrays-{arch}", arrays, arch)
    assert array_accuracy > 0.8  # the model learns: the comparison means something
    assert abs(folder_accuracy - array_accuracy) <= 0.01, (folder_accuracy, array_accuracy)


@pytest.mark.slow
def test_predict_and_serve_give_exactly_what_evaluate_scored(digits: Path, folder_run) -> None:
    from fastapi.testclient import TestClient

    from lamina.serve.app import create_app

    run = folder_run[0]
    code, out = invoke("evaluate", str(run))
    assert code == 0, out
    scored = list(csv.DictReader((run / "predictions" / "test.csv").open()))
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["image"]["resize"] == "fit"
    files = _test_files(digits, [int(r["row"]) for r in scored])
    picked = digits / "picked"
    picked.mkdir()
    for i, path in enumerate(files[:40]):  # numbered copies keep the evaluated order when listed
        (picked / f"{i:03d}{path.suffix}").write_bytes(path.read_bytes())
    code, out = invoke("predict", str(run), str(picked))
    assert code == 0, out
    predicted = list(csv.DictReader(io.StringIO(out)))
    keys = [k for k in scored[0] if k not in ("row", "true")]  # the scored file also holds the true class
    assert len(predicted) == 40
    assert [[p[k] for k in keys] for p in predicted] == [[s[k] for k in keys] for s in scored[:40]]
    code, out = invoke("predict", str(run), str(picked / "000.png" if files[0].suffix == ".png" else
                                                 picked / f"000{files[0].suffix}"))
    assert code == 0 and next(csv.DictReader(io.StringIO(out)))["label"] == scored[0]["label"]

    client = TestClient(create_app(run))
    uploads = [("file", (p.name, p.read_bytes(), "application/octet-stream")) for p in sorted(picked.iterdir())[:8]]
    answer = client.post("/predict/image", files=uploads)
    assert answer.status_code == 200, answer.text
    served = answer.json()["predictions"]
    assert [row["label"] for row in served] == [s["label"] for s in scored[:8]]
    assert [[format(row[k], ".9g") for k in keys[1:]] for row in served] == [[s[k] for k in keys[1:]] for s in scored[:8]]
    big = client.post("/predict/image", files=[("file", ("big.png", b"\0" * (9 * 1024 * 1024), "image/png"))])
    assert big.status_code == 413
    bad = client.post("/predict/image", files=[("file", ("notes.txt", b"hello", "text/plain"))])
    assert bad.status_code == 422 and "notes.txt" in bad.text


def _test_files(digits: Path, rows: list[int]) -> list[Path]:
    """The image files of the given folder rows (class folders in order, files sorted by name)."""
    listed = [p for folder in sorted((digits / "photos").iterdir()) for p in sorted(folder.iterdir())]
    return [listed[r] for r in rows]


def _bad_folder(root: Path, case: str) -> Path:
    rng = np.random.default_rng(0)
    for name in ("a",) if case == "one_class" else ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(3):
            save_image(rng.integers(0, 256, (8, 8), dtype=np.uint8), root / name / f"{i}", 0)
    if case == "corrupt":
        (root / "a" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    elif case in ("not_image", "skip"):
        (root / "b" / "notes.txt").write_text("a list of things")
    elif case == "empty_class":
        (root / "empty").mkdir()
    return root


@pytest.mark.parametrize("case", ["corrupt", "not_image", "empty_class", "one_class", "skip"])
def test_bad_folders_give_one_error_line_and_exit_2(tmp_path: Path, case: str) -> None:
    root = _bad_folder(tmp_path / "photos", case)
    data = {"path": str(root), "image": {"cache": str(tmp_path / "cache"), "workers": 0}, "split": {"val": 0.0, "test": 0.0}}
    if case == "skip":
        data["on_bad_file"] = "skip"
    config = write_config(tmp_path / "run.yaml", {"name": "bad", "runs_dir": str(tmp_path / "runs"), "data": data,
                                                  "model": {"arch": "mlp", "hidden": [4]},
                                                  "train": {"epochs": 1, "tensorboard": False}})
    code, out = invoke("train", str(config), "--progress", "none")
    if case == "skip":
        assert code == 0 and "skipped 1 unreadable file(s)" in out, out
        return
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    expected = {"corrupt": "1.png is not a readable image", "not_image": "notes.txt is not a readable image",
                "empty_class": "is empty", "one_class": "one class folder"}[case]
    assert code == 2 and len(errors) == 1 and expected in errors[0], out


@pytest.mark.slow
def test_explain_and_attack_work_on_an_image_folder_run(folder_run) -> None:
    run = folder_run[0]
    code, out = invoke("explain", str(run), "--method", "gradcam", "--count", "2")
    written = [Path(line.split("wrote ", 1)[1]) for line in out.splitlines() if line.startswith("wrote ")]
    assert code == 0 and written and all(p.read_bytes().startswith(b"\x89PNG") for p in written if p.suffix == ".png"), out
    code, out = invoke("attack", str(run), "--method", "pgd", "--eps", "0.1", "--steps", "5", "--examples", "0")
    assert code == 0, out
    report = json.loads((run / "attack-pgd-linf.json").read_text())
    clean, attacked = report["clean_accuracy"], report["results"][0]["accuracy"]
    assert clean > 0.9 and attacked < clean - 0.2, (clean, attacked)
