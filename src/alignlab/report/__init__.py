"""The run report: one self-contained HTML file from an experiment's stored results.

:func:`build_report` turns the records of a run (cells, metrics with
intervals, training curves, paired comparisons) into HTML: a ranking of the
methods (on robust metrics only when the spec says ``rank_on: robust``) with
the robustness verdicts and matrix of the run's robustness file, a method x metric
heatmap of differences from the reference with significance marks, per-split
tables so a gain on ``test`` that vanishes on ``heldout`` is visible at once,
forest plots, training loss curves, every eval cell's metrics with a link to
its Inspect log, failed and missing cells, descriptive feature patterns, the
prediction ledger scored against the results (calibration, theories ranked by
log score beside their assumptions, authors by peer score) when the run has
one, and the spec and versions.  :func:`write_report` writes it atomically.

The file has no scripts and loads nothing (figures are inline SVG drawn by
matplotlib), so it opens offline, and its log links are relative so the run
directory can be moved.
"""

from alignlab.report._html import PATTERN_COLUMNS, build_report, write_report

__all__ = ["PATTERN_COLUMNS", "build_report", "write_report"]
