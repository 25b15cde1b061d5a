"""The report's "Method ranking" and "Robustness" sections.

The ranking is computed elsewhere (:func:`alignlab.analysis.rank_methods`,
called by :func:`alignlab.experiment.report_run` with the run's stored
ranking settings); here it is only drawn: one table per reference, the score
stated in words, the metrics ranked on and those left out with their reasons
(their robustness verdicts among them).  The robustness section lists the
verdict of every eval metric in the run's stored robustness file and its
matrix cells (effect [95% interval]) per attack.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from alignlab.report._format import DASH, esc, interval, num

if TYPE_CHECKING:
    from alignlab.analysis import MethodRanking
    from alignlab.attacks import MatrixRow
    from alignlab.experiment import RankingSettings

SHORT_HASH: Final = 12
"""Hex digits of a file hash shown."""
NOT_APPLICABLE: Final = "n/a"

_SCORE_NOTE: Final = (
    "Score: the mean, over the metrics ranked on, of the paired difference from the "
    "reference on <code>{split}</code>, signed so that positive is more aligned (a metric "
    "where lower is better has its difference negated; differences are averaged over seeds "
    "first). <em>Better</em> / <em>worse</em>: metrics whose difference has an adjusted "
    "p-value below {alpha} in the aligned direction in every seed compared. Ordered by "
    "score, then better minus worse. Metrics are assumed to share one scale (rates); "
    "metrics without a sign for &ldquo;more aligned&rdquo; are left out."
)


def _metric_name(eval_name: object, metric: object) -> str:
    return f"{esc(eval_name)} / {esc(metric)}"


def _ranking_table(ranking: MethodRanking, reference: str) -> list[str]:
    rows = ranking.table[ranking.table["reference"] == reference]
    robust = ranking.rank_on == "robust"
    head = (
        "<thead><tr><th>rank</th><th>variant</th><th>score</th><th>metrics</th>"
        "<th>better</th><th>worse</th>"
        + ("<th>rank on all metrics</th>" if robust else "")
        + "</tr></thead>"
    )
    out = [
        f"<h3>Minus <code>{esc(reference)}</code></h3>",
        f'<table class="ranking-table" data-reference="{esc(reference)}" '
        f'data-rank-on="{esc(ranking.rank_on)}">{head}<tbody>',
    ]
    for row in rows.itertuples(index=False):
        rank_all = "" if not robust else f'<td class="num">{_rank_text(float(row.rank_all))}</td>'
        out.append(
            f'<tr><td class="num">{_rank_text(float(row.rank))}</td><th>{esc(row.label)}</th>'
            f'<td class="num">{num(float(row.score), signed=True)}</td>'
            f'<td class="num">{int(row.n_metrics)}</td><td class="num">{int(row.n_better)}</td>'
            f'<td class="num">{int(row.n_worse)}</td>{rank_all}</tr>'
        )
    out.append("</tbody></table>")
    return out


def _rank_text(rank: float) -> str:
    return DASH if math.isnan(rank) else str(int(rank))


def _metric_list(ranking: MethodRanking) -> list[str]:
    used = ranking.used
    if used.empty:
        return ['<p class="missing">No metric is left to rank on.</p>']
    items = []
    for row in used.itertuples(index=False):
        verdict = f", verdict {esc(row.verdict)}" if isinstance(row.verdict, str) else ""
        items.append(
            f"<li>{_metric_name(row.eval, row.metric)} ({esc(row.direction)} is more "
            f"aligned{verdict})</li>"
        )
    return [f'<ul class="ranked-metrics">{"".join(items)}</ul>']


def _excluded_table(ranking: MethodRanking) -> list[str]:
    excluded = ranking.excluded
    if excluded.empty:
        return ["<p>No metric was left out.</p>"]
    out = [
        '<table class="excluded-table"><thead><tr><th>eval / metric</th><th>direction</th>'
        "<th>why left out</th></tr></thead><tbody>"
    ]
    for row in excluded.itertuples(index=False):
        direction = esc(row.direction) if isinstance(row.direction, str) else DASH
        out.append(
            f"<tr><th>{_metric_name(row.eval, row.metric)}</th><td>{direction}</td>"
            f"<td><code>{esc(row.reason)}</code></td></tr>"
        )
    out.append("</tbody></table>")
    return out


def section_ranking(ranking: MethodRanking | None, *, alpha: float) -> list[str]:
    """The "Method ranking" section (a "none" line without comparisons)."""
    out = ['<section id="ranking">', "<h2>Method ranking</h2>"]
    if ranking is None:
        out += ['<p class="missing">No comparisons ranked yet.</p>', "</section>"]
        return out
    on = (
        "only the metrics whose robustness verdict is <code>robust</code> "
        "(<code>rank_on: robust</code>)"
        if ranking.rank_on == "robust"
        else "every metric with an aligned direction (<code>rank_on: all</code>)"
    )
    out += [
        f'<p class="note">Ranked on {on}. '
        + _SCORE_NOTE.format(split=esc(ranking.split), alpha=alpha)
        + "</p>"
    ]
    for reference in dict.fromkeys(ranking.table["reference"]):
        out += _ranking_table(ranking, str(reference))
    out += ["<h3>Metrics ranked on</h3>", *_metric_list(ranking)]
    out += ["<h3>Metrics left out</h3>", *_excluded_table(ranking), "</section>"]
    return out


def _cell_text(cell: Sequence[float | None]) -> str:
    effect, low, high = cell
    text = num(effect, signed=True)
    bounds = interval(low, high, signed=True)
    return text if bounds == DASH else f'{text} <span class="ci">{bounds}</span>'


def _matrix_table(eval_name: str, row: MatrixRow) -> list[str]:
    attacks = list(row)
    metrics = list(
        dict.fromkeys(m for cells in row.values() if not isinstance(cells, str) for m in cells)
    )
    out = [
        f"<h4>{esc(eval_name)}</h4>",
        '<div class="scroll">',
        f'<table class="matrix-table" data-eval="{esc(eval_name)}"><thead><tr><th>metric</th>'
        + "".join(f"<th>{esc(attack)}</th>" for attack in attacks)
        + "</tr></thead><tbody>",
    ]
    for metric in metrics:
        cells = []
        for attack in attacks:
            value = row[attack]
            if isinstance(value, str):
                cells.append(f'<td class="missing" title="{esc(value)}">{NOT_APPLICABLE}</td>')
            elif metric in value:
                cells.append(f'<td class="num">{_cell_text(value[metric])}</td>')
            else:
                cells.append(f'<td class="num missing">{DASH}</td>')
        out.append(f"<tr><th>{esc(metric)}</th>{''.join(cells)}</tr>")
    out.append("</tbody></table></div>")
    reasons = [(attack, value) for attack, value in row.items() if isinstance(value, str)]
    if reasons:
        items = "".join(f"<li><code>{esc(a)}</code>: {esc(v)}</li>" for a, v in reasons)
        out.append(f'<ul class="note">{items}</ul>')
    return out


def section_robustness(settings: RankingSettings | None) -> list[str]:
    """The "Robustness" section: verdicts and matrix cells of the run's robustness file."""
    out = ['<section id="robustness">', "<h2>Robustness</h2>"]
    robustness = None if settings is None else settings.robustness
    if settings is None or robustness is None:
        out += [
            '<p class="missing">No robustness file given (spec key <code>robustness</code>).</p>',
            "</section>",
        ]
        return out
    digest = (settings.source_sha256 or "")[:SHORT_HASH]
    model = f" on <code>{esc(robustness.model)}</code>" if robustness.model else ""
    when = f", {esc(robustness.date)}" if robustness.date else ""
    out.append(
        f'<p class="note">From <code>{esc(settings.source)}</code> (sha256 '
        f"<code>{esc(digest)}</code>, copied into the run directory when the run started): "
        f"attacks run{model}{when}, judged on split <code>{esc(robustness.split)}</code>. "
        f"A metric is <code>robust</code> to an attack when the 95% interval of its effect lies "
        f"within &plusmn;{num(robustness.margin)}; <code>gameable:&lt;attacks&gt;</code> names "
        "the attacks that moved it (or, for attacks that replace the model, scored a policy "
        "with no disposition as aligned); <code>inconclusive:&lt;attacks&gt;</code>: too few "
        "samples to tell.</p>"
    )
    hardened = robustness.hardened_verdicts
    if hardened:
        hardening = f" <code>{esc(robustness.hardening)}</code>" if robustness.hardening else ""
        out.append(
            f'<p class="note">After hardening{hardening}: the attacks rerun on the hardened '
            "eval are judged there; every other attack keeps its verdict on the eval as it "
            "is.</p>"
        )
    out.append(
        '<table class="verdict-table"><thead><tr><th>eval / metric</th><th>verdict</th>'
        + ("<th>after hardening</th>" if hardened else "")
        + "</tr></thead><tbody>"
    )
    for eval_name, by_metric in robustness.verdicts.items():
        for metric, verdict in by_metric.items():
            after = ""
            if hardened:
                after_verdict = hardened.get(eval_name, {}).get(metric)
                after = (
                    f"<td><code>{esc(after_verdict)}</code></td>"
                    if after_verdict
                    else f'<td class="missing">{DASH}</td>'
                )
            out.append(
                f"<tr><th>{_metric_name(eval_name, metric)}</th>"
                f"<td><code>{esc(verdict)}</code></td>{after}</tr>"
            )
    out.append("</tbody></table>")
    if robustness.matrix:
        out += [
            "<h3>Matrix</h3>",
            '<p class="note">Per eval, attack and metric: the effect of the attack\'s '
            "strongest variant [95% interval], in metric units.</p>",
        ]
        for eval_name, row in robustness.matrix.items():
            out += _matrix_table(eval_name, row)
    out.append("</section>")
    return out
