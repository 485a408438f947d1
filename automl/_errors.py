"""Two kinds of error, as in KerasTuner: one stops the search, one only fails a trial."""


class AutoMLError(Exception):
    """Bad input or an unusable environment: the search cannot go on.

    The CLI prints the message on one line and exits with code 2.
    """


class DataError(AutoMLError):
    """Data that cannot be loaded: missing, unreadable or malformed files."""


class TrialFailure(Exception):
    """Only this trial failed (NaN loss, a candidate that cannot be built); the study goes on."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (what Kubernetes, systemd and ``kill`` send): stop as Ctrl-C stops, the running
    trial closed, the study resumable; the CLI exits with 143 instead of 130."""


def stop_on_sigterm() -> None:
    """From now on SIGTERM raises ``Terminated`` in the main thread, and SIGINT raises
    KeyboardInterrupt, so every ``except KeyboardInterrupt`` cleanup runs for both. SIGINT is
    set explicitly: a process started in the background by a script inherits it ignored, and
    ``kill -INT`` would then do nothing."""
    import signal

    def _raise(signum: int, frame: object) -> None:
        raise Terminated

    signal.signal(signal.SIGTERM, _raise)
    signal.signal(signal.SIGINT, signal.default_int_handler)
