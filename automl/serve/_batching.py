"""Concurrent requests answered in one model call: the first request waits up to a few
milliseconds for others, then they run as one batch (``automl serve --batch-window-ms``)."""

from __future__ import annotations

import asyncio

import numpy as np
from starlette.concurrency import run_in_threadpool

from automl.serve._model import ServedModel


class MicroBatcher:
    def __init__(self, window_ms: float, max_batch: int) -> None:
        self.window_s = window_ms / 1000.0
        self.max_batch = max_batch
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None

    async def predict(self, model: ServedModel, batch: np.ndarray) -> np.ndarray:
        """``model.predict(batch)``, possibly together with other requests' batches."""
        prepared = model.prepare(batch)  # a bad request fails alone, before it joins others
        if self.window_s <= 0:
            return await run_in_threadpool(model.run, prepared)
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(self._serve())
        answer: asyncio.Future = asyncio.get_running_loop().create_future()
        await self._queue.put((model, prepared, answer))
        return await answer

    async def _serve(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            waiting = [await self._queue.get()]
            size, deadline = len(waiting[0][1]), loop.time() + self.window_s
            while size < self.max_batch:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), left)
                except TimeoutError:
                    break
                waiting.append(item)
                size += len(item[1])
            # A champion swapped mid-window: each model answers its own requests.
            for model in {id(m): m for m, _, _ in waiting}.values():
                mine = [(batch, answer) for m, batch, answer in waiting if m is model]
                try:
                    out = await run_in_threadpool(model.run, np.concatenate([b for b, _ in mine]))
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

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()


__all__ = ["MicroBatcher"]
