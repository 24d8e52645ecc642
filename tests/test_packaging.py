"""The shape of the product: the core stays free of Qt, and a wheel carries the bundled data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = [
    "mnistpad",
    "mnistpad.data",
    "mnistpad.model",
    "mnistpad.layers",
    "mnistpad.networks",
    "mnistpad.train",
    "mnistpad.preprocess",
    "mnistpad.augment",
    "mnistpad.pictures",
    "mnistpad.weights",
    "mnistpad.run_store",
    "mnistpad.train_process",
    "mnistpad.export",
    "mnistpad.files",
    "mnistpad.handwriting",
    "mnistpad.launch",
    "mnistpad.blas",
    "mnistpad.cli",
]


def test_the_core_and_the_cli_import_no_qt():
    code = (
        f"import sys, json\nfor name in {CORE!r}: __import__(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'shiboken6', 'pyqtgraph', 'torch', 'sklearn', 'scipy'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []


def test_the_training_child_imports_neither_the_command_nor_the_window():
    code = (
        "import sys, mnistpad.train_process\n"
        "print(sorted(m for m in sys.modules if m.startswith('mnistpad.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = result.stdout
    assert "mnistpad.train" in loaded
    for name in ("mnistpad.launch", "mnistpad.cli", "mnistpad.gui"):
        assert f"'{name}" not in loaded


def test_core_modules_import_only_numpy_and_the_standard_library():
    allowed = set(sys.stdlib_module_names) | {"numpy", "mnistpad", "__future__"}
    for module in (
        "data",
        "model",
        "layers",
        "networks",
        "cache",
        "train",
        "preprocess",
        "augment",
        "weights",
        "run_store",
        "train_process",
        "launch",
        "blas",
        "export",
        "files",
        "handwriting",
    ):
        source = (ROOT / "mnistpad" / f"{module}.py").read_text()
        for line in source.splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]) and not words[1].startswith("."):
                assert words[1].split(".")[0] in allowed, f"{module}.py: {line}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    return next(out.glob("mnistpad-*.whl"))


def test_the_wheel_carries_the_data_weights_and_licence(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "SHA256SUMS",
        "README.md",
    ):
        assert f"mnistpad/assets/mnist/{name}" in names
    for name in ("default.npz", "mlp.npz", "cnn.npz"):
        assert f"mnistpad/assets/weights/{name}" in names


def test_an_installed_wheel_finds_its_bundled_data(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--quiet",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    code = (
        "import mnistpad.data as d, mnistpad.train as t, mnistpad.weights as w\n"
        "ds = d.load_dataset()\n"
        "f = w.load_weights(d.assets_dir() / 'weights' / 'default.npz')\n"
        "ds = t.model_inputs(ds, f.deskew)\n"
        "print(d.assets_dir(), f.model.accuracy(ds.test_images, ds.test_labels))"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=env,
    )
    folder, accuracy = result.stdout.split()
    assert Path(folder).is_relative_to(target)
    assert float(accuracy) > 0.95
