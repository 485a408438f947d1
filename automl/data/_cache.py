"""The uint8 image cache: files probed and decoded once, in parallel, into memory-mapped
arrays stored split by split, keyed by the file list, sizes, modification times and options.
A changed file, list or option makes a new cache."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

from automl._errors import DataError
from automl.data._images import ImageOptions, Unreadable, auto_size, decode_image, probe
from automl.data._listing import Entry, Listing, list_source
from automl.data._overrides import Overrides

FEW_IMAGES = 10
IMBALANCE_WARNING = 100.0
_CHUNK = 256
#: Images copied at a time when the cache is put in split order (memory stays flat).
REORDER_CHUNK = 4096
#: Bumped when the cache's layout changes, so that an older cache is rebuilt, not misread.
CACHE_FORMAT = 3


# ---------------------------------------------------------------- parallel work
def _each(function: Callable[[Path], object], paths: list[str]) -> list:
    """``function`` of every path, or why the file is skipped (``Unreadable``'s message)."""
    results = []
    for path in paths:
        try:
            results.append(function(Path(path)))
        except Unreadable as exc:
            results.append(str(exc))
    return results


def _in_parallel(function: Callable[[Path], object], paths: list[str], label: str, progress: bool):
    """``function`` of every path in worker processes, in order, with a progress bar; a
    skipped file's result is the reason, a string."""
    import multiprocessing

    from tqdm import tqdm

    chunks = [paths[i : i + _CHUNK] for i in range(0, len(paths), _CHUNK)]
    work = partial(_each, function)
    workers = min(os.cpu_count() or 1, len(chunks))
    context = multiprocessing.get_context("spawn")  # never fork a process that may hold TF
    with (
        tqdm(total=len(paths), unit="img", desc=label, disable=not progress, leave=False) as bar,
        ProcessPoolExecutor(workers, mp_context=context) if workers > 1 else nullcontext() as pool,
    ):
        for chunk, output in zip(chunks, (pool.map if pool else map)(work, chunks)):
            bar.update(len(chunk))
            yield from output


# ---------------------------------------------------------------- the cache
@dataclass(frozen=True)
class ImageDataset:
    """A decoded, cached dataset: uint8 images (memory-mapped), labels, split per image."""

    images: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    class_names: tuple[str, ...]
    options: ImageOptions
    skipped: int
    skipped_list: Path
    warnings: tuple[str, ...]
    folder: Path

    def describe_skipped(self) -> str:
        if not self.skipped:
            return "no files skipped"
        return f"{self.skipped} files skipped (listed in {self.skipped_list})"

    def files(self) -> list[str]:
        """Each cached image's file, in the cache's order."""
        return json.loads((self.folder / "meta.json").read_text())["files"]

    def relative_paths(self, source: Path) -> np.ndarray:
        """Each cached image's path relative to the data folder (a manifest's folder): the
        names reports and overrides use."""
        source = Path(source).expanduser()
        # A folder's files are listed under it as given; a manifest's rows are resolved.
        root = os.path.abspath(source) if source.is_dir() else str(source.parent.resolve())
        return np.array(
            [Path(os.path.relpath(os.path.abspath(f), root)).as_posix() for f in self.files()]
        )

    def skipped_files(self) -> list[tuple[str, str]]:
        """(file, why) for every file left out: unreadable, hidden, excluded by overrides."""
        if not self.skipped_list.is_file():
            return []
        lines = self.skipped_list.read_text().splitlines()
        return [tuple(line.split("\t", 1)) if "\t" in line else (line, "") for line in lines]  # type: ignore[misc]


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def _stats(entries: list[Entry]) -> list[tuple]:
    stats = []
    for entry in entries:
        info = entry.path.stat()
        stats.append((str(entry.path), entry.label, entry.split, info.st_size, info.st_mtime_ns))
    return stats


def write_folder_atomically(folder: Path, write: Callable[[Path], None]) -> None:
    """``write`` fills a scratch folder beside ``folder``, then it is renamed: a reader sees
    the whole folder or none of it (and another process's copy, if it came first)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        write(scratch)
        try:
            os.replace(scratch, folder)
        except OSError:  # another process wrote the same cache first: theirs is as good
            shutil.rmtree(scratch, ignore_errors=True)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def assign_splits(
    labels: np.ndarray, fixed: np.ndarray, validation: float, test: float, seed: int
) -> np.ndarray:
    """Rows with a fixed split (>= 0) keep it; the others (-1) get a stratified, seeded
    train/validation/test split (each class split in the same proportions where it can be)."""
    splits = fixed.copy()
    rng = np.random.default_rng(seed)
    for label in np.unique(labels):
        free = np.flatnonzero((labels == label) & (fixed < 0))
        rng.shuffle(free)
        n_test = round(test * len(free))
        n_val = round(validation * len(free))
        if len(free) >= 3:  # every split asked for gets one of a class that has three
            n_test, n_val = max(int(test > 0), n_test), max(int(validation > 0), n_val)
        splits[free[:n_test]] = 2
        splits[free[n_test : n_test + n_val]] = 1
        splits[free[n_test + n_val :]] = 0
    return splits


def build_dataset(
    source: Path,
    options: ImageOptions,
    cache_dir: Path,
    validation_fraction: float,
    seed: int,
    progress: bool = True,
) -> ImageDataset:
    """List, check, probe and decode ``source`` once; later calls map the cache."""
    listing = list_source(source)
    if not listing.entries:
        raise DataError(f"no images in {source} (expected {source}/<class name>/<image files>)")
    stats = _stats(listing.entries)
    probes_file = cache_dir / f"probe-{_digest(stats)}.json"
    probes = _probes(listing, probes_file, progress)

    usable = [(e, p) for e, p in zip(listing.entries, probes) if not isinstance(p, str)]
    skipped = listing.skipped + [
        (str(e.path), p) for e, p in zip(listing.entries, probes) if isinstance(p, str)
    ]
    if not usable:
        raise DataError(f"no readable images in {source} ({len(skipped)} files skipped)")
    _check_classes({entry.label for entry, _ in usable})
    resolved = _resolve(options, [p for _, p in usable])  # type: ignore[misc]
    key = _digest(CACHE_FORMAT, stats, resolved.to_json(), validation_fraction, seed)
    folder = cache_dir / f"images-{key}"
    if not (folder / "meta.json").is_file():
        write_folder_atomically(
            folder,
            lambda scratch: _decode_into(
                scratch, usable, skipped, resolved, validation_fraction, seed, progress
            ),
        )
    return _open_cache(folder)


def _probes(listing: Listing, probes_file: Path, progress: bool) -> list:
    if probes_file.is_file():
        return [p if isinstance(p, str) else tuple(p) for p in json.loads(probes_file.read_text())]
    paths = [str(e.path) for e in listing.entries]
    probes = list(_in_parallel(probe, paths, "checking images", progress))
    probes_file.parent.mkdir(parents=True, exist_ok=True)
    partial = probes_file.with_suffix(".partial")
    partial.write_text(json.dumps(probes))
    os.replace(partial, probes_file)
    return probes


def _resolve(options: ImageOptions, probes: list[tuple[int, int, bool]]) -> ImageOptions:
    size = options.image_size or auto_size([min(w, h) for w, h, _ in probes])
    mode = options.color_mode
    if mode == "auto":
        mode = "grayscale" if all(grey for _, _, grey in probes) else "rgb"
    return replace(options, image_size=size, color_mode=mode)


def _decode_into(
    folder: Path,
    usable: list[tuple[Entry, tuple]],
    skipped: list[tuple[str, str]],
    options: ImageOptions,
    validation_fraction: float,
    seed: int,
    progress: bool,
) -> None:
    size, channels = options.image_size, options.channels
    assert size is not None
    decoded = np.lib.format.open_memmap(
        folder / "decoded.npy", mode="w+", dtype=np.uint8, shape=(len(usable), size, size, channels)
    )
    kept: list[Entry] = []
    paths = [str(entry.path) for entry, _ in usable]
    decode = partial(decode_image, options=options)
    results = _in_parallel(decode, paths, "decoding images", progress)
    for (entry, _), result in zip(usable, results):
        if isinstance(result, str):  # truncated files are found only while decoding
            skipped.append((str(entry.path), result))
        else:
            decoded[len(kept)] = result
            kept.append(entry)

    class_names = _check_classes({entry.label for entry in kept})
    index = {name: i for i, name in enumerate(class_names)}
    labels = np.array([index[e.label] for e in kept], dtype=np.int32)
    fixed = np.array([-1 if e.split is None else e.split for e in kept], dtype=np.int8)
    splits = assign_splits(labels, fixed, validation_fraction, options.test_fraction, seed)
    if not (splits == 2).any():
        raise DataError("no test images: add a test/ folder or leave some rows' split empty")
    if not (splits == 1).any():  # train/ and test/ only: validation is drawn from train, here
        # rather than when loading, so that it too is a slice of the cache, not a copy
        from_train = np.where(splits == 0, -1, splits).astype(np.int8)
        splits = assign_splits(labels, from_train, validation_fraction, 0.0, seed)
    # Stored split by split (train, validation, test): each split is then one slice of the
    # memory-mapped file, never a copy. Copied in chunks, so memory stays flat.
    order = np.argsort(splits, kind="stable")
    images = np.lib.format.open_memmap(
        folder / "images.npy", mode="w+", dtype=np.uint8, shape=(len(kept), size, size, channels)
    )
    for start in range(0, len(order), REORDER_CHUNK):
        chunk = order[start : start + REORDER_CHUNK]
        images[start : start + len(chunk)] = decoded[chunk]
    images.flush()
    del images, decoded
    (folder / "decoded.npy").unlink()
    np.save(folder / "labels.npy", labels[order])
    np.save(folder / "splits.npy", splits[order])
    (folder / "skipped.txt").write_text("".join(f"{p}\t{why}\n" for p, why in skipped))
    meta = {
        "class_names": class_names,
        "options": options.to_json(),
        "skipped": len(skipped),
        "warnings": _warnings(labels, class_names),
        "files": [str(kept[i].path) for i in order],
    }
    (folder / "meta.json").write_text(json.dumps(meta))


def _check_classes(labels: set[str]) -> tuple[str, ...]:
    """The sorted class names; refuses fewer than two (checked before and after decoding)."""
    if len(labels) < 2:
        raise DataError(
            f"only one class ({next(iter(labels), 'none')}): "
            "a classifier needs at least two class folders or labels"
        )
    return tuple(sorted(labels))


def _warnings(labels: np.ndarray, class_names: tuple[str, ...]) -> list[str]:
    counts = Counter(labels.tolist())
    warnings = [
        f"class {class_names[i]!r} has only {counts[i]} images"
        for i in range(len(class_names))
        if counts[i] < FEW_IMAGES
    ]
    most, least = max(counts.values()), min(counts.values())
    if most > IMBALANCE_WARNING * least:
        warnings.append(
            f"classes are imbalanced {most / least:.0f}x (largest {most}, smallest {least} "
            "images): consider --class-weight balanced"
        )
    return warnings


def write_uint8_images(
    target: Path, shape: tuple[int, ...], chunks: Iterable[tuple[int, np.ndarray]]
) -> Path:
    """A uint8 ``.npy`` of ``shape`` filled from (first row, images) chunks, a chunk at a time
    (memory stays flat), then renamed into place: a reader sees the whole file or none."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.stem}.{os.getpid()}.partial.npy")
    out = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
    for start, images in chunks:
        out[start : start + len(images)] = images
    out.flush()
    del out
    os.replace(partial, target)
    return target


