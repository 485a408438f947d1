"""Your own photos through the `automl` command: search, export, predict by class name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from storage import TrialStore

COLOURS = {"berry": (170, 20, 60), "leaf": (40, 150, 50), "sky": (60, 110, 220)}


def _photo(rgb: tuple[int, int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    height, width = rng.integers(24, 48, 2)
    pixels = np.clip(rng.normal(rgb, 35, (height, width, 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


@pytest.mark.slow
def test_a_folder_of_photos_to_a_champion_an_export_and_predictions(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = tmp_path / "photos"
    for name, rgb in COLOURS.items():
        (photos / name).mkdir(parents=True)
        for i in range(40):  # JPEG and PNG of any size, as a user's folder has them
            _photo(rgb, i).save(photos / name / f"{i}.{('jpg', 'png')[i % 2]}")
    (photos / "leaf" / ".DS_Store").write_bytes(b"\0")
    url = f"sqlite:///{tmp_path / 'automl.db'}"

    # A trial count, not a budget: on a busy host a 40 s budget ended before any trial did.
    found = cli(
        "search", "--data", str(photos), "--storage", url,
        "--trials", "3", "--epochs", "3", "--timeout", "none", "--image-size", "24",
        "--backbones", "scratch",  # the folder's path is under test; backbones have their own
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert "images: 120 in 3 classes (berry, leaf, sky); 24x24 rgb" in found.stdout + found.stderr
    assert "1 files skipped" in found.stdout + found.stderr
    store = TrialStore(url)
    study = store.get_study("photos")  # named after the folder
    assert study.task == "images" and study.config["class_names"] == ["berry", "leaf", "sky"]
    assert study.config["images"]["image_size"] == 24
    listed = cli("trials", "--study", "photos", "--storage", url)
    assert "classes: berry, leaf, sky" in listed.stdout

    model = tmp_path / "model.onnx"
    exported = cli("export", "--study", "photos", "--format", "onnx", "--out", str(model),
                   "--storage", url)  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    card = json.loads(model.with_name("model.onnx.card.json").read_text())
    assert card["class_names"] == ["berry", "leaf", "sky"]
    assert card["preprocessing"]["image"]["resize"] == "pad"

    new = tmp_path / "new.jpg"
    _photo(COLOURS["sky"], 999).resize((90, 60)).save(new)
    by_file = cli("predict", "--model", str(model), str(new))
    by_study = cli("predict", "--study", "photos", "--storage", url, str(new))
    for result in (by_file, by_study):
        assert result.returncode == 0, result.stderr
        label = result.stdout.split(": ")[1].split(" ")[0]
        assert label in COLOURS
    assert (
        by_file.stdout.split(": ")[1].split(" ")[0] == by_study.stdout.split(": ")[1].split(" ")[0]
    )

    # The dashboard's per-class table and confusion matrix speak the folders' class names.
    import plotly.io

    from tests.dashboard.test_pages import open_page

    monkeypatch.setenv("AUTOML_STORAGE", url)
    app = open_page("app_pages/champion.py")
    assert not app.exception
    (per_class,) = [d.value for d in app.dataframe if "Class" in d.value.columns]
    assert per_class["Class"].tolist() == ["berry", "leaf", "sky"]
    confusion = plotly.io.from_json(app.get("plotly_chart")[-1].proto.spec)
    assert list(confusion.data[0].x) == ["berry", "leaf", "sky"]
