"""One image file -> the uint8 array a model sees: EXIF orientation, colour mode, resize policy.

Training (the decode-once cache), ``automl predict`` and the model card all go through
``ImageOptions`` and ``decode_image``, so a deployed model sees images prepared exactly as in
training. Pillow only; no TensorFlow.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from automl._errors import DataError

RESIZE_POLICIES = ("pad", "crop", "stretch")
COLOR_MODES = ("auto", "grayscale", "rgb")
#: Modes with one channel of information (16-bit and float greyscale included).
GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F", "La"})
#: Images smaller than this on either side are skipped: nothing to learn from.
MIN_SIDE = 8
#: The automatic size: the median short side of the images, clamped to what a small CNN
#: trains in minutes on a CPU.
AUTO_SIZE_RANGE = (16, 64)
#: Images past this many pixels as decoded are skipped, from their header, before any is
#: decoded (a decompression bomb, a poster-sized scan): decoding costs 3 to 4 bytes a pixel in
#: each decoding process. A JPEG counts at the scale it is decoded at: its decoder reduces it
#: by up to 8 per side on the way (Pillow's ``draft``), since the model sees at most 512.
MAX_DECODED_PIXELS = 40_000_000
#: Rows of a deep (16-bit, 32-bit) greyscale image rescaled to 8 bits at a time.
_ROWS_AT_A_TIME = 512
#: A JPEG is decoded at the smallest of 1, 1/2, 1/4, 1/8 scale that keeps this many times the
#: model's side: the resize that follows still averages over several pixels.
DRAFT_MARGIN = 2


@dataclass(frozen=True)
class ImageOptions:
    """How files become model inputs; ``None``/``auto`` are resolved from the images once."""

    image_size: int | None = None
    color_mode: str = "auto"
    resize: str = "pad"
    background: tuple[int, int, int] = (255, 255, 255)
    test_fraction: float = 0.1
    #: A mirrored image keeps its class (photos of things: yes; text, X-ray sides: no).
    horizontal_flip: bool = True

    def __post_init__(self) -> None:
        if self.image_size is not None and not MIN_SIDE <= self.image_size <= 512:
            raise DataError(
                f"--image-size must be between {MIN_SIDE} and 512, got {self.image_size}"
            )
        if self.color_mode not in COLOR_MODES:
            raise DataError(
                f"unknown --color-mode {self.color_mode!r}; choose from {', '.join(COLOR_MODES)}"
            )
        if self.resize not in RESIZE_POLICIES:
            raise DataError(
                f"unknown --resize {self.resize!r}; choose from {', '.join(RESIZE_POLICIES)}"
            )
        if len(self.background) != 3 or not all(0 <= int(c) <= 255 for c in self.background):
            raise DataError(f"--background must be three values 0-255, got {self.background}")
        object.__setattr__(self, "background", tuple(int(c) for c in self.background))
        if not 0.0 < self.test_fraction < 0.5:
            raise DataError(f"--test-fraction must be in (0, 0.5), got {self.test_fraction}")

    @property
    def resolved(self) -> bool:
        return self.image_size is not None and self.color_mode != "auto"

    @property
    def channels(self) -> int:
        return 1 if self.color_mode == "grayscale" else 3

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def stretched_to(cls, size: int, channels: int) -> ImageOptions:
        """A fixed-shape model's inputs (built-in tasks, a card-less model): any file is
        stretched to ``size`` x ``size`` in its colour mode."""
        mode = "grayscale" if int(channels) == 1 else "rgb"
        return cls(image_size=int(size), color_mode=mode, resize="stretch")

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ImageOptions:
        data = dict(data or {})
        if "background" in data:
            data["background"] = tuple(data["background"])
        return cls(**data)


def parse_background(text: str) -> tuple[int, int, int]:
    """``white``, ``black``, ``#rrggbb`` or ``r,g,b``."""
    from PIL import ImageColor

    try:
        if "," in text:
            red, green, blue = (int(part) for part in text.split(","))
            return red, green, blue
        return ImageColor.getrgb(text)[:3]  # type: ignore[return-value]
    except ValueError:
        raise DataError(f"--background: not a colour: {text!r}") from None


class Unreadable(Exception):
    """A file that is skipped (and counted): the message says why."""


def probe(path: Path) -> tuple[int, int, bool]:
    """Width, height and whether the image is greyscale, from its header (no decoding)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with _bombs_are_ours(), Image.open(path) as image:
            width, height = image.size
            check_decoded_size(image)
            grey = image.mode in GREY_MODES or (image.mode == "P" and _grey_palette(image))
            orientation = image.getexif().get(0x0112, 1)
    except UnidentifiedImageError:
        raise Unreadable("not an image") from None
    except Image.DecompressionBombError:  # Pillow's own limit, past 2 x 89 megapixels
        raise Unreadable(f"too large (over {2 * Image.MAX_IMAGE_PIXELS:,} pixels)") from None
    except Unreadable:
        raise
    except Exception as exc:  # whatever a damaged or hostile header makes Pillow raise
        raise Unreadable(f"unreadable ({_short(exc)})") from None
    if orientation in (5, 6, 7, 8):  # rotated by 90 degrees: the stored sides swap
        width, height = height, width
    if min(width, height) < MIN_SIDE:
        raise Unreadable(f"smaller than {MIN_SIDE} pixels ({width}x{height})")
    return width, height, grey


@contextmanager
def _bombs_are_ours() -> Iterator[None]:
    """Pillow warns of images past 89 megapixels: ``check_decoded_size`` decides instead."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def check_decoded_size(image, max_pixels: int = MAX_DECODED_PIXELS) -> None:
    """Raise Unreadable when the opened (not yet decoded) image would decode past
    ``max_pixels``; a JPEG counts at its smallest decoding scale."""
    width, height = image.size
    pixels = width * height // (64 if image.format == "JPEG" else 1)
    if pixels > max_pixels:
        raise Unreadable(
            f"too large ({width}x{height} pixels; the limit is {max_pixels:,} as decoded)"
        )


def _grey_palette(image) -> bool:
    palette = image.getpalette() or []
    triples = [palette[i : i + 3] for i in range(0, len(palette) - 2, 3)]
    return all(r == g == b for r, g, b in triples)


def decode_image(
    path: Path, options: ImageOptions, max_pixels: int = MAX_DECODED_PIXELS
) -> np.ndarray:
    """The file as the model sees it: ``size x size x channels`` uint8. Raises Unreadable,
    also for an image past ``max_pixels`` as decoded (judged from its header)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with _bombs_are_ours(), Image.open(path) as image:
            check_decoded_size(image, max_pixels)
            image.seek(0)  # an animated GIF or multi-page TIFF: its first frame
            if image.format == "JPEG" and options.image_size:  # decoded at a reduced scale
                side = DRAFT_MARGIN * options.image_size
                image.draft(image.mode, (side, side))
            image.load()  # a truncated file fails here, not later
            return prepare_image(image, options)
    except UnidentifiedImageError:
        raise Unreadable("not an image") from None
    except Image.DecompressionBombError:
        raise Unreadable(f"too large (over {2 * Image.MAX_IMAGE_PIXELS:,} pixels)") from None
    except Unreadable:
        raise
    except Exception as exc:  # whatever a damaged or hostile file makes a decoder raise
        raise Unreadable(f"unreadable ({_short(exc)})") from None


def prepare_image(image, options: ImageOptions) -> np.ndarray:
    """A loaded PIL image -> uint8 array, as training prepared it."""
    from PIL import Image, ImageOps

    assert options.resolved, "resolve the image size and colour mode first"
    size = options.image_size
    assert size is not None
    image = _reduced(ImageOps.exif_transpose(image), DRAFT_MARGIN * size)
    image = _to_colour(image, options)
    fill = options.background if image.mode == "RGB" else _luma(options.background)
    if options.resize == "stretch":
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    elif options.resize == "crop":
        image = ImageOps.fit(image, (size, size), Image.Resampling.BILINEAR)
    else:
        image = ImageOps.pad(image, (size, size), Image.Resampling.BILINEAR, color=fill)
    array = np.asarray(image, dtype=np.uint8)
    return array.reshape(size, size, options.channels)


#: Modes Pillow's ``reduce`` averages as they are; with alpha, premultiplied first (else the
#: colour of transparent pixels would bleed into the edges).
_REDUCIBLE = {
    "L": None,
    "RGB": None,
    "CMYK": None,
    "I": None,
    "F": None,
    "RGBA": "RGBa",
    "LA": "La",
}


def _reduced(image, side: int):
    """A large image averaged down by a whole factor while its short side stays at least
    ``side``: what follows (colour conversion, transparency, the resize) then works on a few
    hundred pixels a side, not on the full decode several times over."""
    factor = min(image.size) // side
    if factor < 2 or image.mode not in _REDUCIBLE:
        return image
    premultiplied = _REDUCIBLE[image.mode]
    if premultiplied is None:
        return image.reduce(factor)
    return image.convert(premultiplied).reduce(factor).convert(image.mode)


def _to_colour(image, options: ImageOptions):
    """Any mode -> L or RGB: 16-bit greyscale rescaled (not clipped), alpha composited on the
    background colour, CMYK and palettes converted."""
    from PIL import Image

    if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        values = np.asarray(image)  # as stored: 2 or 4 bytes a pixel
        top = 65535.0 if values.max(initial=0) > 255 or image.mode.startswith("I;16") else 255.0
        grey = np.empty(values.shape, np.uint8)
        for start in range(0, len(values), _ROWS_AT_A_TIME):  # never a float copy of it all
            rows = values[start : start + _ROWS_AT_A_TIME].astype(np.float32)
            grey[start : start + _ROWS_AT_A_TIME] = np.clip(rows / top * 255.0, 0, 255).round()
        image = Image.fromarray(grey)
    if image.mode in ("RGBA", "LA", "La", "RGBa", "PA") or (
        image.mode == "P" and "transparency" in image.info
    ):
        backdrop = Image.new("RGBA", image.size, (*options.background, 255))
        image = Image.alpha_composite(backdrop, image.convert("RGBA"))
    return image.convert("L" if options.color_mode == "grayscale" else "RGB")


def _luma(colour: tuple[int, int, int]) -> int:
    red, green, blue = colour
    return round(0.299 * red + 0.587 * green + 0.114 * blue)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]


def auto_size(short_sides: list[int]) -> int:
    """The median short side, clamped to AUTO_SIZE_RANGE."""
    low, high = AUTO_SIZE_RANGE
    return int(min(high, max(low, float(np.median(short_sides)))))
