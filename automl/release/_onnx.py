"""An ONNX model on ONNX Runtime, as `load_runtime` gives it: short calls on a session of one
thread, longer ones on a session with the thread pool. Waking the pool's threads and splitting
a small model's layers among them cost more than they save: a 28x28 CNN answered one image in
60 us of CPU on one thread and 102 on two (84 us of wall time), and one thread stayed as fast
up to about 16 images (BENCHMARKS.md, *Serving: the server's own cost*). A server's calls
are mostly short; a batch of 64 still gets every core."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

#: A call expected to take under this on one thread runs on the one-thread session.
SHORT_CALL_S = 0.0004


def _session(path: Path, threads: int | None):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    # Idle threads sleep instead of spinning for the next call: a server's calls come a
    # request at a time, and the spinning thread took the CPU its HTTP path and clients needed
    # (without it 1.1-1.3x the small requests a second and 1.27x the images in batches of 64
    # of a small CNN; the same for a large one; BENCHMARKS.md, *Serving: the server's own
    # cost*).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxRuntime:
    """Class probabilities for a float32 NHWC batch; callable from any thread. ``threads``:
    the pool's size (None: ONNX Runtime's choice, one per core)."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        self._pooled = _session(path, threads)
        self._single = self._pooled if threads == 1 else _session(path, 1)
        model_input = self._single.get_inputs()[0]
        self._input = model_input.name
        #: Seconds per input on one thread: the quickest of three calls on one blank input,
        #: after a first one that sets the session up (and so is no client's).
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in model_input.shape]
        blank = {self._input: np.zeros(shape, dtype=np.float32)}
        timings = []
        for _ in range(4):
            started = time.perf_counter()
            self._single.run(None, blank)
            timings.append(time.perf_counter() - started)
        self._per_input_s = min(timings[1:]) / shape[0]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        short = self._per_input_s * len(batch) < SHORT_CALL_S
        session = self._single if short else self._pooled
        return np.asarray(session.run(None, {self._input: batch})[0])


__all__ = ["OnnxRuntime"]
