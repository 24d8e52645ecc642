"""The weight file: round trip, atomic saves, and one clear error for every bad file."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mnistpad.data import DIGITS, assets_dir
from mnistpad.model import LinearModel
from mnistpad.weights import (
    FORMAT_VERSION,
    INPUT_SETTINGS,
    MAX_WEIGHT_FILE_BYTES,
    WeightFileError,
    build_meta,
    load_weights,
    save_weights,
)


def a_model(seed: int = 0) -> LinearModel:
    return LinearModel.glorot(np.random.default_rng(seed))


def a_meta() -> dict:
    return build_meta(
        DIGITS,
        training={"preset": "fast", "epochs": 2},
        metrics={"dev_accuracy": 0.93, "test_accuracy": 0.925},
        history=[{"epoch": 1, "dev_accuracy": 0.91}, {"epoch": 2, "dev_accuracy": 0.93}],
    )


def test_round_trip_keeps_weights_and_metadata(tmp_path):
    model, meta = a_model(), a_meta()
    path = save_weights(tmp_path / "w.npz", model, meta)
    loaded = load_weights(path)
    assert loaded.model.W.dtype == np.float32 and np.array_equal(loaded.model.W, model.W)
    assert np.array_equal(loaded.model.b, model.b)
    assert loaded.meta == json.loads(json.dumps(meta)) | {"model": {"kind": "linear", "shape": {}}}
    assert loaded.classes == list(DIGITS) and loaded.metrics["test_accuracy"] == 0.925
    assert [row["epoch"] for row in loaded.history] == [1, 2]


def test_the_file_is_a_plain_npz_that_numpy_reads_without_pickle(tmp_path):
    path = save_weights(tmp_path / "w.npz", a_model(), a_meta())
    with np.load(path, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["W", "b", "meta"]
        assert npz["W"].shape == (10, 784) and npz["b"].dtype == np.float32
        meta = json.loads(str(npz["meta"]))
    assert meta["format"] == "mnistpad-weights" and meta["version"] == 1  # what any version reads


def test_bundled_default_weights_load_and_record_how_they_were_made():
    loaded = load_weights(assets_dir() / "weights" / "default.npz")
    assert loaded.meta["training"]["preset"] == "deskew" and loaded.deskew
    assert loaded.metrics["test_accuracy"] >= 0.95
    assert len(loaded.history) == loaded.meta["training"]["epochs"]


def test_the_deskew_setting_travels_in_the_file_and_is_left_out_when_unused(tmp_path):
    upright = load_weights(
        save_weights(tmp_path / "d.npz", a_model(), build_meta(DIGITS, deskew=True))
    )
    plain = load_weights(save_weights(tmp_path / "p.npz", a_model(), build_meta(DIGITS)))
    assert upright.deskew and upright.meta["input"]["deskew"] is True
    assert not plain.deskew and plain.meta["input"] == INPUT_SETTINGS  # as mnistpad 0.1 wrote


def test_saving_replaces_atomically_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    path = save_weights(tmp_path / "w.npz", a_model(0), a_meta())
    before = path.read_bytes()

    def failing_savez(stream, **arrays):
        stream.write(b"PK half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(WeightFileError, match="No space left"):
        save_weights(path, a_model(1), a_meta())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.npz"]


def test_saving_into_a_missing_or_read_only_folder_is_a_clear_error(tmp_path):
    with pytest.raises(WeightFileError, match="cannot write"):
        save_weights(tmp_path / "missing" / "w.npz", a_model(), a_meta())
    if os.geteuid() != 0:  # root ignores permissions
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o500)
        with pytest.raises(WeightFileError, match="cannot write"):
            save_weights(folder / "w.npz", a_model(), a_meta())


def test_new_files_get_the_usual_permissions(tmp_path):
    path = save_weights(tmp_path / "w.npz", a_model(), a_meta())
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def good_arrays() -> dict:
    model = a_model()
    return {"W": model.W, "b": model.b, "meta": np.array(json.dumps(a_meta()))}


def bad_file(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    return path


def meta_with(**changes) -> np.ndarray:
    return np.array(json.dumps(a_meta() | changes))


BAD_FILES = {
    "empty file": (b"", "not a valid .npz"),
    "random bytes": (
        bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)),
        "not a valid",
    ),
    "truncated": (npz_bytes(**good_arrays())[:20_000], "not a valid"),
    "zip of something else": (None, "missing"),
    "missing key": (npz_bytes(W=a_model().W, meta=good_arrays()["meta"]), "missing b.npy"),
    "extra key": (npz_bytes(**good_arrays(), extra=np.zeros(3)), "unexpected extra.npy"),
    "wrong shape": (
        npz_bytes(**(good_arrays() | {"W": np.zeros((10, 700), np.float32)})),
        "W has shape (10, 700), expected (10, 784)",
    ),
    # BUG: refused as "wrong shape" (its size was checked before its dtype)
    "wrong dtype": (
        npz_bytes(**(good_arrays() | {"W": np.zeros((10, 784))})),
        "W has dtype float64, expected float32",
    ),
    "integer weights": (
        npz_bytes(**(good_arrays() | {"b": np.zeros(10, np.int32)})),
        "b has dtype int32, expected float32",
    ),
    "float64 of the size float32 would take": (
        npz_bytes(**(good_arrays() | {"W": np.zeros((10, 392))})),
        "W has dtype float64, expected float32",
    ),
    "NaN": (npz_bytes(**(good_arrays() | {"b": np.full(10, np.nan, np.float32)})), "NaN"),
    "infinity": (
        npz_bytes(**(good_arrays() | {"W": np.full((10, 784), np.inf, np.float32)})),
        "NaN or inf",
    ),
    "pickled object": (
        npz_bytes(**(good_arrays() | {"meta": np.array([{"x": 1}], dtype=object)})),
        "objects",
    ),
    "meta not JSON": (npz_bytes(**(good_arrays() | {"meta": np.array("{oops")})), "not valid JSON"),
    "meta of another format": (
        npz_bytes(**(good_arrays() | {"meta": meta_with(format="keras")})),
        "format",
    ),
    "newer version": (
        npz_bytes(**(good_arrays() | {"meta": meta_with(version=FORMAT_VERSION + 1)})),
        "newer",
    ),
    "bad version": (npz_bytes(**(good_arrays() | {"meta": meta_with(version="one")})), "version"),
    "class count mismatch": (
        npz_bytes(**(good_arrays() | {"meta": meta_with(classes=["a", "b"])})),
        "shape",
    ),
    "history not a list": (
        npz_bytes(**(good_arrays() | {"meta": meta_with(history=3)})),
        "history",
    ),
    "history with text for a number": (
        npz_bytes(**(good_arrays() | {"meta": meta_with(history=[{"dev_accuracy": "x"}])})),
        "dev_accuracy",
    ),
    "metrics with a fractional epoch": (
        npz_bytes(**(good_arrays() | {"meta": meta_with(metrics={"best_epoch": 1.5})})),
        "best_epoch",
    ),
    "unknown input preprocessing": (
        npz_bytes(**(good_arrays() | {"meta": meta_with(input={"preprocessing": "hog"})})),
        "cannot do",
    ),
    "deskew that is not true or false": (
        npz_bytes(**(good_arrays() | {"meta": meta_with(input=INPUT_SETTINGS | {"deskew": 1})})),
        "cannot do",
    ),
    "an input option this mnistpad does not know": (
        npz_bytes(**(good_arrays() | {"meta": meta_with(input=INPUT_SETTINGS | {"blur": True})})),
        "cannot do",
    ),
    "deeply nested JSON": (
        npz_bytes(**(good_arrays() | {"meta": np.array("[" * 100_000 + "]" * 100_000)})),
        "not valid JSON",
    ),
    "meta with invalid characters": (b"", "not valid text"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_every_bad_file_gives_one_clear_error(tmp_path, case):
    content, reason = BAD_FILES[case]
    if case == "meta with invalid characters":
        meta = np.frombuffer(np.array([0x7B, 0xD800, 0x7D], dtype="<u4").tobytes(), dtype="<U3")
        content = npz_bytes(**(good_arrays() | {"meta": meta.reshape(())}))
    elif content is None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("readme.txt", "hello")
        content = buffer.getvalue()
    path = bad_file(tmp_path, content)
    with pytest.raises(WeightFileError) as caught:
        load_weights(path)
    assert caught.value.path == path and reason in caught.value.reason
    assert str(path) in str(caught.value)


def test_metadata_as_large_as_mnistpad_writes_still_loads(tmp_path):
    """The metadata limits leave room for what mnistpad writes: a row per epoch of its longest
    run, and the path of a data folder as long as Linux allows."""
    row = a_meta()["history"][0] | {"lr": 0.1, "seconds": 1.5}
    rows = [row | {"epoch": i + 1} for i in range(1000)]
    meta = a_meta() | {"history": rows, "training": {"data": "/" + "d" * 4095, "epochs": 1000}}
    loaded = load_weights(save_weights(tmp_path / "w.npz", a_model(), meta))
    assert len(loaded.history) == 1000 and len(loaded.meta["training"]["data"]) == 4096


def test_the_readme_states_the_real_size_limit():
    """BUG: the troubleshooting table said weight files are limited to 6 MB."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert f"weight files {round(MAX_WEIGHT_FILE_BYTES / 1e6)} MB" in readme


