"""The input pipelines read stored uint8 pixels a batch at a time and scale them to [0, 1]."""

from __future__ import annotations

import numpy as np
import pytest

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


def test_pipelines_run_without_the_autotuner() -> None:
    """Its thread held up the end of every fit by seconds (0.7-6 s on Fashion-MNIST)."""
    x, y = _labelled_images(16)
    for dataset in (
        training_dataset(x, y, 4, augment=True, seed=0, scale=1 / 255),
        evaluation_dataset(x, y, scale=1 / 255),
        evaluation_dataset(x, scale=1 / 255),
    ):
        assert dataset.options().autotune.enabled is False


def _shift_of(image: np.ndarray, original: np.ndarray, most: int) -> tuple[int, int] | None:
    """The whole-pixel shift (dy, dx) that turns ``original`` into ``image`` away from the
    borders the shift fills, or None if there is none of at most ``most`` pixels."""
    inner = slice(most, -most)
    for dy in range(-most, most + 1):
        for dx in range(-most, most + 1):
            moved = np.roll(original, (dy, dx), axis=(0, 1))
            if np.array_equal(moved[inner, inner], image[inner, inner]):
                return dy, dx
    return None


@pytest.mark.parametrize(("side", "most"), [(28, 1), (8, 1), (64, 3)])
def test_augmentation_shifts_by_whole_pixels_at_most_a_few_percent(side: int, most: int) -> None:
    """Shifts of up to 4 % of the side, at least one pixel: 28x28 images move by 0 or 1
    pixel each way, and by other amounts each epoch; pixels stay as they were (no blur)."""
    rng = np.random.default_rng(0)
    x = rng.integers(1, 256, size=(32, side, side, 1), dtype=np.uint8)
    y = np.arange(32, dtype=np.int32)
    dataset = training_dataset(x, y, 32, augment=True, seed=3, scale=1.0)
    shifts = []
    for _ in range(2):
        ((images, labels),) = list(dataset)
        for image, label in zip(images.numpy()[..., 0], labels.numpy(), strict=True):
            shift = _shift_of(image, x[label, ..., 0].astype(np.float32), most + 1)
            assert shift is not None  # a whole-pixel shift of its own image
            assert max(abs(shift[0]), abs(shift[1])) <= most
            shifts.append(shift)
    assert len(set(shifts)) > 3  # not one shift for all
    assert shifts[:32] != shifts[32:]  # another draw each epoch
