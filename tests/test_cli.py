"""The `mnistpad` command, run as a user runs it: a separate process, real files, real MNIST."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mnistpad.data import assets_dir

DEFAULT_WEIGHTS = assets_dir() / "weights" / "default.npz"


pytestmark = pytest.mark.usefixtures("through_the_data_cache")


def mnistpad(*args, check_status: int | None = 0) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "mnistpad", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    if check_status is not None:
        assert result.returncode == check_status, result.stderr
    return result


def assert_one_line_error(result, *fragments) -> None:
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert str(fragment) in lines[0]


def test_train_json_then_eval_reports_the_same_test_accuracy(tmp_path):
    out = tmp_path / "model.npz"
    trained = mnistpad(
        "train", "--preset", "fast", "--epochs", "2", "--seed", "1", "--out", out, "--json"
    )
    result = json.loads(trained.stdout.strip().splitlines()[-1])
    for key in (
        "preset",
        "epochs",
        "best_epoch",
        "train_accuracy",
        "dev_accuracy",
        "test_accuracy",
        "seconds",
    ):
        assert key in result
    assert result["preset"] == "fast" and result["epochs"] == 2 and result["weights"] == str(out)
    assert result["test_accuracy"] > 0.85
    assert "epoch   2/2" in trained.stderr  # progress goes to stderr, so stdout stays JSON
    evaluated = json.loads(mnistpad("eval", out, "--json").stdout)
    assert evaluated["test_accuracy"] == result["test_accuracy"]
    assert evaluated["dev_accuracy"] == result["dev_accuracy"]


def test_eval_prepares_the_test_images_as_the_weights_were_trained(tmp_path):
    out = tmp_path / "upright.npz"
    trained = mnistpad(
        "train", "--preset", "fast", "--deskew", "--epochs", "1", "--out", out, "--json"
    )
    result = json.loads(trained.stdout.strip().splitlines()[-1])
    assert result["config"]["deskew"] is True
    evaluated = json.loads(mnistpad("eval", out, "--json").stdout)
    assert evaluated["test_accuracy"] == result["test_accuracy"] > 0.85


def test_train_prints_one_line_per_epoch_without_json():
    result = mnistpad("train", "--preset", "fast", "--epochs", "3", "--batch-size", "500")
    lines = result.stdout.strip().splitlines()
    assert [line.split()[1] for line in lines[:3]] == ["1/3", "2/3", "3/3"]
    # Two different train accuracies, each saying what it is: a running average during the
    # epoch, the kept weights scored on the whole training set at the end.
    assert all("% (running)  dev " in line for line in lines[:3])
    assert lines[-1].startswith("done: kept epoch 3 of 3; the kept weights score train ")
    assert "running average" in mnistpad("train", "--help").stdout


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("train", "--epochs", "0"), ("epochs",)),
        (("train", "--epochs", "many"), ("--epochs", "many")),
        (("train", "--lr", "-1"), ("step size",)),
        (("train", "--lr", "nan"), ("step size",)),
        (("train", "--batch-size", "0"), ("batch size",)),
        (("train", "--seed", "-5"), ("seed",)),
        (("train", "--preset", "turbo"), ("turbo",)),
        (("train", "--data", "/nonexistent/mnist"), ("/nonexistent/mnist", "no such folder")),
        (("train", "--out", "/nonexistent/dir/w.npz"), ("/nonexistent/dir",)),
        (("eval", "/nonexistent.npz"), ("/nonexistent.npz", "no such file")),
        (("predict", DEFAULT_WEIGHTS, "/nonexistent.png"), ("/nonexistent.png", "no such file")),
    ],
)
def test_bad_input_exits_2_with_one_line(args, fragments):
    assert_one_line_error(mnistpad(*args, check_status=None), *fragments)


def test_a_corrupt_weight_file_is_named(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    assert_one_line_error(mnistpad("eval", bad, check_status=None), bad, "not a valid")
    assert_one_line_error(mnistpad("predict", bad, DEFAULT_WEIGHTS, check_status=None), bad)


def save_picture(path: Path, rgba: np.ndarray) -> None:
    """Write an (H, W, 4) uint8 picture with Qt, in the format the file name says."""
    from PySide6.QtGui import QImage

    height, width, _ = rgba.shape
    data = np.ascontiguousarray(rgba).tobytes()
    image = QImage(data, width, height, width * 4, QImage.Format.Format_RGBA8888)
    assert image.copy().save(str(path)), path


def rgba(
    luminance: np.ndarray, alpha: np.ndarray | None = None, tint=(1.0, 1.0, 1.0)
) -> np.ndarray:
    channels = [np.round(255 * luminance * t) for t in tint]
    channels.append(np.full_like(luminance, 255) if alpha is None else np.round(255 * alpha))
    return np.stack(channels, axis=-1).astype(np.uint8)


def test_predict_reads_pictures_of_every_kind(tmp_path, mnist):
    images = mnist.test_images[:40].reshape(-1, 28, 28)
    labels = mnist.test_labels[:40]
    files = []
    for i, image in enumerate(images):
        big = np.kron(image, np.ones((9, 9)))
        big = np.pad(big, ((20 + i, 60), (80, 10 + 2 * i)))  # off-centre, varying sizes
        kind = i % 4
        if kind == 0:  # dark ink on white paper, PNG
            path, picture = tmp_path / f"{i}.png", rgba(1 - big)
        elif kind == 1:  # light ink on dark paper, JPEG
            path, picture = tmp_path / f"{i}.jpg", rgba(0.1 + 0.8 * big)
        elif kind == 2:  # blue ink on a transparent background, PNG
            path, picture = (
                tmp_path / f"{i}.png",
                rgba(np.zeros_like(big), alpha=big, tint=(0.1, 0.2, 0.8)),
            )
        else:  # grey pencil on cream paper, BMP
            path, picture = tmp_path / f"{i}.bmp", rgba(0.85 - 0.5 * big, tint=(1.0, 0.97, 0.9))
        save_picture(path, picture)
        files.append(path)
    result = mnistpad("predict", DEFAULT_WEIGHTS, *files, "--json")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["image"] for row in rows] == [str(path) for path in files]
    for row in rows:
        assert len(row["probabilities"]) == 10 and abs(sum(row["probabilities"]) - 1) < 1e-4
        assert row["prediction"] == int(np.argmax(row["probabilities"]))
    predictions = np.array([row["prediction"] for row in rows])
    assert (predictions == labels).mean() >= 0.85
    for kind in range(4):  # every kind of picture is read, not just most of them
        assert (predictions[kind::4] == labels[kind::4]).mean() >= 0.7


def test_predict_refuses_blank_and_broken_pictures_but_reads_the_rest(tmp_path, mnist):
    blank, empty, text, good = (
        tmp_path / name for name in ("blank.png", "empty.png", "notes.png", "good.png")
    )
    save_picture(blank, rgba(np.ones((50, 50))))
    empty.write_bytes(b"")
    text.write_text("this is not a picture")
    save_picture(good, rgba(1 - np.kron(mnist.test_images[0].reshape(28, 28), np.ones((5, 5)))))
    result = mnistpad("predict", DEFAULT_WEIGHTS, blank, empty, text, good, check_status=2)
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 3 and "Traceback" not in result.stderr
    assert str(blank) in errors[0] and "no ink" in errors[0]
    assert str(empty) in errors[1] and "empty" in errors[1]
    assert str(text) in errors[2] and "not an image" in errors[2]
    assert (
        result.stdout.strip()
        == f"{good}: {mnist.test_labels[0]} " + result.stdout.strip().split(" ", 2)[2]
    )


def test_predict_reports_a_truncated_picture(tmp_path, mnist):
    whole, cut = tmp_path / "whole.png", tmp_path / "cut.png"
    save_picture(whole, rgba(1 - np.kron(mnist.test_images[1].reshape(28, 28), np.ones((8, 8)))))
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert_one_line_error(mnistpad("predict", DEFAULT_WEIGHTS, cut, check_status=None), cut)


def test_predict_refuses_a_picture_claiming_a_huge_size_before_decoding(tmp_path):
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)  # 10 gigapixels, greyscale
    huge = tmp_path / "huge.png"
    huge.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
    )
    assert_one_line_error(
        mnistpad("predict", DEFAULT_WEIGHTS, huge, check_status=None), huge, "megapixel"
    )


def test_version_and_help():
    assert mnistpad("--version").stdout.startswith("mnistpad ")
    help_text = mnistpad("--help").stdout
    for command in ("gui", "train", "eval", "predict"):
        assert command in help_text
    assert "linear, MLP or CNN" in " ".join(help_text.split())  # not "a linear classifier"


def test_the_app_starts_with_the_default_weights_and_quits_on_ctrl_c(tmp_path):
    import signal
    import time

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path)}
    app = subprocess.Popen(
        [sys.executable, "-m", "mnistpad"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    from mnistpad.train_process import _cpu_seconds

    used, deadline = -1.0, time.monotonic() + 60  # started: showing its window, then idle
    while time.monotonic() < deadline and app.poll() is None:
        time.sleep(0.5)
        now = _cpu_seconds(app.pid) or 0.0
        if now - used < 0.05:
            break
        used = now
    assert app.poll() is None, app.communicate()
    app.send_signal(signal.SIGINT)
    _, errors = app.communicate(timeout=30)
    assert app.returncode == 0, errors
    assert "Traceback" not in errors
    assert (tmp_path / "mnistpad" / "mnistpad.conf").exists()  # it saved its window settings


def test_weights_are_not_evaluated_on_data_with_other_classes(tmp_path):
    from gui_support import named_idx_folder

    folder = named_idx_folder(tmp_path / "fruit")
    result = mnistpad("eval", DEFAULT_WEIGHTS, "--data", folder, check_status=None)
    assert_one_line_error(result, "made for the classes 0, 1", "apple, banana")


def test_the_window_refuses_a_bad_data_folder_before_opening(tmp_path):
    result = mnistpad("gui", "--data", tmp_path / "nowhere", check_status=None)
    assert_one_line_error(result, "nowhere", "no such folder")


@pytest.mark.parametrize(
    ("out", "fragment"),
    [
        ("", "no file name"),
        ("/", "is a folder"),
        ("/dev/null", "is a device"),
        ("FIFO", "named pipe"),
        ("FOLDER", "is a folder"),
        (assets_dir() / "mnist" / "train-images-idx3-ubyte.gz", "dataset's own files"),
        (assets_dir() / "mnist" / "SHA256SUMS", "dataset's own files"),
    ],
)
def test_an_unusable_out_is_refused_before_any_training(tmp_path, out, fragment):
    if out == "FIFO":
        out = tmp_path / "pipe.npz"
        os.mkfifo(out)
    elif out == "FOLDER":
        out = tmp_path
    result = mnistpad("train", "--epochs", "1", "--out", out, check_status=None)
    assert_one_line_error(result, "--out", fragment)
    assert "epoch" not in result.stdout
    assert (assets_dir() / "mnist" / "train-images-idx3-ubyte.gz").stat().st_size > 1_000_000


def png(path: Path, width: int, height: int, ink_rows: slice, ink_columns: slice) -> Path:
    """A white RGB PNG with a black rectangle, written with zlib (fast for huge pictures)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    white = np.full((width, 3), 255, np.uint8)
    inked = white.copy()
    inked[ink_columns] = 0
    rows = [b"\0" + (inked if ink_rows.start <= y < ink_rows.stop else white).tobytes()
            for y in range(height)]  # fmt: skip
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows), 1))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b""))
    return path


