"""Local data files: the MNIST IDX format (gzipped or not) and .npz archives."""

from __future__ import annotations

import gzip
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

from automl._errors import DataError
from automl.data._records import RawData

IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


#: The most an IDX or .npz array may declare: a header promising more is refused before
#: anything is read (a real data set of small images is well under it).
MAX_ARRAY_BYTES = 8 * 1024**3


def read_idx(path: Path) -> np.ndarray:
    """Decode one IDX file: 2 zero bytes, a dtype code, the number of dims, big-endian sizes,
    then exactly the data they promise. Never reads more than that: a gzip bomb (a few MB that
    inflate to gigabytes) is refused after its first extra byte."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            magic = handle.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_DTYPES:
                raise DataError(f"{path} is not an IDX file (bad magic number)")
            ndim = magic[3]
            sizes = handle.read(4 * ndim)
            if ndim == 0 or len(sizes) < 4 * ndim:
                raise DataError(f"{path} is not an IDX file (truncated header)")
            dims = [int.from_bytes(sizes[4 * i : 4 * i + 4], "big") for i in range(ndim)]
            dtype = np.dtype(_IDX_DTYPES[magic[2]])
            expected = math.prod(dims) * dtype.itemsize
            shape = "x".join(map(str, dims))
            if expected > MAX_ARRAY_BYTES:
                raise DataError(
                    f"{path} declares {shape} values, {expected:,} bytes: more than the "
                    f"{MAX_ARRAY_BYTES:,} an array may hold"
                )
            data = handle.read(expected)
            extra = handle.read(1)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if len(data) != expected or extra:
        found = f"{len(data)}" if len(data) != expected else f"more than {expected}"
        raise DataError(
            f"{path} is truncated or corrupt: header promises {expected} bytes of {shape} data, "
            f"file has {found}"
        )
    return np.frombuffer(data, dtype=dtype).reshape(dims)


def _find(data_dir: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        if (data_dir / name).is_file():
            return data_dir / name
    return None


def find_npz(data_dir: Path, task_name: str) -> Path | None:
    preferred = data_dir / f"{task_name}.npz"
    if preferred.is_file():
        return preferred
    candidates = sorted(data_dir.glob("*.npz"))
    return candidates[0] if len(candidates) == 1 else None


def load_local(data_dir: Path, task_name: str) -> RawData | None:
    """IDX files or an .npz in ``data_dir``; None when the folder holds neither."""
    idx_paths = {key: _find(data_dir, stem) for key, stem in IDX_FILES.items()}
    if all(idx_paths.values()):
        arrays = {key: read_idx(path) for key, path in idx_paths.items()}  # type: ignore[arg-type]
        return RawData(**arrays, source=f"IDX files in {data_dir}")
    if any(idx_paths.values()):
        missing = [stem for key, stem in IDX_FILES.items() if idx_paths[key] is None]
        raise DataError(f"{data_dir} has some IDX files but not {', '.join(missing)} (.gz or not)")
    npz = find_npz(data_dir, task_name)
    return load_npz(npz) if npz else None


def load_npz(path: Path) -> RawData:
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in NPZ_KEYS if key not in archive.files]
            if missing:
                raise DataError(f"{path} lacks the arrays {', '.join(missing)}")
            for key in NPZ_KEYS:  # the sizes the archive declares, before anything inflates
                size = archive.zip.getinfo(f"{key}.npy").file_size
                if size > MAX_ARRAY_BYTES:
                    raise DataError(
                        f"{path}: {key} inflates to {size:,} bytes, more than the "
                        f"{MAX_ARRAY_BYTES:,} an array may hold"
                    )
            arrays = {key: archive[key] for key in NPZ_KEYS}
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"cannot read {path} as .npz: {exc}") from None
    return RawData(**arrays, source=str(path))
