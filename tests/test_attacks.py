"""What an attacker tried against the hardened readers, each now refused or shown safely: numbers
too large for a float, rows without their keys, SVG and icon pictures, links into a dataset or
planted in a shared folder, a zip whose directory is enormous, control characters in names."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from gui_support import circle
from PySide6.QtCore import QSettings

from mnistpad.data import assets_dir
from mnistpad.files import write_atomically
from mnistpad.gui.canvas import send_stroke
from mnistpad.gui.dialogs import Folders
from mnistpad.handwriting import HandwritingError, PersonalSet
from mnistpad.weights import WeightFileError, load_weights, save_weights

DEFAULT_WEIGHTS = assets_dir() / "weights" / "default.npz"
HUGE = 10**400  # valid JSON; math.isfinite(HUGE) raises OverflowError


def weights_with(tmp_path, name: str, **meta_changes):
    default = load_weights(DEFAULT_WEIGHTS)
    path = tmp_path / name
    save_weights(path, default.model, {**default.meta, **meta_changes})
    return path


def test_a_whole_number_too_large_for_a_float_is_refused_not_a_traceback(tmp_path):
    path = weights_with(tmp_path, "big.npz", metrics={"test_accuracy": HUGE})
    with pytest.raises(WeightFileError, match="not a finite number"):
        load_weights(path)


def test_the_window_opens_files_with_odd_training_settings_and_curves(window, dialogs, tmp_path):
    shown, _ = dialogs
    panel_before = window.panel.config()
    odd_lr = weights_with(tmp_path, "lr.npz", training={"preset": "fast", "lr": HUGE})
    assert window.files.open_weights(odd_lr)
    assert window.panel.config() == panel_before  # settings it cannot use leave the panel alone
    keyless = weights_with(tmp_path, "rows.npz", history=[{}, {"epoch": 1}])
    assert window.files.open_weights(keyless)
    assert window.plots.epochs == [] and window.table.rowCount() == 2
    assert shown["critical"] == []


def packed_weights(path, **meta):
    """Default weights with `meta` (and the fields every file needs), packed as an attacker
    would: compact JSON, compressed."""
    default = load_weights(DEFAULT_WEIGHTS)
    meta = {"format": "mnistpad-weights", "version": 1, "classes": default.classes, **meta}
    text = np.array(json.dumps(meta, separators=(",", ":")))
    np.savez_compressed(path, meta=text, W=default.model.W, b=default.model.b)
    return path


def test_metadata_that_would_freeze_the_window_is_refused_at_load(window, dialogs, tmp_path):
    """BUG: a 38 KB file whose history held 349,442 empty rows froze the window 19.6 s and took
    1.65 GB; a "created" of a million characters froze it 4.8 s, and again on each resize."""
    shown, _ = dialogs
    in_use = window.session.meta
    row = {f"field {i}": 0 for i in range(60)}
    cases = {
        "rows.npz": ({"history": [{}] * 349_442}, "meta.history has 349,442 rows"),
        "created.npz": ({"created": "x" * 10**6}, "meta.created holds a text of 1,000,000"),
        "fields.npz": ({"history": [row] * 1000}, "meta.history takes the metadata over 50,000"),
        "nested.npz": ({"training": {"data": ["x" * 5000]}}, "meta.training holds a text of"),
        "key.npz": ({"metrics": {"x" * 5000: 1}}, "meta.metrics holds a text of 5,000"),
    }
    for name, (meta, reason) in cases.items():
        path = packed_weights(tmp_path / name, **meta)
        with pytest.raises(WeightFileError, match=reason):
            load_weights(path)
        assert not window.files.open_weights(path)
        assert reason in shown["critical"][-1][1].lower()
    assert (tmp_path / "rows.npz").stat().st_size < 64_000  # a small file, as in the attack
    assert window.session.meta is in_use


def test_a_drawing_file_with_a_huge_number_is_skipped_not_fatal(tmp_path):
    personal = PersonalSet(tmp_path / "handwriting")
    drawing = personal.add(np.zeros((28, 28)), [], 3, "3")
    path = personal.folder / f"{drawing.id}.json"
    data = json.loads(path.read_text())
    data["strokes"] = [{"width": HUGE, "points": [[1, 2, 1]]}]
    path.write_text(json.dumps(data))
    drawings, problems = PersonalSet(personal.folder).drawings()
    assert drawings == [] and problems and drawing.id in problems[0]


def test_train_out_through_a_link_to_a_data_file_is_refused(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for source in (assets_dir() / "mnist").iterdir():
        (data / source.name).symlink_to(source)
    result = subprocess.run(
        [sys.executable, "-m", "mnistpad", "train", "--data", data, "--epochs", "1",
         "--out", data / "train-images-idx3-ubyte.gz"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and "dataset's own files" in result.stderr


def test_a_link_planted_by_another_user_in_a_shared_folder_is_not_followed(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("making a link owned by another user needs root")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    link = shared / "weights.npz"
    link.symlink_to(victim)
    os.lchown(link, 65534, 65534)  # nobody's
    with pytest.raises(OSError, match="another user"):
        write_atomically(link, lambda out: out.write(b"x"))
    assert victim.read_text() == "mine"
    os.lchown(link, 0, 0)  # one's own link is followed, as everywhere
    write_atomically(link, lambda out: out.write(b"x"))
    assert victim.read_bytes() == b"x"


def test_a_zip_declaring_an_enormous_directory_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.json", "{}")
    data = bytearray(path.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HHI", data, end + 8, 0xFFFF, 0xFFFF, 50_000_000)  # entries, directory size
    path.write_bytes(bytes(data))
    with pytest.raises(HandwritingError, match="more than 20,000 files"):
        PersonalSet(tmp_path / "handwriting").import_from(path)


def test_predict_refuses_svg_and_icons_and_prints_names_on_one_line(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    svg = tmp_path / "digit.svg"
    svg.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
        f' width="28" height="28"><image xlink:href="{fifo}" width="28" height="28"/></svg>'
    )
    icon = tmp_path / "digit.ico"
    entry = struct.pack("<BBBBHHII", 16, 16, 0, 0, 1, 32, 100, 22)  # says 16x16
    icon.write_bytes(struct.pack("<HHH", 0, 1, 1) + entry + b"\x89PNG" + b"\0" * 96)
    forged = "8\nsecret.png: 1 (100.0%)\x1b[31m\u202e"
    weights = weights_with(tmp_path, "forged.npz", classes=[forged] * 10)
    picture = tmp_path / "digit.png"
    from PySide6.QtGui import QImage

    image = QImage(56, 56, QImage.Format.Format_Grayscale8)
    image.fill(255)
    for y in range(8, 48):
        for x in range(24, 32):
            image.setPixel(x, y, 0)
    assert image.save(str(picture))
    result = subprocess.run(
        [sys.executable, "-m", "mnistpad", "predict", weights, svg, icon, picture],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )  # fmt: skip
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2 and all("not an image" in line for line in errors)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and "\\n" in lines[0] and "\x1b" not in result.stdout
    assert "\\u202e" in lines[0]


@pytest.fixture
def read_only_disk(tmp_path):
    """A folder on a file system mounted read-only (a bind mount of one under tmp_path), holding
    a handwriting folder; skipped where mounting is not allowed."""
    source, mounted = tmp_path / "disk", tmp_path / "read-only"
    (source / "handwriting").mkdir(parents=True)
    mounted.mkdir()

    def mount(*args) -> bool:
        return subprocess.run(["mount", *args], capture_output=True, check=False).returncode == 0

    if not mount("--bind", source, mounted):
        pytest.skip("a read-only bind mount needs root and mount(8)")
    try:
        if not mount("-o", "remount,ro,bind", mounted):
            pytest.skip("this system does not let a bind mount be made read-only")
        yield mounted
    finally:
        subprocess.run(["umount", mounted], check=True)


def test_a_read_only_disk_is_named_as_such_not_as_permission_denied(
    read_only_disk, window, dialogs, qtbot
):
    """BUG: saving weights or labelling a drawing on a read-only file system said "permission
    denied", which sends a person to the folder's permissions instead of the disk."""
    shown, answers = dialogs
    target = read_only_disk / "w.npz"
    with pytest.raises(WeightFileError, match=re.escape(f"in {read_only_disk}: read-only file")):
        save_weights(target, load_weights(DEFAULT_WEIGHTS).model, {"classes": list("0123456789")})
    with pytest.raises(HandwritingError, match="read-only file system"):
        PersonalSet(read_only_disk / "handwriting").add(np.zeros((28, 28)), [], 3, "3")
    answers["save"] = str(target)
    assert not window.files.save_weights_dialog()
    window.handwriting.personal = PersonalSet(read_only_disk / "handwriting")
    send_stroke(window.canvas, circle())
    assert not window.label_drawing(0)
    texts = [text for _title, text in shown["critical"]]
    assert len(texts) == 2 and all("read-only file system" in text for text in texts), texts
    assert not any("permission denied" in text.lower() for text in texts)
    assert list(read_only_disk.iterdir()) == [read_only_disk / "handwriting"]


def test_a_damaged_remembered_folder_falls_back(tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("last_folder", b"\xff\xfe")
    assert os.path.isdir(Folders(settings).last())


def test_labelling_still_works_after_all_that(window, qtbot):
    send_stroke(window.canvas, circle())
    assert window.label_drawing(0)
