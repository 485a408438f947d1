"""Which model answers: a fixed file, or a study's champion followed while the server runs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from automl.serve._model import ServedModel

log = logging.getLogger("automl.serve")


class ModelHolder:
    """Holds the served model. A swap is one reference assignment: a request that already
    took ``current`` finishes on the old model, the next one gets the new one."""

    def __init__(
        self,
        model: ServedModel,
        champion: Callable[[], int | None] | None = None,
        load: Callable[[], ServedModel] | None = None,
    ) -> None:
        self.current = model
        self.ready = True
        self._champion, self._load = champion, load
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """Load the champion if it changed since the current model; True when swapped."""
        if self._champion is None or self._load is None:
            return False
        number = self._champion()
        if number is None or str(number) == self.current.info.version:
            return False
        model = self._load()  # verified and converted before it is swapped in
        previous, self.current = self.current, model
        log.info(
            "now serving trial %s (sha256 %s), was trial %s",
            model.info.version, model.info.sha256[:12], previous.info.version,
        )  # fmt: skip
        return True

    def follow(self, every_s: float) -> None:
        """Check for a new champion every ``every_s`` seconds in a background thread."""
        if self._champion is None:
            return

        def loop() -> None:
            while not self._stop.wait(every_s):
                try:
                    self.refresh()
                except Exception as exc:  # keep serving the current model; say why
                    log.warning("could not load the new champion (still serving trial %s): %s",
                                self.current.info.version, exc)  # fmt: skip

        self._thread = threading.Thread(target=loop, name="champion-follower", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


__all__ = ["ModelHolder"]
