"""Tensors of a PyTorch state-dict file, read with numpy: no PyTorch at run time, no code run.

``torch.load`` unpickles whatever the file names (a pickle can call any function). This reader
unpickles only an ordered dict of float/int tensors: any other global in the pickle is refused
before anything is called. Both layouts ``torch.save`` has written are read: the legacy stream
(PyTorch < 1.6: pickles, then each storage's raw bytes) and the zip archive (since 1.6).
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: ``torch.<Name>Storage`` -> the numpy dtype of its elements (little-endian).
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
}
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
#: A state dict past this many elements in one tensor is not a backbone this package knows.
MAX_ELEMENTS = 1 << 28


class UnsafeFile(ValueError):
    """The file is not a plain state dict of tensors (or is truncated, or lies about sizes)."""


@dataclass(frozen=True)
class _TensorRef:
    key: str
    dtype: np.dtype
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: np.dtype
    elements: int


def _rebuild_tensor(storage, offset, shape, stride, *_rest) -> _TensorRef:
    if not isinstance(storage, _StorageRef):
        raise UnsafeFile("a tensor without a storage")
    return _TensorRef(storage.key, storage.dtype, int(offset), tuple(shape), tuple(stride))


class _Restricted(pickle.Unpickler):
    """Knows three globals: OrderedDict, the tensor rebuilder and the storage types; notes
    each storage the pickle refers to in ``seen``."""

    def __init__(self, stream: io.BytesIO) -> None:
        super().__init__(stream)
        self.seen: dict[str, _StorageRef] = {}

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return name
        raise UnsafeFile(f"the file asks for {module}.{name}: not a plain state dict")

    def persistent_load(self, pid):
        # legacy: ('storage', type, key, location, elements, view); zip: the same without view
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise UnsafeFile("an unknown persistent reference")
        kind, key, elements = pid[1], str(pid[2]), int(pid[4])
        if kind not in STORAGE_DTYPES or not 0 <= elements <= MAX_ELEMENTS:
            raise UnsafeFile(f"an unsupported storage {kind!r} of {elements} elements")
        self.seen[key] = _StorageRef(key, STORAGE_DTYPES[kind], elements)
        return self.seen[key]


def read_state_dict(path: Path) -> dict[str, np.ndarray]:
    """``name -> array`` (C order, the file's dtype) of a state dict saved by ``torch.save``."""
    data = Path(path).read_bytes()
    try:
        if zipfile.is_zipfile(io.BytesIO(data)):
            refs, storages = _zip_layout(data)
        else:
            refs, storages = _legacy_layout(data)
        return {name: _tensor(ref, storages) for name, ref in refs.items()}
    except UnsafeFile:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise UnsafeFile(f"not a readable state dict ({type(exc).__name__}: {exc})") from exc


def _state(unpickler: _Restricted) -> dict[str, _TensorRef]:
    state = unpickler.load()
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, _TensorRef) for k, v in state.items()
    ):
        raise UnsafeFile("not a dict of tensors")
    return state


def _legacy_layout(data: bytes) -> tuple[dict[str, _TensorRef], dict[str, np.ndarray]]:
    stream = io.BytesIO(data)
    header = _Restricted(stream)
    if header.load() != LEGACY_MAGIC:
        raise UnsafeFile("not a PyTorch file")
    header.load()  # protocol version
    system = header.load()
    if not isinstance(system, dict) or not system.get("little_endian", False):
        raise UnsafeFile("a big-endian file")
    body = _Restricted(stream)
    refs = _state(body)
    keys = _Restricted(stream).load()
    storages = {}
    for key in keys:
        ref = body.seen[str(key)]
        (elements,) = np.frombuffer(stream.read(8), "<i8")
        if elements != ref.elements:
            raise UnsafeFile(f"storage {key} holds {elements} elements, {ref.elements} declared")
        raw = stream.read(ref.elements * ref.dtype.itemsize)
        if len(raw) != ref.elements * ref.dtype.itemsize:
            raise UnsafeFile("the file is truncated")
        storages[ref.key] = np.frombuffer(raw, ref.dtype)
    return refs, storages


def _zip_layout(data: bytes) -> tuple[dict[str, _TensorRef], dict[str, np.ndarray]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        pickled = next((n for n in names if n.endswith("/data.pkl")), None)
        if pickled is None:
            raise UnsafeFile("no data.pkl in the archive")
        root = pickled[: -len("data.pkl")]
        body = _Restricted(io.BytesIO(archive.read(pickled)))
        refs = _state(body)
        storages = {}
        for key, ref in body.seen.items():
            raw = archive.read(f"{root}data/{key}")
            if len(raw) < ref.elements * ref.dtype.itemsize:
                raise UnsafeFile(f"storage {key} is shorter than declared")
            storages[key] = np.frombuffer(raw, ref.dtype, count=ref.elements)
    return refs, storages


def _tensor(ref: _TensorRef, storages: dict[str, np.ndarray]) -> np.ndarray:
    """The tensor's view of its storage (any strides: converted weights are often stored
    channels-last), checked to stay inside the storage, copied to C order."""
    storage = storages[ref.key]
    if len(ref.stride) != len(ref.shape) or any(s < 0 for s in (*ref.shape, *ref.stride)):
        raise UnsafeFile(f"tensor of shape {ref.shape} has strides {ref.stride}")
    if 0 in ref.shape:
        return np.zeros(ref.shape, storage.dtype)
    last = ref.offset + sum((side - 1) * step for side, step in zip(ref.shape, ref.stride))
    if ref.offset < 0 or last >= len(storage):
        raise UnsafeFile(f"tensor of shape {ref.shape} does not fit its storage")
    view = np.lib.stride_tricks.as_strided(
        storage[ref.offset :],
        shape=ref.shape,
        strides=tuple(step * storage.itemsize for step in ref.stride),
        writeable=False,
    )
    return np.ascontiguousarray(view)


__all__ = ["UnsafeFile", "read_state_dict"]
