"""Decoding a picture file for `mnistpad predict`, with Qt (imported here only when a picture is
read), within budgets that count what decoding costs.

- The file: a regular file of at most MAX_PICTURE_BYTES, read here (Qt never opens a pipe or a
  device itself), in one of PICTURE_FORMATS.
- The pixels: a picture whose header claims more than MAX_PICTURE_PIXELS is refused before
  decoding; a GIF is judged by its logical screen, which Qt decodes the first frame onto, not by
  the frame's size that Qt reports (a 35-byte GIF can hold a 10x10 frame on an 11585 x 11585
  screen). The decode itself is bounded by Qt's allocation limit (DECODE_LIMIT_MB, what the pixel
  limit needs at 4 bytes a pixel), and what comes out is measured again: more than the pixel limit
  is refused, more than WORK_SIDE on a side is scaled down before any array is made of it.
- PNG's side channels: libpng inflates every zTXt and iTXt chunk while reading the header (1,000 of
  them took 16 s and printed 999 warnings) and inflates every byte of image data after the last row
  (4 MB inflating to 4 GB took 12 s). Before Qt sees a PNG, only the chunks that make its pixels
  are kept, there may be at most MAX_PNG_CHUNKS of them, and the image data may not inflate to
  more than the picture's rows can hold.
- JPEG's: libjpeg keeps every comment and application segment for Qt, and passes over every
  block in each scan however little it holds. Comments and application data (but the first Exif,
  for the orientation) are dropped before Qt sees a JPEG, segments are counted, and scans are
  counted against the pixels each covers.
- Pixels written as text (PBM, PGM, PPM) are read slowly: at most MAX_TEXT_PICTURE_BYTES of them.
- Decoders' own messages (libpng, libtiff) are silenced for the whole decode, header included; the
  one-line reason mnistpad gives comes instead.
"""

from __future__ import annotations

import os
import re
import struct
import sys
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .files import read_regular
from .preprocess import digits_side_by_side, ink_from_picture, mnist_style

MAX_PICTURE_PIXELS = 100_000_000  # refuse pictures claiming or decoding to more
WORK_SIDE = 1024  # larger pictures are decoded scaled down to this longer side
MAX_PICTURE_BYTES = 256 << 20  # a larger image file is refused unread
# PBM, PGM and PPM can write pixels as text, which Qt reads a character at a time (200 MB took
# 45 s): a 1,000 x 1,000 grey picture takes 4 MB of it.
MAX_TEXT_PICTURE_BYTES = 8 << 20
# Pictures of pixels whose header gives their size, checked before decoding. Not SVG (it names
# other files for Qt to read, and expands without bound), nor icon formats (their directory can
# claim 16x16 for an image of 11,000 x 11,000).
PICTURE_FORMATS = {"png", "jpeg", "jpg", "bmp", "gif", "tiff", "tif", "webp", "pbm", "pgm", "ppm"}
# Qt refuses to decode an image needing more megabytes (MiB) than this: the pixel limit at 32 bits.
DECODE_LIMIT_MB = (4 * MAX_PICTURE_PIXELS >> 20) + 1
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A PNG's IDAT chunks are usually 8-64 KiB: a 256 MB file needs well under this many chunks.
MAX_PNG_CHUNKS = 100_000
# Channels by colour type: grey, RGB, palette, grey and alpha, RGBA.
PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
JPEG_START = b"\xff\xd8"
# Segments (markers with their data) of a JPEG: a photo has a few dozen; a 256 MB file can hold
# 64 million empty comments, which libjpeg keeps for Qt (123 s and 13 GB).
MAX_JPEG_SEGMENTS = 10_000
# libjpeg passes over every block of the picture in each scan, however little the scan holds (a
# 470 KB JPEG of 1,000 scans of 95 bytes took 157 s), so scans are counted against the pixels
# they cover, a megapixel at least: 20 at the 100-megapixel limit (a progressive JPEG has 6-10),
# about 5 s of decoding at most.
MAX_JPEG_SCAN_PIXELS = 20 * MAX_PICTURE_PIXELS
JPEG_FRAMES = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
JPEG_KEPT_APPS = {0xE0, 0xEE}  # JFIF, Adobe (colours); the first Exif is kept for the orientation
# The end of a scan's coded data: a marker, that is 0xFF then neither a stuffed 0, nor a restart
# marker (0xD0-0xD7), nor another 0xFF (fill).
JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
JPEG_FILL = re.compile(rb"\xff+")
PNM_FIELD = re.compile(rb"(?:\s|#[^\r\n]*+)*+\d+")  # a PBM/PGM/PPM header's number, comments first


def _pnm_header_end(data: bytes) -> int:
    """Where a PBM, PGM or PPM header (width, height and, but for PBM, the largest value) ends."""
    offset = 2
    for _ in range(2 if data[1:2] in (b"1", b"4") else 3):
        field = PNM_FIELD.match(data, offset)
        if field is None:
            break
        offset = field.end()
    return offset


