"""A folder of named bundles of arrays, written atomically and mapped back read-only, all checked.

data.py keeps decoded and deskewed datasets here, so that a command starts in a fraction of a
second and the training child maps the same pages instead of receiving 220 MB through a pipe.
The folder is `$MNISTPAD_CACHE_DIR`, else `$XDG_CACHE_HOME/mnistpad`, else `~/.cache/mnistpad`;
`MNISTPAD_CACHE_DIR=""` turns the cache off.

The threat model: the cache is trusted as the person's own files are, so it is used only where no
one else can write. The folder and every folder above it must be owned by the person or root, the
folder writable by no one else, and a folder above it writable by others only if it is sticky (as
/tmp is: no one can rename or remove another's entry there); a link on the way is followed only
as the kernel's protected_symlinks would follow it (in a sticky folder shared with all, a link of
the person's or of the folder's owner; `realpath` would follow any). Anything else means no cache,
never an error. In the folder, only regular files that the person owns and no one else may write
are opened: a link, a pipe, a device, or a file another user planted is never used. (The hashes
below tell damaged, swapped or foreign data; they cannot stop whoever can write the folder, who
could write the manifest too: these rules do.)

An entry is named by the SHA-256 of its key. It is one .npy file per array and a manifest (the
key, each array's shape, dtype and SHA-256), written last. Everything read is checked: the
manifest's key, each header's dtype and shape, each file's exact size and each array's whole
content against its SHA-256. Hashing MNIST's 220 MB would take 0.13 s at every start, so a file
hashed whole is not hashed again while it is provably the same: the manifest records its device,
inode, size, modification and change times, and the kernel sets the change time on every write
(no one but root can set it back). That time is recorded only once it is SETTLED_NS old, so that
a write within the clock's granularity cannot leave it as it was. So an entry is hashed when it is
written (the arrays in memory), whole again at the next start, then only after a change. A failed
check is a miss.

At most MAX_ENTRIES entries and MAX_CACHE_BYTES are kept, the least recently used go first, and
only files named exactly as this module names them are ever removed. (As with any memory map, a
cache file cut short in place while it is mapped ends the process with "Bus error" when the lost
pages are read; mnistpad itself only ever replaces its files whole, and no one else may write
them.)
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import mmap
import os
import re
import stat
import time
from pathlib import Path

import numpy as np

from . import files

CACHE_ENV = "MNISTPAD_CACHE_DIR"  # the cache folder; set to "" to turn the cache off
MAX_ENTRIES = 4  # MNIST and its deskewed copy (440 MB), and another dataset with its copy
MAX_CACHE_BYTES = 5 << 29  # 2.5 GiB: those of MNIST beside the largest dataset's two (1.9 GB)
MAX_MANIFEST_BYTES = 4 << 10
MAX_NPY_HEADER = 4 << 10  # numpy writes 128 bytes for these arrays
SETTLED_NS = 2_000_000_000  # a change time this old is recorded (FAT counts in 2 s steps)
DTYPES = {"float32": np.dtype(np.float32), "uint8": np.dtype(np.uint8)}  # what entries hold
_ARRAY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENTRY = r"([0-9a-f]{64})\.(?:json|[A-Za-z_][A-Za-z0-9_]*\.npy)"  # the files an entry has
_ENTRY_FILE = re.compile(_ENTRY)
_TEMPORARY_FILE = re.compile(rf"\.{_ENTRY}\.[0-9a-f]{{8}}\.tmp")  # files.write_atomically's


def cache_folder() -> Path | None:
    """The cache's folder, made if need be; None when the cache is off (`MNISTPAD_CACHE_DIR=""`)
    or the folder cannot be used: not a folder, or one that someone else could write (see the
    module's docstring)."""
    value = os.environ.get(CACHE_ENV)
    if value == "":
        return None
    try:
        if value is None:
            xdg = os.environ.get("XDG_CACHE_HOME", "")
            value = Path(xdg if os.path.isabs(xdg) else Path.home() / ".cache", "mnistpad")
        path = Path(os.getcwd(), value)
        folder = _resolve(path)
        for missing in reversed([p for p in (folder, *folder.parents) if not p.exists()]):
            os.mkdir(missing, 0o700)  # as the XDG specification asks, the folders above too
        if _resolve(path) != folder or not _no_one_else_writes(folder):  # a link planted since?
            return None
    except (OSError, RuntimeError):  # RuntimeError: no home folder
        return None
    return folder


def subfolder(cache: Path, name: str) -> Path | None:
    """A folder in the cache folder `cache` for entries pruned apart from the data's (the unsure
    rule's, unsure.py), made if need be; None when it cannot be used (a link, a file, a folder
    someone else could write)."""
    if not _ARRAY_NAME.fullmatch(name):
        return None
    path = Path(cache, name)
    try:
        if not os.path.lexists(path):
            os.mkdir(path, 0o700)
        return path if _no_one_else_writes(path) else None
    except OSError:
        return None


def _resolve(path: Path) -> Path:
    """os.path.realpath of an absolute `path` (whose end need not exist yet), but a link that
    another user made in a folder shared with all, such as /tmp, is refused (OSError) wherever it
    is met: the rule files.py applies to weight files."""
    resolved, parts, links = Path(path.anchor), list(path.parts[1:]), 0
    while parts:
        part = parts.pop(0)
        candidate = resolved.parent if part == ".." else resolved / part
        if not os.path.islink(candidate):
            resolved = candidate
            continue
        files._check_link_owner(candidate)
        links += 1
        if links > 40:
            raise OSError(errno.ELOOP, "too many levels of links", str(path))
        target = Path(os.readlink(candidate))
        if target.is_absolute():
            resolved = Path(target.anchor)
        parts[:0] = target.parts[1:] if target.is_absolute() else target.parts
    return resolved


def _no_one_else_writes(folder: Path) -> bool:
    """Whether only the person (and root) can change what `folder` holds: it and every folder
    above it are theirs, `folder` is writable by no one else, and a folder above it only if it
    is sticky (then no one can rename the folder below, which is theirs, nor put another there)."""
    for path in (folder, *folder.parents):
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or not _owned(info, also_root=True):
            return False
        shared = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        if shared and (path == folder or not info.st_mode & stat.S_ISVTX):
            return False
    return True


def _owned(info: os.stat_result, also_root: bool = False) -> bool:
    """Whether the person (or root) owns the file `info` describes (True where there are no
    owners to compare)."""
    if not hasattr(os, "geteuid"):
        return True
    return info.st_uid == os.geteuid() or (also_root and info.st_uid == 0)


def _yours_alone(info: os.stat_result) -> bool:
    """A cache file the person owns and no one else may write."""
    return _owned(info) and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def entry_name(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def open_entry(
    cache: Path, key: str, max_bytes: int, written: dict | None = None
) -> dict[str, np.ndarray] | None:
    """The arrays of the entry for `key` (at most `max_bytes` in all), mapped read-only, or None
    when it is missing or fails a check: a damaged cache only makes a slower start. `written`:
    the identities of the files write_entry has just written from the arrays it hashed."""
    name = entry_name(key)
    manifest_path = cache / f"{name}.json"
    started = time.time_ns()
    try:
        with _open_cache_file(manifest_path, MAX_MANIFEST_BYTES) as stream:
            manifest = json.loads(stream.read(MAX_MANIFEST_BYTES))
        expected = _expected_arrays(manifest, key)
        size = sum(math.prod(shape) * dtype.itemsize for shape, dtype, _ in expected.values())
        if size > max_bytes:
            return None
        checked = manifest.get("checked")
        checked = checked if isinstance(checked, dict) else {}
        arrays, identities = {}, {}
        for array, (shape, dtype, digest) in expected.items():
            path = cache / f"{name}.{array}.npy"
            recorded = (written or checked).get(array)
            arrays[array], identities[array] = _map_npy(path, shape, dtype, digest, recorded)
    except (OSError, ValueError, RecursionError):  # RecursionError: JSON nested too deep
        return None
    settled = {a: i for a, i in identities.items() if i[-1] <= started - SETTLED_NS}
    try:  # recently used: pruned last
        if settled != checked:  # hashed whole, and settled since: no need to hash them again
            text = json.dumps(manifest | {"checked": settled}).encode()
            _write_cache_file(manifest_path, lambda stream: stream.write(text))
        else:
            os.utime(manifest_path, follow_symlinks=False)
    except OSError:
        pass
    return arrays


def _expected_arrays(manifest: object, key: str) -> dict[str, tuple[tuple, np.dtype, str]]:
    """Each array's (shape, dtype, SHA-256) as the manifest of the entry for `key` gives them;
    ValueError if it is not such a manifest."""
    if not isinstance(manifest, dict) or manifest.get("key") != key:
        raise ValueError("not the manifest of this entry")
    arrays = manifest.get("arrays")
    if not isinstance(arrays, dict) or not 0 < len(arrays) <= 16:
        raise ValueError("damaged manifest")
    expected = {}
    for name, entry in arrays.items():
        if not (isinstance(name, str) and _ARRAY_NAME.fullmatch(name) and isinstance(entry, dict)):
            raise ValueError("damaged manifest")
        shape, dtype = entry.get("shape"), DTYPES.get(entry.get("dtype"))
        if not (isinstance(shape, list) and 1 <= len(shape) <= 2 and dtype is not None) or any(
            type(n) is not int or not 0 <= n <= 1 << 32 for n in shape
        ):
            raise ValueError(f"damaged manifest: {name}")
        expected[name] = (tuple(shape), dtype, str(entry.get("sha256")))
    return expected


def _identity(info: os.stat_result) -> list[int]:
    """What tells a file from any other and from itself before any write to it."""
    return [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def _map_npy(
    path: Path, shape: tuple, dtype: np.dtype, digest: str, recorded: object
) -> tuple[np.ndarray, list[int]]:
    """The array of a .npy file of the cache, mapped read-only (what np.load(path, mmap_mode="r")
    gives, from the descriptor that was checked rather than the name again), and the file's
    identity (device, inode, size, modification and change times). ValueError unless its header
    says exactly `dtype` and `shape`, the file holds exactly that much data, and that data has
    the SHA-256 `digest` (hashed unless the identity is still the `recorded` one)."""
    size = math.prod(shape) * dtype.itemsize
    with _open_cache_file(path, size + MAX_NPY_HEADER) as stream:
        if np.lib.format.read_magic(stream) != (1, 0):
            raise ValueError(f"{path.name}: not a version 1.0 .npy file")
        header = np.lib.format.read_array_header_1_0(stream)
        if header != (shape, False, dtype):
            raise ValueError(f"{path.name}: holds {header}, expected {(shape, False, dtype)}")
        offset = stream.tell()
        info = os.fstat(stream.fileno())
        if info.st_size != offset + size:
            raise ValueError(f"{path.name}: not {size} bytes of data")
        identity = _identity(info)
        if identity != recorded and _sha256(stream, size) != digest:
            raise ValueError(f"{path.name}: not the data its manifest names")
        if size == 0:
            return np.zeros(shape, dtype), identity
        memory = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    array = np.frombuffer(memory, dtype, count=math.prod(shape), offset=offset)
    return array.reshape(shape), identity


def _sha256(stream, size: int) -> str:
    """SHA-256 of the next `size` bytes of `stream`, read a megabyte at a time (hashlib leaves
    the interpreter lock meanwhile); ValueError if there are fewer."""
    digest, buffer = hashlib.sha256(), memoryview(bytearray(1 << 20))
    while size:
        count = stream.readinto(buffer[: min(size, len(buffer))])
        if not count:
            raise ValueError("cut short while it was being read")
        digest.update(buffer[:count])
        size -= count
    return digest.hexdigest()


def _open_cache_file(path: Path, max_bytes: int):
    """A regular file in the cache folder of at most `max_bytes`, which the person owns and no one
    else may write, opened for reading. Anything else there (a link, even to a regular file; a
    named pipe, a device, a folder; a file another user planted) is refused unopened, and so is a
    file swapped in after the check: ValueError."""
    before = os.lstat(path)
    if not stat.S_ISREG(before.st_mode) or before.st_size > max_bytes:
        raise ValueError(f"{path.name}: not a regular file of at most {max_bytes} bytes")
    if not _yours_alone(before):
        raise ValueError(f"{path.name}: another user owns it or may write it")
    handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    opened, checked = ((i.st_ino, i.st_dev, i.st_size) for i in (os.fstat(handle), before))
    if opened != checked:
        os.close(handle)
        raise ValueError(f"{path.name}: changed while it was being opened")
    return os.fdopen(handle, "rb")


def write_entry(
    cache: Path, key: str, arrays: dict[str, np.ndarray], max_entries: int | None = None
) -> dict | None:
    """Write `arrays` as the entry for `key`, the manifest last, and map them back (checked as
    any entry is); None when the cache cannot take them (over MAX_CACHE_BYTES, a read-only or
    full disk). Older entries are pruned first, to make room (beyond `max_entries`, by default
    MAX_ENTRIES)."""
    if not all(_ARRAY_NAME.fullmatch(array) for array in arrays):
        raise ValueError(f"array names must be ASCII identifiers: {sorted(arrays)}")
    name = entry_name(key)
    arrays = {array: np.ascontiguousarray(data) for array, data in arrays.items()}
    size = sum(data.nbytes for data in arrays.values())
    if size > MAX_CACHE_BYTES:
        return None
    _prune(cache, keep=name, room=size, max_entries=max_entries)
    manifest = {
        "key": key,
        "arrays": {
            array: {
                "shape": list(data.shape),
                "dtype": str(data.dtype),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
            for array, data in arrays.items()
        },
    }
    written = {}
    try:
        for array, data in arrays.items():
            path = cache / f"{name}.{array}.npy"
            _write_cache_file(
                path, lambda stream, data=data: np.lib.format.write_array(stream, data)
            )
            written[array] = _identity(os.stat(path))
        text = json.dumps(manifest).encode()
        _write_cache_file(cache / f"{name}.json", lambda stream: stream.write(text))
    except OSError:
        return None
    return open_entry(cache, key, size, written)  # not hashed again: the next start does that


def _write_cache_file(path: Path, write) -> None:
    """files.write_atomically, the new file readable and writable by the person alone; whatever
    else is at `path` (a link, which would be followed; a named pipe; a file that another user
    owns or may write, whose permissions would be kept) is removed first. A folder there raises
    OSError."""
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or not _yours_alone(info):
            os.unlink(path)
    except FileNotFoundError:
        pass

    def private(stream) -> None:
        os.fchmod(stream.fileno(), 0o600)
        write(stream)

    files.write_atomically(path, private)


def _prune(cache: Path, keep: str, room: int, max_entries: int | None = None) -> None:
    """Make room for the entry `keep` of `room` bytes: remove the least recently used other
    entries beyond `max_entries` in all or MAX_CACHE_BYTES, and temporary files that a writer
    killed an hour or more ago left behind. Only files named as this module names them go, and
    an entry's only when its manifest is its own (or it has none: a writer was killed)."""
    used: dict[str, float] = {}  # entry -> the latest modification of its files
    sizes: dict[str, int] = {}
    entry_files: dict[str, list[str]] = {}
    try:
        for item in os.scandir(cache):
            entry = _ENTRY_FILE.fullmatch(item.name)
            temporary = _TEMPORARY_FILE.fullmatch(item.name)
            if not (entry or temporary) or not item.is_file(follow_symlinks=False):
                continue
            info = item.stat(follow_symlinks=False)
            if temporary:
                if time.time() - info.st_mtime > 3600:
                    os.unlink(item.path)
                continue
            used[entry[1]] = max(used.get(entry[1], 0.0), info.st_mtime)
            sizes[entry[1]] = sizes.get(entry[1], 0) + info.st_size
            entry_files.setdefault(entry[1], []).append(item.path)
        kept, kept_bytes = 1, room  # the entry about to be written
        for name in sorted(used, key=used.__getitem__, reverse=True):
            if name == keep or not _is_entry(cache, name):
                continue
            if kept < (max_entries or MAX_ENTRIES) and kept_bytes + sizes[name] <= MAX_CACHE_BYTES:
                kept, kept_bytes = kept + 1, kept_bytes + sizes[name]
            else:
                for path in entry_files[name]:
                    Path(path).unlink(missing_ok=True)
    except OSError:
        pass


def _is_entry(cache: Path, name: str) -> bool:
    """Whether the files named `name`.* are an entry this module wrote: its manifest's key has
    that SHA-256, or there is no manifest (its writer was killed before writing it)."""
    try:
        with _open_cache_file(cache / f"{name}.json", MAX_MANIFEST_BYTES) as stream:
            manifest = json.loads(stream.read(MAX_MANIFEST_BYTES))
    except FileNotFoundError:
        return True
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(manifest, dict) and entry_name(str(manifest.get("key"))) == name
