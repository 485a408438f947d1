from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from automl import DataError
from automl.data import TASKS, get_task, read_idx
from automl.data._files import IDX_FILES


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(
        struct.pack(">I", d) for d in array.shape
    )
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as handle:
            handle.write(payload)
    else:
        path.write_bytes(payload)


def make_mnist_like(folder: Path, n_train: int = 60, n_test: int = 20, compress: bool = True):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28)),
        "y_train": np.arange(n_train) % 10,
        "x_test": rng.integers(0, 256, (n_test, 28, 28)),
        "y_test": np.arange(n_test) % 10,
    }
    for key, stem in IDX_FILES.items():
        write_idx(folder / stem, arrays[key], compress)
    return arrays


@pytest.mark.parametrize("compress", [True, False])
def test_idx_files_load_and_split(tmp_path: Path, compress: bool) -> None:
    arrays = make_mnist_like(tmp_path, compress=compress)
    splits = get_task("mnist").load(tmp_path, validation_fraction=0.2, seed=1)
    assert splits.x_train.shape == (48, 28, 28, 1) and splits.x_val.shape == (12, 28, 28, 1)
    assert splits.x_test.shape == (20, 28, 28, 1)
    # 8-bit pixels stay 8-bit (a quarter of float32's memory); the model sees them in [0, 1].
    assert splits.x_train.dtype == np.uint8 and splits.pixel_scale == pytest.approx(1 / 255)
    scaled = splits.model_input(splits.x_train)
    assert scaled.dtype == np.float32 and 0.0 <= scaled.min() <= scaled.max() <= 1.0
    # Stratified: every class keeps its share in the validation split.
    assert sorted(np.bincount(splits.y_val, minlength=10)) == [1, 1, 1, 1, 1, 1, 1, 1, 2, 2]
    np.testing.assert_array_equal(splits.x_test[..., 0], arrays["x_test"])
    assert "IDX files" in splits.source


def test_split_is_seeded(tmp_path: Path) -> None:
    make_mnist_like(tmp_path)
    a = get_task("mnist").load(tmp_path, 0.2, seed=3)
    b = get_task("mnist").load(tmp_path, 0.2, seed=3)
    c = get_task("mnist").load(tmp_path, 0.2, seed=4)
    np.testing.assert_array_equal(a.y_val, b.y_val)
    assert not np.array_equal(a.x_val, c.x_val)


def test_npz_with_dirty_samples_is_cleaned_and_counted(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x_train = rng.random((50, 28, 28)).astype(np.float32)
    y_train = (np.arange(50) % 10).astype(np.float32)
    x_train[0, 3, 3] = np.nan
    x_train[1, 0, 0] = np.inf
    y_train[2] = 10  # out of range
    y_train[3] = -1
    y_train[4] = 2.5  # not a class
    np.savez(
        tmp_path / "mnist.npz",
        x_train=x_train,
        y_train=y_train,
        x_test=rng.random((10, 28, 28)),
        y_test=np.arange(10),
    )
    splits = get_task("mnist").load(tmp_path, 0.1, seed=0)
    assert splits.cleaning.non_finite == 2 and splits.cleaning.bad_label == 3
    assert len(splits.x_train) + len(splits.x_val) == 45
    assert "dropped 5 samples" in splits.describe()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: (d / "mnist.npz").write_bytes(b"garbage"), "cannot read"),
        (lambda d: np.savez(d / "mnist.npz", x_train=np.zeros((2, 28, 28))), "lacks the arrays"),
        (lambda d: (d / "train-images-idx3-ubyte").write_bytes(b"\x01\x02"), "some IDX files"),
        (lambda d: None, "no mnist data"),
        (
            lambda d: np.savez(
                d / "mnist.npz",
                x_train=np.zeros((20, 32, 32)),
                y_train=np.zeros(20),
                x_test=np.zeros((2, 32, 32)),
                y_test=np.zeros(2),
            ),
            "expects 28x28x1",
        ),
    ],
)
def test_bad_local_data_is_a_clear_error(tmp_path: Path, setup, message: str) -> None:
    setup(tmp_path)
    with pytest.raises(DataError, match=message):
        get_task("mnist").load(tmp_path)


