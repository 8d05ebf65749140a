"""lamina's own error types.

Every mistake a user can make (a bad config, a bad file, a bad tensor shape)
raises a subclass of :class:`LaminaError` with one short message that names
the field or file, what was found and what is allowed. The CLI prints the
message and exits with status 2; it never shows a traceback for these.
"""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable

SHOWN_CHARS = 40  # the longest echo of a user's value in a message: a 50 MB name must not make a 50 MB error
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxtuple, _SHORT.maxdict, _SHORT.maxset = 2, 4, 4, 4, 4
_SHORT.maxstring = _SHORT.maxother = _SHORT.maxlong = SHOWN_CHARS


class LaminaError(Exception):
    """Base class of every user-facing lamina error (CLI exit code 2)."""


class ConfigError(LaminaError):
    """A configuration value is missing, misspelled, of the wrong type or out of range."""


class DataError(LaminaError):
    """A data file or array cannot be used as given (missing column, bad value, empty file)."""


class ShapeError(LaminaError):
    """A layer chain cannot be built for the input shape it receives."""


class RunFolderError(LaminaError):
    """A run folder is missing a file or holds one lamina cannot read."""


class LaminaWarning(UserWarning):
    """Something lamina accepts but that is probably not meant (a softmax before a loss that takes logits,
    a backbone that saw the test rows, runs compared on different data). The CLI prints it as one
    ``warning:`` line; in Python it is an ordinary warning, filterable by this class."""


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for echoing what a user gave in an error message.

    reprlib never expands a whole nested value, so an enormous list or string costs no more to show than a
    small one, and the message stays one readable line whatever was sent.
    """
    text = _SHORT.repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return a " Did you mean 'x'?" hint for a misspelled ``name``, or "" when nothing is close."""
    if len(str(name)) > 4 * SHOWN_CHARS:  # no name that long is a typo of a short one, and difflib is quadratic
        return ""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def one_of(field: str, value: object, choices: Iterable[str]) -> str:
    """Format the standard "<field> must be one of ...; got <value>" message with a typo hint."""
    choices = sorted(str(c) for c in choices)
    hint = did_you_mean(str(value), choices)
    return f"{field} must be one of {', '.join(choices)}; got {shown(value)}.{hint}"
