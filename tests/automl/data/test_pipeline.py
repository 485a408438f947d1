"""The input pipelines read stored uint8 pixels a batch at a time and scale them to [0, 1]."""

from __future__ import annotations

import numpy as np

from automl.data import evaluation_dataset, training_dataset


def _labelled_images(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Image i is filled with the value i, its label is i: pairing errors show at once."""
    x = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 4, 4, 1)).copy()
    return x, np.arange(n, dtype=np.int32)


def test_training_batches_cover_the_chosen_images_once_scaled_and_paired() -> None:
    x, y = _labelled_images(50)
    chosen = np.array([3, 7, 11, 20, 21, 22, 40, 49])
    seen_labels, seen_pixels = [], []
    for images, labels in training_dataset(
        x, y, 3, augment=False, seed=0, scale=1 / 255, indices=chosen
    ):
        images = images.numpy()
        assert images.dtype == np.float32 and images.shape[1:] == (4, 4, 1)
        seen_labels += labels.numpy().tolist()
        seen_pixels += (images[:, 0, 0, 0] * 255).round().astype(int).tolist()
    assert sorted(seen_labels) == chosen.tolist()
    assert seen_pixels == seen_labels  # every image with its own label


def test_training_order_changes_each_epoch() -> None:
    x, y = _labelled_images(64)
    dataset = training_dataset(x, y, 64, augment=False, seed=1, scale=1 / 255)
    first, second = ([labels.numpy().tolist() for _, labels in dataset] for _ in range(2))
    assert sorted(first[0]) == sorted(second[0]) == list(range(64))
    # Indices within a batch are read in order (a memory-mapped file front to back), so a
    # single batch's order says nothing; which images share a batch is what is shuffled.
    small = training_dataset(x, y, 8, augment=False, seed=1, scale=1 / 255)
    epoch_a, epoch_b = ([labels.numpy().tolist() for _, labels in small] for _ in range(2))
    assert epoch_a != epoch_b


def test_evaluation_keeps_the_given_order() -> None:
    x, y = _labelled_images(30)
    order = np.array([29, 0, 15, 3])
    (images,) = list(evaluation_dataset(x, scale=1 / 255, indices=order))
    assert ((images.numpy()[:, 0, 0, 0] * 255).round().astype(int) == order).all()
    ((images, labels),) = list(evaluation_dataset(x, y, scale=1 / 255, indices=order))
    assert labels.numpy().tolist() == order.tolist()
