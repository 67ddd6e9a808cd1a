"""graham's error types: one base class, one subclass per kind of failure a user can act on."""

__all__ = ["GrahamError", "ParameterError", "AudioError", "DatasetError", "BundleError"]


class GrahamError(Exception):
    """Base class of every error graham raises on purpose."""


class ParameterError(GrahamError, ValueError):
    """A parameter is out of its documented range or of the wrong kind."""


class AudioError(GrahamError):
    """An audio file could not be turned into samples; the message names the file and the reason."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class DatasetError(GrahamError):
    """A data-set specification or folder is malformed (unknown kind, missing folder, bad CSV)."""


class BundleError(GrahamError):
    """A bundle folder is incomplete, inconsistent or not graham's."""