def test_a_pickle_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    content = npz_bytes(**(good_arrays() | {"meta": np.array([Evil()], dtype=object)}))
    with pytest.raises(WeightFileError):
        load_weights(bad_file(tmp_path, content))
    assert not marker.exists()


def test_a_header_declaring_an_enormous_array_is_refused_before_allocating(tmp_path):
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 1), np.float32))
    header["shape"] = (10, 10**12)
    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, header)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("W.npy", stream.getvalue() + b"\0" * 64)
        archive.writestr("b.npy", npz_member(np.zeros(10, np.float32)))
        archive.writestr("meta.npy", npz_member(good_arrays()["meta"]))
    with pytest.raises(WeightFileError, match=r"W has shape \(10, 1000000000000\), expected"):
        load_weights(bad_file(tmp_path, buffer.getvalue()))


def npz_member(array: np.ndarray) -> bytes:
    stream = io.BytesIO()
    np.lib.format.write_array(stream, array)
    return stream.getvalue()


def test_a_pipe_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    with pytest.raises(WeightFileError, match="not a regular file"):
        load_weights(fifo)


def test_a_read_only_folder_or_disk_gives_a_clear_message_and_no_stray_file(tmp_path, monkeypatch):
    real_open = os.open

    def refuse(path, flags, mode=0o777, **kwargs):
        if flags & os.O_CREAT:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, mode, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(WeightFileError, match=r"cannot write in .*Permission denied"):
        save_weights(tmp_path / "w.npz", a_model(), a_meta())
    assert list(tmp_path.iterdir()) == []


