"""Inspect's entry point into alignlab.

Inspect imports this module (``[project.entry-points.inspect_ai]``) so that
``inspect eval alignlab/NAME --model alignlab/SPEC`` finds our provider and
tasks.  It only imports the modules that carry decorators.
"""

from alignlab.evals import _tasks  # noqa: F401  (registers @task functions)
from alignlab.models import _provider, _random  # noqa: F401  (register @modelapi)
