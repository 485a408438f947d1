"""The Data page through AppTest: inspect's findings, galleries paged per tab, thumbnails from
the images file, decisions that only a viewer who may change things can make, and the CSV."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from automl.data import Overrides
from dashboard import views
from dashboard.auth import HASH_VARIABLE
from storage import DataFinding, TrialStore

from .test_pages import open_page, texts

PAGE = "app_pages/data.py"


@pytest.fixture
def inspected(seeded_url: str, tmp_path: Path) -> str:
    """Study 'alpha' with a report: 3 exact copies across splits and 1 within, 14 near pairs
    (2 across), 2 label errors, 1 odd image; 40 images of 8x8 in its images file."""
    images = np.random.default_rng(0).integers(0, 256, (40, 8, 8, 1), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    exact = [
        DataFinding("exact", [f"train/{i}", f"test/{i}"], ["train", "test"], [i, 30 + i], 0.0)
        for i in range(3)
    ] + [DataFinding("exact", ["train/5", "train/6"], ["train", "train"], [5, 6], 0.0)]
    near = [
        DataFinding("near", [f"train/{i}", f"val/{i}"], ["train", "validation"], [i, 20 + i], 0.01)
        for i in range(2)
    ] + [
        DataFinding("near", [f"train/{i}", f"train/{i + 1}"], ["train", "train"], [i, i + 1], 0.1)
        for i in range(7, 19)
    ]
    labels = [
        DataFinding("label", ["train/9"], ["train"], [9], 0.97, label="cat", suggested="dog"),
        DataFinding("label", ["test/31"], ["test"], [31], 0.8, label="dog", suggested="cat"),
    ]
    odd = [DataFinding("outlier", ["train/3"], ["train"], [3], 9.0, label="cat", detail="blank")]
    summary = {
        "classes": {"cat": {"train": 12, "validation": 4, "test": 4}, "dog": {"train": 12, "validation": 4, "test": 4}},
        "counts": {"exact": 4, "near": 14, "label": 2, "outlier": 1},
        "across_splits": {"exact": 3, "near": 2},
        "leakage": {"test_images": 8, "with_exact_copy_in_train": 3, "with_near_copy_in_train": 0,
                    "trial": 0, "test_accuracy": 0.875, "test_accuracy_without_copies": 0.8},
        "skipped": [{"path": "cat/broken.png", "why": "not an image"}],
        "methods": {"near": "phash"},
    }  # fmt: skip
    TrialStore(seeded_url).save_data_report(
        "alpha", images=40, summary=summary, findings=exact + near + labels + odd,
        images_file=str(tmp_path / "images.npy"),
    )  # fmt: skip
    return seeded_url


def _alpha(page: str = PAGE):
    app = open_page(page)
    app.sidebar.selectbox(key="study_picker").set_value("alpha").run()
    return app


def test_the_page_says_what_inspect_found_and_shows_the_copies_across_splits(inspected) -> None:
    app = _alpha()
    assert not app.exception, app.exception
    shown = texts(app)
    assert "3 of the 8 test images (37.5%)" in shown and "80.00% without those images" in shown
    assert {m.label: m.value for m in app.metric}["Near copies"] == "14"
    frame = app.dataframe[0].value
    assert list(frame["Total"]) == [20, 20]
    # The first tab: the 5 copies across splits, with their pictures.
    assert sum("— identical pixels" in m.value for m in app.markdown) == 3
    assert sum("distance 0.010" in m.value for m in app.markdown) == 2
    assert len(app.get("image")) == 5


def test_tabs_and_pages_read_their_own_slice(inspected) -> None:
    app = _alpha()
    app.segmented_control(key="data_tab").set_value("within").run()
    assert not app.exception
    captions = [m.value for m in app.markdown if "—" in m.value]
    assert len(captions) == views.PAGE_SIZE and "train/5 (train) · train/6 (train)" in captions[0]
    app.number_input(key="data_page_within").set_value(2).run()
    assert len([m for m in app.markdown if "—" in m.value]) == 13 - views.PAGE_SIZE
    app.segmented_control(key="data_tab").set_value("label").run()
    assert "labeled **cat**, looks like **dog**" in texts(app)


def test_decisions_are_recorded_and_exported_as_overrides(inspected) -> None:
    app = _alpha()
    app.segmented_control(key="data_tab").set_value("label").run()
    app.button(key="relabel-label-0-0").click().run()  # its suggestion is preselected
    app.button(key="exclude-label-0-1").click().run()
    assert not app.exception, app.exception
    decisions = TrialStore(os.environ["AUTOML_STORAGE"]).data_overrides("alpha")
    assert [(d.path, d.action, d.label) for d in decisions] == [
        ("test/31", "exclude", None),
        ("train/9", "relabel", "dog"),
    ]
    csv = views.overrides_csv(decisions)
    assert Overrides.parse(csv).rows == tuple(
        sorted(Overrides.parse(csv).rows, key=lambda r: r.path)
    )
    assert app.get("download_button")  # the CSV to download
    # A copy across splits: the test image is the one excluded by default.
    app.segmented_control(key="data_tab").set_value("across").run()
    app.button(key="exclude-across-0-0").click().run()
    paths = {d.path for d in TrialStore(os.environ["AUTOML_STORAGE"]).data_overrides("alpha")}
    assert "test/0" in paths and "train/0" not in paths
    app.button(key="clear-across-0-0").click().run()
    paths = {d.path for d in TrialStore(os.environ["AUTOML_STORAGE"]).data_overrides("alpha")}
    assert "test/0" not in paths


def test_a_public_dashboard_takes_no_decision_from_a_viewer_not_signed_in(
    inspected, listening_on, monkeypatch
) -> None:
    monkeypatch.delenv(HASH_VARIABLE, raising=False)
    listening_on(None)
    app = _alpha()
    shut = app.button(key="exclude-across-0-0")
    assert shut.disabled
    shut.proto.disabled = False  # a forged click: the page checks where it acts
    shut.click().run()
    assert not app.exception
    assert TrialStore(os.environ["AUTOML_STORAGE"]).data_overrides("alpha") == []


def test_a_study_not_inspected_says_how_and_a_lost_images_file_is_a_message(
    inspected, tmp_path: Path
) -> None:
    app = open_page(PAGE)
    app.sidebar.selectbox(key="study_picker").set_value("beta").run()
    assert "automl inspect --study beta" in texts(app)
    (tmp_path / "images.npy").unlink()
    app = _alpha()
    assert not app.exception and "is gone" in texts(app)
