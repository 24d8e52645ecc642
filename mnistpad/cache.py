"""A folder of named bundles of arrays, written atomically and mapped back read-only, all checked.

data.py keeps decoded and deskewed datasets here, so that a command starts in a fraction of a
second and the training child maps the same pages instead of receiving 220 MB through a pipe.
The folder is `$MNISTPAD_CACHE_DIR`, else `$XDG_CACHE_HOME/mnistpad`, else `~/.cache/mnistpad`;
`MNISTPAD_CACHE_DIR=""` turns the cache off. A folder that cannot be made, that another user owns
or that everyone may write to means no cache, never an error.

An entry is named by the SHA-256 of its key. It is one .npy file per array and a manifest (the
key, each array's shape, dtype and fingerprint), written last. Everything read is checked, as any
file from disk: only regular files (a link, a pipe or a device in the folder is never opened, let
alone followed), the manifest's key, each header's dtype and shape, each file's exact size and
fingerprint. A failed check is a miss. At most MAX_ENTRIES entries are kept, the least recently
used go first. (As with any memory map, a cache file cut short in place while mapped would end
the process when the lost pages are read; mnistpad itself only ever replaces its files whole.)
"""

from __future__ import annotations

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
FINGERPRINT_BYTES = 4 << 20  # what a fingerprint hashes of each array (all of a smaller one)
MAX_MANIFEST_BYTES = 4 << 10
MAX_NPY_HEADER = 4 << 10  # numpy writes 128 bytes for these arrays
DTYPES = {"float32": np.dtype(np.float32), "uint8": np.dtype(np.uint8)}  # what entries hold
_ENTRY_FILE = re.compile(r"\.?([0-9a-f]{64})\.")  # an entry's files, and temporary files of them


def cache_folder() -> Path | None:
    """The cache's folder, made if need be; None when the cache is off (`MNISTPAD_CACHE_DIR=""`)
    or the folder cannot be used: not a folder, or one another user owns or everyone may write."""
    value = os.environ.get(CACHE_ENV)
    if value == "":
        return None
    try:
        if value is None:
            xdg = os.environ.get("XDG_CACHE_HOME", "")
            value = Path(xdg if os.path.isabs(xdg) else Path.home() / ".cache", "mnistpad")
        folder = Path(os.path.realpath(value))
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.stat(folder)
    except (OSError, RuntimeError):  # RuntimeError: no home folder
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_mode & stat.S_IWOTH:
        return None
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return None
    return folder


