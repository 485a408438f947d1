"""A search from a pretrained backbone as a user runs it: real photos in class folders, a
head on EfficientNet-Lite0's features, the whole model exported, verified and served (the
features' reuse and invalidation: tests/automl/backbones/test_features.py)."""

from __future__ import annotations

import io
import json
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

from storage import TrialStore

from .test_cli_release import _running

skimage_data = pytest.importorskip("skimage.data")


def _photo_folder(root: Path, per_class: int = 16) -> Path:
    """Random crops of three real photos (a cat, coffee, a palace), one class each."""
    sources = {
        "cat": skimage_data.chelsea(),
        "coffee": skimage_data.coffee(),
        "palace": load_sample_image("china.jpg"),
    }
    rng = np.random.default_rng(0)
    for name, photo in sources.items():
        (root / name).mkdir(parents=True)
        height, width = photo.shape[:2]
        for i in range(per_class):
            side = int(rng.integers(min(height, width) // 2, min(height, width)))
            top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
            crop = Image.fromarray(photo[top : top + side, left : left + side])
            crop.resize((64, 64)).save(root / name / f"{i}.jpg")
    return root


def _predict(address: str, image: bytes) -> tuple[int, dict]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="x.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{address}/predict",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        return reply.status, json.loads(reply.read())


@pytest.mark.slow
def test_a_backbone_search_exports_and_serves_the_whole_model(tmp_path: Path, cli) -> None:
    photos = _photo_folder(tmp_path / "photos")
    url = f"sqlite:///{tmp_path / 'automl.db'}"
    common = ["--data", str(photos), "--storage", url, "--backbones", "efficientnet_lite0",
              "--timeout", "none", "--image-size", "64"]  # fmt: skip
    found = cli("search", *common, "--trials", "3", "--epochs", "3")
    assert found.returncode == 0, found.stderr
    assert "backbone efficientnet_lite0: features of" in found.stdout
    store = TrialStore(url)
    best = store.best_trial("photos", with_artifact=True)
    assert best is not None and best.params["backbone"] == "efficientnet_lite0"
    assert best.params["resolution"] == 224  # 64 px upscaled, within the native 224
    assert "n_blocks" not in best.params  # a head records no CNN-only parameter
    assert best.value >= 0.8, best  # ImageNet features tell a cat from coffee from a palace
    cached = list((tmp_path / "image-cache" / "features").iterdir())
    assert len(cached) == 1

    model = tmp_path / "model.onnx"
    exported = cli("export", "--study", "photos", "--format", "onnx", "--out", str(model),
                   "--storage", url)  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert "top-1 agreement 1.0000" in exported.stdout
    card = json.loads(model.with_name("model.onnx.card.json").read_text())
    assert card["backbone"]["name"] == "efficientnet_lite0"
    assert card["backbone"]["weights_sha256"].startswith("579344248a93e230")
    assert "**Backbone**: efficientnet_lite0" in model.with_name("model.onnx.card.md").read_text()

    buffer = io.BytesIO()
    crop = skimage_data.coffee()[50:350, 150:450]
    Image.fromarray(crop).save(buffer, format="JPEG")
    with _running(["serve", "--model", str(model)], "/v2/health/ready", tmp_path) as address:
        status, answer = _predict(address, buffer.getvalue())
    assert status == 200
    (prediction,) = answer["predictions"]
    assert prediction["label"] == "coffee", answer
