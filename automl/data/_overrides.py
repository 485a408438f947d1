"""A user's fixes to their data: a CSV of ``path,action,label`` rows that exclude images or
give them another class. ``search``, ``evaluate`` and ``inspect`` take it with ``--overrides``;
a study records the rows and their hash, so every number says which data it came from."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from automl._errors import DataError

EXCLUDE, RELABEL, KEEP = "exclude", "relabel", "keep"
#: ``keep``: looked at and found right (the dashboard records it so it is not asked again);
#: it changes nothing.
ACTIONS = (EXCLUDE, RELABEL, KEEP)
COLUMNS = ("path", "action", "label")
#: A fixes file larger than this is refused before it is read (a hostile or mistaken file).
MAX_BYTES = 64 * 1024 * 1024


def normalized_path(text: str) -> str:
    """The form paths are compared in: relative, forward slashes, no ``./``."""
    path = PurePosixPath(text.strip().replace("\\", "/"))
    return str(path) if path.parts[:1] != (".",) else str(PurePosixPath(*path.parts[1:]))


@dataclass(frozen=True)
class Override:
    path: str
    action: str
    label: str | None = None


@dataclass(frozen=True)
class Applied:
    """What overrides did to a list of images: which stay, their labels, the counts."""

    keep: np.ndarray
    labels: np.ndarray
    excluded: int
    relabeled: int


@dataclass(frozen=True)
class Overrides:
    rows: tuple[Override, ...]
    #: The file the rows came from (for messages; the hash identifies them).
    source: str = ""

    @property
    def sha256(self) -> str:
        canonical = json.dumps([[r.path, r.action, r.label] for r in self.rows])
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def changes(self) -> tuple[Override, ...]:
        return tuple(r for r in self.rows if r.action != KEEP)

    def describe(self) -> str:
        excluded = sum(r.action == EXCLUDE for r in self.rows)
        relabeled = sum(r.action == RELABEL for r in self.rows)
        return (
            f"overrides {self.source or 'given'} ({self.sha256[:12]}): {excluded} excluded, "
            f"{relabeled} relabeled"
        )

    @classmethod
    def read(cls, path: Path) -> Overrides:
        """Rows of a CSV with a ``path,action,label`` header; a bad row is a DataError naming
        it (one line, exit 2), before anything is trained or stored."""
        path = Path(path).expanduser()
        try:
            if path.stat().st_size > MAX_BYTES:
                raise DataError(f"overrides {path}: larger than {MAX_BYTES // 2**20} MB")
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read overrides {path}: {exc}") from None
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, source: str = "") -> Overrides:
        try:
            reader = csv.DictReader(io.StringIO(text))
            fields = [f.strip().lower() for f in reader.fieldnames or []]
            if "path" not in fields or "action" not in fields or set(fields) - set(COLUMNS):
                raise DataError(
                    f"overrides {source}: expected the columns path,action,label, got "
                    f"{','.join(fields) or 'none'}"
                )
            reader.fieldnames = fields
            rows: dict[str, Override] = {}
            for number, row in enumerate(reader, start=2):
                rows_path = normalized_path(row.get("path") or "")
                action = (row.get("action") or "").strip().lower()
                label = (row.get("label") or "").strip() or None
                where = f"overrides {source} row {number}"
                if (
                    rows_path in ("", ".")
                    or rows_path.startswith("/")
                    or ".." in rows_path.split("/")
                ):
                    raise DataError(f"{where}: path {row.get('path')!r} is not a relative path")
                if action not in ACTIONS:
                    raise DataError(f"{where}: action {action!r} is not {', '.join(ACTIONS)}")
                if action == RELABEL and label is None:
                    raise DataError(f"{where}: relabel needs a label")
                override = Override(rows_path, action, label if action == RELABEL else None)
                if rows.get(rows_path, override) != override:
                    raise DataError(f"{where}: {rows_path} is listed twice, differently")
                rows[rows_path] = override
        except csv.Error as exc:
            raise DataError(f"overrides {source}: not a CSV file ({exc})") from None
        return cls(tuple(sorted(rows.values(), key=lambda r: r.path)), source)

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows([r.path, r.action, r.label or ""] for r in self.rows)
        return buffer.getvalue()

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "sha256": self.sha256,
            "rows": [[r.path, r.action, r.label] for r in self.rows],
        }

    @classmethod
    def from_json(cls, data: dict | None) -> Overrides | None:
        if not data:
            return None
        return cls(tuple(Override(*row) for row in data["rows"]), data.get("source", ""))

    def apply(
        self, ids: Iterable[str], labels: np.ndarray, class_names: tuple[str, ...]
    ) -> Applied:
        """Which of these images (``ids``: their paths) stay and with which labels. Refuses
        a path that is not among them, a class that does not exist, and a class left empty."""
        index = {path: i for i, path in enumerate(ids)}
        classes = {name: i for i, name in enumerate(class_names)}
        keep = np.ones(len(labels), dtype=bool)
        labels = np.array(labels, copy=True)
        unknown = [r.path for r in self.rows if r.path not in index]
        if unknown:
            more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
            raise DataError(
                f"overrides {self.source}: no such image in the data: "
                f"{', '.join(unknown[:3])}{more}"
            )
        for row in self.changes:
            position = index[row.path]
            if row.action == EXCLUDE:
                keep[position] = False
            else:
                if row.label not in classes:
                    raise DataError(
                        f"overrides {self.source}: {row.path}: no class {row.label!r} "
                        f"(classes: {', '.join(class_names)})"
                    )
                labels[position] = classes[row.label]  # type: ignore[index]
        counts = np.bincount(labels[keep], minlength=len(class_names))
        empty = [class_names[i] for i in np.flatnonzero(counts == 0)]
        if empty:
            raise DataError(
                f"overrides {self.source} leave class {', '.join(map(repr, empty))} without images"
            )
        return Applied(
            keep,
            labels,
            int((~keep).sum()),
            sum(r.action == RELABEL for r in self.changes),
        )


__all__ = ["ACTIONS", "EXCLUDE", "KEEP", "RELABEL", "Applied", "Override", "Overrides"]