def test_corrupt_idx_is_refused(tmp_path: Path) -> None:
    make_mnist_like(tmp_path, compress=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_idx(path)
    path.write_bytes(b"\x08\x08\x08\x08")
    with pytest.raises(DataError, match="bad magic"):
        read_idx(path)


def test_download_failure_names_the_files_and_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    import keras.datasets.fashion_mnist as module

    def offline():
        raise Exception("URL fetch failure: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(module, "load_data", offline)
    with pytest.raises(DataError) as excinfo:
        get_task("fashion_mnist").load(None)
    message = str(excinfo.value)
    assert "train-images-idx3-ubyte.gz" in message and "--data-dir" in message
    assert "\n" not in message


def test_unknown_task_lists_the_known_ones() -> None:
    with pytest.raises(DataError, match="known tasks: mnist, fashion_mnist, cifar10, digits"):
        get_task("imagenet")
    assert set(TASKS) == {"mnist", "fashion_mnist", "cifar10", "digits"}


def test_digits_is_offline_and_fixed() -> None:
    splits = get_task("digits").load(None, 0.1, seed=5)
    other = get_task("digits").load(None, 0.1, seed=6)
    assert splits.input_shape == (8, 8, 1) and splits.num_classes == 10
    assert len(splits.x_test) == 360
    np.testing.assert_array_equal(splits.x_test, other.x_test)  # the test set never moves
    assert splits.x_train.max() == pytest.approx(1.0)  # 0-16 pixels: float32, scaled on loading
    assert splits.x_train.dtype == np.float32 and splits.pixel_scale == 1.0


def test_only_tasks_whose_mirror_images_occur_are_flipped() -> None:
    # Natural photos (CIFAR-10) are seen from either side; Fashion-MNIST's shoes all point one
    # way, and digits read one way.
    assert {name: task.horizontal_flip for name, task in TASKS.items()} == {
        "mnist": False,
        "fashion_mnist": False,
        "cifar10": True,
        "digits": False,
    }


def test_a_gzip_bomb_is_refused_after_what_its_header_declares(tmp_path: Path) -> None:
    """10 images of 28x28 declared, then 64 MB of zeros that gzip packs into 64 KB: refused at
    the first byte past the declared 7,840, never inflated whole."""
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    header = struct.pack(">BBBBIII", 0, 0, 0x08, 3, 10, 28, 28)
    with gzip.open(bomb, "wb") as handle:
        handle.write(header)
        for _ in range(64):
            handle.write(bytes(1024 * 1024))
    assert bomb.stat().st_size < 200_000
    with pytest.raises(
        DataError, match="header promises 7840 bytes of 10x28x28 data, file has more"
    ):
        read_idx(bomb)


def test_an_array_declared_past_the_limit_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automl.data import _files

    huge = tmp_path / "huge-idx3-ubyte"
    huge.write_bytes(struct.pack(">BBBBIII", 0, 0, 0x08, 3, 4_000_000_000, 4_000, 4_000))
    with pytest.raises(DataError, match="declares 4000000000x4000x4000 values"):
        read_idx(huge)
    arrays = {key: np.zeros((40, 8, 8), np.uint8) for key in ("x_train", "x_test")}
    arrays |= {key: np.arange(40) % 10 for key in ("y_train", "y_test")}
    np.savez_compressed(tmp_path / "digits.npz", **arrays)
    monkeypatch.setattr(_files, "MAX_ARRAY_BYTES", 1_000)  # 40 x 8 x 8 = 2,560 bytes inflate
    with pytest.raises(DataError, match="x_train inflates to"):
        _files.load_npz(tmp_path / "digits.npz")
