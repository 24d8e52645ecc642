"""Pictures for `mnistpad predict`, every accepted format and the bombs, written here and read
through the real command (a separate process)."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
from test_cli import DEFAULT_WEIGHTS, assert_one_line_error, mnistpad, rgba, save_picture

from mnistpad.pictures import (
    MAX_JPEG_SEGMENTS,
    MAX_PNG_CHUNKS,
    PICTURE_FORMATS,
    WORK_SIDE,
    jpeg_pixels_only,
    png_pixels_only,
    read_picture,
)

pytestmark = pytest.mark.usefixtures("through_the_data_cache")  # commands read MNIST


def digit(mnist, scale: int = 6) -> np.ndarray:
    """MNIST's first test digit (a 7), `scale` times larger: ink 1, paper 0."""
    return np.kron(mnist.test_images[0].reshape(28, 28), np.ones((scale, scale)))


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def grey_png(pixels: np.ndarray, extra: bytes = b"", idat: bytes | None = None) -> bytes:
    """An 8-bit grey PNG of (H, W) uint8 pixels, `extra` chunks before its image data."""
    height, width = pixels.shape
    rows = b"".join(b"\0" + row.tobytes() for row in pixels)
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    body = chunk(b"IDAT", zlib.compress(rows) if idat is None else idat)
    return b"\x89PNG\r\n\x1a\n" + header + extra + body + chunk(b"IEND", b"")


def gif(pixels: np.ndarray, screen: tuple[int, int], at: tuple[int, int] = (0, 0)) -> bytes:
    """A GIF with a grey palette: (H, W) uint8 pixels as its one frame, `at` (x, y) on a white
    logical screen of `screen` (width, height). Each pixel is its own LZW code after a clear code,
    so the codes stay 9 bits wide (valid, if four times larger than need be)."""
    height, width = pixels.shape
    indices = pixels.reshape(-1, 1).astype(np.uint16)
    codes = np.append(np.hstack([np.full_like(indices, 256), indices]).reshape(-1), 257)
    bits = (codes[:, None] >> np.arange(9)) & 1  # each code's 9 bits, the lowest first
    data = np.packbits(bits.astype(np.uint8).reshape(-1), bitorder="little").tobytes()
    blocks = b"".join(bytes([len(data[i : i + 255])]) + data[i : i + 255]
                      for i in range(0, len(data), 255))  # fmt: skip
    palette = bytes(np.repeat(np.arange(256, dtype=np.uint8), 3))
    return (
        b"GIF89a" + struct.pack("<HHBBB", *screen, 0xF7, 255, 0) + palette
        + b"," + struct.pack("<HHHHB", *at, width, height, 0) + b"\x08" + blocks + b"\0;"
    )  # fmt: skip


def test_every_accepted_format_is_read_end_to_end(tmp_path, mnist):
    """BUG: every TIFF ended `predict` with a segmentation fault (the decoder outlived its
    buffer). Each format is written with Qt, except GIF, which Qt only reads."""
    from PySide6.QtGui import QImageWriter

    writable = {bytes(name.data()).decode() for name in QImageWriter.supportedImageFormats()}
    assert "gif" not in writable  # hence the GIF written by hand
    paper_and_ink = rgba(1 - digit(mnist))
    files = []
    for kind in sorted(PICTURE_FORMATS):
        path = tmp_path / f"seven.{kind}"
        if kind == "gif":
            path.write_bytes(gif(paper_and_ink[..., 0], paper_and_ink.shape[1::-1]))
        else:
            save_picture(path, paper_and_ink)
        files.append(path)
    result = mnistpad("predict", DEFAULT_WEIGHTS, *files, "--json", check_status=None)
    assert result.returncode == 0 and result.stderr == ""
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["image"] for row in rows] == list(map(str, files))
    assert all(row["prediction"] == mnist.test_labels[0] for row in rows), rows


