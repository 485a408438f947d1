"""Your own images: folder and manifest listings, every colour mode, bad files, splits, cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from automl._errors import DataError
from automl.data import (
    ImageOptions,
    assign_splits,
    build_dataset,
    decode_image,
    open_task,
    parse_background,
)

RGB = ImageOptions(image_size=16, color_mode="rgb", resize="stretch")
GREY = ImageOptions(image_size=16, color_mode="grayscale", resize="stretch")


def _noise(rgb: tuple[int, int, int], size=(24, 20), seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    height, width = size
    return Image.fromarray(np.clip(rng.normal(rgb, 30, (height, width, 3)), 0, 255).astype("uint8"))


def write_tree(root: Path, counts: dict[str, int], exts=("png", "jpg")) -> Path:
    colours = [(200, 40, 40), (40, 180, 40), (40, 40, 200), (200, 200, 40)]
    for c, (name, count) in enumerate(counts.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            _noise(colours[c % 4], seed=i).save(root / name / f"{i}.{exts[i % len(exts)]}")
    return root


def build(source: Path, tmp_path: Path, options: ImageOptions | None = None, **kw):
    return build_dataset(source, options or ImageOptions(), tmp_path / "cache", 0.1, 0, False, **kw)


# ---------------------------------------------------------------- one file
@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16"])
def test_every_mode_decodes_to_the_chosen_colour_mode(tmp_path: Path, mode: str) -> None:
    source = _noise((120, 120, 120)).convert("L")
    image = source.convert(mode) if mode != "I;16" else source
    if mode == "I;16":
        image = Image.fromarray((np.asarray(source, dtype=np.uint16) * 257).astype(np.uint16))
    path = tmp_path / f"x.{'tiff' if mode in ('CMYK', 'I;16') else 'png'}"
    image.save(path)
    assert decode_image(path, RGB).shape == (16, 16, 3)
    grey = decode_image(path, GREY)
    assert grey.shape == (16, 16, 1) and grey.dtype == np.uint8


def test_sixteen_bit_greyscale_is_rescaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 257 * 128, 65535, 65535]] * 16, dtype=np.uint16)
    Image.fromarray(values).resize((16, 16), Image.Resampling.NEAREST).save(tmp_path / "deep.png")
    grey = decode_image(tmp_path / "deep.png", GREY)[..., 0]
    assert grey[0, 0] == 0 and grey[0, 15] == 255 and 126 <= grey[0, 5] <= 130


def test_an_animated_gif_decodes_its_first_frame(tmp_path: Path) -> None:
    red, blue = Image.new("RGB", (16, 16), (255, 0, 0)), Image.new("RGB", (16, 16), (0, 0, 255))
    red.save(tmp_path / "a.gif", save_all=True, append_images=[blue], duration=100, loop=0)
    assert Image.open(tmp_path / "a.gif").n_frames == 2
    pixels = decode_image(tmp_path / "a.gif", RGB).reshape(-1, 3)
    assert (pixels[:, 0] > 200).all() and (pixels[:, 2] < 50).all()  # red, the first frame


def test_a_webp_with_alpha_decodes_on_the_background(tmp_path: Path) -> None:
    image = np.zeros((16, 16, 4), np.uint8)
    image[:, :8] = (0, 200, 0, 255)  # opaque green on the left, transparent on the right
    Image.fromarray(image, "RGBA").save(tmp_path / "a.webp", lossless=True)
    pixels = decode_image(tmp_path / "a.webp", RGB)
    assert (pixels[:, :6, 1] > 180).all() and (pixels[:, :6, 0] < 30).all()
    assert (pixels[:, 10:] == 255).all()  # the transparent half on the white background


def test_transparency_is_composited_on_the_background(tmp_path: Path) -> None:
    Image.new("RGBA", (16, 16), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    black = ImageOptions(image_size=16, color_mode="rgb", background=parse_background("black"))
    assert decode_image(tmp_path / "clear.png", RGB).max() == 255  # white by default
    assert decode_image(tmp_path / "clear.png", black).max() == 0


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    photo = _noise((100, 150, 200), size=(20, 40))  # 40 wide, 20 high as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    photo.save(tmp_path / "rotated.jpg", exif=exif, quality=100)
    photo.transpose(Image.Transpose.ROTATE_270).save(tmp_path / "upright.jpg", quality=100)
    options = ImageOptions(image_size=16, color_mode="rgb", resize="stretch")
    rotated = decode_image(tmp_path / "rotated.jpg", options).astype(int)
    upright = decode_image(tmp_path / "upright.jpg", options).astype(int)
    assert np.abs(rotated - upright).mean() < 3


@pytest.mark.parametrize("resize", ["pad", "crop", "stretch"])
def test_resize_policies_give_the_square_size(tmp_path: Path, resize: str) -> None:
    Image.new("RGB", (40, 10), (0, 0, 0)).save(tmp_path / "wide.png")
    out = decode_image(tmp_path / "wide.png", ImageOptions(16, "rgb", resize))
    assert out.shape == (16, 16, 3)
    # Padding keeps the whole (black) image and fills with white; the others stay black.
    assert (out.max() == 255) == (resize == "pad")


def test_bad_options_are_refused() -> None:
    for bad in ({"resize": "squash"}, {"color_mode": "sepia"}, {"image_size": 2}):
        with pytest.raises(DataError):
            ImageOptions(**bad)
    with pytest.raises(DataError, match="not a colour"):
        parse_background("bluish")


# ---------------------------------------------------------------- a folder
def test_a_folder_of_class_folders_skips_and_counts_bad_files(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "photos", {"cat": 12, "dog": 12})
    (root / "cat" / ".DS_Store").write_bytes(b"\0\1")
    (root / "__MACOSX").mkdir()
    (root / "dog" / ".ipynb_checkpoints").mkdir()
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / "dog" / "empty.png").write_bytes(b"")
    png = (root / "dog" / "0.png").read_bytes()
    (root / "dog" / "truncated.png").write_bytes(png[: len(png) // 2])
    _noise((1, 2, 3)).save(root / "cat" / "really_a_bmp.jpg", format="BMP")  # read by content
    Image.new("RGB", (4, 4)).save(root / "cat" / "tiny.png")

    data = build(root, tmp_path)
    assert data.class_names == ("cat", "dog")
    assert len(data.labels) == 25 and (data.labels == 0).sum() == 13  # the BMP is kept
    listed = data.skipped_list.read_text()
    for name in (".DS_Store", "__MACOSX", ".ipynb_checkpoints", "notes.txt", "empty.png"):
        assert name in listed
    assert "truncated.png\tunreadable" in listed and "tiny.png\tsmaller than" in listed
    assert data.skipped == 7
    # Colour photos: RGB; the size is the median short side (20), clamped to 16..64.
    assert data.options.color_mode == "rgb" and data.options.image_size == 20
    assert data.images.shape == (25, 20, 20, 3)


def test_images_too_large_to_decode_are_skipped_and_a_big_jpeg_is_decoded_reduced(
    tmp_path: Path,
) -> None:
    """A decompression bomb (400 megapixels in a small PNG), a 49-megapixel PNG (over the
    40-megapixel limit) and a 49-megapixel JPEG (decoded at 1/8 scale: under it)."""
    root = write_tree(tmp_path / "drawings", {"cat": 10, "dog": 10})
    Image.new("1", (20_000, 20_000)).save(root / "cat" / "bomb.png")
    Image.new("L", (7_000, 7_000), 255).save(root / "dog" / "poster.png")
    Image.new("RGB", (7_000, 7_000), (0, 0, 250)).save(root / "dog" / "photo.jpg", quality=50)
    data = build(root, tmp_path, RGB)
    listed = data.skipped_list.read_text()
    assert "bomb.png\ttoo large (over" in listed
    assert "poster.png\ttoo large (7000x7000 pixels; the limit is 40,000,000 as decoded)" in listed
    assert data.skipped == 2 and len(data.labels) == 21  # the big JPEG is in, and blue
    files = json.loads((data.folder / "meta.json").read_text())["files"]
    photo = data.images[files.index(str(root / "dog" / "photo.jpg"))]
    assert photo[..., 2].min() > 200 and photo[..., 0].max() < 40


def test_links_out_of_the_folder_are_skipped_and_counted(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "photos", {"cat": 10, "dog": 10})
    private = write_tree(tmp_path / "private", {"secret": 3})
    (root / "cat" / "elsewhere.png").symlink_to(private / "secret" / "0.png")
    (root / "bird").symlink_to(private / "secret", target_is_directory=True)
    (root / "dog" / "again.png").symlink_to(root / "dog" / "0.png")  # inside: kept
    data = build(root, tmp_path, RGB)
    assert data.class_names == ("cat", "dog") and len(data.labels) == 21
    listed = data.skipped_list.read_text()
    assert f"{root / 'cat' / 'elsewhere.png'}\ta link to outside the folder" in listed
    assert f"{root / 'bird'}\ta link to outside the folder" in listed
    assert data.skipped == 2


def test_greyscale_is_chosen_only_when_every_image_is(tmp_path: Path) -> None:
    root = tmp_path / "scans"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(3):
            _noise((90, 90, 90), seed=i).convert("L").save(root / name / f"{i}.png")
    assert build(root, tmp_path).options.color_mode == "grayscale"
    _noise((200, 10, 10)).save(root / "a" / "colour.png")
    assert build(root, tmp_path).options.color_mode == "rgb"


def test_split_folders_fix_the_splits(tmp_path: Path) -> None:
    root = tmp_path / "split"
    write_tree(root / "train", {"a": 6, "b": 6})
    write_tree(root / "val", {"a": 2, "b": 2})
    write_tree(root / "test", {"a": 3, "b": 3})
    data = build(root, tmp_path)
    assert np.bincount(data.splits).tolist() == [12, 4, 6]
    splits = open_task("images", root, None, tmp_path / "cache", 0.1, 0).load(root)
    assert (len(splits.x_train), len(splits.x_val), len(splits.x_test)) == (12, 4, 6)
    # Each split is a slice of the memory-mapped cache (no copy in memory), and each image is
    # the decoded file of its own split folder, with its own label.
    files = json.loads((data.folder / "meta.json").read_text())["files"]
    start = 0
    for split, x, y in [
        ("train", splits.x_train, splits.y_train),
        ("val", splits.x_val, splits.y_val),
        ("test", splits.x_test, splits.y_test),
    ]:
        assert isinstance(x, np.memmap) and x.dtype == np.uint8
        for i in range(len(x)):
            path = Path(files[start + i])
            assert path.parent.parent.name == split
            assert splits.class_names[y[i]] == path.parent.name
            np.testing.assert_array_equal(x[i], decode_image(path, data.options))
        start += len(x)


def test_train_and_test_folders_alone_draw_validation_from_train(tmp_path: Path) -> None:
    root = tmp_path / "split"
    write_tree(root / "train", {"a": 10, "b": 10})
    write_tree(root / "test", {"a": 3, "b": 3})
    data = build(root, tmp_path)
    assert np.bincount(data.splits).tolist() == [18, 2, 6]  # a tenth of each class's train
    files = json.loads((data.folder / "meta.json").read_text())["files"]
    assert all("/test/" in f for f, split in zip(files, data.splits) if split == 2)
    splits = open_task("images", root, None, tmp_path / "cache", 0.1, 0).load(root)
    assert isinstance(splits.x_val, np.memmap) and sorted(splits.y_val.tolist()) == [0, 1]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root.mkdir(), "no images"),
        (lambda root: write_tree(root, {"only": 5}), "only one class"),
        (lambda root: write_tree(root, {"Cat": 2, "cat": 2}), "differ only in case"),
    ],
)
def test_unusable_folders_are_refused(tmp_path: Path, make, message: str) -> None:
    root = tmp_path / "data"
    try:
        make(root)
    except FileExistsError:  # a case-insensitive file system cannot hold Cat and cat
        pytest.skip("case-insensitive file system")
    with pytest.raises(DataError, match=message):
        build(root, tmp_path)


def test_few_images_and_imbalance_are_warned(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "skewed", {"common": 202, "rare": 2}, exts=("png",))
    warnings = " ".join(build(root, tmp_path, ImageOptions(16, "rgb")).warnings)
    assert "'rare' has only 2 images" in warnings and "--class-weight balanced" in warnings


# ---------------------------------------------------------------- a manifest
def test_a_csv_manifest_keeps_its_splits_and_assigns_the_rest(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "m", {"a": 10, "b": 10})
    lines = ["path,label,split"]
    for label in ("a", "b"):
        for i in range(10):
            split = "test" if i < 2 else ("train" if i < 5 else "")
            lines.append(f"{label}/{i}.{('png', 'jpg')[i % 2]},{label},{split}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    data = build(root / "labels.csv", tmp_path)
    files = json.loads((data.folder / "meta.json").read_text())["files"]
    split_of = dict(zip((Path(f).name + Path(f).parent.name for f in files), data.splits))
    assert split_of["0.pnga"] == 2 and split_of["3.jpga"] == 0  # as the manifest says
    assert (data.splits == 2).sum() >= 4 and (data.splits == 1).sum() >= 2


def test_a_jsonl_manifest_without_splits_gets_a_stratified_split(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "j", {"x": 20, "y": 20})
    rows = [
        {"path": f"{label}/{i}.{('png', 'jpg')[i % 2]}", "label": label}
        for label in ("x", "y")
        for i in range(20)
    ]
    (root / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    data = build(root / "rows.jsonl", tmp_path)
    for label in (0, 1):  # 80/10/10 within each class
        assert np.bincount(data.splits[data.labels == label]).tolist() == [16, 2, 2]


def test_bad_manifests_are_refused(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "b", {"a": 3, "b": 3})
    (root / "extra.csv").write_text("path,label,weight\na/0.png,a,1\n")
    with pytest.raises(DataError, match="unknown columns"):
        build(root / "extra.csv", tmp_path)
    rows = ["path,label", "a/0.png,a", "a/2.png,a", "b/0.png,b", "../../etc/passwd,b"]
    (root / "outside.csv").write_text("\n".join([*rows, "missing.png,b"]))
    with pytest.raises(DataError, match="2 of 5 rows point to missing files or outside"):
        build(root / "outside.csv", tmp_path)


# ---------------------------------------------------------------- splits and the cache
def test_assign_splits_is_stratified_seeded_and_keeps_fixed_rows() -> None:
    labels = np.repeat([0, 1, 2], 50)
    fixed = np.full(150, -1, dtype=np.int8)
    fixed[:5] = 2
    first = assign_splits(labels, fixed, 0.1, 0.1, seed=3)
    assert (first[:5] == 2).all()
    assert first.tolist() == assign_splits(labels, fixed, 0.1, 0.1, seed=3).tolist()
    assert first.tolist() != assign_splits(labels, fixed, 0.1, 0.1, seed=4).tolist()
    for label in (1, 2):
        assert np.bincount(first[labels == label]).tolist() == [40, 5, 5]


def test_images_are_decoded_once_and_a_changed_file_makes_a_new_cache(
    tmp_path: Path, monkeypatch
) -> None:
    root = write_tree(tmp_path / "c", {"a": 4, "b": 4})
    first = build(root, tmp_path)
    import automl.data._cache as cache

    def refuse(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(cache, "_decode_into", refuse)
    again = build(root, tmp_path)  # a cache hit: nothing decoded
    assert again.folder == first.folder and np.array_equal(again.images, first.images)
    monkeypatch.undo()
    changed = root / "a" / "0.png"
    _noise((0, 0, 0), seed=9).save(changed)
    os.utime(changed, ns=(1, 1))
    assert build(root, tmp_path).folder != first.folder


def test_balanced_class_weights_follow_scikit_learn() -> None:
    from sklearn.utils.class_weight import compute_class_weight

    from automl.data import balanced_class_weights

    labels = np.array([0] * 90 + [1] * 9 + [2])
    expected = compute_class_weight("balanced", classes=np.arange(3), y=labels)
    assert list(balanced_class_weights(labels, 3).values()) == pytest.approx(expected.tolist())