def test_predict_names_what_a_path_is_and_reads_huge_and_thin_pictures(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    endless = tmp_path / "zero.png"
    endless.symlink_to("/dev/zero")
    # 81 megapixels, a "1": within the promised 100-megapixel limit (Qt's own decoding limit,
    # 256 MB, would refuse its 324 MB of pixels)
    big = png(tmp_path / "big.png", 9000, 9000, slice(1500, 7500), slice(4000, 5000))
    strip = png(tmp_path / "strip.png", 100_000, 1, slice(0, 1), slice(40_000, 60_000))
    result = mnistpad("predict", DEFAULT_WEIGHTS, fifo, endless, big, strip, check_status=None)
    errors = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert any(str(fifo) in line and "named pipe" in line for line in errors)
    assert any(str(endless) in line and "is a device" in line for line in errors)
    assert f"{big}: 1 (" in result.stdout
    assert "Unknown error" not in result.stderr
    assert str(strip) in result.stdout + result.stderr


def test_predict_uses_the_bundled_weights_unless_given_a_weight_file(tmp_path, mnist):
    picture = tmp_path / "seven.png"
    save_picture(picture, rgba(1 - np.kron(mnist.test_images[0].reshape(28, 28), np.ones((4, 4)))))
    alone = mnistpad("predict", picture, "--json")
    given = mnistpad("predict", DEFAULT_WEIGHTS, picture, "--json")
    assert json.loads(alone.stdout) == json.loads(given.stdout)
    assert json.loads(alone.stdout)["prediction"] == int(mnist.test_labels[0])
    assert_one_line_error(mnistpad("predict", DEFAULT_WEIGHTS, check_status=None), "no image")


def test_a_weight_file_alone_opens_the_window_with_it(monkeypatch):
    import mnistpad.gui.app
    from mnistpad import cli

    opened = []
    monkeypatch.setattr(mnistpad.gui.app, "run_app", lambda **kw: opened.append(kw) or 0)
    assert cli.main([str(DEFAULT_WEIGHTS)]) == 0
    assert opened == [{"weights": DEFAULT_WEIGHTS, "dataset": None}]


def test_predict_warns_when_a_picture_holds_two_digits(tmp_path, mnist):
    """A picture of "17" made of two MNIST test digits side by side is read as one digit: the
    answer comes with a warning on standard error and in the JSON; a lone digit has none."""
    images, labels = mnist.test_images.reshape(-1, 28, 28), mnist.test_labels
    one, seven = (images[np.flatnonzero(labels == digit)[0]] for digit in (1, 7))
    seventeen, alone = tmp_path / "17.png", tmp_path / "7.png"
    save_picture(seventeen, rgba(1 - np.pad(np.kron(np.hstack([one, seven]), np.ones((8, 8))), 30)))
    save_picture(alone, rgba(1 - np.pad(np.kron(seven, np.ones((8, 8))), 30)))
    result = mnistpad("predict", seventeen, alone)
    assert result.stderr.splitlines() == [
        f"mnistpad predict: warning: {seventeen}: 2 digits side by side: the answer reads them"
        " as one digit"
    ]
    assert result.stdout.splitlines()[1].startswith(f"{alone}: 7 (")
    rows = [
        json.loads(line)
        for line in mnistpad("predict", seventeen, alone, "--json").stdout.splitlines()
    ]
    assert [(row["digits_seen"], bool(row["warning"])) for row in rows] == [(2, True), (1, False)]


def test_every_single_digit_of_a_test_sample_is_one_digit(mnist):
    from mnistpad.preprocess import digits_side_by_side, ink_from_picture

    images = mnist.test_images[:300].reshape(-1, 28, 28)
    for image in images:  # broken strokes, separate bars: still one digit
        assert (
            digits_side_by_side(ink_from_picture(1 - np.pad(np.kron(image, np.ones((6, 6))), 20)))
            == 1
        )
