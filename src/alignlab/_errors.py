"""The one exception type that the CLI turns into a one-line message.

Why a single type: every user mistake we can foresee (an unknown model spec, a
corrupt adapter, an unknown task) is raised as :class:`AlignlabError` with a
message written for the user.  The CLI prints that message and exits non-zero;
anything else is a bug and keeps its traceback.
"""


class AlignlabError(Exception):
    """A user-facing error whose message is a complete, one-line explanation."""
