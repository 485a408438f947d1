"""Checks a search makes before it stores anything: the models' folder, your images (listed,
decoded once, their resolved settings recorded) and a resumed study's images."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

from automl._errors import AutoMLError
from automl.data import ImageFolderTask
from automl.search._artifact_store import ArtifactStore
from automl.search._config import SearchConfig
from storage import TrialStore

Log = Callable[[str], None]


def check_models_folder(config: SearchConfig, artifacts: ArtifactStore) -> None:
    """The models' folder or bucket can be written, and holds no other study's models.

    Two databases side by side share the models' folder next to them: a new study named as
    one in the other database would write over that study's models, and ``doctor --repair``
    would delete them as files no trial of its own points to."""
    artifacts.check()
    folder = f"{config.name}/"
    models = [key for key in artifacts.keys(folder) if key.endswith(".keras")]
    if models and not TrialStore.holds_study(config.storage_url, config.name):
        raise AutoMLError(
            f"{artifacts.location(folder)} already holds {len(models)} saved "
            f"model{'s' if len(models) > 1 else ''} of a study "
            f"named {config.name!r} that this database does not hold (another database's, or "
            "one deleted): choose another --study or --artifacts DIR, or move them away"
        )


def checked_images(config: SearchConfig, task: ImageFolderTask, log: Log) -> SearchConfig:
    """Your own images: listed, checked and decoded once, before anything is stored; the
    settings they resolved (size, colour mode) are recorded with the study."""
    data = task.dataset
    options = data.options
    names = ", ".join(data.class_names[:8]) + (", ..." if len(data.class_names) > 8 else "")
    log(
        f"images: {len(data.labels)} in {len(data.class_names)} classes ({names}); "
        f"{options.image_size}x{options.image_size} {options.color_mode}, resized by "
        f"{options.resize}; {data.describe_skipped()}"
    )
    for warning in data.warnings:
        log(f"warning: {warning}")
    return replace(config, images=options.to_json(), class_names=data.class_names)


def check_same_images(recorded: dict, config: SearchConfig) -> None:
    """A resumed study must see its data as its first run did: the same fixes, and your own
    images with the same options."""
    then, now = (json.loads(json.dumps(c)) for c in (recorded, config.to_json()))
    fixes_then, fixes_now = ((c.get("overrides") or {}).get("sha256") for c in (then, now))
    if fixes_then != fixes_now:
        raise AutoMLError(
            f"study {config.name!r} was searched with "
            f"{'overrides ' + fixes_then[:12] if fixes_then else 'no overrides'}, this run has "
            f"{'overrides ' + fixes_now[:12] if fixes_now else 'none'}: the fixed data is a new "
            "study (another --study)"
        )
    if config.images is None:
        return
    for key in ("images", "class_names"):
        if then.get(key) != now[key]:
            raise AutoMLError(
                f"study {config.name!r} was searched with {key} {then.get(key)}, this run "
                f"has {now[key]}: use the same data and options, or another --study"
            )


__all__ = ["Log", "check_models_folder", "check_same_images", "checked_images"]