def test_a_folder_or_a_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(WeightFileError, match="folder"):
        load_weights(tmp_path)
    with pytest.raises(WeightFileError, match="no such file"):
        load_weights(tmp_path / "nope.npz")


def test_curves_export_as_one_csv_table_of_runs():
    import csv
    import io

    from mnistpad.export import curves_csv

    history = [{"epoch": e, "dev_accuracy": 0.9 + e / 100, "train_loss": 0.3} for e in (1, 2)]
    text = curves_csv([("a", {"preset": "naive", "seed": 0}, history), ("b", {}, history[:1])])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["run"] for row in rows] == ["a", "a", "b"]
    assert rows[1]["preset"] == "naive" and float(rows[1]["dev_accuracy"]) == 0.92
    assert rows[2]["preset"] == "" and rows[2]["lr"] == ""  # absent values stay empty


def test_csv_cells_from_a_weight_file_cannot_become_spreadsheet_formulas():
    import csv
    import io

    from mnistpad.export import curves_csv

    hostile = {"preset": '=HYPERLINK("http://x")', "seed": "+1", "deskew": "@SUM(A1)"}
    history = [{"epoch": 1, "dev_accuracy": 0.9, "lr": -0.5, "train_loss": "-2+3"}]
    text = curves_csv([("=cmd|' /C calc'!A0", hostile, history), ("\tx", {}, history)])
    rows = list(csv.DictReader(io.StringIO(text)))
    cells = [value for row in rows for value in row.values()]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "@", "\t", "\r")]
    assert rows[0]["run"] == "'=cmd|' /C calc'!A0" and rows[0]["preset"].startswith("'=")
    assert rows[0]["train_loss"] == "'-2+3" and rows[1]["run"] == "'\tx"
    assert float(rows[0]["lr"]) == -0.5  # a number stays a number, negative or not


# -- networks: the model's kind and shape in the file (format version 2) ----------------------


def a_network(kind: str):
    from mnistpad.networks import new_model

    shape = {"mlp": {"hidden": 12}, "cnn": {"filters": [3, 4], "kernel": 5, "hidden": 8}}[kind]
    return new_model(kind, np.random.default_rng(1), 10, shape)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_networks_round_trip_with_their_kind_and_shape(tmp_path, kind):
    model = a_network(kind)
    loaded = load_weights(save_weights(tmp_path / "n.npz", model, a_meta()))
    assert loaded.model.kind == kind and loaded.model.shape == model.shape
    assert sorted(loaded.model.params) == sorted(model.params)
    for name, value in model.params.items():
        assert loaded.model.params[name].dtype == np.float32
        assert np.array_equal(loaded.model.params[name], value), name
    image = np.random.default_rng(2).uniform(0, 1, 784).astype(np.float32)
    np.testing.assert_array_equal(loaded.model.logits(image), model.logits(image))
    assert loaded.meta["version"] == 2 and loaded.meta["model"]["kind"] == kind
    with np.load(tmp_path / "n.npz", allow_pickle=False) as plain:  # numpy alone reads it
        assert sorted(plain.files) == sorted(["meta", *model.params])


