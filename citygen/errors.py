"""Exception types of citygen.

Every error a user can cause derives from :class:`CitygenError`; the command line catches that
one class, prints ``error: <message>`` and exits with status 1. Each class also derives from the
matching standard exception so that plain ``except ValueError`` keeps working.
"""

from __future__ import annotations


class CitygenError(Exception):
    """Base class of all errors that citygen raises on purpose."""


class InputDataError(CitygenError, ValueError):
    """Input data is missing, unreadable, empty or not what was asked for."""


class UsageError(CitygenError, ValueError):
    """An option value is out of range or malformed (tile size, bbox, centre, ...)."""


class DatasetError(CitygenError, ValueError):
    """A directory is not a citygen data set, or the data set is inconsistent."""


class CheckpointError(CitygenError):
    """A model directory or checkpoint is missing, corrupt or incompatible."""


class OutputError(CitygenError, OSError):
    """An output path cannot be written (it is a file, read-only, ...)."""


class NetworkUnavailableError(CitygenError, ConnectionError):
    """An online source (Overpass, Nominatim) could not be reached."""


class LayoutError(CitygenError, ValueError):
    """A graph given as a layout is not one (no tile size, nodes outside the tile, ...)."""


class TrainingError(CitygenError, ArithmeticError):
    """Training cannot go on: the loss or the gradients are no longer finite numbers."""
