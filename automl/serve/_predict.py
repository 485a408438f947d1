"""``POST /predict`` for people: image files as multipart/form-data, class names back."""

from __future__ import annotations

import numpy as np
from starlette.concurrency import run_in_threadpool

from automl.serve._http import FORM_TYPES, MAX_BATCH, HttpRequest
from automl.serve._model import BadInput
from automl.serve._service import Endpoint, Service


def routes(service: Service) -> list[Endpoint]:
    async def predict_files(request: HttpRequest) -> dict:
        model = service.holder.current
        try:
            form = await request.form(max_files=MAX_BATCH, max_fields=MAX_BATCH)
        except Exception as exc:  # Starlette's MultiPartException and parser errors
            raise BadInput(f"send images as multipart/form-data: {exc}") from None
        files = [value for _, value in form.multi_items() if hasattr(value, "read")]
        if not files:
            raise BadInput('no image: send files as multipart/form-data fields named "image"')
        contents = [await file.read() for file in files]
        batch = await run_in_threadpool(lambda: np.stack([model.decode(c) for c in contents]))
        probabilities = await service.predict(request.state, model, batch)
        names = model.info.class_names
        return {
            "model": {"name": model.info.name, "study": model.info.study,
                      "trial": model.info.trial, "sha256": model.info.sha256},
            "predictions": [
                {
                    "file": file.filename,
                    "label": names[int(row.argmax())],
                    "probability": float(row.max()),
                    "probabilities": {n: float(p) for n, p in zip(names, row)},
                }
                for file, row in zip(files, probabilities)
            ],
        }  # fmt: skip

    return [Endpoint("/predict", predict_files, "POST", FORM_TYPES)]


__all__ = ["routes"]