def entry_name(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def open_entry(cache: Path, key: str, max_bytes: int) -> dict[str, np.ndarray] | None:
    """The arrays of the entry for `key` (at most `max_bytes` in all), mapped read-only, or None
    when it is missing or fails a check: a damaged cache only makes a slower start."""
    name = entry_name(key)
    try:
        with _open_cache_file(cache / f"{name}.json", MAX_MANIFEST_BYTES) as stream:
            expected = _expected_arrays(json.loads(stream.read(MAX_MANIFEST_BYTES)), key)
        size = sum(math.prod(shape) * dtype.itemsize for shape, dtype, _ in expected.values())
        if size > max_bytes:
            return None
        arrays = {
            array: _map_npy(cache / f"{name}.{array}.npy", shape, dtype)
            for array, (shape, dtype, _) in expected.items()
        }
    except (OSError, ValueError, RecursionError):  # RecursionError: JSON nested too deep
        return None
    if any(fingerprint(arrays[array]) != expected[array][2] for array in arrays):
        return None
    try:  # recently used: pruned last
        os.utime(cache / f"{name}.json", follow_symlinks=False)
    except OSError:
        pass
    return arrays


def _expected_arrays(manifest: object, key: str) -> dict[str, tuple[tuple, np.dtype, str]]:
    """Each array's (shape, dtype, fingerprint) as the manifest of the entry for `key` gives them;
    ValueError if it is not such a manifest."""
    if not isinstance(manifest, dict) or manifest.get("key") != key:
        raise ValueError("not the manifest of this entry")
    arrays = manifest.get("arrays")
    if not isinstance(arrays, dict) or not 0 < len(arrays) <= 16:
        raise ValueError("damaged manifest")
    expected = {}
    for name, entry in arrays.items():
        if not (isinstance(name, str) and name.isidentifier() and isinstance(entry, dict)):
            raise ValueError("damaged manifest")
        shape, dtype = entry.get("shape"), DTYPES.get(entry.get("dtype"))
        if not (isinstance(shape, list) and 1 <= len(shape) <= 2 and dtype is not None) or any(
            type(n) is not int or not 0 <= n <= 1 << 32 for n in shape
        ):
            raise ValueError(f"damaged manifest: {name}")
        expected[name] = (tuple(shape), dtype, str(entry.get("sha256")))
    return expected


def _map_npy(path: Path, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """The array of a .npy file of the cache, mapped read-only (what np.load(path, mmap_mode="r")
    gives, from the descriptor that was checked rather than the name again). ValueError unless its
    header says exactly `dtype` and `shape` and the file holds exactly that much data."""
    size = math.prod(shape) * dtype.itemsize
    with _open_cache_file(path, size + MAX_NPY_HEADER) as stream:
        if np.lib.format.read_magic(stream) != (1, 0):
            raise ValueError(f"{path.name}: not a version 1.0 .npy file")
        header = np.lib.format.read_array_header_1_0(stream)
        if header != (shape, False, dtype):
            raise ValueError(f"{path.name}: holds {header}, expected {(shape, False, dtype)}")
        offset = stream.tell()
        if os.fstat(stream.fileno()).st_size != offset + size:
            raise ValueError(f"{path.name}: not {size} bytes of data")
        if size == 0:
            return np.zeros(shape, dtype)
        memory = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    return np.frombuffer(memory, dtype, count=math.prod(shape), offset=offset).reshape(shape)


def _open_cache_file(path: Path, max_bytes: int):
    """A regular file in the cache folder of at most `max_bytes`, opened for reading. Anything
    else there (a link, even to a regular file; a named pipe, a device, a folder) is refused
    unopened, and so is a file swapped in after the check: ValueError."""
    before = os.lstat(path)
    if not stat.S_ISREG(before.st_mode) or before.st_size > max_bytes:
        raise ValueError(f"{path.name}: not a regular file of at most {max_bytes} bytes")
    handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    opened, checked = ((i.st_ino, i.st_dev, i.st_size) for i in (os.fstat(handle), before))
    if opened != checked:
        os.close(handle)
        raise ValueError(f"{path.name}: changed while it was being opened")
    return os.fdopen(handle, "rb")


def fingerprint(array: np.ndarray) -> str:
    """SHA-256 of an array's rows: all of them up to FINGERPRINT_BYTES, else evenly spaced rows
    adding up to about that, and the last. It tells a foreign or swapped file of the right shape
    (or one with a hole of zeros) without reading 200 MB at every start: about 3 ms."""
    step = max(1, -(-array.nbytes // FINGERPRINT_BYTES))
    digest = hashlib.sha256(np.ascontiguousarray(array[::step]))
    digest.update(np.ascontiguousarray(array[-1:]))
    return digest.hexdigest()


def write_entry(cache: Path, key: str, arrays: dict[str, np.ndarray]) -> dict | None:
    """Write `arrays` as the entry for `key`, the manifest last, and map them back (checked as
    any entry is); None when the cache cannot take them (a read-only or full disk)."""
    name = entry_name(key)
    manifest = {
        "key": key,
        "arrays": {
            array: {"shape": list(x.shape), "dtype": str(x.dtype), "sha256": fingerprint(x)}
            for array, x in arrays.items()
        },
    }
    try:
        for array, data in arrays.items():
            _write_cache_file(
                cache / f"{name}.{array}.npy",
                lambda stream, data=data: np.lib.format.write_array(stream, data),
            )
        text = json.dumps(manifest).encode()
        _write_cache_file(cache / f"{name}.json", lambda stream: stream.write(text))
    except OSError:
        return None
    _prune(cache, keep=name)
    return open_entry(cache, key, sum(data.nbytes for data in arrays.values()))


def _write_cache_file(path: Path, write) -> None:
    """files.write_atomically, but whatever is not a regular file at `path` (a link, which would
    be followed, a named pipe) is removed first; a folder there raises OSError."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass
    files.write_atomically(path, write)


def _prune(cache: Path, keep: str) -> None:
    """Remove the least recently used entries beyond MAX_ENTRIES (never `keep`), and temporary
    files that a writer killed an hour or more ago left behind."""
    used: dict[str, float] = {}  # entry -> the latest modification of its files
    entry_files: dict[str, list[str]] = {}
    try:
        for item in os.scandir(cache):
            match = _ENTRY_FILE.match(item.name)
            if match is None:
                continue
            modified = item.stat(follow_symlinks=False).st_mtime
            if item.name.endswith(".tmp"):
                if time.time() - modified > 3600:
                    os.unlink(item.path)
            else:
                used[match[1]] = max(used.get(match[1], 0.0), modified)
                entry_files.setdefault(match[1], []).append(item.path)
        for name in sorted(used, key=used.__getitem__, reverse=True)[MAX_ENTRIES:]:
            if name != keep:
                for path in entry_files[name]:
                    Path(path).unlink(missing_ok=True)
    except OSError:
        pass
