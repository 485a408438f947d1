"""The model card written beside every export: what the model is, how to feed it, how it
scored, where it came from and how the file was checked (JSON, and Markdown for people)."""

from __future__ import annotations

from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from automl.search import SEARCH_SPACE_VERSION, open_study_task
from storage import TrialStore

PACKAGES = ("tensorflow", "keras", "optuna", "numpy", "tf2onnx", "onnx", "onnxruntime")


def card_paths(model_path: Path) -> tuple[Path, Path]:
    """``model.tflite`` -> ``model.tflite.card.json``: each format of one model keeps its card."""
    return (
        model_path.with_name(f"{model_path.name}.card.json"),
        model_path.with_name(f"{model_path.name}.card.md"),
    )


def _versions() -> dict[str, str]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def model_card(
    store: TrialStore,
    study_name: str,
    number: int,
    fmt: str,
    path: Path,
    digest: str,
    max_diff: float,
    agreement: float,
    verified_images: int,
) -> dict[str, Any]:
    study = store.get_study(study_name)
    trial = store.trial(study_name, number)
    evaluation = store.evaluation(study_name, number)
    task = open_study_task(study.task, study.config)
    height, width, channels = task.input_shape
    return {
        "model": {"file": path.name, "format": fmt, "sha256": digest},
        "task": task.name,
        "class_names": list(task.class_names),
        "input": {
            "shape": [None, height, width, channels],
            "dtype": "float32",
            "layout": "NHWC (batch, height, width, channels)",
        },
        "preprocessing": {
            "color": "grayscale (1 channel)" if channels == 1 else "RGB (3 channels)",
            "resize": [height, width],
            "scale": "divide 8-bit pixel values by 255 to get floats in [0, 1]",
            "training_data_scale": f"raw {task.name} values 0..{task.pixel_max:g} mapped to [0, 1]",
            # How `automl predict` (and the training cache) turned files into inputs.
            "image": task.image_options().to_json(),
        },
        "output": "softmax probabilities over class_names",
        "study": study.name,
        "trial": number,
        "search_space_version": study.search_space_version or SEARCH_SPACE_VERSION,
        "parameters": trial.params,
        "parameter_count": trial.param_count,
        "backbone": _backbone_card(trial.params or {}),
        "metrics": {
            "validation_accuracy": trial.value,
            "best_epoch": trial.best_epoch,
            "test_accuracy": evaluation.accuracy if evaluation else trial.test_accuracy,
            "test_macro_f1": evaluation.macro_f1 if evaluation else None,
            "per_class": (
                {
                    name: {"precision": p, "recall": r, "f1": f}
                    for name, p, r, f in zip(
                        evaluation.class_names,
                        evaluation.precision,
                        evaluation.recall,
                        evaluation.f1,
                    )
                }
                if evaluation
                else None
            ),
            "cross_validation": (
                {"folds": evaluation.cv_folds, "mean": evaluation.cv_mean, "std": evaluation.cv_std}
                if evaluation and evaluation.cv_folds
                else None
            ),
        },
        "latency": {
            "ms_per_image_batch1": evaluation.latency_ms_batch1 if evaluation else None,
            "images_per_s_batch256": evaluation.throughput_batch256 if evaluation else None,
            "measured_with": "Keras on the machine that ran `automl evaluate`",
        },
        "verification": {
            "images": verified_images,
            "top1_agreement": agreement,
            "max_abs_probability_diff": max_diff,
        },
        "packages": _versions(),
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _backbone_card(params: dict[str, Any]) -> dict[str, Any] | None:
    """The pretrained network the model starts from, and which weights: ``None`` for a CNN
    trained from scratch."""
    from automl.backbones import SCRATCH, get_backbone

    name = params.get("backbone", SCRATCH)
    if name == SCRATCH:
        return None
    backbone = get_backbone(name)
    return {
        "name": name,
        "weights": backbone.source,
        "weights_file": backbone.weights_file,
        "weights_sha256": backbone.sha256,
        "input_side": params.get("resolution"),
        #: 0: the backbone as trained on ImageNet; else its last blocks were fine-tuned.
        "fine_tuned_blocks": int(params.get("fine_tuned_blocks", 0)),
    }


def card_markdown(card: dict[str, Any]) -> str:
    metrics = card["metrics"]

    def pct(value: float | None) -> str:
        return f"{100 * value:.2f}%" if value is not None else "not evaluated"

    lines = [
        f"# Model card: {card['study']} / trial {card['trial']}",
        "",
        f"- **File**: `{card['model']['file']}` ({card['model']['format']}), "
        f"sha256 `{card['model']['sha256']}`",
        f"- **Task**: {card['task']} ({len(card['class_names'])} classes: "
        f"{', '.join(card['class_names'])})",
        f"- **Input**: float32, shape {card['input']['shape']}, {card['input']['layout']}",
        f"- **Preprocessing**: {card['preprocessing']['color']}, resize to "
        f"{card['preprocessing']['resize'][0]}x{card['preprocessing']['resize'][1]}, "
        f"{card['preprocessing']['scale']}",
        f"- **Output**: {card['output']}",
        "",
        "## Metrics",
        "",
        f"- Validation accuracy: {pct(metrics['validation_accuracy'])} "
        f"(best epoch {metrics['best_epoch']})",
        f"- Test accuracy: {pct(metrics['test_accuracy'])}",
        f"- Test macro-F1: {pct(metrics['test_macro_f1'])}",
    ]
    if metrics["cross_validation"]:
        cv = metrics["cross_validation"]
        lines.append(f"- {cv['folds']}-fold cross-validation: {pct(cv['mean'])} ± {pct(cv['std'])}")
    if card["latency"]["ms_per_image_batch1"] is not None:
        lines.append(
            f"- Latency: {card['latency']['ms_per_image_batch1']:.2f} ms/image at batch 1, "
            f"{card['latency']['images_per_s_batch256']:.0f} images/s at batch 256"
        )
    if metrics["per_class"]:
        lines += ["", "| class | precision | recall | F1 |", "|---|---|---|---|"]
        lines += [
            f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} |"
            for name, m in metrics["per_class"].items()
        ]
    lines += ["", "## Provenance", ""]
    if card.get("backbone"):
        backbone = card["backbone"]
        tuned = backbone["fine_tuned_blocks"]
        how = f"last {tuned} blocks fine-tuned" if tuned else "frozen"
        lines.append(
            f"- **Backbone**: {backbone['name']} ({how}, images resized to "
            f"{backbone['input_side']} px inside the model); weights: {backbone['weights']}, "
            f"`{backbone['weights_file']}` sha256 `{backbone['weights_sha256']}`"
        )
    lines += [
        f"- Parameters ({card['parameter_count']:,} weights): "
        + ", ".join(f"{k}={v}" for k, v in card["parameters"].items()),
        f"- Search space version {card['search_space_version']}",
        f"- Verified on {card['verification']['images']} test images: top-1 agreement "
        f"{card['verification']['top1_agreement']:.4f}, max probability difference "
        f"{card['verification']['max_abs_probability_diff']:.2e}",
    ]
    if card.get("quantization"):
        q = card["quantization"]
        lines.append(
            f"- **Quantized**: {q['method']}, {q['calibration_images']} calibration images; "
            f"on {q['test_images']} test images: accuracy {pct(q['test_accuracy_int8'])} "
            f"(float {pct(q['test_accuracy_float'])}), top-1 agreement with float "
            f"{q['top1_agreement']:.4f}"
        )
    lines += [
        "- Packages: " + ", ".join(f"{k} {v}" for k, v in card["packages"].items()),
        f"- Exported {card['exported_at']}",
        "",
    ]
    return "\n".join(lines)


__all__ = ["PACKAGES", "card_markdown", "card_paths", "model_card"]
