"""Every file mnistpad reads or writes goes through here: regular files of a bounded size only.

Reading: a named pipe, a device (`/dev/zero`) or a socket would make a read wait forever or never
end, and a sparse file can claim gigabytes; `read_regular` looks at what a path is before opening
it (opening a named pipe itself can block), opens it without blocking, checks again that it opened
the same regular file, and refuses more bytes than the caller's limit before reading any.

Writing: `write_atomically` fills a temporary file beside the target, flushes it to disk and
renames it into place, so a failure (a full disk, a crash) never leaves a damaged file and an
existing file is replaced only by a complete one. A symbolic link is followed on purpose (the file
it points to is replaced, the link stays), an existing file keeps its permissions, and a target
that is a folder, a named pipe or a device is refused rather than replaced.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import struct
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

_KINDS = (
    (stat.S_ISDIR, "is a folder, not a file"),
    (stat.S_ISFIFO, "is a named pipe (FIFO), not a regular file"),
    (stat.S_ISCHR, "is a device, not a regular file"),
    (stat.S_ISBLK, "is a device, not a regular file"),
    (stat.S_ISSOCK, "is a socket, not a regular file"),
)


def _not_regular(mode: int) -> str | None:
    """Why a file of this mode cannot be read or replaced as a file (None for a regular file)."""
    for test, reason in _KINDS:
        if test(mode):
            return reason
    return None if stat.S_ISREG(mode) else "is not a regular file"


def _refuse(path: Path, reason: str, errno_value: int = 22) -> OSError:
    error = OSError(errno_value, reason)
    error.filename = str(path)
    return error


def check_regular(path: Path | str, max_bytes: int) -> os.stat_result:
    """The stat of `path` when it is a regular file of at most `max_bytes` (links followed).
    Raises OSError whose strerror is the reason for the person ("no such file", "is a named
    pipe (FIFO), not a regular file", "is 6,000,000,000 bytes, over the limit of ...")."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise _refuse(path, "no such file", 2) from None
    except OSError as error:
        raise _refuse(path, f"cannot read: {error.strerror or error}", error.errno or 5) from None
    reason = _not_regular(info.st_mode)
    if reason:
        raise _refuse(path, reason)
    if info.st_size > max_bytes:
        raise _refuse(path, f"is {info.st_size:,} bytes, over the limit of {max_bytes:,}", 27)
    return info


def open_regular(path: Path | str, max_bytes: int) -> BinaryIO:
    """Open a regular file of at most `max_bytes` for reading, never blocking on a named pipe
    swapped in after the check. The caller still reads at most `max_bytes + 1` bytes."""
    path = Path(path)
    before = check_regular(path, max_bytes)
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise _refuse(path, f"cannot read: {error.strerror or error}", error.errno or 5) from None
    after = os.fstat(handle)
    if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino) or _not_regular(
        after.st_mode
    ):
        os.close(handle)
        raise _refuse(path, "changed while it was being opened; try again")
    os.set_blocking(handle, True)
    return os.fdopen(handle, "rb")


def read_regular(path: Path | str, max_bytes: int) -> bytes:
    """The whole content of a regular file of at most `max_bytes` (see `check_regular`)."""
    path = Path(path)
    with open_regular(path, max_bytes) as stream:
        try:
            data = stream.read(max_bytes + 1)
        except OSError as error:
            reason = f"cannot read: {error.strerror or error}"
            raise _refuse(path, reason, error.errno or 5) from None
    if len(data) > max_bytes:  # it grew after the check
        raise _refuse(path, f"is over the limit of {max_bytes:,} bytes", 27)
    return data


def writable_target(path: Path | str) -> Path:
    """The file that saving to `path` replaces: links followed, checked before any work is done.
    Raises OSError saying why nothing can be saved there (a folder, a device, a missing or
    read-only folder)."""
    if str(path) in ("", "."):
        raise _refuse(Path("."), "no file name given")
    _check_link_owner(Path(path))
    target = Path(os.path.realpath(path))
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as error:
        reason = f"cannot write: {error.strerror or error}"
        raise _refuse(target, reason, error.errno or 5) from None
    if info is not None:
        reason = _not_regular(info.st_mode)
        if reason:
            raise _refuse(target, f"{reason}; choose another name")
    folder = target.parent
    if not folder.is_dir():
        raise _refuse(target, f"cannot write in {folder}: no such folder", 2)
    if not os.access(folder, os.W_OK | os.X_OK):  # which says no more than no
        code = errno.EROFS if _read_only(folder) else errno.EACCES
        raise _refuse(target, f"cannot write in {folder}: {os.strerror(code).lower()}", code)
    return target


def _read_only(folder: Path) -> bool:
    """Whether `folder` is on a disk mounted read-only (a write-protected memory card, a share),
    where no permission would let anyone write."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _check_link_owner(path: Path) -> None:
    """Refuse to follow a link that another user planted in a shared folder such as /tmp (sticky
    and writable by all): the kernel's protected_symlinks rule, which a rename beside the link's
    target would otherwise get round."""
    try:
        link = os.lstat(path)
        folder = os.stat(path.parent)
    except OSError:
        return
    shared = folder.st_mode & stat.S_ISVTX and folder.st_mode & stat.S_IWOTH
    if stat.S_ISLNK(link.st_mode) and shared and link.st_uid not in (os.geteuid(), folder.st_uid):
        raise _refuse(path, "is a link another user made in a shared folder; not followed", 1)


def write_atomically(path: Path | str, write: Callable[[BinaryIO], object]) -> Path:
    """Call `write(stream)` to fill a temporary file, then rename it over `path`'s target.

    Raises OSError whose strerror says why: the target is refused (see `writable_target`),
    "cannot write in FOLDER: ..." when the temporary file cannot be created, or "cannot write:
    ..." when writing fails; nothing is left behind. Returns `path` as given.
    """
    target = writable_target(path)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)  # an existing file keeps its permissions
    except FileNotFoundError:
        mode = None
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:  # mode 0o666 lets the umask decide the permissions, as for any new file
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        message = f"cannot write in {target.parent}: {error.strerror or error}"
        raise OSError(error.errno, message) from None
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            if mode is not None:
                os.fchmod(stream.fileno(), mode)
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise OSError(error.errno, f"cannot write: {error.strerror or error}") from None
        raise
    return Path(path)


def zip_directory(stream: BinaryIO) -> tuple[int, int] | None:
    """(entries, directory bytes) that a zip's end record declares, read before `zipfile`
    parses the whole central directory (an object per entry: a small file can declare millions);
    the zip64 end record when there is one, as zipfile itself uses it. None when no end record
    is found (zipfile then says the file is not a zip). The stream is left at its start."""
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(max(0, size - 22 - 0xFFFF))  # the end record, after a comment of up to 64 KiB
    tail = stream.read()
    end = tail.rfind(b"PK\x05\x06")
    found = None
    if end >= 0 and end + 22 <= len(tail):
        found = struct.unpack("<HI", tail[end + 10 : end + 16])
        locator = tail[end - 20 : end] if end >= 20 else b""
        if locator[:4] == b"PK\x06\x07":  # the zip64 locator points to the zip64 end record
            stream.seek(min(struct.unpack("<Q", locator[8:16])[0], size))
            record = stream.read(56)
            if len(record) == 56 and record[:4] == b"PK\x06\x06":
                found = struct.unpack("<QQ", record[32:48])
    stream.seek(0)
    return found
