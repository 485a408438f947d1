"""The batcher: requests that arrive while the model is busy share its next call, each gets
its own rows back, and short calls run on the event loop while long ones run on a thread."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import numpy as np

from automl.serve import _batching
from automl.serve._batching import INLINE_MAX_S, MicroBatcher
from tests.automl.serve.conftest import linear_model


def _recording(model, seconds_per_call: float = 0.0):
    calls: list[tuple[int, str]] = []
    original = model.run

    def run(batch: np.ndarray) -> np.ndarray:
        calls.append((len(batch), threading.current_thread().name))
        time.sleep(seconds_per_call)
        return original(batch)

    model.run = run
    return calls, original


def test_requests_that_arrive_while_the_model_is_busy_share_its_next_call() -> None:
    model = linear_model()
    calls, original = _recording(model, seconds_per_call=0.05)
    images = np.random.default_rng(0).random((10, 8, 8, 1), dtype=np.float32)

    async def main() -> list[np.ndarray]:
        batcher = MicroBatcher(0.0, max_batch=256)
        try:
            first = asyncio.ensure_future(batcher.predict(model, images[:1]))
            await asyncio.sleep(0.01)  # its call has started: the model is busy
            rest = [batcher.predict(model, images[i : i + 1]) for i in range(1, 10)]
            return await asyncio.gather(first, *rest)
        finally:
            batcher.close()

    answers = asyncio.run(main())
    assert [size for size, _ in calls] == [1, 9]  # the first alone, at once; the rest together
    for i, answer in enumerate(answers):
        np.testing.assert_allclose(answer, original(images[i : i + 1]), rtol=1e-5)


def test_short_calls_run_on_the_event_loop_and_long_ones_on_a_thread(monkeypatch) -> None:
    # The batcher's clock is the test's: on a busy machine a fast call may take milliseconds.
    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(_batching, "time", SimpleNamespace(perf_counter=lambda: clock.now))
    fast, slow = linear_model(), linear_model()
    fast_calls, _ = _recording(fast)
    slow_calls, _ = _recording(slow)
    recorded = slow.run

    def slow_call(batch: np.ndarray) -> np.ndarray:
        clock.now += INLINE_MAX_S * 2
        return recorded(batch)

    slow.run = slow_call
    image = np.zeros((1, 8, 8, 1), dtype=np.float32)

    async def main() -> str:
        batcher = MicroBatcher(0.0, max_batch=256)
        try:
            for _ in range(3):
                await batcher.predict(fast, image)
                await batcher.predict(slow, image)
            return threading.current_thread().name
        finally:
            batcher.close()

    loop_thread = asyncio.run(main())
    # A model's first call is on the thread; after it, a call as short as this one is not.
    assert [name for _, name in fast_calls][1:] == [loop_thread, loop_thread]
    assert len(slow_calls) == 3 and all(name.startswith("model") for _, name in slow_calls)
