"""The user's fixes: the overrides CSV read and checked, and applied to a folder's cache and to
a built-in task's arrays, with every other image kept in its split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from automl._errors import DataError
from automl.data import Overrides, get_task, open_task
from tests.automl.data.test_folder import write_tree


def fixes(text: str) -> Overrides:
    return Overrides.parse(text, "fixes.csv")


def test_rows_are_read_normalised_and_hashed() -> None:
    a = fixes("path,action,label\n./a/1.png,exclude,\nb\\2.png,RELABEL,a\nc/3.png,keep,x\n")
    assert [(r.path, r.action, r.label) for r in a.rows] == [
        ("a/1.png", "exclude", None),
        ("b/2.png", "relabel", "a"),
        ("c/3.png", "keep", None),
    ]
    assert len(a.changes) == 2
    same = Overrides.parse(a.to_csv())
    assert same.rows == a.rows and same.sha256 == a.sha256
    assert Overrides.from_json(a.to_json()) == Overrides(a.rows, "fixes.csv")
    assert fixes("path,action\na/1.png,exclude\n").sha256 != a.sha256


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("file,what\na,exclude\n", "expected the columns path,action,label"),
        ("path,action,label\na.png,delete,\n", "row 2: action 'delete'"),
        ("path,action,label\na.png,relabel,\n", "row 2: relabel needs a label"),
        ("path,action,label\n/etc/passwd,exclude,\n", "not a relative path"),
        ("path,action,label\n../x.png,exclude,\n", "not a relative path"),
        ("path,action,label\na.png,exclude,\na.png,relabel,b\n", "listed twice"),
    ],
)
def test_bad_rows_are_refused_with_their_row(text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        fixes(text)


def test_a_missing_or_binary_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read overrides"):
        Overrides.read(tmp_path / "nope.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError):
        Overrides.read(tmp_path / "bin.csv")


def test_apply_checks_paths_classes_and_empty_classes() -> None:
    ids, labels, classes = ["a/1", "a/2", "a/3", "b/1"], np.array([0, 0, 0, 1]), ("a", "b")
    applied = fixes("path,action,label\na/1,exclude,\na/2,relabel,b\n").apply(ids, labels, classes)
    assert applied.keep.tolist() == [False, True, True, True]
    assert applied.labels.tolist() == [0, 1, 0, 1] and applied.excluded == 1
    with pytest.raises(DataError, match="no such image in the data: z/9"):
        fixes("path,action,label\nz/9,exclude,\n").apply(ids, labels, classes)
    with pytest.raises(DataError, match="no class 'c'"):
        fixes("path,action,label\na/1,relabel,c\n").apply(ids, labels, classes)
    with pytest.raises(DataError, match="leave class 'b' without images"):
        fixes("path,action,label\nb/1,exclude,\n").apply(ids, labels, classes)


def test_a_folder_is_fixed_without_moving_any_other_image_between_splits(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "photos", {"cat": 12, "dog": 12})
    cache = tmp_path / "cache"
    plain = open_task("images", root, None, cache, 0.1, 0).load(root)
    ids = [*plain.ids_train, *plain.ids_val, *plain.ids_test]
    assert sorted(ids) == sorted(
        f"{c}/{i}.{('png', 'jpg')[i % 2]}" for c in ("cat", "dog") for i in range(12)
    )
    gone, moved = str(plain.ids_test[0]), str(plain.ids_train[0])
    new_class = "dog" if moved.startswith("cat/") else "cat"
    overrides = fixes(f"path,action,label\n{gone},exclude,\n{moved},relabel,{new_class}\n")
    task = open_task("images", root, None, cache, 0.1, 0, overrides=overrides)
    fixed = task.load(root)
    assert gone not in fixed.ids_test and len(fixed.ids_test) == len(plain.ids_test) - 1
    for split in ("ids_train", "ids_val"):
        assert getattr(fixed, split).tolist() == getattr(plain, split).tolist()
    position = fixed.ids_train.tolist().index(moved)
    assert fixed.class_names[fixed.y_train[position]] == new_class
    assert overrides.sha256[:12] in fixed.source and "1 excluded, 1 relabeled" in fixed.source
    # The fixed images are a cache of their own, rows copied (a memory map, not decoded again),
    # and the excluded file is listed with the skipped ones.
    assert isinstance(fixed.x_train, np.memmap)
    assert task.dataset.folder != open_task("images", root, None, cache, 0.1, 0).dataset.folder
    assert any(why == "excluded by overrides" for _, why in task.dataset.skipped_files())
    # The pixels of each remaining image are its own.
    index = {name: i for i, name in enumerate(plain.ids_val)}
    for i, name in enumerate(fixed.ids_val):
        np.testing.assert_array_equal(fixed.x_val[i], plain.x_val[index[name]])


def test_fixes_that_empty_a_split_or_name_a_stranger_are_refused(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "photos", {"cat": 6, "dog": 6})
    cache = tmp_path / "cache"
    plain = open_task("images", root, None, cache, 0.1, 0).load(root)
    every_test = "".join(f"{p},exclude,\n" for p in plain.ids_test)
    with pytest.raises(DataError, match="leave no test images"):
        open_task(
            "images", root, None, cache, 0.1, 0, overrides=fixes("path,action,label\n" + every_test)
        ).load(root)
    with pytest.raises(DataError, match=r"no such image in the data: cat/99\.png"):
        open_task(
            "images",
            root,
            None,
            cache,
            0.1,
            0,
            overrides=fixes("path,action\ncat/99.png,exclude\n"),
        ).load(root)


def test_a_built_in_task_is_fixed_by_split_and_index() -> None:
    plain = get_task("digits").load()
    overrides = fixes("path,action,label\ntest/0,exclude,\ntest/1,relabel,9\n")
    fixed = open_task("digits", overrides=overrides).load()
    assert len(fixed.y_test) == len(plain.y_test) - 1
    assert "test/0" not in fixed.ids_test.tolist()
    position = fixed.ids_test.tolist().index("test/1")
    assert fixed.class_names[fixed.y_test[position]] == "9"
    assert get_task("digits").overrides is None  # the shared task is left as it was
