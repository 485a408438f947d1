"""tf.data input pipelines: shuffled, batched, prefetched; augmentation only when training.

Images stay as stored (uint8, often a memory-mapped cache) and each batch is gathered,
then scaled to [0, 1] here: the whole set is never copied into float32 or into a TF
constant, so a dataset larger than memory trains from its cache on disk.

Augmentation runs here, not inside the model, so exported graphs stay plain (TFLite and
SavedModel conversions of random layers fail or change predictions).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

EVAL_BATCH_SIZE = 512

#: Fixed parallelism instead of tf.data's autotuner. The autotuner runs a thread that an
#: iterator waits for when it is destroyed, until the thread's next wake-up, which comes later
#: the longer the fit ran: 0.7 s, 2 s and 6 s after a screening candidate's three fits on
#: Fashion-MNIST, seconds a short budget cannot spare. Gathering
#: a batch is light work that two calls in flight and two batches ready keep ahead of training.
PARALLEL_CALLS = 2
PREFETCH_BATCHES = 2


def _prefetched(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """``PREFETCH_BATCHES`` ready ahead of training, the autotuner off."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(PREFETCH_BATCHES).with_options(options)


#: The largest random shift, as a share of the image's side, rounded to whole pixels (at least
#: one): 1 pixel on 28x28 Fashion-MNIST, where it gained 0.4 and 0.0 points (two seeds) on
#: 3,600 images and shifts of up to 2 or 3 pixels gained less or lost (BENCHMARKS.md).
MAX_SHIFT = 0.04


def augmentation(size: tuple[int, int], seed: int, flip: bool = False) -> keras.Sequential:
    """Random shifts of up to ``MAX_SHIFT`` of the image's side, by whole pixels
    (nearest-neighbour: no blur, so training images stay as sharp as test images), and
    left-right flips where the task allows them. Rotation and zoom were dropped: on 28x28
    images their interpolation cost about 7 points of test accuracy (BENCHMARKS.md)."""
    height, width = (max(1, round(MAX_SHIFT * side)) / side for side in size)
    layers = [
        keras.layers.RandomTranslation(
            height, width, fill_mode="constant", interpolation="nearest", seed=seed
        )
    ]
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed + 1))
    return keras.Sequential(layers, name="augmentation")


def _gathered(
    x: np.ndarray, y: np.ndarray | None, batches: tf.data.Dataset, scale: float, *, sort: bool
) -> tf.data.Dataset:
    """Batches of index arrays -> (images in [0, 1], labels), read from ``x`` with numpy.

    ``sort``: read a batch's images in index order, so a memory-mapped cache is read front to
    back (for training: which images share a batch is the shuffle's choice, not their order)."""
    image_shape = (None, *x.shape[1:])

    def images(idx: tf.Tensor) -> tf.Tensor:
        batch = tf.numpy_function(lambda i: np.asarray(x[i]), [idx], tf.as_dtype(x.dtype))
        return tf.cast(tf.ensure_shape(batch, image_shape), tf.float32) * scale

    def pair(idx: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        idx = tf.sort(idx) if sort else idx
        return images(idx), tf.gather(labels, idx)

    if y is None:
        return batches.map(images, num_parallel_calls=PARALLEL_CALLS)
    labels = tf.constant(y)
    return batches.map(pair, num_parallel_calls=PARALLEL_CALLS)


def training_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    augment: bool,
    seed: int,
    flip: bool = False,
    scale: float = 1.0,
    indices: np.ndarray | None = None,
) -> tf.data.Dataset:
    """Shuffled batches of ``x[indices]`` (all of ``x`` without ``indices``), times ``scale``.

    Shuffling is of indices, by whole batches (shuffling 54,000 images one by one through a
    shuffle buffer cost seconds per epoch here)."""
    chosen = np.arange(len(x)) if indices is None else np.asarray(indices, dtype=np.int64)
    order = (
        tf.data.Dataset.from_tensor_slices(chosen)
        .shuffle(len(chosen), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
    )
    dataset = _gathered(x, y, order, scale, sort=True)
    if augment:
        layers = augmentation(x.shape[1:3], seed, flip)
        dataset = dataset.map(
            lambda images, labels: (layers(images, training=True), labels),
            num_parallel_calls=PARALLEL_CALLS,
        )
    return _prefetched(dataset)


def evaluation_dataset(
    x: np.ndarray,
    y: np.ndarray | None = None,
    *,
    scale: float = 1.0,
    indices: np.ndarray | None = None,
) -> tf.data.Dataset:
    """``x[indices]`` in order, in batches of EVAL_BATCH_SIZE; images only when ``y`` is None."""
    chosen = np.arange(len(x)) if indices is None else np.asarray(indices, dtype=np.int64)
    batches = tf.data.Dataset.from_tensor_slices(chosen).batch(EVAL_BATCH_SIZE)
    return _prefetched(_gathered(x, y, batches, scale, sort=False))
