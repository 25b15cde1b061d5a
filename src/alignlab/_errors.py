"""The exception types that the CLI turns into a one-line message, and its exit codes.

Why so few types: every user mistake we can foresee (an unknown model spec, a
corrupt adapter, an unknown task) is raised as :class:`AlignlabError` with a
message written for the user.  The CLI prints that message and exits with
:data:`EXIT_BAD_INPUT`; a run that started but failed (an eval whose log has
status ``error``) is a :class:`RunFailed` and exits with :data:`EXIT_FAILED`.
Anything else is a bug and keeps its traceback.
"""

EXIT_OK = 0
"""The command did what was asked."""
EXIT_FAILED = 1
"""A run started but failed (e.g. an eval whose log status is ``error``)."""
EXIT_BAD_INPUT = 2
"""Bad input: a usage error, an unknown name, a bad value, an unusable path."""
EXIT_INTERRUPTED = 130
"""Interrupted by SIGINT (Ctrl-C): 128 + 2, what shells report."""
EXIT_TERMINATED = 143
"""Terminated by SIGTERM: 128 + 15, what shells report."""


class AlignlabError(Exception):
    """A user-facing error whose message is a complete, one-line explanation."""

    exit_code: int = EXIT_BAD_INPUT
    """The CLI's exit status for this error."""


class RunFailed(AlignlabError):
    """A run that started failed; the message says why (the CLI exits with 1)."""

    exit_code = EXIT_FAILED
