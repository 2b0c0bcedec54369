"""The error of a wrong data setting, shared by the mixture loader and the transforms.

Its own module so that :mod:`mist_pl.data.config` (which builds transforms to check
them) and :mod:`mist_pl.data.transforms` (which rejects bad transform settings) both
import it from below instead of from each other.
"""


class DataConfigError(ValueError):
    """A mixture file (or inline mixture) is wrong; the message names the file and the field."""
