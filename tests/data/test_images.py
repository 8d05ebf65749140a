"""Image folders: every format and mode decodes to the right pixels, the uint8 cache is reused, bad folders are refused."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from lamina.config import DataSpec, ImageSpec
from lamina.data import images
from lamina.data.images import decode_image, decode_set, find_class_folder
from lamina.data.prepare import prepare_data
from lamina.errors import DataError
from tests.data.image_folders import save_image


def _grey(seed: int = 0, side: int = 12) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (side, side), dtype=np.uint8)


@pytest.mark.parametrize("style", range(8))
def test_every_format_and_mode_decodes_to_the_saved_pixels(tmp_path: Path, style: int) -> None:
    pixels = np.kron(_grey(), np.ones((2, 2), np.uint8))  # 2x2 blocks keep JPEG close to the original
    path = save_image(pixels, tmp_path / "img", style)
    grey = decode_image(path, 1, [24, 24])
    rgb = decode_image(path, 3, [24, 24])
    assert grey.shape == (1, 24, 24) and rgb.shape == (3, 24, 24) and grey.dtype == np.uint8
    tolerance = 40 if path.suffix == ".jpg" else 0
    assert np.abs(grey[0].astype(int) - pixels).max() <= tolerance
    assert np.abs(rgb.astype(int) - pixels[None]).max() <= tolerance


def test_first_gif_frame_and_resize_modes(tmp_path: Path) -> None:
    from PIL import Image

    frames = [Image.fromarray(np.full((10, 20), v, np.uint8), "L") for v in (200, 50)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    assert decode_image(tmp_path / "a.gif", 1, [10, 20]).max() == 200
    wide = np.full((10, 20), 255, np.uint8)
    Image.fromarray(wide, "L").save(tmp_path / "w.png")
    padded = decode_image(tmp_path / "w.png", 1, [20, 20], "pad")[0]
    assert padded[:4].max() == 0 and padded[8:12].min() == 255  # black bands above and below the centred image
    assert decode_image(tmp_path / "w.png", 1, [20, 20], "crop").min() == 255  # the centre, scaled to cover
    assert decode_image(tmp_path / "w.png", 1, [5, 7], "fit").shape == (1, 5, 7)


def _folder(root: Path, classes: dict[str, int], side: int = 8) -> Path:
    for c, (name, count) in enumerate(classes.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            save_image(_grey(10 * c + i, side), root / name / f"{i}", 0)
    return root


def test_cache_is_reused_and_refreshed_when_a_file_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _folder(tmp_path / "photos", {"a": 3, "b": 3})
    files, labels, classes = find_class_folder(root)
    assert classes == ["a", "b"] and labels.tolist() == ["a"] * 3 + ["b"] * 3
    setting = ImageSpec(cache=str(tmp_path / "cache"), workers=0)
    first = np.array(decode_set(files, setting).pixels)
    calls, headers = [], []
    real, settle = images._decode_into, images._settle_shape
    monkeypatch.setattr(images, "_decode_into", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(images, "_settle_shape", lambda *a: headers.append(1) or settle(*a))
    again = decode_set(files, setting)  # no size or channels given: those come from the cache too, no file opened
    assert isinstance(again.pixels, np.memmap) and calls == headers == [] and np.array_equal(again.pixels, first)
    save_image(np.zeros((8, 8), np.uint8), files[0].with_suffix(""), 0)
    os.utime(files[0], ns=(1, 1))  # a new modification time
    changed = decode_set(files, setting)
    assert calls == headers == [1] and changed.pixels[0].max() == 0 and np.array_equal(changed.pixels[1:], first[1:])


def test_parallel_decoding_matches_one_process(tmp_path: Path) -> None:
    root = _folder(tmp_path / "photos", {"a": 40, "b": 40})
    files, _, _ = find_class_folder(root)
    one = decode_set(files, ImageSpec(cache=str(tmp_path / "c1"), workers=0)).pixels
    two = decode_set(files, ImageSpec(cache=str(tmp_path / "c2"), workers=2)).pixels
    assert np.array_equal(one, two) and one.shape == (80, 1, 8, 8)


def test_prepared_folder_keeps_classes_channels_and_scaling(tmp_path: Path) -> None:
    root = _folder(tmp_path / "photos", {"cat": 6, "dog": 6})
    data = prepare_data(DataSpec(path=str(root), image={"channels": 3, "cache": str(tmp_path / "c")},
                                 split={"val": 0.2, "test": 0.2}))
    assert data.input_shape == (3, 8, 8) and data.preprocessor.target.classes == ["cat", "dog"]
    assert data.task == "binary" and 0.0 <= float(data.train.x.min()) and float(data.train.x.max()) <= 1.0
    assert len(data.train) + len(data.val) + len(data.test) == 12


@pytest.mark.parametrize("case", ["corrupt", "not_image", "empty_class", "one_class", "mixed_sizes"])
def test_bad_folders_name_the_problem(tmp_path: Path, case: str) -> None:
    root = _folder(tmp_path / "photos", {"a": 3} if case == "one_class" else {"a": 3, "b": 3})
    if case == "corrupt":
        (root / "a" / "0.png").write_bytes((root / "a" / "0.png").read_bytes()[:40])
    elif case == "not_image":
        (root / "b" / "notes.txt").write_text("not a picture")
    elif case == "empty_class":
        (root / "c").mkdir()
    elif case == "mixed_sizes":
        save_image(_grey(0, 10), root / "b" / "9", 0)
    expected = {"corrupt": "0.png is not a readable image", "not_image": "notes.txt is not a readable image",
                "empty_class": "class folder", "one_class": "one class folder", "mixed_sizes": "mixed sizes"}[case]
    with pytest.raises(DataError, match=expected):
        prepare_data(DataSpec(path=str(root), image={"cache": str(tmp_path / "c"), "workers": 0}))


def test_skip_drops_bad_files_and_prints_the_count(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = _folder(tmp_path / "photos", {"a": 4, "b": 4})
    (root / "a" / "0.png").write_bytes(b"\x89PNG broken")
    (root / "b" / "readme.txt").write_text("hello")
    spec = DataSpec(path=str(root), on_bad_file="skip", image={"size": [8, 8], "cache": str(tmp_path / "c")},
                    split={"val": 0.0, "test": 0.0})
    data = prepare_data(spec)
    assert len(data.train) == 7 and "skipped 2 unreadable file(s)" in capsys.readouterr().out
    assert sorted(data.train.y.ravel().tolist()) == [0, 0, 0, 1, 1, 1, 1]


def _table(root: Path, name: str, rows: list[tuple[str, str]]) -> Path:
    """A table of (image path, label) rows written as CSV or Parquet by ``name``'s suffix."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    table = pa.table({"file": [r[0] for r in rows], "label": [r[1] for r in rows], "note": ["x"] * len(rows)})
    path = root / name
    pq.write_table(table, path) if path.suffix == ".parquet" else pa_csv.write_csv(table, path)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_image_table_prepares_exactly_as_the_folder(tmp_path: Path, suffix: str) -> None:
    root = _folder(tmp_path / "photos", {"cat": 8, "dog": 8})
    files, labels, _ = find_class_folder(root)
    table = _table(tmp_path, f"pets{suffix}", [(str(f.relative_to(tmp_path)), str(y)) for f, y in zip(files, labels)])
    common = {"image": {"cache": str(tmp_path / "c"), "workers": 0}, "split": {"val": 0.25, "test": 0.25}}
    folder = prepare_data(DataSpec(path=str(root), **common))
    listed = prepare_data(DataSpec(path=str(table), image_column="file", target="label", **common))
    assert listed.preprocessor.to_json() == folder.preprocessor.to_json()
    for name in ("train", "val", "test"):  # same pixels, labels and rows, so training sees the same data
        a, b = getattr(folder, name), getattr(listed, name)
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and np.array_equal(a.rows, b.rows)
    assert len(folder.test) == 4 and listed.input_shape == (1, 8, 8)