def test_a_gif_is_measured_by_its_screen_not_its_first_frame(tmp_path, mnist):
    """BUG: a 35-byte GIF, a 10x10 frame on an 11585 x 11585 screen, took 10.5 GB and 26 s: Qt
    reports the frame's size, so neither the megapixel limit nor the downscale applied."""
    bomb = tmp_path / "bomb.gif"
    bomb.write_bytes(gif(np.zeros((10, 10), np.uint8), (11585, 11585)))
    result = mnistpad("predict", DEFAULT_WEIGHTS, bomb, check_status=None)
    assert_one_line_error(result, bomb, "11585x11585", "megapixel")
    # Within the limit, the frame is read where it sits on the screen, from a scaled-down copy:
    # arrays of floats of 15 megapixels would take 1.2 GB.
    seven = (255 * (1 - digit(mnist, 4))).astype(np.uint8)
    wide = tmp_path / "wide.gif"
    wide.write_bytes(gif(seven, (5000, 3000), at=(2500, 1000)))
    luminance, alpha = read_picture(wide)
    assert luminance.shape == alpha.shape == (614, WORK_SIDE)
    result = mnistpad("predict", DEFAULT_WEIGHTS, wide, "--json")
    assert json.loads(result.stdout)["prediction"] == 7


def test_png_text_is_never_inflated_nor_its_warnings_printed(tmp_path, mnist):
    """BUG: 1,000 zTXt chunks, each inflating to 8 MB, printed 999 libpng warnings and took 16 s
    before any pixel was read (the header, not only the decode, reads them)."""
    comment = chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"a" * 8_000_000, 9))
    tagged = chunk(b"tEXt", b"Title\0a seven")
    seven = (255 * (1 - digit(mnist))).astype(np.uint8)
    data = grey_png(seven, tagged + comment * 1000)
    picture = tmp_path / "chatty.png"
    picture.write_bytes(data)
    result = mnistpad("predict", DEFAULT_WEIGHTS, picture, check_status=0)
    assert result.stderr == "" and result.stdout.startswith(f"{picture}: 7 (")
    handed_to_qt = png_pixels_only(picture, data)  # what the decoder is given
    assert b"zTXt" not in handed_to_qt and b"tEXt" not in handed_to_qt
    assert len(handed_to_qt) < len(data) / 100


def test_png_image_data_is_bounded_by_the_picture_it_makes(tmp_path, mnist):
    """BUG: libpng inflates every byte of image data after the last row: 4 MB of it, inflating
    to 4 GB, took 12 s. Chunks are counted too (a 256 MB file holds 22 million empty ones)."""
    seven = (255 * (1 - digit(mnist))).astype(np.uint8)
    rows = b"".join(b"\0" + row.tobytes() for row in seven)
    packer = zlib.compressobj(9)
    padded = packer.compress(rows) + packer.compress(b"\0" * (16 << 20)) + packer.flush()
    bomb = tmp_path / "padded.png"
    bomb.write_bytes(grey_png(seven, idat=padded))
    assert_one_line_error(
        mnistpad("predict", DEFAULT_WEIGHTS, bomb, check_status=None), bomb, "more image data"
    )
    crowded = tmp_path / "crowded.png"
    crowded.write_bytes(grey_png(seven, chunk(b"quIT", b"") * (MAX_PNG_CHUNKS + 1)))
    assert_one_line_error(
        mnistpad("predict", DEFAULT_WEIGHTS, crowded, check_status=None), crowded, "PNG chunks"
    )