def fixed_dataset(dataset: ImageDataset, ids: np.ndarray, overrides: Overrides) -> ImageDataset:
    """The cache with the user's fixes applied: excluded images left out, relabeled ones with
    their new class, every other image in the split it had (so scores before and after compare
    on the same test images, less the excluded). A folder of its own beside the cache, written
    once per set of fixes by copying rows: nothing is decoded again."""
    applied = overrides.apply(ids, dataset.labels, dataset.class_names)
    folder = dataset.folder.with_name(f"{dataset.folder.name}-fixed-{overrides.sha256[:16]}")
    kept = np.flatnonzero(applied.keep)
    splits = dataset.splits[kept]
    for split, name in enumerate(("train", "validation", "test")):
        if not (splits == split).any():
            raise DataError(f"overrides {overrides.source} leave no {name} images")

    def write(scratch: Path) -> None:
        images = np.lib.format.open_memmap(
            scratch / "images.npy",
            mode="w+",
            dtype=np.uint8,
            shape=(len(kept), *dataset.images.shape[1:]),
        )
        for start in range(0, len(kept), REORDER_CHUNK):
            chunk = kept[start : start + REORDER_CHUNK]
            images[start : start + len(chunk)] = dataset.images[chunk]
        images.flush()
        del images
        labels = applied.labels[kept]
        np.save(scratch / "labels.npy", labels)
        np.save(scratch / "splits.npy", splits)
        files = dataset.files()
        excluded = [(files[i], "excluded by overrides") for i in np.flatnonzero(~applied.keep)]
        skipped = dataset.skipped_files() + excluded
        (scratch / "skipped.txt").write_text("".join(f"{p}\t{why}\n" for p, why in skipped))
        meta = {
            "class_names": list(dataset.class_names),
            "options": dataset.options.to_json(),
            "skipped": len(skipped),
            "warnings": _warnings(labels, dataset.class_names),
            "files": [files[i] for i in kept],
            "overrides": overrides.sha256,
        }
        (scratch / "meta.json").write_text(json.dumps(meta))

    if not (folder / "meta.json").is_file():
        write_folder_atomically(folder, write)
    return _open_cache(folder)


def _open_cache(folder: Path) -> ImageDataset:
    meta = json.loads((folder / "meta.json").read_text())
    return ImageDataset(
        images=np.load(folder / "images.npy", mmap_mode="r"),
        labels=np.load(folder / "labels.npy"),
        splits=np.load(folder / "splits.npy"),
        class_names=tuple(meta["class_names"]),
        options=ImageOptions.from_json(meta["options"]),
        skipped=int(meta["skipped"]),
        skipped_list=folder / "skipped.txt",
        warnings=tuple(meta["warnings"]),
        folder=folder,
    )


__all__ = [
    "ImageDataset",
    "assign_splits",
    "build_dataset",
    "fixed_dataset",
    "write_folder_atomically",
    "write_uint8_images",
]