def test_image_table_refuses_or_skips_bad_rows(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _folder(tmp_path / "photos", {"a": 4, "b": 4})
    rows = [(f"photos/{c}/{i}.png", c) for c in "ab" for i in range(4)] + [("photos/a/gone.png", "a")]
    table = _table(tmp_path, "list.csv", rows)
    spec = {"path": str(table), "image_column": "file", "target": "label", "split": {"val": 0.0, "test": 0.0},
            "image": {"cache": str(tmp_path / "c"), "workers": 0}}
    with pytest.raises(DataError, match=r"list.csv row 10: image file .*gone.png does not exist"):
        prepare_data(DataSpec(**spec))
    data = prepare_data(DataSpec(**spec, on_bad_file="skip"))
    assert len(data.train) == 8 and "skipped 1 missing file(s)" in capsys.readouterr().out
    with pytest.raises(DataError, match="has no column 'path' \\(data.image_column\\)"):
        prepare_data(DataSpec(**{**spec, "image_column": "path"}))
    with pytest.raises(DataError, match="column 'label' holds one class"):
        prepare_data(DataSpec(**{**spec, "path": str(_table(tmp_path, "one.csv", rows[:4]))}))
    with pytest.raises(ValueError, match="data.image_column names a column of image paths in a table"):
        DataSpec(dataset="digits", image_column="file")
