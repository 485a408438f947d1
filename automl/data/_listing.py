"""Which files make a data set: a folder of class folders (optionally under train/,
validation/ and test/) or a CSV/JSONL manifest; hidden and stray files are skipped and
counted."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from automl._errors import DataError

SPLITS = ("train", "validation", "test")
SPLIT_ALIASES = {"train": 0, "training": 0, "validation": 1, "val": 1, "valid": 1, "test": 2}
MANIFEST_COLUMNS = ("path", "label", "split")
MANIFEST_SUFFIXES = (".csv", ".jsonl")
#: More manifest rows than this share pointing nowhere (missing, or outside the manifest's
#: folder) and the manifest is refused rather than trained on.
MAX_MISSING_SHARE = 0.05


@dataclass(frozen=True)
class Entry:
    path: Path
    label: str
    split: int | None  # index into SPLITS; None: assigned by the stratified split


@dataclass
class Listing:
    entries: list[Entry]
    skipped: list[tuple[str, str]]  # (path, why)


def _hidden(name: str) -> bool:
    return name.startswith(".") or name in ("__MACOSX", "Thumbs.db", "desktop.ini")


#: Why a link is skipped: a folder's data set is what lies in the folder.
OUTSIDE = "a link to outside the folder"


def _outside(path: Path, root: Path) -> bool:
    """A link (a file's, or a folder's) whose target lies outside ``root`` (resolved)."""
    return path.is_symlink() and not path.resolve().is_relative_to(root)


def _walk(folder: Path, root: Path, skipped: list[tuple[str, str]]) -> Iterator[Path]:
    """Files under ``folder``, sorted; hidden files and folders, and links out of ``root``,
    are skipped and counted (links to folders are not followed)."""
    for current, dirs, files in os.walk(folder):
        for name in sorted(d for d in dirs if _hidden(d)):
            skipped.append((str(Path(current) / name), "hidden folder"))
        dirs[:] = sorted(d for d in dirs if not _hidden(d))
        for name in sorted(files):
            path = Path(current) / name
            if _hidden(name):
                skipped.append((str(path), "hidden file"))
            elif _outside(path, root):
                skipped.append((str(path), OUTSIDE))
            else:
                yield path


def _class_folders(folder: Path, root: Path, skipped: list[tuple[str, str]]) -> list[Path]:
    folders, loose = [], []
    for child in sorted(folder.iterdir()):
        if _hidden(child.name):
            skipped.append((str(child), "hidden"))
        elif _outside(child, root):
            skipped.append((str(child), OUTSIDE))
        elif child.is_dir():
            folders.append(child)
        else:
            loose.append(child)
    skipped.extend((str(path), "not in a class folder") for path in loose)
    seen: dict[str, str] = {}
    for child in folders:
        other = seen.setdefault(child.name.lower(), child.name)
        if other != child.name:
            raise DataError(
                f"class folders {other!r} and {child.name!r} in {folder} differ only in case: "
                "merge or rename one"
            )
    return folders


def list_folder(root: Path) -> Listing:
    """``root/<class>/**`` files, or ``root/{train,validation|val,test}/<class>/**``."""
    skipped: list[tuple[str, str]] = []
    real_root = root.resolve()
    top = _class_folders(root, real_root, skipped)
    split_folders = [d for d in top if d.name.lower() in SPLIT_ALIASES]
    if split_folders and len(split_folders) != len(top):
        others = ", ".join(sorted(d.name for d in top if d not in split_folders))
        raise DataError(
            f"{root} mixes split folders (train/validation/test) with other folders ({others})"
        )
    groups = [(d, SPLIT_ALIASES[d.name.lower()]) for d in split_folders] or [(root, None)]
    entries = []
    for folder, split in groups:
        classes = top if split is None else _class_folders(folder, real_root, skipped)
        for class_folder in classes:
            entries.extend(
                Entry(p, class_folder.name, split) for p in _walk(class_folder, real_root, skipped)
            )
    return Listing(entries, skipped)


def _manifest_rows(manifest: Path) -> Iterator[tuple[int, dict]]:
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as handle:
            if manifest.suffix.lower() == ".csv":
                reader = csv.DictReader(handle)
                _check_columns(manifest, reader.fieldnames or [])
                for number, row in enumerate(reader, start=2):
                    yield number, row
                return
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError:
                    raise DataError(f"{manifest} line {number}: not JSON") from None
                if not isinstance(row, dict):
                    raise DataError(f"{manifest} line {number}: expected an object")
                _check_columns(manifest, list(row))
                yield number, row
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read manifest {manifest}: {exc}") from None


def _check_columns(manifest: Path, columns: list[str]) -> None:
    unknown = [c for c in columns if c not in MANIFEST_COLUMNS]
    missing = [c for c in ("path", "label") if c not in columns]
    if unknown or missing:
        problem = f"unknown columns {unknown}" if unknown else f"no {' or '.join(missing)} column"
        raise DataError(
            f"manifest {manifest}: {problem}; expected path, label and optionally split"
        )


def list_manifest(manifest: Path) -> Listing:
    """Rows of ``path,label[,split]``; paths are relative to the manifest's folder."""
    root = manifest.parent.resolve()
    entries, skipped, nowhere, rows = [], [], [], 0
    for number, row in _manifest_rows(manifest):
        rows += 1
        relative = str(row.get("path") or "").strip()
        label = str(row.get("label") if row.get("label") is not None else "").strip()
        split_text = str(row.get("split") or "").strip().lower()
        if split_text and split_text not in SPLIT_ALIASES:
            raise DataError(
                f"{manifest} row {number}: split {split_text!r} is not train, validation or test"
            )
        if not relative or not label:
            skipped.append((f"{manifest} row {number}", "no path or no label"))
            continue
        path = (root / relative).resolve()
        if not path.is_relative_to(root):
            nowhere.append((relative, "outside the manifest's folder"))
        elif not path.is_file():
            nowhere.append((relative, "missing"))
        else:
            entries.append(Entry(path, label, SPLIT_ALIASES.get(split_text)))
    if rows and len(nowhere) > MAX_MISSING_SHARE * rows:
        first = ", ".join(f"{p} ({why})" for p, why in nowhere[:3])
        raise DataError(
            f"{manifest}: {len(nowhere)} of {rows} rows point to missing files or outside its "
            f"folder (first: {first})"
        )
    return Listing(entries, skipped + nowhere)


def list_source(source: Path) -> Listing:
    if source.is_dir():
        return list_folder(source)
    if source.is_file() and source.suffix.lower() in MANIFEST_SUFFIXES:
        return list_manifest(source)
    if source.exists():
        raise DataError(f"{source}: expected a folder of class folders or a .csv/.jsonl manifest")
    raise DataError(f"no such folder or manifest: {source}")


__all__ = [
    "MANIFEST_SUFFIXES",
    "SPLITS",
    "SPLIT_ALIASES",
    "Entry",
    "Listing",
    "list_folder",
    "list_manifest",
    "list_source",
]