@pytest.mark.parametrize(("depth", "colour"), [(1, 0), (16, 6)])
def test_interlaced_pngs_of_any_depth_fit_the_bound(tmp_path, mnist, depth, colour):
    """The image data bound holds for the PNGs that need most: Adam7's seven passes, each row
    with its filter byte and rounded up to whole bytes, 1 bit a pixel or 64."""
    ink = digit(mnist, 5)[:, 3:] > 0.5  # 137 pixels wide: rows end mid-byte
    height, width = ink.shape
    if depth == 1:
        pixels = (~ink).astype(np.uint8)  # white paper
    else:
        pixels = np.repeat(((~ink) * 65535).astype(">u2")[..., None], 4, axis=2)
        pixels[..., 3] = 65535  # opaque
    raw = b""
    for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
                           (1, 0, 2, 2), (0, 1, 1, 2)]:  # fmt: skip
        for row in pixels[y0::dy, x0::dx]:
            if len(row):
                raw += b"\0" + (np.packbits(row).tobytes() if depth == 1 else row.tobytes())
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 1)
    picture = tmp_path / "interlaced.png"
    picture.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )  # fmt: skip
    assert mnistpad("predict", DEFAULT_WEIGHTS, picture).stdout.startswith(f"{picture}: 7 (")


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def test_jpeg_comments_and_scans_are_bounded_and_exif_still_turns_the_picture(tmp_path, mnist):
    """BUG: 64 million empty comments (256 MB) took 123 s and 13 GB, libjpeg keeping each for
    Qt; a 470 KB progressive JPEG whose last scan was repeated 1,000 times took 157 s."""
    from PySide6.QtGui import QImage, QImageWriter

    seven = (255 * (1 - digit(mnist))).astype(np.uint8)
    turned = np.ascontiguousarray(np.rot90(seven))  # a quarter turn anticlockwise, as stored
    height, width = turned.shape
    writer = QImageWriter(str(tmp_path / "progressive.jpg"))
    writer.setProgressiveScanWrite(True)
    assert writer.write(QImage(turned.data, width, height, width, QImage.Format.Format_Grayscale8))
    data = (tmp_path / "progressive.jpg").read_bytes()
    # Exif, orientation 6: turn a quarter clockwise to show
    exif = b"Exif\0\0MM\0*\0\0\0\x08\0\x01" + struct.pack(">HHIHH", 0x112, 3, 1, 6, 0) + b"\0" * 4
    comments = jpeg_segment(0xFE, b"a comment") * 9000
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(data[:2] + jpeg_segment(0xE1, exif) + comments + data[2:])
    result = mnistpad("predict", DEFAULT_WEIGHTS, photo, "--json")
    assert result.stderr == "" and json.loads(result.stdout)["prediction"] == 7
    assert b"a comment" not in jpeg_pixels_only(photo, photo.read_bytes())
    chatty = tmp_path / "chatty.jpg"
    chatty.write_bytes(data[:2] + jpeg_segment(0xFE, b"") * (MAX_JPEG_SEGMENTS + 1) + data[2:])
    last_scan = data[data.rindex(b"\xff\xda") : -2]
    rescanned = tmp_path / "rescanned.jpg"
    rescanned.write_bytes(data[:-2] + last_scan * 5000 + b"\xff\xd9")
    refused = mnistpad("predict", DEFAULT_WEIGHTS, chatty, rescanned, check_status=2)
    assert refused.stderr.splitlines() == [
        f"mnistpad predict: error: {chatty}: more than {MAX_JPEG_SEGMENTS:,} JPEG segments",
        f"mnistpad predict: error: {rescanned}: the JPEG has more scans than its size needs",
    ]


def test_pixels_written_as_text_are_read_only_up_to_a_bound(tmp_path, mnist):
    """BUG: Qt reads PBM, PGM and PPM text a character at a time: 200 MB of it took 45 s."""
    seven = (255 * (1 - digit(mnist))).astype(np.uint8)
    text = tmp_path / "seven.pgm"
    text.write_text(f"P2 {seven.shape[1]} {seven.shape[0]} 255\n" + " ".join(map(str, seven.flat)))
    assert mnistpad("predict", DEFAULT_WEIGHTS, text).stdout.startswith(f"{text}: 7 (")
    wordy = tmp_path / "wordy.pgm"
    wordy.write_bytes(b"P2 2048 2048 255\n" + b"255 " * (2048 * 2048))
    result = mnistpad("predict", DEFAULT_WEIGHTS, wordy, check_status=None)
    assert_one_line_error(result, wordy, "pixels written as text", "save the picture in binary")


