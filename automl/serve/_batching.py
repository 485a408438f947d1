"""Concurrent requests answered in one model call, one call at a time: requests that arrive
while the model is busy wait for its next call and share it (up to ``max_batch`` inputs), so a
batch costs no waiting when the server is idle and grows with the load. The model runs on a
thread of its own, where the runtime lets go of the interpreter: the event loop reads and
answers other requests meanwhile, and they gather for the next call. Only a call expected to
take under INLINE_MAX_S runs on the event loop itself, where handing it to the thread and back
costs more than the call (BENCHMARKS.md, *Serving: the server's own cost*).
``automl serve --batch-window-ms`` makes the first request of a batch also wait that long for
others."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from automl.serve._model import ServedModel

Waiting = tuple[ServedModel, np.ndarray, asyncio.Future]

#: A model call expected to be this short runs on the event loop (judged by the model's last
#: call's time per input). One-image requests to an 8x8 CNN (15-35 us a call): 1.07x the
#: requests a second inline; to a 28x28 CNN (60-100 us): 1.39x on the thread.
INLINE_MAX_S = 0.00005


class MicroBatcher:
    def __init__(self, window_ms: float, max_batch: int) -> None:
        self.window_s = window_ms / 1000.0
        self.max_batch = max_batch
        self._waiting: list[Waiting] = []
        self._running = False
        self._task: asyncio.Task | None = None  # the running batch loop, kept from the GC
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        #: Seconds per input of each model's last call, by id (a swapped-in model starts on
        #: the thread).
        self._per_input: dict[int, float] = {}

    async def predict(self, model: ServedModel, batch: np.ndarray) -> np.ndarray:
        """``model.predict(batch)``, possibly together with other requests' batches."""
        prepared = model.prepare(batch)  # a bad request fails alone, before it joins others
        if not self._running and self.window_s == 0 and self._inline(model, len(prepared)):
            # Nothing to share it with, and short: answered here, without the batch loop's
            # task and future.
            return self._timed(model, prepared)[0]
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        self._waiting.append((model, prepared, answer))
        if not self._running:
            self._running = True
            self._task = loop.create_task(self._run())
        return await answer

    async def _run(self) -> None:
        """Model calls until nothing waits: each takes what waits, up to max_batch inputs."""
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                if self.window_s > 0:
                    await asyncio.sleep(self.window_s)
                taken, size = [], 0
                while self._waiting and (
                    not taken or size + len(self._waiting[0][1]) <= self.max_batch
                ):
                    taken.append(self._waiting.pop(0))
                    size += len(taken[-1][1])
                # A champion swapped mid-batch: each model answers its own requests.
                for model in {id(m): m for m, _, _ in taken}.values():
                    mine = [(batch, answer) for m, batch, answer in taken if m is model]
                    inputs = mine[0][0] if len(mine) == 1 else np.concatenate([b for b, _ in mine])
                    try:
                        out = await self._call(loop, model, inputs)
                    except Exception as exc:
                        for _, answer in mine:
                            if not answer.done():  # its client may have gone
                                answer.set_exception(exc)
                        continue
                    start = 0
                    for batch, answer in mine:
                        if not answer.done():
                            answer.set_result(out[start : start + len(batch)])
                        start += len(batch)
        finally:
            self._running = False

    def _inline(self, model: ServedModel, inputs: int) -> bool:
        """Whether a call of ``inputs`` is expected to be short enough for the event loop."""
        return self._per_input.get(id(model), INLINE_MAX_S) * inputs < INLINE_MAX_S

    def _timed(self, model: ServedModel, inputs: np.ndarray) -> tuple[np.ndarray, float]:
        """The model's answer, its time per input remembered (the call's own time, not a
        thread's hop)."""
        started = time.perf_counter()
        out = model.run(inputs)
        seconds = time.perf_counter() - started
        if len(self._per_input) > 8:  # models swapped out long ago
            self._per_input.clear()
        self._per_input[id(model)] = seconds / len(inputs)
        return out, seconds

    async def _call(
        self, loop: asyncio.AbstractEventLoop, model: ServedModel, inputs: np.ndarray
    ) -> np.ndarray:
        if self._inline(model, len(inputs)):
            return self._timed(model, inputs)[0]
        return (await loop.run_in_executor(self._thread, self._timed, model, inputs))[0]

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)


__all__ = ["MicroBatcher"]
