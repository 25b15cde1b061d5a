"""A live view of an experiment's cells: queued, running, cached, done, failed, with an ETA.

The ETA is measured, not guessed: the mean wall time of the cells of each
kind finished so far in this run, times the cells of that kind still to go
(train cells and eval cells take very different times).  Before any cell of a
kind has finished, the ETA says so instead of inventing a number.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from alignlab.experiment._plan import Plan

STATE_STYLES = {
    "queued": "dim",
    "running": "bold yellow",
    "cached": "cyan",
    "done": "green",
    "failed": "bold red",
}
"""How each cell state is shown."""
RECENT_ROWS = 8
"""Cells listed individually (the most recently changed ones)."""


@dataclass
class CellView:
    """What the display knows about one cell."""

    kind: str
    """``train``, ``eval``, ``rm_train`` or ``rm_eval`` (what the ETA averages over)."""
    name: str
    """``label`` or ``label eval/split``."""
    state: str = "queued"
    """Current state."""
    detail: str = ""
    """Error, step or other detail."""
    started: float | None = None
    """``time.monotonic()`` when it started running."""
    seconds: float | None = None
    """Wall time once finished."""


@dataclass
class ProgressView:
    """Cell states for a rich ``Live`` display; update with :meth:`event` and :meth:`step`."""

    cells: dict[str, CellView] = field(default_factory=dict)
    """By cell key, in plan order."""
    recent: list[str] = field(default_factory=list)
    """Keys in order of their last change, newest last."""

    @classmethod
    def of(cls, plan: Plan) -> ProgressView:
        """A view of every cell of ``plan`` (all queued)."""
        view = cls()
        for train in plan.train_cells:
            view.cells[train.key] = CellView("train", train.variant.label)
        for cell in plan.eval_cells:
            name = f"{cell.train.variant.label} {cell.eval}/{cell.split}"
            if cell.format != "all":
                name += f"/{cell.format}"
            view.cells[cell.key] = CellView("eval", name)
        for rm in plan.rm_train_cells:
            view.cells[rm.key] = CellView("rm_train", f"reward model {rm.label}")
        for rm_eval in plan.rm_eval_cells:
            name = f"{rm_eval.train.label} {rm_eval.what}/{rm_eval.split}"
            view.cells[rm_eval.key] = CellView("rm_eval", name)
        return view

    def event(self, key: str, state: str, detail: str = "") -> None:
        """A cell changed state."""
        cell = self.cells[key]
        if state == "running":
            cell.started = time.monotonic()
        elif state in ("done", "failed") and cell.started is not None:
            cell.seconds = time.monotonic() - cell.started
        cell.state, cell.detail = state, detail
        if key in self.recent:
            self.recent.remove(key)
        self.recent.append(key)

    def step(self, key: str, step: int, total: int, loss: float) -> None:
        """A training step finished."""
        self.cells[key].detail = f"step {step}/{total} loss {loss:.4f}"

    def eta_seconds(self) -> float | None:
        """Measured time left, or None until a cell of every remaining kind has finished."""
        left = 0.0
        for kind in ("train", "eval", "rm_train", "rm_eval"):
            todo = [
                c
                for c in self.cells.values()
                if c.kind == kind and c.state in ("queued", "running")
            ]
            if not todo:
                continue
            timed = [c.seconds for c in self.cells.values() if c.kind == kind and c.seconds]
            if not timed:
                return None
            left += len(todo) * sum(timed) / len(timed)
        return left

    def __rich__(self) -> RenderableType:
        counts = Counter(c.state for c in self.cells.values())
        summary = Text()
        for state, style in STATE_STYLES.items():
            summary.append(f"{state} {counts.get(state, 0)}  ", style=style)
        eta = self.eta_seconds()
        summary.append("ETA " + ("measuring..." if eta is None else f"{eta / 60:.1f} min"))
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column("state", no_wrap=True)
        table.add_column("cell", overflow="fold")
        table.add_column("detail", overflow="ellipsis", no_wrap=True, max_width=60)
        for key in self.recent[-RECENT_ROWS:]:
            cell = self.cells[key]
            table.add_row(Text(cell.state, style=STATE_STYLES[cell.state]), cell.name, cell.detail)
        return Group(summary, table)