def webp_canvas(picture, canvas: tuple[int, int]) -> bytes:
    """An animated WebP: one frame, the picture (a lossless WebP Qt wrote), on a large canvas."""
    frame = picture[12:]  # its VP8L chunk

    def chunk(kind: bytes, body: bytes) -> bytes:
        return kind + struct.pack("<I", len(body)) + body + b"\0" * (len(body) % 2)

    def u24(value: int) -> bytes:
        return value.to_bytes(3, "little")

    vp8x = chunk(b"VP8X", struct.pack("<I", 2) + u24(canvas[0] - 1) + u24(canvas[1] - 1))
    anim = chunk(b"ANIM", struct.pack("<IH", 0xFFFFFFFF, 0))
    anmf = chunk(b"ANMF", u24(0) * 2 + u24(27) * 2 + u24(100) + b"\0" + frame)
    body = b"WEBP" + vp8x + anim + anmf
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_re_attacks_an_animated_webp_a_top_down_bmp_fill_bytes_and_comments(tmp_path, mnist):
    """Found by attacking the reader again: an animated WebP's canvas (110 bytes: 1.23 GB), a
    top-down BMP's negative height (no megapixel check), a JPEG's fill bytes (one Python step a
    byte: 250 MB took 98 s) and a binary PGM's comments (200 MB took 30 s)."""
    paper = 1 - digit(mnist, 1)  # a 28x28 dark 7 on white
    seven = np.round(255 * paper).astype(np.uint8)
    small = tmp_path / "small.webp"
    save_picture(small, rgba(paper))
    bomb = tmp_path / "canvas.webp"
    bomb.write_bytes(webp_canvas(small.read_bytes(), (10000, 10001)))
    result = mnistpad("predict", DEFAULT_WEIGHTS, bomb, check_status=None)
    assert_one_line_error(result, bomb, "10000x10001", "megapixel")

    side = 11000  # a 1-bit picture, 15 MB
    row = (side + 31) // 32 * 4
    header = struct.pack("<2sIHHI", b"BM", 62 + row * side, 0, 0, 62)
    header += struct.pack("<IiiHHIIiiII", 40, side, -side, 1, 1, 0, row * side, 0, 0, 2, 0)
    top_down = tmp_path / "top-down.bmp"
    top_down.write_bytes(header + b"\0\0\0\0\xff\xff\xff\0" + b"\xff" * (row * side))
    result = mnistpad("predict", DEFAULT_WEIGHTS, top_down, check_status=None)
    assert_one_line_error(result, top_down, f"{side}x{side}", "megapixel")

    jpeg = tmp_path / "seven.jpg"
    save_picture(jpeg, rgba(np.kron(paper, np.ones((6, 6)))))
    filled = tmp_path / "filled.jpg"
    filled.write_bytes(b"\xff\xd8" + b"\xff" * (32 << 20) + jpeg.read_bytes()[2:])
    assert jpeg_pixels_only(filled, filled.read_bytes()).startswith(b"\xff\xd8\xff")
    assert mnistpad("predict", DEFAULT_WEIGHTS, filled).stdout.startswith(f"{filled}: 7 (")

    wordy = tmp_path / "wordy.pgm"
    comments = (b"#" + b"x" * 1000 + b"\n") * 9000
    wordy.write_bytes(b"P5\n" + comments + b"28 28 255\n" + seven.tobytes())
    result = mnistpad("predict", DEFAULT_WEIGHTS, wordy, check_status=None)
    assert_one_line_error(result, wordy, "header of over", "comments")
    plain = tmp_path / "plain.pgm"
    plain.write_bytes(b"P5\n# made by hand\n28 28 255\n" + seven.tobytes())
    assert mnistpad("predict", DEFAULT_WEIGHTS, plain).stdout.startswith(f"{plain}: 7 (")
