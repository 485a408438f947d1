"""tf.data input pipelines: shuffled, batched, prefetched; augmentation only when training.

Augmentation runs here, not inside the model, so exported graphs stay plain (TFLite and
SavedModel conversions of random layers fail or change predictions).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

EVAL_BATCH_SIZE = 512


def augmentation(seed: int, flip: bool = False) -> keras.Sequential:
    """Random shifts of up to a tenth of the image, by whole pixels (nearest-neighbour: no
    blur, so training images stay as sharp as test images), and left-right flips where the
    task allows them. Rotation and zoom were dropped: on 28x28 images their interpolation cost
    about 7 points of test accuracy (BENCHMARKS.md)."""
    layers = [
        keras.layers.RandomTranslation(
            0.1, 0.1, fill_mode="constant", interpolation="nearest", seed=seed
        )
    ]
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed + 1))
    return keras.Sequential(layers, name="augmentation")


def _batches(x: np.ndarray, y: np.ndarray, indices: tf.data.Dataset) -> tf.data.Dataset:
    """Gather whole batches by index: per-batch work, not per-image (shuffling 54,000 images
    one by one through a shuffle buffer cost seconds per epoch here)."""
    images, labels = tf.constant(x), tf.constant(y)
    return indices.map(
        lambda idx: (tf.gather(images, idx), tf.gather(labels, idx)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def training_dataset(
    x: np.ndarray, y: np.ndarray, batch_size: int, *, augment: bool, seed: int, flip: bool = False
) -> tf.data.Dataset:
    order = (
        tf.data.Dataset.range(len(x))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
    )
    dataset = _batches(x, y, order)
    if augment:
        layers = augmentation(seed, flip)
        dataset = dataset.map(
            lambda images, labels: (layers(images, training=True), labels),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def evaluation_dataset(x: np.ndarray, y: np.ndarray) -> tf.data.Dataset:
    return (
        tf.data.Dataset.from_tensor_slices((x, y)).batch(EVAL_BATCH_SIZE).prefetch(tf.data.AUTOTUNE)
    )
