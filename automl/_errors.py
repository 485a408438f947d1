"""Two kinds of error, as in KerasTuner: one stops the search, one only fails a trial."""


class AutoMLError(Exception):
    """Bad input or an unusable environment: the search cannot go on.

    The CLI prints the message on one line and exits with code 2.
    """


class DataError(AutoMLError):
    """Data that cannot be loaded: missing, unreadable or malformed files."""


class TrialFailure(Exception):
    """Only this trial failed (NaN loss, a candidate that cannot be built); the study goes on."""
