"""Every error a user can cause, on one base: the CLI and the app catch `FerError` alone.

Importable without TensorFlow (fast CLI errors). The `ValueError` / `RuntimeError` second bases
keep `except ValueError` in callers' code working. The message is written for the user: it
names the file, run or setting and says what to do.
"""


class FerError(Exception):
    """Bad input or a state a user can fix; `str(exc)` is the message to show."""


class DataError(FerError, ValueError):
    """Bad data: the message names the file (and row) and what is wrong."""


class ModelConfigError(FerError, ValueError):
    """An impossible model or training request (unknown arch, width out of range...)."""


class RunError(FerError, ValueError):
    """A run that cannot be used: unknown id, broken folder, unreadable model, nothing to resume."""


class WeightsFileError(FerError, ValueError):
    """A compressed weights file that is not ours or does not fit the architecture."""


class FaceImageError(FerError, ValueError):
    """An upload that cannot become a face; the message says why."""


class TrainingBusy(FerError, RuntimeError):
    """Another training holds the run store's lock."""


class TrainingCancelled(FerError, RuntimeError):
    """The cancel event stopped a training; its checkpoint stays resumable."""


class ClusterError(FerError, RuntimeError):
    """A Ray cluster that cannot be used: Ray missing, the address unreachable, work lost on it."""
