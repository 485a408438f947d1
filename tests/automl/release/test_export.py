"""Evaluate, promote, export and predict against a real (small) digits study."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from automl import AutoMLError
from automl.data import get_task
from automl.release import (
    FORMATS,
    card_paths,
    cross_validate,
    evaluate_trial,
    export_model,
    path_sha256,
    predict_images,
)
from storage import TrialState, TrialStore
from tests.conftest import copy_study

#: The formats that must give the Keras model's own answers (int8 is judged on accuracy).
EXACT_FORMATS = [fmt for fmt in FORMATS if not fmt.endswith("-int8")]


@pytest.fixture(scope="module")
def study(digits_study, tmp_path_factory):
    """A private copy of the shared study, so tampering here cannot leak into other tests."""
    config = digits_study
    url = copy_study(config, tmp_path_factory.mktemp("export_study"))
    return TrialStore(url), config.name, None


def test_evaluate_stores_metrics_and_replaces(study) -> None:
    store, name, _ = study
    best = store.best_trial(name, with_artifact=True)
    first = evaluate_trial(store, name, best.number)
    assert len(first.precision) == len(first.recall) == len(first.f1) == 10
    assert sum(map(sum, first.confusion)) == 360 == sum(first.support)
    assert first.accuracy == pytest.approx(np.trace(first.confusion) / 360)
    assert first.latency_ms_batch1 > 0 and first.throughput_batch256 > 0
    assert first.accuracy == pytest.approx(best.test_accuracy, abs=1e-6)  # same model, same split
    second = evaluate_trial(store, name, best.number)
    assert second.evaluated_at >= first.evaluated_at
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM automl_evaluations")).scalar() == 1


def test_cross_validation_reports_mean_and_std(study) -> None:
    store, name, _ = study
    best = store.best_trial(name, with_artifact=True)
    record = cross_validate(store, name, best.number, folds=2)
    assert record.cv_folds == 2 and len(record.cv_scores) == 2
    assert record.cv_mean == pytest.approx(np.mean(record.cv_scores))
    assert 0.0 < record.cv_mean <= 1.0 and record.cv_std >= 0.0


def test_one_champion_with_history(study) -> None:
    store, name, _ = study
    completed = [t for t in store.trials(name) if t.state is TrialState.COMPLETE]
    assert len(completed) >= 2, "the shared study should have two completed trials"
    a, b = completed[0].number, completed[1].number
    store.promote(name, a, note="first pick")
    store.promote(name, b)
    assert store.champion(name).number == b
    history = store.promotions(name)
    assert [(p.trial_number, p.previous_trial_number) for p in history[:2]] == [(b, a), (a, None)]
    assert history[1].note == "first pick"
    # The database itself refuses a second champion row for the study.
    study_id = store.get_study(name).id
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO automl_champions (study_id, trial_id, promoted_at) VALUES (:s, 1, '2026-01-01')"
            ),
            {"s": study_id},
        )


@pytest.fixture(scope="module")
def exports(study, tmp_path_factory):
    """Every format of the best trial, made its champion here (the export takes the champion):
    no test relies on another having promoted it."""
    store, name, _ = study
    store.promote(name, store.best_trial(name, with_artifact=True).number, note="exported")
    out = tmp_path_factory.mktemp("exports")
    results = {}
    for fmt in EXACT_FORMATS:
        path = out / ("model_dir" if fmt == "savedmodel" else f"model.{fmt}")
        results[fmt] = export_model(store, name, fmt, path)
    return results


@pytest.mark.parametrize("fmt", EXACT_FORMATS)
def test_export_is_verified_with_a_card(study, exports, fmt: str) -> None:
    store, name, _ = study
    result = exports[fmt]
    assert result.path.exists() and result.top1_agreement == 1.0 and result.max_abs_diff < 1e-4
    assert path_sha256(result.path) == result.sha256
    card = json.loads(card_paths(result.path)[0].read_text())
    assert card["model"]["sha256"] == result.sha256 and card["model"]["format"] == fmt
    assert card["task"] == "digits" and card["input"]["shape"] == [None, 8, 8, 1]
    assert card["trial"] == store.champion(name).number
    assert card["parameter_count"] > 0 and card["metrics"]["test_accuracy"] is not None
    assert "tensorflow" in card["packages"]
    assert "Model card" in card_paths(result.path)[1].read_text()
    recorded = [e for e in store.exports(name) if e.format == fmt]
    assert recorded and recorded[0].sha256 == result.sha256
    assert recorded[0].destination == str(result.path.resolve())
    leftovers = [
        p
        for p in result.path.parent.iterdir()
        if "partial" in p.name or p.name.startswith(".automl")
    ]
    assert leftovers == []


@pytest.mark.parametrize("fmt", EXACT_FORMATS)
def test_predict_reads_pngs_of_any_size(study, exports, tmp_path: Path, fmt: str) -> None:
    import keras

    from automl.data import ImageOptions
    from automl.release import load_image

    data = get_task("digits").load(None)
    store, name, _ = study
    reference = keras.models.load_model(store.artifact(name, exports[fmt].trial_number).location)
    exact, large = [], []
    for i in range(6):
        pixels = (data.x_test[i, ..., 0] * 255).round().astype(np.uint8)
        exact.append(tmp_path / f"digit{i}.png")
        Image.fromarray(pixels).save(exact[-1])
        large.append(tmp_path / f"digit{i}_large.jpg")
        Image.fromarray(pixels).resize((40, 40)).convert("RGB").save(large[-1], quality=95)
    # Same-size PNGs of test digits: exactly the labels the trial's own model gives.
    expected = reference.predict(data.x_test[:6], verbose=0).argmax(axis=1)
    assert [p.index for p in predict_images(exports[fmt].path, exact)] == expected.tolist()
    # Any size and colour: converted as the card says, then the same answer as Keras on it.
    digits_card = ImageOptions(image_size=8, color_mode="grayscale", resize="stretch")
    converted = np.stack([load_image(path, digits_card) for path in large])
    expected_large = reference.predict(converted, verbose=0)
    predictions = predict_images(exports[fmt].path, large)
    assert [p.index for p in predictions] == expected_large.argmax(axis=1).tolist()
    for p, row in zip(predictions, expected_large):
        assert p.label == str(p.index) and p.probability == pytest.approx(row.max(), abs=1e-4)


@pytest.mark.parametrize(("fmt", "suffix"), [("onnx-int8", ".onnx"), ("tflite-int8", ".tflite")])
def test_an_int8_export_is_checked_on_the_test_split_and_served(
    study, exports, tmp_path: Path, fmt: str, suffix: str
) -> None:
    from automl.serve import ServedModel

    store, name, _ = study
    result = export_model(store, name, fmt, tmp_path / f"model{suffix}")
    q = result.quantization
    assert q is not None and q.test_images == 360 and q.calibration_images == 512
    assert q.test_accuracy_float - q.test_accuracy_int8 <= 0.01 and q.top1_agreement > 0.9
    card = json.loads(card_paths(result.path)[0].read_text())
    assert card["model"]["format"] == fmt and card["quantization"] == q.to_json()
    assert "Quantized" in card_paths(result.path)[1].read_text()
    assert _int8_inside(result.path)
    float_file = exports[fmt.removesuffix("-int8")].path
    assert result.path.stat().st_size < 0.5 * float_file.stat().st_size
    # `automl serve --study ... --runtime <fmt>`: converted once, then answered by its runtime.
    served = ServedModel.from_study(store, name, fmt)
    data = get_task("digits").load(None)
    answers = served.predict(data.x_test[:64]).argmax(axis=1)
    float_answers = ServedModel.from_file(float_file).predict(data.x_test[:64])
    assert np.mean(answers == float_answers.argmax(axis=1)) > 0.9


def _int8_inside(path: Path) -> bool:
    """Whether the model computes in int8: QDQ operators (ONNX) or int8 tensors (TFLite)."""
    if path.suffix == ".onnx":
        import onnx

        operators = {node.op_type for node in onnx.load(path).graph.node}
        return {"QuantizeLinear", "DequantizeLinear"} <= operators
    from ai_edge_litert.interpreter import Interpreter

    tensors = Interpreter(model_path=str(path)).get_tensor_details()
    return sum(t["dtype"] == np.int8 for t in tensors) > len(tensors) / 2


def test_an_int8_export_that_loses_accuracy_is_refused(
    study, exports, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, name, _ = study
    monkeypatch.setattr("automl.release._quantize.MAX_ACCURACY_DROP", -1.0)  # nothing passes
    with pytest.raises(AutoMLError, match="onnx-int8 export failed: test accuracy"):
        export_model(store, name, "onnx-int8", tmp_path / "model.onnx")
    assert list(tmp_path.iterdir()) == []


def test_predict_refuses_non_images(exports, tmp_path: Path) -> None:
    bogus = tmp_path / "x.png"
    bogus.write_text("hello")
    with pytest.raises(AutoMLError, match=r"x\.png: not an image"):
        predict_images(exports["onnx"].path, [bogus])
    with pytest.raises(AutoMLError, match="no such image"):
        predict_images(exports["onnx"].path, [tmp_path / "missing.png"])


def test_a_keras_file_without_its_card_is_loaded_once(exports, tmp_path: Path, monkeypatch) -> None:
    """A bare .keras file tells its input size and classes itself: `automl predict` and a
    server read them from the one load that also answers (they loaded it two and three times)."""
    import keras

    from automl.serve import ServedModel

    bare = tmp_path / "bare.keras"
    shutil.copy(exports["keras"].path, bare)
    image = tmp_path / "digit.png"
    Image.fromarray(np.full((8, 8), 200, dtype=np.uint8)).save(image)
    [with_card] = predict_images(exports["keras"].path, [image])
    loads = []
    load_model = keras.models.load_model
    monkeypatch.setattr(
        keras.models,
        "load_model",
        lambda *args, **kw: loads.append(args) or load_model(*args, **kw),
    )
    [prediction] = predict_images(bare, [image])
    assert len(loads) == 1
    assert (prediction.index, prediction.label) == (with_card.index, str(with_card.index))
    served = ServedModel.from_file(bare)
    assert len(loads) == 2 and served.info.class_names == tuple(str(i) for i in range(10))
    assert (served.info.height, served.info.channels) == (8, 1)
    assert served.predict(np.full((1, 8, 8, 1), 200 / 255, np.float32)).argmax() == with_card.index


def test_an_onnx_model_predicts_without_tensorflow(exports, tmp_path: Path) -> None:
    """`automl predict --model x.onnx` needs onnxruntime only: TensorFlow is not started."""
    image = tmp_path / "digit.png"
    Image.fromarray(np.full((8, 8), 200, dtype=np.uint8)).save(image)
    code = (
        "import sys\n"
        "from automl.cli import main\n"
        "code = main(['predict', '--model', sys.argv[1], sys.argv[2]])\n"
        "print(code, 'tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(exports["onnx"].path), str(image)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    prediction, verdict = result.stdout.strip().splitlines()
    assert prediction.startswith(f"{image}: ") and verdict == "0 False"


def test_export_refusals_write_nothing(study, exports, tmp_path: Path, monkeypatch) -> None:
    store, name, _ = study
    with pytest.raises(
        AutoMLError, match="unknown format 'pt'; choose from keras, savedmodel, tflite, onnx"
    ):
        export_model(store, name, "pt", tmp_path / "m.pt")
    existing = exports["keras"].path
    before = existing.read_bytes()
    with pytest.raises(AutoMLError, match="already exists; pass --force"):
        export_model(store, name, "keras", existing)
    assert existing.read_bytes() == before
    with pytest.raises(AutoMLError, match="does not exist"):
        export_model(store, name, "keras", tmp_path / "no" / "m.keras")
    if not os.access("/sys", os.W_OK):
        with pytest.raises(AutoMLError, match="not writable"):
            export_model(store, name, "keras", Path("/sys/m.keras"))

    # A failed verification deletes the staged file and leaves the folder as it was.
    import automl.release._export as export_module

    monkeypatch.setattr(export_module, "predict_with", lambda *a: np.zeros((256, 10)))
    with pytest.raises(AutoMLError, match="verification of the tflite export failed"):
        export_model(store, name, "tflite", tmp_path / "m.tflite")
    assert list(tmp_path.iterdir()) == []


def test_tampered_model_is_refused(study, tmp_path: Path) -> None:
    store, name, _ = study
    best = store.best_trial(name, with_artifact=True)
    path = Path(store.artifact(name, best.number).location)
    original = path.read_bytes()
    try:
        path.write_bytes(original + b"tampered")
        with pytest.raises(AutoMLError, match="was changed: its sha256 no longer matches"):
            export_model(store, name, "keras", tmp_path / "m.keras", number=best.number)
        with pytest.raises(AutoMLError, match="was changed: its sha256 no longer matches"):
            evaluate_trial(store, name, best.number)
    finally:
        path.write_bytes(original)
    assert not (tmp_path / "m.keras").exists()


def test_trials_without_models_or_completion(study, sqlite_url: str) -> None:
    store, name, _ = study
    kept = {a.trial_number for a in store.artifacts(name)}
    unsaved = [
        t.number
        for t in store.trials(name)
        if t.state is TrialState.COMPLETE and t.number not in kept
    ]
    if unsaved:
        with pytest.raises(AutoMLError, match="has no saved model"):
            export_model(store, name, "keras", Path("/tmp/never.keras"), number=unsaved[0])
    empty = TrialStore(sqlite_url)
    empty.ensure_study("empty", "digits", 1, {})
    trial = empty.start_trial("empty", 0)
    empty.finish_trial(trial.id, TrialState.PRUNED, reason="pruned")
    with pytest.raises(AutoMLError, match="has no completed trial"):
        export_model(empty, "empty", "keras", Path("/tmp/never.keras"))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_every_searchable_activation_exports(tmp_path: Path, fmt: str) -> None:
    """The converters must handle every activation the search may pick."""
    import keras

    from automl.release import SUFFIXES, predict_with
    from automl.release._export import _WRITERS
    from automl.search._search_space import ACTIVATIONS

    images = np.random.default_rng(0).random((16, 8, 8, 1), dtype=np.float32)
    for activation in ACTIVATIONS:
        inputs = keras.Input((8, 8, 1))
        x = keras.layers.Conv2D(4, 3, padding="same", activation=activation)(inputs)
        x = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x))
        model = keras.Model(inputs, x)
        expected = np.asarray(model(images))  # exporters need a model that has been called
        path = tmp_path / f"{activation}{SUFFIXES[fmt]}"
        _WRITERS[fmt](model, path, tmp_path)
        got = predict_with(path, fmt, images)
        np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=activation)


def test_a_converter_failure_is_one_clear_error(study, tmp_path: Path, monkeypatch) -> None:
    import automl.release._export as export_module

    def broken(model, path, scratch):
        path.write_bytes(b"half a model")
        raise RuntimeError("No Op registered for Erfc\nwith more lines")

    monkeypatch.setitem(export_module._WRITERS, "onnx", broken)
    store, name, _ = study
    with pytest.raises(
        AutoMLError,
        match=r"onnx export of trial \d+ failed: RuntimeError: No Op registered for Erfc; nothing was written",
    ):
        export_model(store, name, "onnx", tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []
