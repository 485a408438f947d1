"""Backbone weights: found, verified by sha256 before use, read without running pickled code."""

from __future__ import annotations

import io
import pickle
import shutil
import struct
import zipfile

import numpy as np
import pytest

from automl.backbones import BackboneError, UnsafeFile, get_backbone, read_state_dict


def test_unknown_backbone_is_one_line_naming_the_known_ones():
    with pytest.raises(BackboneError, match=r"unknown backbone 'resnet9000'.*efficientnet_lite0"):
        get_backbone("resnet9000")


def test_weights_that_fail_their_hash_are_refused(tmp_path):
    backbone = get_backbone("efficientnet_lite0")
    damaged = tmp_path / backbone.weights_file
    data = bytearray(backbone.weights_path().read_bytes())
    data[-1] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(BackboneError, match="sha256"):
        backbone.verified_state(tmp_path)


def test_missing_weights_dir_file_is_refused(tmp_path):
    with pytest.raises(BackboneError, match="no weights file"):
        get_backbone("efficientnet_lite0").verified_state(tmp_path)


def test_the_weights_from_a_weights_dir_are_used(tmp_path):
    backbone = get_backbone("efficientnet_lite0")
    shutil.copy(backbone.weights_path(), tmp_path / backbone.weights_file)
    state = backbone.verified_state(tmp_path)
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_a_pickle_that_calls_anything_else_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"weight": _Evil()}, protocol=2))
    with pytest.raises(UnsafeFile, match="print: not a plain state dict"):
        read_state_dict(path)


def _text(value: str) -> bytes:
    raw = value.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _ints(values) -> bytes:
    return b"(" + b"".join(b"J" + struct.pack("<i", v) for v in values) + b"t"


def _zip_state_dict(storage: np.ndarray, shape, stride, declared: int) -> bytes:
    """A state dict {"w": tensor} as torch.save (>= 1.6) writes it, opcode by opcode:
    archive/data.pkl (a persistent reference to storage "0") and archive/data/0."""
    storage_ref = (
        b"("
        + _text("storage")
        + b"ctorch\nFloatStorage\n"
        + _text("0")
        + _text("cpu")
        + b"J"
        + struct.pack("<i", declared)
        + b"tQ"
    )
    tensor = (
        b"ctorch._utils\n_rebuild_tensor_v2\n("
        + storage_ref
        + b"J"
        + struct.pack("<i", 0)
        + _ints(shape)
        + _ints(stride)
        + b"tR"
    )
    body = b"\x80\x02}" + _text("w") + tensor + b"s."
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("archive/data.pkl", body)
        out.writestr("archive/data/0", storage.astype("<f4").tobytes())
    return archive.getvalue()


def test_zip_layout_is_read_and_a_tensor_past_its_storage_is_refused(tmp_path):
    storage = np.arange(6, dtype=np.float32)
    good = tmp_path / "good.pth"
    good.write_bytes(_zip_state_dict(storage, (2, 3), (3, 1), 6))
    np.testing.assert_array_equal(read_state_dict(good)["w"], storage.reshape(2, 3))
    transposed = tmp_path / "strided.pth"
    transposed.write_bytes(_zip_state_dict(storage, (3, 2), (1, 3), 6))
    np.testing.assert_array_equal(read_state_dict(transposed)["w"], storage.reshape(2, 3).T)
    past_end = tmp_path / "past.pth"
    past_end.write_bytes(_zip_state_dict(storage, (4, 3), (3, 1), 6))
    with pytest.raises(UnsafeFile, match="does not fit"):
        read_state_dict(past_end)
