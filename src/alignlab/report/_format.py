"""Text formatting shared by the report's tables and plots: numbers, intervals, escaping."""

from __future__ import annotations

import html
import math
from typing import Final

DASH: Final = "\N{EN DASH}"
"""How an undefined number (NaN) is shown."""
DECIMALS: Final = 3
"""Every number in the report has this many decimals."""
ALPHA: Final = 0.05
"""Significance level of the marks (applied to the adjusted p-value)."""


def esc(text: object) -> str:
    """HTML-escape any value's ``str`` (quotes included, so it is safe in attributes)."""
    return html.escape(str(text), quote=True)


def num(value: float | None, *, signed: bool = False) -> str:
    """A number with :data:`DECIMALS` decimals; NaN and None as an en dash.

    Args:
        value: The number.
        signed: Prefix positive numbers with ``+`` (for differences).
    """
    if value is None or math.isnan(value):
        return DASH
    text = f"{value:+.{DECIMALS}f}" if signed else f"{value:.{DECIMALS}f}"
    if float(text) == 0.0:  # no "-0.000"
        text = text.replace("-", "+" if signed else "", 1)
    return text


def interval(low: float | None, high: float | None, *, signed: bool = False) -> str:
    """``[low, high]``, or an en dash when both ends are undefined."""
    if (low is None or math.isnan(low)) and (high is None or math.isnan(high)):
        return DASH
    return f"[{num(low, signed=signed)}, {num(high, signed=signed)}]"


def p_value(value: float | None) -> str:
    """A p-value: 3 decimals, ``<0.001`` below that, en dash when undefined."""
    if value is None or math.isnan(value):
        return DASH
    if value < 10**-DECIMALS:
        return f"<{10**-DECIMALS:.{DECIMALS}f}"
    return num(value)


def significant(p_adjusted: float) -> bool:
    """Whether an adjusted p-value earns a significance mark (NaN never does)."""
    return not math.isnan(p_adjusted) and p_adjusted < ALPHA


def mpl_text(text: str) -> str:
    """Text for matplotlib that is shown as written (``$`` would start mathtext)."""
    return text.replace("$", r"\$")
