"""alignlab: a workbench for empirical alignment research on language models.

The package is split by concept (see ``docs/design.md``):
``models`` loads weights and serves them to Inspect, ``evals`` holds the
Inspect tasks, ``cli`` is the typer app.  Imports run one way:
``cli -> experiment -> methods/attacks -> evals -> models``.
"""

from alignlab._errors import AlignlabError

__version__ = "0.1.0"

__all__ = ["AlignlabError", "__version__"]
