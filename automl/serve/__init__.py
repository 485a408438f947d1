"""Serve: a model behind the standard inference APIs (KServe v2, TensorFlow Serving REST),
with Prometheus metrics; the HTTP routes stay thin over ``ServedModel``."""

from typing import TYPE_CHECKING

from automl._lazy import lazy_getattr

if TYPE_CHECKING:
    from automl.serve._app import create_app
    from automl.serve._holder import ModelHolder
    from automl.serve._http import MAX_BATCH, MAX_BODY_BYTES
    from automl.serve._model import RUNTIMES, BadInput, ModelInfo, ServedModel
    from automl.serve._server import (
        ServeConfig,
        WorkerSpec,
        check_free,
        grpc_address,
        is_loopback,
        model_holder,
        read_token,
        serve,
    )

__all__ = [
    "MAX_BATCH",
    "MAX_BODY_BYTES",
    "RUNTIMES",
    "BadInput",
    "ModelHolder",
    "ModelInfo",
    "ServeConfig",
    "ServedModel",
    "WorkerSpec",
    "check_free",
    "create_app",
    "grpc_address",
    "is_loopback",
    "model_holder",
    "read_token",
    "serve",
]

# NumPy, Starlette and the model runtimes load on first use.
__getattr__ = lazy_getattr(
    __name__,
    {
        "automl.serve._app": ("create_app",),
        "automl.serve._http": ("MAX_BATCH", "MAX_BODY_BYTES"),
        "automl.serve._holder": ("ModelHolder",),
        "automl.serve._model": ("RUNTIMES", "BadInput", "ModelInfo", "ServedModel"),
        "automl.serve._server": (
            "ServeConfig",
            "check_free",
            "grpc_address",
            "is_loopback",
            "model_holder",
            "read_token",
            "serve",
            "WorkerSpec",
        ),
    },
)