class PictureError(Exception):
    """A picture cannot be read; the message names the file and the reason."""


def read_picture(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Decode an image file with Qt into luminance and alpha, each (H, W) in [0, 1], at most
    WORK_SIDE pixels on a side."""
    from PySide6.QtCore import QBuffer, QByteArray, QSize, Qt
    from PySide6.QtGui import QImage, QImageReader

    try:
        data = read_regular(path, MAX_PICTURE_BYTES)
    except OSError as error:
        raise PictureError(f"{path}: {error.strerror}") from None
    if not data:
        raise PictureError(f"{path}: the file is empty")
    if data.startswith(PNG_SIGNATURE):
        data = png_pixels_only(path, data)
    elif data.startswith(JPEG_START):
        data = jpeg_pixels_only(path, data)
    elif data[:2] in (b"P1", b"P2", b"P3") and len(data) > MAX_TEXT_PICTURE_BYTES:
        raise PictureError(
            f"{path}: pixels written as text, {len(data):,} bytes of them, over the limit of"
            f" {MAX_TEXT_PICTURE_BYTES:,}; save the picture in binary (or as PNG)"
        )
    elif data[:2] in (b"P4", b"P5", b"P6") and _pnm_header_end(data) > MAX_TEXT_PICTURE_BYTES:
        raise PictureError(  # Qt reads a binary one's header, comments and all, as slowly
            f"{path}: a header of over {MAX_TEXT_PICTURE_BYTES:,} bytes (comments); remove them"
        )
    QImageReader.setAllocationLimit(DECODE_LIMIT_MB)
    buffer = QBuffer()
    buffer.setData(QByteArray(data))
    data = data[:30]  # the rest is in the buffer now; a GIF's screen, a WebP's canvas are here
    buffer.open(QBuffer.OpenModeFlag.ReadOnly)
    reader = QImageReader(buffer)
    reader.setAutoTransform(True)  # honour EXIF rotation of phone photos
    try:
        with _stderr_silenced():  # decoders print their own chatter, from the header on
            kind = bytes(reader.format().data()).decode().lower()
            if kind not in PICTURE_FORMATS:
                raise PictureError(
                    f"{path}: not an image in a format mnistpad can read (PNG, JPEG, BMP, ...)"
                )
            size = reader.size()
            size = QSize(abs(size.width()), abs(size.height()))  # a top-down BMP: -height
            if kind == "gif" and len(data) >= 10:  # the screen the first frame is decoded onto
                size = size.expandedTo(QSize(*struct.unpack("<HH", data[6:10])))
            if kind == "webp" and data[12:16] == b"VP8X" and len(data) == 30:  # its canvas
                canvas = [int.from_bytes(data[at : at + 3], "little") + 1 for at in (24, 27)]
                size = size.expandedTo(QSize(*canvas))
            _check_pixels(path, "claims", size.width(), size.height())
            if max(size.width(), size.height()) > WORK_SIDE:
                reader.setScaledSize(_work_size(size))
            image = reader.read()
            if image.isNull():
                raise PictureError(f"{path}: cannot decode the image ({reader.errorString()})")
    finally:
        # The reader's decoder goes before the buffer it reads: libtiff's touches the buffer as it
        # closes, and Python may free the buffer first (every TIFF ended in a segmentation fault).
        reader.setDevice(None)
    _check_pixels(path, "decodes to", image.width(), image.height())
    if max(image.width(), image.height()) > WORK_SIDE:  # a size the header did not tell
        image = image.scaled(
            _work_size(image.size()),
            mode=Qt.TransformationMode.SmoothTransformation,
        )
    image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    height, width, stride = image.height(), image.width(), image.bytesPerLine()
    pixels = np.frombuffer(image.constBits(), dtype=np.uint8, count=stride * height)
    rgba = pixels.reshape(height, stride)[:, : width * 4].reshape(height, width, 4) / 255.0
    luminance = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])
    return luminance, rgba[..., 3]


def _check_pixels(path: Path, verb: str, width: int, height: int) -> None:
    if abs(width * height) > MAX_PICTURE_PIXELS:
        raise PictureError(
            f"{path}: the image {verb} {width}x{height} pixels, over the "
            f"{MAX_PICTURE_PIXELS // 1_000_000}-megapixel limit"
        )


def _work_size(size):
    """`size` scaled to WORK_SIDE on its longer side, at least one pixel on the other (a 1 x
    100,000 strip would scale to 1024 x 0)."""
    from PySide6.QtCore import QSize, Qt

    scaled = size.scaled(WORK_SIDE, WORK_SIDE, Qt.AspectRatioMode.KeepAspectRatio)
    return QSize(max(1, scaled.width()), max(1, scaled.height()))


def png_pixels_only(path: Path, data: bytes) -> bytes:
    """The PNG with only the chunks that make its pixels: the critical ones (IHDR, PLTE, IDAT,
    IEND) and tRNS. Text, colour profiles and unknown chunks go unread. Refuses more than
    MAX_PNG_CHUNKS chunks, more than MAX_PICTURE_PIXELS, and image data inflating to more than
    the header's rows hold (counted, never kept). A damaged PNG is passed on for Qt to say so."""
    view, offset, kept, idat, rows = memoryview(data), len(PNG_SIGNATURE), [PNG_SIGNATURE], [], 0
    chunks = 0
    while offset + 8 <= len(data):
        chunks += 1
        if chunks > MAX_PNG_CHUNKS:
            raise PictureError(f"{path}: more than {MAX_PNG_CHUNKS:,} PNG chunks")
        length, kind = struct.unpack_from(">I4s", data, offset)
        end = offset + 12 + length  # length, type, data, CRC
        if not kind[0] & 0x20 or kind == b"tRNS":  # a lower-case first letter: ancillary
            kept.append(view[offset:end])
        if kind == b"IHDR" and length >= 13:
            width, height, depth, colour = struct.unpack_from(">IIBB", data, offset + 8)
            _check_pixels(path, "claims", width, height)
            bits = width * PNG_CHANNELS.get(colour, 4) * min(depth, 16)
            rows = height * (-(-bits // 8) + 4)  # with filter bytes, and Adam7's extra rows
        elif kind == b"IDAT":
            idat.append(view[offset + 8 : end - 4])
        elif kind == b"IEND":
            break
        offset = end
    if _inflates_beyond(idat, rows + 64):
        raise PictureError(f"{path}: the PNG holds more image data than its size needs")
    return b"".join(kept)


def jpeg_pixels_only(path: Path, data: bytes) -> bytes:
    """The JPEG with only the segments that make its pixels, and its first Exif (for the
    orientation): comments and other application data go unread. Refuses more than
    MAX_JPEG_SEGMENTS segments, and more scans than MAX_JPEG_SCAN_PIXELS allows for its size.
    Bytes between segments are skipped to the next marker, as libjpeg does."""
    view, kept = memoryview(data), [JPEG_START]
    offset, segments, scans, pixels, exif = len(JPEG_START), 0, 0, 0, False
    while offset + 2 <= len(data):
        if data[offset] != 0xFF:  # not a marker: on to the next 0xFF
            offset = data.find(b"\xff", offset + 1)
            if offset < 0:
                break
            continue
        if data[offset + 1] == 0xFF:  # fill bytes: on to the last of them, at once
            offset = JPEG_FILL.match(data, offset).end() - 1
            continue
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise PictureError(f"{path}: more than {MAX_JPEG_SEGMENTS:,} JPEG segments")
        marker = data[offset + 1]
        if marker == 0xD9 or 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length follows
            kept.append(view[offset : offset + 2])
            offset += 2
            if marker == 0xD9:
                break
            continue
        end = offset + 2 + int.from_bytes(data[offset + 2 : offset + 4], "big")
        if marker in JPEG_FRAMES and end - offset >= 9:
            height, width = struct.unpack_from(">HH", data, offset + 5)
            pixels = width * height
        elif marker == 0xDA:
            scans += 1
            if scans * max(pixels, 1 << 20) > MAX_JPEG_SCAN_PIXELS:
                raise PictureError(f"{path}: the JPEG has more scans than its size needs")
            found = JPEG_MARKER.search(data, end)
            end = found.start() if found else len(data)
        first_exif = marker == 0xE1 and not exif and data[offset + 4 : offset + 10] == b"Exif\0\0"
        exif = exif or first_exif
        if first_exif or marker in JPEG_KEPT_APPS or not (0xE0 <= marker <= 0xEF or marker == 0xFE):
            kept.append(view[offset:end])
        offset = end
    return b"".join(kept)


def _inflates_beyond(parts: list[memoryview], limit: int) -> bool:
    """Whether these pieces of one zlib stream inflate to more than `limit` bytes; fed 64 KiB at
    a time, each inflating a megabyte at most, so that no step copies or keeps much."""
    inflater, produced = zlib.decompressobj(), 0
    try:
        for part in parts:
            for start in range(0, len(part), 1 << 16):
                pending = part[start : start + (1 << 16)]
                while pending and not inflater.eof:
                    produced += len(inflater.decompress(pending, 1 << 20))
                    if produced > limit:
                        return True
                    pending = inflater.unconsumed_tail
    except zlib.error:  # damaged: libpng says so
        return False
    return False


@contextmanager
def _stderr_silenced():
    """Send file descriptor 2 to /dev/null for a moment, C libraries' writes included."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def digit_picture(path: Path) -> tuple[np.ndarray, int]:
    """A picture file made MNIST-style, (28, 28), as `predict` and the window read it, and how
    many digits it holds side by side (read as one all the same: the caller warns); PictureError
    when it cannot be read or holds no ink."""
    ink = ink_from_picture(*read_picture(path))  # None: blank, or noise without strokes
    field = None if ink is None else mnist_style(ink)
    if field is None:
        raise PictureError(f"{path}: no ink found (the picture is blank or has no contrast)")
    return field, digits_side_by_side(ink)
