"""The library's own exceptions: every message says what the user can do about it."""


class AudioLMError(Exception):
    """Base class for errors raised by this library."""


class AudioInputError(AudioLMError, ValueError):
    """An input recording cannot be used (unreadable, empty, too short, non-finite...)."""


class SettingsError(AudioLMError, ValueError):
    """A generation setting (seconds, number of samples, seed, temperature, top-k, top-p) is out of range."""


class BundleError(AudioLMError):
    """A bundle is missing, malformed, or its parts do not fit together."""
