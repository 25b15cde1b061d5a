"""The run report: one self-contained HTML file built from stored records.

The report reads what the results store holds (runs, cells, metrics, curves,
comparisons) and nothing else: it never imports training code or loads a
model.  Everything is inline (CSS, SVG figures); there is no script, and a
Content-Security-Policy forbids loading anything, so the file opens offline
and a moved run directory keeps working (log links are relative).

It renders for a partial run: cells still queued or running are listed as
missing and their numbers show as an en dash, failed cells are listed with
their error.
"""

from __future__ import annotations

import math
import os
import posixpath
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from alignlab._errors import AlignlabError
from alignlab.experiment import (
    CELL_STATES,
    REWARD_EVAL_KINDS,
    BestOfNRecord,
    CellRecord,
    ComparisonRecord,
    CurvePoint,
    LedgerScores,
    MetricRecord,
    RankingSettings,
    RewardComparisonRecord,
    RewardResults,
    RobustnessRecord,
    RunRecord,
)
from alignlab.files import atomic_write_text
from alignlab.report._format import (
    ALPHA,
    DASH,
    esc,
    interval,
    num,
    p_value,
    significant,
)
from alignlab.report._plots import (
    MISSING_COLOUR,
    CurveSeries,
    Point,
    best_of_n_svg,
    calibration_svg,
    colour,
    forest_svg,
    heatmap_svg,
    loss_svg,
    symmetric_limit,
)
from alignlab.report._ranking import section_ranking, section_robustness

if TYPE_CHECKING:
    import pandas as pd

    from alignlab.analysis import MethodRanking

PATTERN_COLUMNS: Final = (
    "feature",
    "mean_with",
    "mean_without",
    "difference",
    "ci_low",
    "ci_high",
    "n_with",
    "n_without",
)
"""Columns a ``patterns`` table must have."""
PREFERRED_REFERENCE: Final = "none"
"""The reference shown first."""
VERSION_KEYS: Final = ("library_versions", "versions")
"""Keys of a cell's inputs that may hold ``{library: version}``."""
TABLE_TINT: Final = 0.55
"""How strongly table cells are coloured (0 white, 1 the full colour map)."""

_NO_FEATURES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType({})

_CSS: Final = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       margin: 1.5rem auto; max-width: 1600px; padding: 0 1.5rem; color: #1d1d1f;
       line-height: 1.4; }
