"""The one error type the CLI turns into a clean message and a non-zero exit."""


class EdaError(Exception):
    """A user-facing failure: the message names what went wrong and what to do."""
