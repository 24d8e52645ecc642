"""files.py: what mnistpad reads must be a regular file of a bounded size; what it saves replaces
only a regular file, atomically, keeping its permissions and any link to it."""

from __future__ import annotations

import os

import pytest
from timeouts import within

from mnistpad.files import read_regular, write_atomically


@pytest.fixture
def specials(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    zero = tmp_path / "zero"
    zero.symlink_to("/dev/zero")
    sparse = tmp_path / "sparse"
    with open(sparse, "wb") as handle:
        handle.truncate(6_000_000_000)  # 6 GB that take no room on disk
    return {"pipe": fifo, "zero": zero, "sparse": sparse, "folder": tmp_path}


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("pipe", "named pipe (FIFO), not a regular file"),
        ("zero", "is a device, not a regular file"),
        ("sparse", "is 6,000,000,000 bytes, over the limit of 1,000"),
        ("folder", "is a folder"),
    ],
)
def test_reading_refuses_what_is_not_a_small_regular_file(specials, name, reason):
    with pytest.raises(OSError) as refused:
        within(5, lambda: read_regular(specials[name], 1000))
    assert reason in refused.value.strerror


def test_reading_a_regular_file_through_a_link_works(tmp_path):
    (tmp_path / "real").write_bytes(b"abc")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert read_regular(tmp_path / "link", 3) == b"abc"


@pytest.mark.parametrize(
    ("name", "reason"),
    [("pipe", "named pipe"), ("zero", "is a device"), ("folder", "is a folder")],
)
def test_saving_refuses_to_replace_what_is_not_a_regular_file(specials, name, reason):
    with pytest.raises(OSError) as refused:
        within(5, lambda: write_atomically(specials[name], lambda out: out.write(b"x")))
    assert reason in refused.value.strerror
    assert os.path.exists("/dev/zero") and not (specials["folder"] / ".pipe").exists()
    assert sorted(p.name for p in specials["folder"].iterdir()) == ["pipe", "sparse", "zero"]


def test_saving_through_a_link_replaces_its_target_and_keeps_the_link(tmp_path):
    real = tmp_path / "real.npz"
    real.write_bytes(b"old")
    link = tmp_path / "link.npz"
    link.symlink_to(real)
    write_atomically(link, lambda out: out.write(b"new"))
    assert link.is_symlink() and real.read_bytes() == b"new"


def test_saving_keeps_an_existing_files_permissions(tmp_path):
    private = tmp_path / "private.npz"
    private.write_bytes(b"old")
    private.chmod(0o600)
    write_atomically(private, lambda out: out.write(b"new"))
    assert private.read_bytes() == b"new" and private.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("path", ["", "."])
def test_saving_without_a_name_is_refused(path):
    with pytest.raises(OSError, match="no file name"):
        write_atomically(path, lambda out: out.write(b"x"))