h1 { margin-bottom: 0.2rem; }
h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
h3 { margin-top: 1.4rem; }
nav ul { columns: 3; list-style: none; padding-left: 0; }
.meta { color: #555; }
.banner { background: #fff4d6; border: 1px solid #e0b84f; padding: 0.6rem 0.9rem;
          border-radius: 4px; }
.note { color: #444; font-size: 0.92rem; max-width: 75rem; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.88rem; }
th, td { border: 1px solid #d5d5d5; padding: 0.22rem 0.5rem; vertical-align: top; }
thead th { background: #f3f3f3; }
tbody th { text-align: left; font-weight: 600; background: #fafafa; }
td.num, td.diff { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.diff.sig { font-weight: 700; }
td.missing, span.missing { color: #888; }
td.error code { white-space: pre-wrap; word-break: break-word; color: #8a1c1c; }
.ci { color: #333; font-weight: 400; }
figure { margin: 0.8rem 0 1.4rem; overflow-x: auto; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: #444; font-size: 0.9rem; margin-top: 0.3rem; max-width: 75rem; }
pre.spec { background: #f7f7f7; border: 1px solid #ddd; padding: 0.8rem; overflow-x: auto;
            font-size: 0.85rem; }
code { font-size: 0.88em; }
.tag { text-align: center; }
.scroll { overflow-x: auto; }
""".strip()


def _input(cell: CellRecord, by_key: Mapping[str, CellRecord], name: str) -> Any:
    """``cell.inputs[name]``, else the upstream train cell's, else None."""
    if name in cell.inputs:
        return cell.inputs[name]
    upstream = by_key.get(cell.upstream) if cell.upstream else None
    return upstream.inputs.get(name) if upstream is not None else None


def _text_input(cell: CellRecord, by_key: Mapping[str, CellRecord], name: str) -> str:
    value = _input(cell, by_key, name)
    if isinstance(value, Mapping):
        value = value.get("name")
    return DASH if value is None else str(value)


@dataclass(frozen=True)
class _EvalCell:
    """An eval cell with what the tables show about it."""

    cell: CellRecord
    eval: str
    split: str
    seed: str


def _describe(cell: CellRecord, by_key: Mapping[str, CellRecord]) -> _EvalCell:
    return _EvalCell(
        cell,
        _text_input(cell, by_key, "eval"),
        _text_input(cell, by_key, "split"),
        _text_input(cell, by_key, "seed"),
    )


def _first_seen(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _slug(index: int, name: str) -> str:
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "-" for ch in name)
    return f"{index}-{safe.strip('-')[:40] or 'x'}"


class _Links:
    """Relative links from the report's directory to files of the run directory."""

    def __init__(self, run_dir: Path, report_dir: Path) -> None:
        self.run_dir = Path(os.path.abspath(run_dir))
        self.report_dir = Path(os.path.abspath(report_dir))

    def href(self, artifact: str) -> str:
        target = self.run_dir / artifact
        relative = Path(os.path.relpath(target, self.report_dir)).as_posix()
        return quote(relative, safe="/._-~")

    def anchor(self, artifact: str | None) -> str:
        if not artifact:
            return f'<span class="missing">{DASH}</span>'
        absent = (
            "" if (self.run_dir / artifact).exists() else ' <span class="missing">(absent)</span>'
        )
        return f'<a href="{esc(self.href(artifact))}">{esc(artifact)}</a>{absent}'


@dataclass(frozen=True)
class _Group:
    """The comparisons of every variant with one reference."""

    reference: str
    rows: list[str]
    columns: list[str]
    splits: list[str]
    records: dict[tuple[str, str, str], ComparisonRecord]
    corrections: list[str]


def _groups(
    comparisons: Sequence[ComparisonRecord],
    variant_order: Sequence[str],
    split_order: Sequence[str],
) -> list[_Group]:
    """Comparisons by reference; every group has the same columns and splits, so they line up."""
    columns = _first_seen(f"{c.eval} / {c.metric}" for c in comparisons)
    splits = _first_seen([*split_order, *(c.split for c in comparisons)])
    splits = [split for split in splits if any(c.split == split for c in comparisons)]
    references = _first_seen(c.reference for c in comparisons)
    references.sort(key=lambda r: r != PREFERRED_REFERENCE)  # stable: `none` first
    rank = {label: i for i, label in enumerate(variant_order)}
    groups = []
    for reference in references:
        own = [c for c in comparisons if c.reference == reference]
        several_seeds = len({c.seed for c in own}) > 1

        def row(c: ComparisonRecord, several: bool = several_seeds) -> str:
            return f"{c.label} (seed {c.seed})" if several else c.label

        ordered = sorted(own, key=lambda c: (rank.get(c.label, len(rank)), c.seed))
        records = {(row(c), f"{c.eval} / {c.metric}", c.split): c for c in ordered}
        groups.append(
            _Group(
                reference=reference,
                rows=_first_seen(row(c) for c in ordered),
                columns=columns,
                splits=splits,
                records=records,
                corrections=_first_seen(c.correction for c in own),
            )
        )
    return groups


def _point(record: ComparisonRecord) -> Point:
    return Point(record.difference, record.ci_low, record.ci_high, significant(record.p_adjusted))


def _marks_note(group: _Group) -> str:
    corrections = ", ".join(esc(c) for c in group.corrections)
    return (
        f"<code>*</code> marks an adjusted p-value below {ALPHA} "
        f"({corrections} correction across the run's method &times; metric family; "
        "paired cluster-bootstrap test on the samples both variants were scored on)."
    )


_COMPARISON_SECTIONS: Final = {
    "differences": (
        "Differences from the reference",
        "Colour shows the direction and size of a difference, not whether it is good: for some "
        "metrics lower is better. One colour scale per reference, shared by the splits, so a "
        "gain on one split that vanishes on another is visible side by side. Grey cells "
        f"({DASH}) have no comparison (missing or undefined).",
    ),
    "splits": (
        "Per-split differences",
        "Each cell: difference from the reference [95% interval]; hover for p-values and the "
        "number of pairs. Splits of a metric sit next to each other.",
    ),
    "forest": (
        "Forest plots",
        "Each variant's difference from the reference with its 95% paired bootstrap interval, "
        "one panel per split; filled points are significant after correction.",
    ),
}


def _comparison_section(
    section_id: str, groups: Sequence[_Group], body: Callable[[Sequence[_Group]], list[str]]
) -> list[str]:
    """A section drawn from the comparison groups.

    Its heading and note, then what ``body`` makes of the groups; with no groups, a "none
    stored yet" line instead of both.
    """
    title, note = _COMPARISON_SECTIONS[section_id]
    out = [f'<section id="{section_id}">', f"<h2>{title}</h2>"]
    if not groups:
        out.append('<p class="missing">No comparisons stored yet.</p></section>')
        return out
    return [*out, f'<p class="note">{note}</p>', *body(groups), "</section>"]


def _heatmaps(groups: Sequence[_Group]) -> list[str]:
    out: list[str] = []
    for index, group in enumerate(groups):
        points = {key: _point(record) for key, record in group.records.items()}
        svg = heatmap_svg(
            group.rows, group.columns, group.splits, points, svg_id=f"heatmap-{index}"
        )
        out += [
            f'<h3 id="heatmap-ref-{_slug(index, group.reference)}">'
            f"Method &times; metric, minus <code>{esc(group.reference)}</code></h3>",
            f'<figure class="heatmap" data-reference="{esc(group.reference)}">',
            svg,
            f"<figcaption>Paired difference (variant minus <code>{esc(group.reference)}</code>) "
            f"per split. {_marks_note(group)}</figcaption>",
            "</figure>",
        ]
    return out


def _split_tables(groups: Sequence[_Group]) -> list[str]:
    out: list[str] = []
    for group in groups:
        limit = symmetric_limit([record.difference for record in group.records.values()])
        out += [
            f"<h3>Minus <code>{esc(group.reference)}</code></h3>",
            '<div class="scroll">',
            f'<table class="split-table" data-reference="{esc(group.reference)}">',
            '<thead><tr><th rowspan="2">variant</th>'
            + "".join(
                f'<th colspan="{len(group.splits)}">{esc(column)}</th>' for column in group.columns
            )
            + "</tr>",
            "<tr>"
            + "".join(f"<th>{esc(split)}</th>" for _ in group.columns for split in group.splits)
            + "</tr></thead>",
            "<tbody>",
        ]
        for row in group.rows:
            cells = []
            for column in group.columns:
                for split in group.splits:
                    record = group.records.get((row, column, split))
                    if record is None:
                        cells.append(
                            f'<td class="diff missing" style="background:{MISSING_COLOUR}">'
                            f"{DASH}</td>"
                        )
                        continue
                    sig = significant(record.p_adjusted)
                    mcnemar = (
                        f"; McNemar p {p_value(record.mcnemar_p)}"
                        if record.mcnemar_p is not None
                        else ""
                    )
                    title = (
                        f"p {p_value(record.p_value)}; adjusted p {p_value(record.p_adjusted)} "
                        f"({record.correction}){mcnemar}; {record.n_pairs} pairs; "
                        f"seed {record.seed}"
                    )
                    background = colour(record.difference, limit, tint=TABLE_TINT)
                    bounds = interval(record.ci_low, record.ci_high, signed=True)
                    ci = "" if bounds == DASH else f' <span class="ci">{bounds}</span>'
                    state = " sig" if sig else " missing" if math.isnan(record.difference) else ""
                    cells.append(
                        f'<td class="diff{state}" style="background:{background}" '
                        f'title="{esc(title)}">{num(record.difference, signed=True)}'
                        f"{'*' if sig else ''}{ci}</td>"
                    )
            out.append(f"<tr><th>{esc(row)}</th>{''.join(cells)}</tr>")
        out += ["</tbody></table></div>", f'<p class="note">{_marks_note(group)}</p>']
    return out


def _forest_plots(groups: Sequence[_Group]) -> list[str]:
    out: list[str] = []
    for g, group in enumerate(groups):
        for m, column in enumerate(group.columns):
            points = {
                (row, split): _point(record)
                for (row, col, split), record in group.records.items()
                if col == column
            }
            title = f"{column} (minus {group.reference})"
            svg = forest_svg(
                group.rows, group.splits, points, title=title, svg_id=f"forest-{g}-{m}"
            )
            out += [
                f'<figure class="forest" data-metric="{esc(column)}" '
                f'data-reference="{esc(group.reference)}">',
                svg,
                f"<figcaption>{esc(column)}: difference from <code>{esc(group.reference)}</code>."
                f"</figcaption>",
                "</figure>",
            ]
    return out


def _section_curves(train_cells: Sequence[CellRecord], curves: Sequence[CurvePoint]) -> list[str]:
    out = ['<section id="curves">', "<h2>Training loss</h2>"]
    by_cell: dict[str, list[CurvePoint]] = {}
    for point in curves:
        by_cell.setdefault(point.cell_key, []).append(point)
    labels = {cell.key: cell.label for cell in train_cells}
    keys = [cell.key for cell in train_cells if cell.key in by_cell]
    keys += [key for key in by_cell if key not in labels]
    names = [labels.get(key, f"cell {key[:12]}") for key in keys]
    repeated = {name for name, count in Counter(names).items() if count > 1}
    series = []
    for key, name in zip(keys, names, strict=True):
        points = sorted(by_cell[key], key=lambda p: p.step)
        label = f"{name} ({key[:8]})" if name in repeated else name
        series.append((label, [p.step for p in points], [p.loss for p in points]))
    without = [cell for cell in train_cells if cell.key not in by_cell]
    if series:
        out += [
            '<figure class="loss-curves">',
            loss_svg(series, svg_id="loss-curves"),
            "<figcaption>Training loss per optimiser step, one line per train cell.</figcaption>",
            "</figure>",
        ]
    else:
        out.append('<p class="missing">No training loss stored yet.</p>')
    if without:
        listed = ", ".join(f"{esc(c.label)} ({esc(c.state)})" for c in without)
        out.append(f'<p class="note">No loss recorded for: {listed}.</p>')
    out.append("</section>")
    return out


def _section_metrics(
    evals: Sequence[_EvalCell], metrics: Sequence[MetricRecord], links: _Links
) -> list[str]:
    out = [
        '<section id="metrics">',
        "<h2>Metrics of every eval cell</h2>",
        '<p class="note">Point estimate and 95% cluster-bootstrap interval; <em>n</em> is the '
        "number of samples scored.</p>",
    ]
    if not evals:
        out.append('<p class="missing">No eval cells.</p></section>')
        return out
    by_cell: dict[str, list[MetricRecord]] = {}
    for record in metrics:
        by_cell.setdefault(record.cell_key, []).append(record)
    out += [
        '<table class="metrics-table"><thead><tr><th>variant</th><th>seed</th><th>eval</th>'
        "<th>split</th><th>state</th><th>Inspect log</th><th>metric</th><th>value</th>"
        "<th>95% CI</th><th>n</th></tr></thead>",
        "<tbody>",
    ]
    for info in evals:
        cell = info.cell
        own = by_cell.get(cell.key, [])
        span = max(len(own), 1)
        head = (
            f'<tr data-cell="{esc(cell.key)}"><th rowspan="{span}">{esc(cell.label)}</th>'
            f'<td rowspan="{span}">{esc(info.seed)}</td>'
            f'<td rowspan="{span}">{esc(info.eval)}</td><td rowspan="{span}">{esc(info.split)}</td>'
            f'<td rowspan="{span}">{esc(cell.state)}</td>'
            f'<td rowspan="{span}">{links.anchor(cell.artifact)}</td>'
        )
        if not own:
            reason = "missing" if cell.state != "failed" else "failed"
            out.append(
                f'{head}<td class="missing" colspan="4">{reason} ({esc(cell.state)})</td></tr>'
            )
            continue
        for i, record in enumerate(own):
            out.append(
                (head if i == 0 else "<tr>")
                + f'<td>{esc(record.metric)}</td><td class="num">{num(record.value)}</td>'
                f'<td class="num">{interval(record.ci_low, record.ci_high)}</td>'
                f'<td class="num">{record.n}</td></tr>'
            )
    out += ["</tbody></table>", "</section>"]
    return out


def _problem_table(
    heading: str,
    table_class: str,
    last_heads: str,
    rows: Sequence[tuple[CellRecord, str]],
    by_key: Mapping[str, CellRecord],
) -> list[str]:
    """A table of cells under ``heading``.

    Kind, variant, eval and split, then the columns of ``last_heads``: each row brings its
    own cells for them, already escaped.
    """
    out = [
        f"<h3>{heading}</h3>",
        f'<table class="{table_class}"><thead><tr><th>kind</th><th>variant</th><th>eval</th>'
        f"<th>split</th>{last_heads}</tr></thead><tbody>",
    ]
    for cell, last in rows:
        info = _describe(cell, by_key)
        evals = (esc(info.eval), esc(info.split)) if cell.kind == "eval" else (DASH, DASH)
        out.append(
            f'<tr data-cell="{esc(cell.key)}"><td>{esc(cell.kind)}</td>'
            f"<th>{esc(cell.label)}</th><td>{evals[0]}</td><td>{evals[1]}</td>{last}</tr>"
        )
    out.append("</tbody></table>")
    return out


def _section_problems(
    cells: Sequence[CellRecord], by_key: Mapping[str, CellRecord], links: _Links
) -> list[str]:
    failed = [cell for cell in cells if cell.state == "failed"]
    missing = [cell for cell in cells if cell.state in ("queued", "running")]
    out = ['<section id="problems">', "<h2>Failed and missing cells</h2>"]
    if not failed and not missing:
        out.append("<p>Every cell is done.</p></section>")
        return out
    if failed:
        errors = [
            (
                cell,
                f'<td class="error"><code>{esc(cell.error or "(no error recorded)")}</code></td>'
                f"<td>{links.anchor(cell.artifact)}</td>",
            )
            for cell in failed
        ]
        out += _problem_table(
            "Failed", "failed-table", "<th>error</th><th>log</th>", errors, by_key
        )
    if missing:
        states = [(cell, f"<td>{esc(cell.state)}</td>") for cell in missing]
        out += _problem_table(
            "Missing (not run yet)", "missing-table", "<th>state</th>", states, by_key
        )
    out.append("</section>")
    return out


def _pattern_rows(patterns: pd.DataFrame) -> list[str]:
    absent = [column for column in PATTERN_COLUMNS if column not in patterns.columns]
    if absent:
        raise AlignlabError(f"the patterns table lacks the columns {', '.join(absent)}")
    rows = []
    for row in patterns[list(PATTERN_COLUMNS)].itertuples(index=False):
        feature, mean_with, mean_without, difference, low, high, n_with, n_without = row
        rows.append(
            f'<tr><th>{esc(feature)}</th><td class="num">{num(float(mean_with))}</td>'
            f'<td class="num">{num(float(mean_without))}</td>'
            f'<td class="num">{num(float(difference), signed=True)}</td>'
            f'<td class="num">{interval(float(low), float(high), signed=True)}</td>'
            f'<td class="num">{int(n_with)}</td><td class="num">{int(n_without)}</td></tr>'
        )
    return rows


def _section_patterns(
    features: Mapping[str, tuple[str, ...]], patterns: pd.DataFrame | None
) -> list[str]:
    out = ['<section id="patterns">', "<h2>Patterns across methods</h2>"]
    if features:
        tags = _first_seen(tag for method in features for tag in features[method])
        out += [
            '<p class="note">What each method does (its feature tags).</p>',
            '<table class="tags-table"><thead><tr><th>method</th>'
            + "".join(f"<th>{esc(tag)}</th>" for tag in tags)
            + "</tr></thead><tbody>",
        ]
        for method, own in features.items():
            marks = "".join(
                f'<td class="tag">{"&#10003;" if tag in own else ""}</td>' for tag in tags
            )
            out.append(f"<tr><th>{esc(method)}</th>{marks}</tr>")
        out.append("</tbody></table>")
    else:
        out.append('<p class="missing">No feature tags given.</p>')
    if patterns is not None:
        out += [
            '<p class="note"><strong>Descriptive only.</strong> Each row contrasts the mean '
            "difference from the reference of methods with a feature against methods without it. "
            "There are few methods and features occur together, so these are patterns in this "
            "run, not causal effects of the features.</p>",
            '<table class="patterns-table"><thead><tr><th>feature</th><th>mean with</th>'
            "<th>mean without</th><th>difference</th><th>95% CI</th><th>n with</th>"
            "<th>n without</th></tr></thead><tbody>",
            *_pattern_rows(patterns),
            "</tbody></table>",
        ]
    out.append("</section>")
    return out


_OUTCOME_TEXT: Final = {
    "hit": "hit",
    "miss": "miss",
    "unresolved": "unresolved",
    "no_data": "no data yet",
}


def _short_time(stamp: str) -> str:
    """``2025-01-02 03:04:05`` from an ISO 8601 UTC time (the full one is kept in a title)."""
    return stamp[:19].replace("T", " ")


def _with_interval(value: float, low: float, high: float, *, signed: bool) -> str:
    text = num(value, signed=signed)
    if math.isnan(low) and math.isnan(high):
        return text
    return f'{text} <span class="ci">{interval(low, high, signed=signed)}</span>'


def _ledger_rows(ledger: LedgerScores) -> list[str]:
    rows = []
    for row in ledger.predictions.itertuples(index=False):
        measured = _with_interval(
            float(row.measured),
            float(row.ci_low),
            float(row.ci_high),
            signed=row.type != "interval",
        )
        status = esc(row.status)
        if isinstance(row.first_cell_started_at, str):
            status += (
                f'<br><span class="ci">first cell {esc(_short_time(row.first_cell_started_at))}'
                "</span>"
            )
        rows.append(
            f'<tr><td><code>{esc(row.id)}</code></td><td title="{esc(row.registered_at)}">'
            f"{esc(_short_time(row.registered_at))}</td>"
            f"<td>{esc(row.author)}</td><td>{esc(row.theory)}</td>"
            f'<td>{esc(row.claim)}<br><span class="ci" title="{esc(row.rule)}">'
            f"{esc(row.what)}</span></td>"
            f'<td class="num">{num(float(row.probability))}</td><td>{status}</td>'
            f'<td class="num">{measured}</td><td>{esc(_OUTCOME_TEXT[str(row.outcome)])}</td>'
            f'<td class="num">{num(float(row.log_score), signed=True)}</td>'
            f'<td class="num">{num(float(row.baseline_score), signed=True)}</td>'
            f'<td class="num">{num(float(row.peer_score), signed=True)}</td>'
            f'<td class="num">{num(float(row.brier_score))}</td></tr>'
        )
    return rows


def _section_predictions(ledger: LedgerScores) -> list[str]:
    out = ['<section id="predictions">', "<h2>Predictions</h2>"]
    if ledger.problem is not None:
        out += [
            f'<p class="banner">The prediction ledger failed verification, so nothing is '
            f"scored: {esc(ledger.problem)}</p>",
            "</section>",
        ]
        return out
    table = ledger.predictions
    post_hoc = int((table["status"] == "post-hoc").sum()) if len(table) else 0
    out += [
        f'<p class="note">{len(table)} predictions in <code>ledger.jsonl</code> '
        f"({len(ledger.entries)} entries, head <code>{esc(ledger.head[:16])}</code>; check with "
        f"<code>alignlab predict verify</code>), {post_hoc} of them post-hoc (registered after a "
        "cell they name started: listed, never scored). A prediction resolves against the 95% "
        "interval of what it names: <strong>hit</strong> when the whole interval is on the "
        "claimed side of the threshold (or inside the claimed range), <strong>miss</strong> "
        "when none of it is, <strong>unresolved</strong> when the interval straddles the "
        "threshold; several seeds are averaged. Hover over a quantity for its rule. Scores use "
        "natural logs: log score ln p on a hit, ln(1&minus;p) on a miss; baseline = log score "
        "&minus; ln 0.5; peer = log score &minus; the mean log score of every forecast on the "
        "same question (blank with one author); Brier = (p &minus; outcome)&sup2;, lower is "
        "better.</p>",
    ]
    if not len(table):
        out += ['<p class="missing">No predictions registered.</p>', "</section>"]
        return out
    out += [
        '<div class="scroll"><table class="ledger-table"><thead><tr><th>id</th>'
        "<th>registered (UTC)</th><th>author</th><th>theory</th><th>claim / quantity</th>"
        "<th>p</th><th>status</th><th>measured [95% CI]</th><th>outcome</th><th>log</th>"
        "<th>baseline</th><th>peer</th><th>Brier</th></tr></thead><tbody>",
        *_ledger_rows(ledger),
        "</tbody></table></div>",
    ]
    scores = ledger.scores
    assert scores is not None
    calibration = scores.calibration
    filled = calibration[calibration["n"] > 0]
    out.append("<h3>Calibration</h3>")
    if filled.empty:
        out.append('<p class="missing">No resolved forecasts yet.</p>')
    else:
        svg = calibration_svg(
            [
                (float(r.mean_probability), float(r.hit_rate), int(r.n))
                for r in filled.itertuples(index=False)
            ],
            svg_id="calibration",
        )
        out.append(
            f'<figure class="calibration">{svg}<figcaption>Scored forecasts binned by '
            "probability: the observed hit rate against the mean forecast of each bin (on the "
            "dashed line when calibrated). Few forecasts make this noisy.</figcaption></figure>"
        )
        out.append(
            '<table class="calibration-table"><thead><tr><th>bin</th><th>n</th>'
            "<th>mean p</th><th>hit rate</th></tr></thead><tbody>"
        )
        for r in calibration.itertuples(index=False):
            out.append(
                f'<tr><th>{esc(r.bin)}</th><td class="num">{int(r.n)}</td>'
                f'<td class="num">{num(float(r.mean_probability))}</td>'
                f'<td class="num">{num(float(r.hit_rate))}</td></tr>'
            )
        out.append("</tbody></table>")
    out += [
        "<h3>Theories</h3>",
        '<p class="note">Ranked by mean log score per scored forecast (higher is better; 95% '
        "percentile-bootstrap interval over forecasts, none with fewer than two), shown with "
        "the number of assumptions each makes.</p>",
        '<table class="theory-table"><thead><tr><th>rank</th><th>theory</th>'
        "<th>assumptions</th><th>predictions</th><th>post-hoc</th><th>scored</th>"
        "<th>mean log score [95% CI]</th><th>mean Brier</th></tr></thead><tbody>",
    ]
    for rank, r in enumerate(scores.theories.itertuples(index=False), start=1):
        uses = [a for a in str(r.assumptions).split(", ") if a]
        listed = "<br>".join(
            f"<code>{esc(a)}</code>: {esc(ledger.assumptions.get(a, ''))}" for a in uses
        )
        out.append(
            f'<tr><td class="num">{rank}</td><th>{esc(r.theory)}</th>'
            f"<td>{int(r.n_assumptions)}{'<br>' + listed if listed else ''}</td>"
            f'<td class="num">{int(r.n_predictions)}</td><td class="num">{int(r.n_post_hoc)}</td>'
            f'<td class="num">{int(r.n_scored)}</td>'
            '<td class="num">'
            + _with_interval(
                float(r.mean_log_score), float(r.ci_low), float(r.ci_high), signed=True
            )
            + "</td>"
            f'<td class="num">{num(float(r.mean_brier_score))}</td></tr>'
        )
    out += [
        "</tbody></table>",
        "<h3>Authors</h3>",
        '<p class="note">Ranked by mean peer score (questions with at least two authors). '
        "The <em>crowd</em> is the mean probability of every forecast on a question, scored "
        "like an author; its peer score compares it with the authors it averages.</p>",
        '<table class="author-table"><thead><tr><th>author</th><th>scored</th>'
        "<th>with peers</th><th>mean peer</th><th>mean log</th><th>mean baseline</th>"
        "<th>mean Brier</th></tr></thead><tbody>",
    ]
    for r in scores.authors.itertuples(index=False):
        out.append(
            f'<tr><th>{esc(r.author)}</th><td class="num">{int(r.n_scored)}</td>'
            f'<td class="num">{int(r.n_peer)}</td>'
            f'<td class="num">{num(float(r.mean_peer_score), signed=True)}</td>'
            f'<td class="num">{num(float(r.mean_log_score), signed=True)}</td>'
            f'<td class="num">{num(float(r.mean_baseline_score), signed=True)}</td>'
            f'<td class="num">{num(float(r.mean_brier_score))}</td></tr>'
        )
    out += ["</tbody></table>", "</section>"]
    return out


def _library_versions(cells: Sequence[CellRecord]) -> dict[str, list[str]]:
    versions: dict[str, list[str]] = {}
    for cell in cells:
        for key in VERSION_KEYS:
            found = cell.inputs.get(key)
            if isinstance(found, Mapping):
                for library, version in found.items():
                    seen = versions.setdefault(str(library), [])
                    if str(version) not in seen:
                        seen.append(str(version))
    return versions


def _section_spec(run: RunRecord, cells: Sequence[CellRecord]) -> list[str]:
    out = [
        '<section id="spec">',
        "<h2>Spec and versions</h2>",
        '<table class="versions-table"><tbody>',
        f"<tr><th>run</th><td>{esc(run.name)}</td></tr>",
        f"<tr><th>run id</th><td><code>{esc(run.run_id)}</code></td></tr>",
        f"<tr><th>created</th><td>{esc(run.created_at)}</td></tr>",
        f"<tr><th>alignlab (first run)</th><td>{esc(run.alignlab_version)}</td></tr>",
        "</tbody></table>",
    ]
    libraries = _library_versions(cells)
    if libraries:
        out += [
            "<h3>Library versions recorded by the cells</h3>",
            '<table class="libraries-table"><tbody>',
        ]
        for library, seen in sorted(libraries.items()):
            warning = " (differs between cells)" if len(seen) > 1 else ""
            out.append(f"<tr><th>{esc(library)}</th><td>{esc(', '.join(seen))}{warning}</td></tr>")
        out.append("</tbody></table>")
    out += [
        "<h3>Spec as written</h3>",
        f'<pre class="spec">{esc(run.spec_yaml)}</pre>',
        "</section>",
    ]
    return out


def _section_logs(evals: Sequence[_EvalCell]) -> list[str]:
    directories = _first_seen(
        posixpath.dirname(info.cell.artifact) or "." for info in evals if info.cell.artifact
    )
    out = [
        '<section id="logs">',
        "<h2>Inspect logs</h2>",
        '<p class="note">Every eval cell above links to its Inspect <code>.eval</code> log, '
        "relative to this file (the run directory can be moved). A browser downloads a "
        "<code>.eval</code> file; to read the samples, run from the run directory:</p>",
    ]
    if directories:
        out.append(
            "<pre>"
            + "\n".join(f"inspect view --log-dir {esc(directory)}" for directory in directories)
            + "</pre>"
        )
    else:
        out.append('<p class="missing">No logs written yet.</p>')
    out.append("</section>")
    return out


def _summary(run: RunRecord, cells: Sequence[CellRecord]) -> list[str]:
    counts: Counter[tuple[str, str]] = Counter((cell.kind, cell.state) for cell in cells)
    parts = []
    kinds = ["train", "eval", *_first_seen(c.kind for c in cells if c.kind.startswith("rm_"))]
    for kind in kinds:
        states = [
            f"{counts[(kind, state)]} {state}" for state in CELL_STATES if counts[(kind, state)]
        ]
        parts.append(f"{kind}: {', '.join(states) or 'none'}")
    out = [
        f"<h1>{esc(run.name)}</h1>",
        f'<p class="meta">Run <code>{esc(run.run_id[:16])}</code> &middot; created '
        f"{esc(run.created_at)} &middot; alignlab {esc(run.alignlab_version)} &middot; "
        f"cells: {esc('; '.join(parts))}</p>",
    ]
    unfinished = sum(1 for cell in cells if cell.state != "done")
    if unfinished:
        detail = ", ".join(
            f"{sum(1 for cell in cells if cell.state == state)} {state}"
            for state in CELL_STATES
            if state != "done" and any(cell.state == state for cell in cells)
        )
        out.append(
            f'<p class="banner" id="partial">Partial run: {unfinished} of {len(cells)} cells are '
            f"not done ({detail}). Their results show as {DASH}; see "
            '<a href="#problems">failed and missing cells</a>.</p>'
        )
    return out


_RM_NOTE: Final = (
    "Reward models trained at the spec's budget profile (the same token budget as the "
    "methods, so kinds compare at matched training tokens) and scored on gold-labelled "
    "preference pairs the training never saw. Accuracy: share of pairs whose gold-preferred "
    "reply gets the strictly higher reward, with a 95% Wilson interval. Paired: each reward "
    "model minus the spec's first one on the same pairs (paired bootstrap interval, exact "
    "McNemar p). Robustness: accuracy on the pairs a transform applies to, minus accuracy on "
    "the rewritten pairs (a positive drop means the rewrite fooled the reward model)."
)


def _rm_name(cell: CellRecord, by_key: Mapping[str, CellRecord], several: set[str]) -> str:
    """A reward-model eval cell's name: its label, then seed and split when they vary."""
    parts = [cell.label]
    if "seed" in several:
        parts.append(f"seed {_text_input(cell, by_key, 'seed')}")
    if "split" in several:
        parts.append(_text_input(cell, by_key, "split"))
    if "base" in several:
        parts.append(_text_input(cell, by_key, "base"))
    return " · ".join(parts)


def _rm_accuracy_table(
    cells: Sequence[CellRecord],
    by_key: Mapping[str, CellRecord],
    metrics: Sequence[MetricRecord],
) -> list[str]:
    by_cell: dict[str, dict[str, MetricRecord]] = {}
    for record in metrics:
        by_cell.setdefault(record.cell_key, {})[record.metric] = record
    families = _first_seen(
        name.split("/", 1)[1]
        for cell in cells
        for name in by_cell.get(cell.key, {})
        if name.startswith("accuracy/")
    )
    heads = "".join(f"<th>{esc(f)}</th>" for f in families)
    out = [
        "<h3>Pairwise accuracy</h3>",
        '<table class="rm-accuracy"><thead><tr><th>reward model</th><th>base</th><th>seed</th>'
        f"<th>split</th><th>state</th><th>accuracy</th><th>95% CI</th><th>n</th>{heads}"
        "</tr></thead><tbody>",
    ]
    for cell in cells:
        own = by_cell.get(cell.key, {})
        head = (
            f'<tr data-cell="{esc(cell.key)}"><th>{esc(cell.label)}</th>'
            f"<td>{esc(Path(_text_input(cell, by_key, 'base')).name)}</td>"
            f"<td>{esc(_text_input(cell, by_key, 'seed'))}</td>"
            f"<td>{esc(_text_input(cell, by_key, 'split'))}</td><td>{esc(cell.state)}</td>"
        )
        total = own.get("accuracy")
        if total is None:
            blank = f'<td class="missing">{DASH}</td>'
            out.append(head + blank * (3 + len(families)) + "</tr>")
            continue
        per_family = "".join(
            f'<td class="num">{num(own[f"accuracy/{f}"].value)} '
            f'<span class="ci">(n={own[f"accuracy/{f}"].n})</span></td>'
            if f"accuracy/{f}" in own
            else f'<td class="missing">{DASH}</td>'
            for f in families
        )
        out.append(
            f'{head}<td class="num">{num(total.value)}</td>'
            f'<td class="num">{interval(total.ci_low, total.ci_high)}</td>'
            f'<td class="num">{total.n}</td>{per_family}</tr>'
        )
    out.append("</tbody></table>")
    return out


def _rm_comparison_table(comparisons: Sequence[RewardComparisonRecord]) -> list[str]:
    if not comparisons:
        return []
    out = [
        "<h3>Paired differences</h3>",
        '<table class="rm-paired"><thead><tr><th>reward model</th><th>minus</th><th>seed</th>'
        "<th>split</th><th>difference</th><th>95% CI</th><th>McNemar p</th><th>pairs</th>"
        "</tr></thead><tbody>",
    ]
    for row in comparisons:
        out.append(
            f"<tr><th>{esc(row.label)}</th><td>{esc(row.reference)}</td><td>{row.seed}</td>"
            f'<td>{esc(row.split)}</td><td class="diff">{num(row.difference, signed=True)}</td>'
            f'<td class="num">{interval(row.ci_low, row.ci_high, signed=True)}</td>'
            f'<td class="num">{p_value(row.mcnemar_p)}</td><td class="num">{row.n_pairs}</td></tr>'
        )
    out.append("</tbody></table>")
    return out


def _rm_robustness_table(
    cells: Sequence[CellRecord],
    by_key: Mapping[str, CellRecord],
    rows: Sequence[RobustnessRecord],
    several: set[str],
) -> list[str]:
    if not cells:
        return []
    by_cell: dict[str, dict[str, RobustnessRecord]] = {}
    for row in rows:
        by_cell.setdefault(row.cell_key, {})[row.transform] = row
    transforms = _first_seen(row.transform for row in rows)
    heads = "".join(f"<th>{esc(_rm_name(c, by_key, several))}</th>" for c in cells)
    out = [
        "<h3>Robustness: accuracy drop per transform</h3>",
        f'<table class="rm-robustness"><thead><tr><th>transform</th>{heads}</tr></thead><tbody>',
    ]
    if not transforms:
        span = len(cells) + 1
        out.append(f'<tr><td class="missing" colspan="{span}">No robustness stored yet.</td></tr>')
    for transform in transforms:
        tds = []
        for cell in cells:
            found = by_cell.get(cell.key, {}).get(transform)
            if found is None:
                tds.append(f'<td class="missing">{DASH}</td>')
                continue
            tds.append(
                f'<td class="diff">{num(found.accuracy_drop, signed=True)} '
                f'<span class="ci">{interval(found.ci_low, found.ci_high, signed=True)} '
                f"(n={found.n_pairs})</span></td>"
            )
        out.append(f"<tr><th>{esc(transform)}</th>{''.join(tds)}</tr>")
    out.append("</tbody></table>")
    return out


def _rm_best_of_n(
    cells: Sequence[CellRecord],
    by_key: Mapping[str, CellRecord],
    points: Sequence[BestOfNRecord],
    several: set[str],
) -> list[str]:
    if not cells:
        return []
    by_cell: dict[str, list[BestOfNRecord]] = {}
    for point in points:
        by_cell.setdefault(point.cell_key, []).append(point)
    series = []
    rows = []
    for cell in cells:
        own = sorted(by_cell.get(cell.key, []), key=lambda p: p.n)
        if not own:
            continue
        name = _rm_name(cell, by_key, several)
        series.append(
            CurveSeries(
                label=name,
                kl=[p.kl for p in own],
                proxy=[(p.proxy, p.proxy_ci_low, p.proxy_ci_high) for p in own],
                gold=[(p.gold, p.gold_ci_low, p.gold_ci_high) for p in own],
            )
        )
        for p in own:
            rows.append(
                f'<tr data-cell="{esc(cell.key)}"><th>{esc(name)}</th><td class="num">{p.n}</td>'
                f'<td class="num">{num(p.kl)}</td><td class="num">{num(p.proxy)} '
                f'<span class="ci">{interval(p.proxy_ci_low, p.proxy_ci_high)}</span></td>'
                f'<td class="num">{num(p.gold)} '
                f'<span class="ci">{interval(p.gold_ci_low, p.gold_ci_high)}</span></td>'
                f'<td class="num">{p.n_prompts}</td></tr>'
            )
    out = ["<h3>Best-of-N over-optimisation</h3>"]
    if not series:
        return [*out, '<p class="missing">No best-of-N curve stored yet.</p>']
    out += [
        '<figure class="best-of-n">',
        best_of_n_svg(series, svg_id="best-of-n"),
        "<figcaption>Mean gold and proxy reward of the reply the reward model picks among N "
        "sampled from the base, against the analytic KL log N - (N-1)/N (Gao et al. 2022, "
        "arXiv:2210.10760); bands are 95% bootstrap intervals over prompts.</figcaption>",
        "</figure>",
        '<table class="rm-best-of-n"><thead><tr><th>reward model</th><th>N</th><th>KL</th>'
        "<th>proxy [95% CI]</th><th>gold [95% CI]</th><th>prompts</th></tr></thead><tbody>",
        *rows,
        "</tbody></table>",
    ]
    return out


def _section_rewards(
    cells: Sequence[CellRecord],
    by_key: Mapping[str, CellRecord],
    metrics: Sequence[MetricRecord],
    rewards: RewardResults,
) -> list[str]:
    """The "Reward models" section (left out of runs without reward-model cells)."""
    of_kind = {kind: [c for c in cells if c.kind == kind] for kind in REWARD_EVAL_KINDS}
    scored = [c for kind in REWARD_EVAL_KINDS for c in of_kind[kind]]
    several = {
        name
        for name in ("seed", "split", "base")
        if len({_text_input(c, by_key, name) for c in scored}) > 1
    }
    return [
        '<section id="reward-models">',
        "<h2>Reward models</h2>",
        f'<p class="note">{esc(_RM_NOTE)}</p>',
        *_rm_accuracy_table(of_kind["rm_accuracy"], by_key, metrics),
        *_rm_comparison_table(rewards.comparisons),
        *_rm_robustness_table(of_kind["rm_robustness"], by_key, rewards.robustness, several),
        *_rm_best_of_n(of_kind["rm_best_of_n"], by_key, rewards.best_of_n, several),
        "</section>",
    ]


_NAV: Final = (
    ("ranking", "Method ranking"),
    ("robustness", "Robustness"),
    ("differences", "Differences from the reference"),
    ("splits", "Per-split differences"),
    ("forest", "Forest plots"),
    ("curves", "Training loss"),
    ("metrics", "Metrics of every eval cell"),
    ("problems", "Failed and missing cells"),
    ("patterns", "Patterns across methods"),
    ("spec", "Spec and versions"),
    ("logs", "Inspect logs"),
)


def build_report(
    run: RunRecord,
    cells: Sequence[CellRecord],
    metrics: Sequence[MetricRecord],
    curves: Sequence[CurvePoint],
    comparisons: Sequence[ComparisonRecord],
    *,
    run_dir: Path,
    features: Mapping[str, tuple[str, ...]] = _NO_FEATURES,
    patterns: pd.DataFrame | None = None,
    report_dir: Path | None = None,
    ledger: LedgerScores | None = None,
    ranking: MethodRanking | None = None,
    robustness: RankingSettings | None = None,
    rewards: RewardResults | None = None,
) -> str:
    """The run's report as one self-contained HTML document.

    Deterministic: the same records give the same text, byte for byte.

    Args:
        run: The run.
        cells: Its cells, in plan order (train and eval, any state).
        metrics: Metrics of its eval cells.
        curves: Training loss of its train cells.
        comparisons: Paired comparisons with the reference variants.
        run_dir: The run directory (cells' artifacts are relative to it).
        features: Method name -> feature tags, for the patterns section.
        patterns: Descriptive feature patterns (columns :data:`PATTERN_COLUMNS`), or None.
        report_dir: Where the HTML file will live (log links are relative to it);
            defaults to ``run_dir``.
        ledger: The run's scored prediction ledger, for the predictions section
            (left out when None).
        ranking: The method ranking (:func:`alignlab.analysis.rank_methods`), for the
            "Method ranking" section.
        robustness: The run's stored ranking settings, whose robustness file (if any)
            the "Robustness" section shows.
        rewards: The run's stored reward-model results, for the "Reward models"
            section (shown when the run has reward-model cells).

    Returns:
        The HTML text.

    Raises:
        AlignlabError: If ``patterns`` lacks one of :data:`PATTERN_COLUMNS`.
    """
    by_key = {cell.key: cell for cell in cells}
    links = _Links(run_dir, run_dir if report_dir is None else report_dir)
    variant_order = _first_seen(cell.label for cell in cells)
    evals = [_describe(cell, by_key) for cell in cells if cell.kind == "eval"]
    groups = _groups(comparisons, variant_order, [info.split for info in evals])
    train_cells = [cell for cell in cells if cell.kind == "train"]
    spec_at = next(i for i, (anchor, _) in enumerate(_NAV) if anchor == "spec")
    sections = (
        _NAV
        if ledger is None
        else (*_NAV[:spec_at], ("predictions", "Predictions"), *_NAV[spec_at:])
    )
    has_rewards = any(cell.kind.startswith("rm_") for cell in cells)
    if has_rewards:
        curves_at = next(i for i, (anchor, _) in enumerate(sections) if anchor == "curves")
        sections = (
            *sections[:curves_at],
            ("reward-models", "Reward models"),
            *sections[curves_at:],
        )
    nav = "".join(f'<li><a href="#{anchor}">{title}</a></li>' for anchor, title in sections)
    body = [
        *_summary(run, cells),
        f"<nav><ul>{nav}</ul></nav>",
        *section_ranking(ranking, alpha=ALPHA),
        *section_robustness(robustness),
        *_comparison_section("differences", groups, _heatmaps),
        *_comparison_section("splits", groups, _split_tables),
        *_comparison_section("forest", groups, _forest_plots),
        *(
            _section_rewards(cells, by_key, metrics, rewards or RewardResults())
            if has_rewards
            else []
        ),
        *_section_curves(train_cells, curves),
        *_section_metrics(evals, metrics, links),
        *_section_problems(cells, by_key, links),
        *_section_patterns(features, patterns),
        *([] if ledger is None else _section_predictions(ledger)),
        *_section_spec(run, cells),
        *_section_logs(evals),
    ]
    head = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="alignlab">',
        '<link rel="icon" href="data:,">',
        f"<title>alignlab report: {esc(run.name)}</title>",
        f"<style>\n{_CSS}\n</style>",
        "</head>",
        "<body>",
    ]
    return "\n".join([*head, *body, "</body>", "</html>", ""])


def write_report(
    run: RunRecord,
    cells: Sequence[CellRecord],
    metrics: Sequence[MetricRecord],
    curves: Sequence[CurvePoint],
    comparisons: Sequence[ComparisonRecord],
    *,
    path: Path,
    run_dir: Path,
    features: Mapping[str, tuple[str, ...]] = _NO_FEATURES,
    patterns: pd.DataFrame | None = None,
    ledger: LedgerScores | None = None,
    ranking: MethodRanking | None = None,
    robustness: RankingSettings | None = None,
    rewards: RewardResults | None = None,
) -> Path:
    """Build the report and write it to ``path`` atomically (readers never see half a file).

    Args:
        run: The run.
        cells: Its cells.
        metrics: Metrics of its eval cells.
        curves: Training loss of its train cells.
        comparisons: Paired comparisons.
        path: The HTML file to write (its directory is created); log links are relative to it.
        run_dir: The run directory.
        features: Method name -> feature tags.
        patterns: Descriptive feature patterns, or None.
        ledger: The run's scored prediction ledger, or None.
        ranking: The method ranking, or None.
        robustness: The run's stored ranking settings, or None.
        rewards: The run's stored reward-model results, or None.

    Returns:
        ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    text = build_report(
        run,
        cells,
        metrics,
        curves,
        comparisons,
        run_dir=run_dir,
        features=features,
        patterns=patterns,
        report_dir=path.parent,
        ledger=ledger,
        ranking=ranking,
        robustness=robustness,
        rewards=rewards,
    )
    atomic_write_text(path, text)
    return path
