"""The Data page: what ``automl inspect`` stored for a study, as tables, captions and
thumbnails read from its uint8 images file (a page of rows at a time, never the whole file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from storage import DataFinding, DataOverrideRecord, DataReportRecord

SPLITS = ("train", "validation", "test")
#: Findings per gallery page.
PAGE_SIZE = 12
#: Thumbnails are enlarged (nearest neighbour: pixels stay sharp) to at least this side.
THUMB_SIDE = 96
TABS = {
    "across": "Copies across splits",
    "within": "Copies within a split",
    "label": "Likely label errors",
    "outlier": "Odd images",
}


def class_frame(report: DataReportRecord) -> pd.DataFrame:
    """Images per class and split, with a total."""
    classes = report.summary.get("classes", {})
    frame = pd.DataFrame(
        [
            {"Class": name, **{s.title(): counts.get(s, 0) for s in SPLITS}}
            for name, counts in classes.items()
        ]
    )
    if not frame.empty:
        frame["Total"] = frame[[s.title() for s in SPLITS]].sum(axis=1)
    return frame


def leakage_text(report: DataReportRecord) -> str:
    """The leakage summary in a sentence: how many test images have a copy in training, and
    the test score with and without them."""
    leakage = report.summary.get("leakage", {})
    exact = leakage.get("with_exact_copy_in_train", 0)
    near = leakage.get("with_near_copy_in_train", 0)
    total = leakage.get("test_images", 0)
    if not exact + near:
        text = f"None of the {total:,} test images has a copy in train or validation."
    else:
        share = (exact + near) / total if total else 0.0
        text = (
            f"**{exact + near:,} of the {total:,} test images ({share:.1%})** have a copy in "
            f"train or validation ({exact:,} exact, {near:,} near): the test score flatters "
            "the model on them."
        )
    if leakage.get("test_accuracy") is not None:
        without = leakage.get("test_accuracy_without_copies")
        text += f" Trial {leakage['trial']}'s test accuracy is {leakage['test_accuracy']:.2%}" + (
            f", {without:.2%} without those images." if without is not None else "."
        )
    return text


def label_model_text(report: DataReportRecord) -> str | None:
    """How the label errors were found, and a warning when the models were too weak to say."""
    model = report.summary.get("label_model")
    if not model:
        return None
    accuracy = sum(model["fold_accuracy"]) / len(model["fold_accuracy"])
    text = (
        f"Label errors: trial {model['trial']}'s configuration trained {model['folds']} times, "
        f"each without one fold (held-out accuracy {accuracy:.1%})."
    )
    if not model.get("reliable", True):
        text += " These models are weak: their ranking means little (search longer, inspect again)."
    return text


def finding_caption(finding: DataFinding) -> str:
    if finding.kind in ("exact", "near"):
        distance = (
            "identical pixels" if finding.kind == "exact" else f"distance {finding.score:.3f}"
        )
        where = " · ".join(f"{p} ({s})" for p, s in zip(finding.paths, finding.splits))
        return f"{where} — {distance}"
    if finding.kind == "label":
        return (
            f"{finding.paths[0]} ({finding.splits[0]}): labeled **{finding.label}**, looks like "
            f"**{finding.suggested}** (score {finding.score:.2f})"
        )
    return f"{finding.paths[0]} ({finding.splits[0]}, {finding.label}): {finding.detail}"


def thumbnails(
    images_file: str | None, rows: list[int], side: int = THUMB_SIDE
) -> list[np.ndarray]:
    """These rows of the report's images file, enlarged for display; empty when the file is
    gone (the cache was cleared: inspect again)."""
    from PIL import Image

    if not images_file or not Path(images_file).is_file() or not rows:
        return []
    images = np.load(images_file, mmap_mode="r", allow_pickle=False)
    if images.dtype != np.uint8 or images.ndim != 4 or max(rows) >= len(images):
        return []
    out = []
    for row in rows:
        image = np.asarray(images[row])
        pixels = image[..., 0] if image.shape[-1] == 1 else image
        scale = max(1, -(-side // max(pixels.shape[:2])))
        picture = Image.fromarray(pixels).resize(
            (pixels.shape[1] * scale, pixels.shape[0] * scale), Image.Resampling.NEAREST
        )
        out.append(np.asarray(picture))
    return out


def decisions_frame(decisions: list[DataOverrideRecord]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Image": d.path,
                "Decision": d.action if d.action != "relabel" else f"relabel as {d.label}",
                "By": d.author or "",
                "When (UTC)": d.decided_at.strftime("%Y-%m-%d %H:%M"),
            }
            for d in decisions
        ],
        columns=["Image", "Decision", "By", "When (UTC)"],
    )


def overrides_csv(decisions: list[DataOverrideRecord]) -> str:
    """The decisions as the overrides CSV ``automl search --overrides`` takes."""
    from automl.data import Override, Overrides

    return Overrides(tuple(Override(d.path, d.action, d.label) for d in decisions)).to_csv()


def page_count(total: int, size: int = PAGE_SIZE) -> int:
    return max(1, -(-total // size))


def tab_total(report: DataReportRecord, tab: str) -> int:
    counts, across = report.summary.get("counts", {}), report.summary.get("across_splits", {})
    if tab == "across":
        return sum(across.get(k, 0) for k in ("exact", "near"))
    if tab == "within":
        return sum(counts.get(k, 0) - across.get(k, 0) for k in ("exact", "near"))
    return counts.get(tab, 0)


def page_slices(report: DataReportRecord, tab: str, page: int, size: int = PAGE_SIZE):
    """(kind, offset, limit) reads that make page ``page`` (0-based) of a gallery tab.
    Duplicates are stored exact then near, each with its copies across splits first: a tab of
    copies across (or within) splits is a slice of each kind, read in turn."""
    start, stop = page * size, (page + 1) * size
    if tab not in ("across", "within"):
        return [(tab, start, size)]
    counts, across = report.summary.get("counts", {}), report.summary.get("across_splits", {})
    slices, first = [], 0
    for kind in ("exact", "near"):
        low = 0 if tab == "across" else across.get(kind, 0)
        high = across.get(kind, 0) if tab == "across" else counts.get(kind, 0)
        length = max(0, high - low)
        begin, end = max(start, first), min(stop, first + length)
        if begin < end:
            slices.append((kind, low + begin - first, end - begin))
        first += length
    return slices


__all__ = [
    "PAGE_SIZE",
    "TABS",
    "class_frame",
    "decisions_frame",
    "finding_caption",
    "label_model_text",
    "leakage_text",
    "overrides_csv",
    "page_count",
    "page_slices",
    "tab_total",
    "thumbnails",
]