def network_file(tmp_path: Path, kind: str = "mlp", meta_changes=None, arrays=None) -> Path:
    """An MLP file as save_weights writes it, with its meta or members changed."""
    model = a_network(kind)
    good = save_weights(tmp_path / "good.npz", model, a_meta())
    with np.load(good, allow_pickle=False) as plain:
        members = {name: plain[name] for name in plain.files}
    meta = json.loads(str(members["meta"]))
    for key, value in (meta_changes or {}).items():
        meta[key] = value
    members["meta"] = np.array(json.dumps(meta))
    members.update(arrays or {})
    return bad_file(tmp_path, npz_bytes(**{k: v for k, v in members.items() if v is not None}))


BAD_NETWORK_FILES = {
    "unknown kind": ({"model": {"kind": "transformer", "shape": {}}}, None, "unknown kind"),
    "kind not text": ({"model": {"kind": ["mlp"], "shape": {}}}, None, "unknown kind"),
    "no model in a version 2 file": ({"model": None}, None, "meta.model must be an object"),
    "shape not an object": ({"model": {"kind": "mlp", "shape": 12}}, None, "kind and a shape"),
    "a network in a version 1 file": ({"version": 1}, None, "a mlp model in a version 1 file"),
    "a width of zero": ({"model": {"kind": "mlp", "shape": {"hidden": 0}}}, None, "hidden must"),
    "a width of true": ({"model": {"kind": "mlp", "shape": {"hidden": True}}}, None, "hidden"),
    # a shape that would need gigabytes is refused before any member is read
    "an enormous shape": (
        {"model": {"kind": "cnn", "shape": {"filters": [256, 256], "kernel": 1, "hidden": 4096}}},
        None,
        "too large to load",
    ),
    # the members must be exactly those of the shape the meta gives
    "a member missing": ({}, {"dense2.b": None}, "missing dense2.b.npy"),
    "a member too many": ({}, {"extra": np.zeros(2, np.float32)}, "unexpected extra.npy"),
    "a linear W beside the network": ({}, {"W": np.zeros((10, 784), np.float32)}, "unexpected W"),
    "a member larger than its shape": (
        {},
        {"dense1.W": np.zeros((13, 784), np.float32)},
        "dense1.W has shape (13, 784), expected (12, 784)",
    ),
    "a member smaller than its shape": (
        {},
        {"dense1.W": np.zeros((11, 784), np.float32)},
        "dense1.W has shape (11, 784), expected (12, 784)",
    ),
    # BUG: refused as too large for its shape, not for its dtype
    "a float64 member": (
        {},
        {"dense2.b": np.zeros(10)},
        "dense2.b has dtype float64, expected float32",
    ),
    "NaN in a member": ({}, {"dense2.b": np.full(10, np.nan, np.float32)}, "NaN"),
    "too many members": (
        {},
        {f"x{i}": np.zeros(1, np.float32) for i in range(70)},
        "(75 members)",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_NETWORK_FILES))
def test_every_bad_network_file_gives_one_clear_error(tmp_path, case):
    meta_changes, arrays, reason = BAD_NETWORK_FILES[case]
    if meta_changes.get("model", "") is None:
        meta_changes = {"model": "absent"}
    path = network_file(tmp_path, "cnn" if "enormous" in case else "mlp", meta_changes, arrays)
    if meta_changes.get("model") == "absent":  # delete the key rather than set it
        with np.load(path, allow_pickle=False) as plain:
            members = {name: plain[name] for name in plain.files}
        meta = json.loads(str(members["meta"]))
        del meta["model"]
        members["meta"] = np.array(json.dumps(meta))
        path = bad_file(tmp_path, npz_bytes(**members))
    with pytest.raises(WeightFileError) as caught:
        load_weights(path)
    assert caught.value.path == path and reason in caught.value.reason


def test_a_file_from_a_later_format_is_refused_before_its_members_are_looked_at(tmp_path):
    path = network_file(
        tmp_path, meta_changes={"version": 3, "mnistpad_version": "9.0"}, arrays={"new": None}
    )
    with pytest.raises(
        WeightFileError, match=r"newer mnistpad \(format version 3, 9\.0\).*upgrade"
    ):
        load_weights(path)


def test_linear_files_stay_version_1_so_that_every_mnistpad_reads_them(tmp_path):
    path = save_weights(tmp_path / "w.npz", a_model(), a_meta())
    with np.load(path, allow_pickle=False) as plain:
        assert sorted(plain.files) == ["W", "b", "meta"]
        assert json.loads(str(plain["meta"]))["version"] == 1
