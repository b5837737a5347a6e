"""A self-contained HTML report of a fitted model, for an analyst to hand to a client.

:func:`render_report` turns the small dictionaries that the fitting and scoring
steps produce into one HTML page: inline CSS, inline SVG charts drawn here, no
scripts, and a Content-Security-Policy of ``default-src 'none'`` so that a
browser opening the file fetches nothing. Every string taken from the inputs
(feature names, labels, the title) is HTML-escaped.

Sections, each a ``<section id=...>``: ``headline`` (validation AUC with its
95% CI, rows, positives, rate), ``roc``, ``pr``, ``calibration``, ``gains``
(cumulative gains and lift by decile, chart and table; these four only with
validation metrics), ``coefficients``, ``path``, ``short-model`` and
``threshold`` (only when given) and ``facts``. Optional
keys that are missing or None print as a dash; a section whose data is
missing says so instead of failing.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .metrics import miscalibration, score_text

__all__ = ["render_report"]

_DASH = "\u2014"
_CSP = "default-src 'none'; style-src 'unsafe-inline'"


# ---------------------------------------------------------------- numbers


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _float(value: object) -> float | None:
    """``value`` as a finite float, or None when missing, non-numeric, NaN or infinite."""
    if value is None or isinstance(value, (str, bytes)):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _num(value: object, sig: int = 3) -> str:
    """``sig`` significant digits, thousands separators, ``1.2e-5`` below 0.001 and ``1.01e18`` from 1e9; a dash
    if missing."""
    if value is None or isinstance(value, (str, bytes)):
        return _DASH
    try:
        x = float(value)
    except (TypeError, ValueError):
        return _DASH
    if math.isnan(x):
        return _DASH
    if math.isinf(x):
        return "\u221e" if x > 0 else "-\u221e"
    if x == 0:
        return "0"
    if abs(x) < 1e-3 or abs(x) >= 1e9:  # an odds ratio of a separated feature can have hundreds of digits
        mantissa, exponent = f"{x:.{sig - 1}e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    magnitude = math.floor(math.log10(abs(float(f"{x:.{sig}g}"))))
    return f"{x:,.{max(sig - 1 - magnitude, 0)}f}"


def _plain(value: object, sig: int = 3) -> str:
    """Like :func:`_num`, without trailing zeros ("60" rather than "60.0"): for numbers in sentences."""
    text = _num(value, sig)
    return text.rstrip("0").rstrip(".") if "." in text and "e" not in text else text


def _int(value: object) -> str:
    x = _float(value)
    return _DASH if x is None else f"{round(x):,}"


def _pct(value: object, sig: int = 3, plain: bool = False) -> str:
    x = _float(value)
    return _DASH if x is None else (_plain if plain else _num)(100.0 * x, sig) + "%"


def _share(value: object) -> str:
    """A proportion as a percentage: 3 significant digits from 1% up ("99.6%"), 2 below ("0.088%")."""
    x = _float(value)
    return _pct(x, 3 if x is None or abs(x) >= 0.01 else 2)


def _auc(value: object) -> str:
    x = _float(value)
    return _DASH if x is None else f"{x:.3f}"


def _p_value(value: object) -> str:
    p = _float(value)
    if p is None:
        return _DASH
    if p < 1e-16:
        return "<1e-16"
    return _num(p, 2) if p < 1e-3 else f"{p:.3f}"


def _list(values: object) -> list:
    """A list from a list, tuple or NumPy array; [] for None."""
    return [] if values is None else list(values)


def _interval(pair: object, fmt=_num) -> str:
    """``"lo \u2013 hi"`` from a two-item sequence, or a dash."""
    pair = [] if isinstance(pair, (str, bytes)) else _list(pair)
    if len(pair) != 2 or None in (_float(pair[0]), _float(pair[1])):
        return _DASH
    return f"{fmt(pair[0])} \u2013 {fmt(pair[1])}"


def _rate(positives: object, rows: object) -> float | None:
    k, n = _float(positives), _float(rows)
    return k / n if k is not None and n else None


def _wilson(positives: float, rows: float, z: float = 1.96) -> tuple[float, float]:
    """Wilson 95% interval of a binomial proportion (sensible at 0 positives)."""
    p = positives / rows
    denominator = 1 + z * z / rows
    centre = (p + z * z / (2 * rows)) / denominator
    half = z * math.sqrt(p * (1 - p) / rows + z * z / (4 * rows * rows)) / denominator
    return max(centre - half, 0.0), min(centre + half, 1.0)


def _pairs(xs: object, ys: object, where: str) -> list[tuple[float, float]]:
    """Finite ``(x, y)`` pairs from two equal-length sequences; ``where`` names them in errors."""
    xs, ys = _list(xs), _list(ys)
    if len(xs) != len(ys):
        raise ValueError(f"{where} must be sequences of equal length; got {len(xs)} and {len(ys)} values.")
    pairs = [(_float(x), _float(y)) for x, y in zip(xs, ys)]
    return [(x, y) for x, y in pairs if x is not None and y is not None]


# ---------------------------------------------------------------- charts

_W, _H = 480, 350
_LEFT, _RIGHT, _TOP, _BOTTOM = 62, 18, 58, 46


def _nice_step(raw: float) -> float:
    base = 10.0 ** math.floor(math.log10(raw))
    return next(m * base for m in (1, 2, 2.5, 5, 10) if m * base >= raw * (1 - 1e-9))


def _log_bounds(lo: float, hi: float) -> tuple[float, float]:
    """The nearest 1-2-5 ticks at or outside ``lo`` and ``hi`` (both > 0)."""
    ladder = [m * 10.0**k for k in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1) for m in (1, 2, 5)]
    return max(t for t in ladder if t <= lo * (1 + 1e-9)), min(t for t in ladder if t >= hi * (1 - 1e-9))


def _nice_ceil(x: float) -> float:
    step = _nice_step(x / 5) if x > 0 else 1.0
    return math.ceil(x / step - 1e-9) * step


@dataclass(frozen=True)
class _Axis:
    label: str
    lo: float
    hi: float
    log: bool = False
    percent: bool = False

    def unit(self, v: float) -> float:
        """Position of ``v`` in [0, 1] along the axis (clamped)."""
        if self.log:
            span = math.log10(self.hi) - math.log10(self.lo)
            u = (math.log10(max(v, self.lo)) - math.log10(self.lo)) / span
        else:
            u = (v - self.lo) / (self.hi - self.lo)
        return min(max(u, 0.0), 1.0)

    def ticks(self) -> list[float]:
        if self.log:
            first, last = math.floor(math.log10(self.lo) + 1e-9), math.ceil(math.log10(self.hi) - 1e-9)
            steps = (1, 2, 5) if last - first <= 3 else (1,)
            # At most six decades labelled: scores down to 1e-12 (a separated model's) ran the labels into each other.
            stride = max(1, math.ceil((last - first + 1) / 6))
            ticks = sorted(m * 10.0**k for k in range(last, first - 1, -stride) for m in steps)
        else:
            step = _nice_step((self.hi - self.lo) / 5)
            ticks = [k * step for k in range(math.ceil(self.lo / step - 1e-9), math.floor(self.hi / step + 1e-9) + 1)]
        slack = 1e-9 * max(abs(self.hi), 1e-300)
        return [t for t in ticks if self.lo - slack <= t <= self.hi + slack]

    def tick_label(self, v: float) -> str:
        if self.percent and 0 < v * 100 < 0.01:  # "1e-4%", not "0.0001%" or Python's "1e-05%": short, read at once
            exponent = math.floor(math.log10(v * 100) + 1e-9)
            return f"{round(v * 100 / 10.0**exponent, 6):g}e{exponent}%"
        return f"{round(v * 100, 10):g}%" if self.percent else f"{round(v, 12):g}"


@dataclass(frozen=True)
class _Series:
    label: str
    points: Sequence[tuple[float, float]]
    kind: str = "model"  # CSS class: model, ref, perfect, or line1 ... line6 (one colour each)
    markers: bool = False
    whiskers: Sequence[tuple[float, float]] = ()  # (low, high) per point


def _svg_open(chart_id: str, title: str, desc: str, width: int = _W, height: int = _H) -> list[str]:
    return [
        f'<svg class="chart" id="{_e(chart_id)}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-labelledby="{_e(chart_id)}-t {_e(chart_id)}-d">',
        f'<title id="{_e(chart_id)}-t">{_e(title)}</title><desc id="{_e(chart_id)}-d">{_e(desc)}</desc>',
        f'<text class="ctitle" x="{_LEFT}" y="20">{_e(title)}</text>',
    ]


def _grid_and_axes(x: _Axis, y: _Axis, px, py, x_ticks: bool = True) -> list[str]:
    """Grid, ticks, tick labels and axis labels of a plot area."""
    right, bottom = _W - _RIGHT, _H - _BOTTOM
    out = []
    for t in x.ticks() if x_ticks else []:
        out.append(f'<line class="grid" x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{_TOP}" y2="{bottom}"/>')
        out.append(f'<text class="tick" x="{px(t):.1f}" y="{bottom + 15}" text-anchor="middle">{_e(x.tick_label(t))}</text>')
    for t in y.ticks():
        out.append(f'<line class="grid" x1="{_LEFT}" x2="{right}" y1="{py(t):.1f}" y2="{py(t):.1f}"/>')
        out.append(f'<text class="tick" x="{_LEFT - 6}" y="{py(t) + 4:.1f}" text-anchor="end">{_e(y.tick_label(t))}</text>')
    out.append(f'<rect class="axis" x="{_LEFT}" y="{_TOP}" width="{right - _LEFT}" height="{bottom - _TOP}"/>')
    out.append(f'<text class="alabel" x="{(_LEFT + right) / 2}" y="{_H - 8}" text-anchor="middle">{_e(x.label)}</text>')
    out.append(
        f'<text class="alabel" transform="rotate(-90)" x="{-(_TOP + bottom) / 2}" y="14" '
        f'text-anchor="middle">{_e(y.label)}</text>'
    )
    return out


def _short(label: str, limit: int = 28) -> str:
    """A legend's label of at most ``limit`` characters (a one-hot level's name can be any length)."""
    return label if len(label) <= limit else label[: limit - 1] + "\u2026"


#: A legend row's height: rows that do not fit above the plot push it down (the chart grows by as much).
_LEGEND_ROW = 15


def _legend(entries: Sequence[tuple[str, str]]) -> tuple[list[str], int]:
    """The legend's swatches and labels, in as many rows as their width needs, and the number of rows."""
    out, x, row = [], _LEFT, 0
    for label, kind in entries:
        width = 34 + 6.3 * len(label)
        if x > _LEFT and x + width - 12 > _W - _RIGHT:
            x, row = _LEFT, row + 1
        y = 36 + _LEGEND_ROW * row
        swatch = (f'<rect class="bar" x="{x}" y="{y - 5}" width="14" height="10"/>' if kind == "bar"
                  else f'<line class="{kind}" x1="{x}" x2="{x + 18}" y1="{y}" y2="{y}"/>')
        out.append(swatch + f'<text class="legend" x="{x + 22}" y="{y + 4}">{_e(label)}</text>')
        x += width
    return out, row + 1


def _line_chart(*, chart_id: str, title: str, desc: str, x: _Axis, y: _Axis, series: Sequence[_Series]) -> str:
    """An SVG line chart; long series are thinned to points at least ~1 px apart."""
    width, height = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def px(v: float) -> float:
        return _LEFT + x.unit(v) * width

    def py(v: float) -> float:
        return _TOP + (1 - y.unit(v)) * height

    legend, rows = _legend([(s.label, s.kind) for s in series])
    shift = _LEGEND_ROW * (rows - 1)  # below a legend of several rows, the plot moves down and the chart grows
    out = _svg_open(chart_id, title, desc, height=_H + shift) + legend
    out.append(f'<g transform="translate(0,{shift})">' if shift else "<g>")
    out += _grid_and_axes(x, y, px, py)
    for s in series:
        points = [(px(a), py(b)) for a, b in s.points]
        if not points:
            continue
        kept = [points[0]]
        for p in points[1:-1]:
            if abs(p[0] - kept[-1][0]) + abs(p[1] - kept[-1][1]) >= 0.8:
                kept.append(p)
        kept += points[-1:] if len(points) > 1 else []
        out.append(f'<polyline class="{s.kind}" points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in kept)}"/>')
        for (low, high), (a, _) in zip(s.whiskers, points):
            out.append(f'<line class="whisker" x1="{a:.1f}" x2="{a:.1f}" y1="{py(low):.1f}" y2="{py(high):.1f}"/>')
        for (a, b), (_, value) in zip(points, s.points) if s.markers else ():
            hollow = " hollow" if y.log and value < y.lo else ""
            out.append(f'<circle class="dot{hollow}" cx="{a:.1f}" cy="{b:.1f}" r="3.5"/>')
    return "".join(out) + "</g></svg>"


def _bar_chart(*, chart_id: str, title: str, desc: str, labels: Sequence[str], values: Sequence[float | None],
               x_label: str, y: _Axis, reference: tuple[float, str] | None = None) -> str:
    """An SVG column chart with value labels and an optional dashed reference line."""
    width, height = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    slot = width / max(len(labels), 1)

    def py(v: float) -> float:
        return _TOP + (1 - y.unit(v)) * height

    out = _svg_open(chart_id, title, desc) + _grid_and_axes(_Axis(x_label, 0, 1), y, None, py, x_ticks=False)
    out += _legend([(title.split(" by ")[0], "bar")] + ([(reference[1], "ref")] if reference else []))[0]
    for k, (label, value) in enumerate(zip(labels, values)):
        centre = _LEFT + slot * (k + 0.5)
        out.append(f'<text class="tick" x="{centre:.1f}" y="{_H - _BOTTOM + 15}" text-anchor="middle">{_e(label)}</text>')
        if value is not None:
            top = py(value)
            out.append(f'<rect class="bar" x="{centre - slot * 0.34:.1f}" y="{top:.1f}" width="{slot * 0.68:.1f}" '
                       f'height="{_H - _BOTTOM - top:.1f}"><title>{_e(label)}: {_e(_num(value, 3))}</title></rect>')
            out.append(f'<text class="value" x="{centre:.1f}" y="{top - 4:.1f}" text-anchor="middle">{_e(_num(value, 2))}</text>')
    if reference:
        out.append(f'<line class="ref" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{py(reference[0]):.1f}" y2="{py(reference[0]):.1f}"/>')
    return "".join(out) + "</svg>"


def _spark(value: object, scale: float) -> str:
    """A small bar from a centre line: right (blue) for a positive value, left (orange) for negative."""
    v = _float(value)
    if v is None or scale <= 0:
        return ""
    length = 56 * min(abs(v) / scale, 1.0)
    start, kind = (60.0, "pos") if v >= 0 else (60.0 - length, "neg")
    return (f'<svg class="spark" viewBox="0 0 120 14" width="120" height="14" role="img">'
            f'<title>standardized coefficient {_e(_num(v, 3))}</title>'
            f'<rect class="{kind}" x="{start:.1f}" y="2" width="{max(length, 0.5):.1f}" height="10"/>'
            f'<line class="zero" x1="60" x2="60" y1="0" y2="14"/></svg>')


# ---------------------------------------------------------------- sections


def _section(section_id: str, heading: str, *body: str) -> str:
    return f'<section id="{section_id}"><h2>{_e(heading)}</h2>{"".join(body)}</section>'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], text_columns: Sequence[int] = (0,),
           css: str = "", row_css: Sequence[str] = ()) -> str:
    """A table of already-escaped cells; ``text_columns`` are left-aligned, ``row_css`` classes body rows."""
    text = ' class="text"'

    def cells(row, tag):
        return "".join(f"<{tag}{text if k in text_columns else ''}>{c}</{tag}>" for k, c in enumerate(row))

    classes = list(row_css) + [""] * (len(rows) - len(row_css))
    body = "".join((f'<tr class="{c}">' if c else "<tr>") + cells(row, "td") + "</tr>" for row, c in zip(rows, classes))
    return f'<table class="{css}"><thead><tr>{cells(header, "th")}</tr></thead><tbody>{body}</tbody></table>'


def _head(title: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>")


def _cross_validated(path: dict | None) -> dict | None:
    """The chosen point of a cross-validated path (its ``cv_auc`` and ``cv_auc_sd``), or None."""
    points = _list((path or {}).get("points"))
    chosen = int((path or {}).get("chosen", 0))
    point = points[chosen] if chosen < len(points) else {}
    return point if _float(point.get("cv_auc")) is not None else None


def _headline(title, summary, metrics, sections, path=None) -> str:
    target, label = summary.get("target", "target"), summary.get("positive_label", "1")
    if not metrics:
        return _unvalidated_headline(title, summary, sections, path)
    rows = metrics.get("n_rows", summary.get("rows_valid"))
    positives = metrics.get("n_positives", summary.get("positives_valid"))
    rate = _rate(positives, rows)
    ci = _interval(metrics.get("auc_ci"), _auc)
    kpis = [("Validation AUC", _auc(metrics.get("auc")), f"95% CI {ci}" if ci != _DASH else ""),
            ("Validation rows", _int(rows), ""),
            ("Positives", _int(positives), f"{target} = {label}"),
            ("Positive rate", _pct(rate, 2), "")]
    cards = _cards(kpis)
    lede = (f"On {_int(rows)} validation rows not used in the fit, the model ranks a random positive "
            f"({target} = {label}) above a random negative {_pct(metrics.get('auc'), 3)} of the time "
            f"(AUC {_auc(metrics.get('auc'))}" + (f", 95% CI {ci})." if ci != _DASH else ").")
            if _float(metrics.get("auc")) is not None else f"{_int(rows)} validation rows; no AUC was given.")
    top = next((d for d in _list(metrics.get("deciles")) if d.get("bin") == 1), None)
    if top and _float(top.get("cumulative_gain")) is not None and _float(top.get("lift")) is not None:
        lede += (f" The 10% of rows with the highest scores hold {_pct(top['cumulative_gain'], 2)} of the positives, "
                 f"{_num(top['lift'], 2)} times the average rate.")
    return _header(title, summary, cards, lede, sections)


def _unvalidated_headline(title, summary, sections, path) -> str:
    """The headline of a model fitted on every row: the training counts, and the cross-validated AUC if any."""
    target, label = summary.get("target", "target"), summary.get("positive_label", "1")
    rows, positives = summary.get("rows_train"), summary.get("positives_train")
    kpis = [("Training rows", _int(rows), ""), ("Positives", _int(positives), f"{target} = {label}"),
            ("Positive rate", _pct(_rate(positives, rows), 2), "")]
    lede = ("This model was fitted on every row and has not been measured on rows it did not see: there are no "
            "ROC, precision\u2013recall, calibration or gains charts and no threshold. Measure it on labelled data "
            "with logreg-dist evaluate, or train with a validation share (--valid-fraction).")
    chosen = _cross_validated(path)
    if chosen is not None:
        folds = path.get("selected_on") or "cross-validation"
        kpis.insert(0, ("Cross-validated AUC", _auc(chosen["cv_auc"]),
                        f"\u00b1 {_auc(chosen.get('cv_auc_sd'))} SD over the folds"))
        lede = (f"In {folds}, the model at the chosen penalty ranked a random positive ({target} = {label}) of a "
                f"held-out fold above a random negative {_pct(chosen['cv_auc'], 3)} of the time (AUC "
                f"{_auc(chosen['cv_auc'])}, the mean over the folds of an AUC from binned scores). " + lede)
    cards = _cards(kpis)
    return _header(title, summary, cards, lede, sections)


def _cards(kpis) -> str:
    """The headline's figures: ``(label, value, detail)`` each."""
    return "".join(f'<div class="kpi"><span class="label">{_e(k)}</span><span class="value">{_e(v)}</span>'
                   f'<span class="detail">{_e(d)}</span></div>' for k, v, d in kpis)


def _header(title, summary, cards, lede, sections) -> str:
    target, label = summary.get("target", "target"), summary.get("positive_label", "1")
    out = [f'<header id="headline"><h1>{_e(title)}</h1>',
           f'<p class="sub">Logistic regression for {_e(target)} = {_e(label)}'
           + "".join(f" \u00b7 {_e(v)}" for v in (summary.get("model_version"), summary.get("created")) if v)
           + f'</p><div class="kpis">{cards}</div><p class="lede">{_e(lede)}</p>']
    if summary.get("converged") is not None and not summary["converged"]:
        out.append(f'<p class="warn">The solver stopped after {_int(summary.get("n_iter"))} iterations without '
                   f"converging: coefficients and standard errors may be off. Refit with more iterations.</p>")
    out.append('<nav>' + "".join(f'<a href="#{i}">{_e(h)}</a>' for i, h in sections) + "</nav></header>")
    return "".join(out)


def _roc_section(metrics) -> str:
    roc = metrics.get("roc") or {}
    points = _pairs(roc.get("fpr"), roc.get("tpr"), "metrics['roc'] 'fpr' and 'tpr'")
    if not points:
        return _section("roc", "ROC curve", '<p class="note">No ROC curve was given.</p>')
    axis = dict(lo=0.0, hi=1.0)
    chart = _line_chart(chart_id="chart-roc", title="ROC curve (validation)", desc=f"AUC {_auc(metrics.get('auc'))}",
                        x=_Axis("False positive rate", **axis), y=_Axis("True positive rate (recall)", **axis),
                        series=[_Series(f"Model, AUC {_auc(metrics.get('auc'))}", points),
                                _Series("Random, AUC 0.5", [(0, 0), (1, 1)], kind="ref")])
    return _section("roc", "ROC curve", f"<figure>{chart}</figure>",
                    '<p class="note">Share of positives found against share of negatives wrongly flagged, '
                    "over every score threshold. The diagonal is a model that ranks at random.</p>")


def _pr_section(metrics, base_rate) -> str:
    pr = metrics.get("pr") or {}
    points = _pairs(pr.get("recall"), pr.get("precision"), "metrics['pr'] 'recall' and 'precision'")
    if not points:
        return _section("pr", "Precision\u2013recall curve", '<p class="note">No precision\u2013recall curve was given.</p>')
    log = base_rate is not None and 0 < base_rate < 0.05
    y = (_Axis("Precision (log scale)", _log_bounds(0.8 * base_rate, 1.0)[0], 1.0, log=True, percent=True)
         if log else _Axis("Precision", 0.0, 1.0, percent=True))
    series = [_Series(f"Model, AP {_num(metrics.get('average_precision'), 3)}", points)]
    if base_rate is not None:
        series.append(_Series(f"Base rate {_pct(base_rate, 2)}", [(0, base_rate), (1, base_rate)], kind="ref"))
    chart = _line_chart(chart_id="chart-pr", title="Precision\u2013recall curve (validation)",
                        desc=f"average precision {_num(metrics.get('average_precision'), 3)}",
                        x=_Axis("Recall (share of positives found)", 0.0, 1.0), y=y, series=series)
    return _section("pr", "Precision\u2013recall curve", f"<figure>{chart}</figure>",
                    '<p class="note">Of the rows flagged, the share that are positive, against the share of all '
                    "positives found. The dashed line is the precision of contacting at random"
                    + ("; the precision axis is logarithmic so that the base rate is readable." if log else ".")
                    + "</p>")


def _calibration_fit_note(calibration) -> str:
    """The logistic calibration fit in a sentence, and a warning when its slope says the scores are not rates."""
    if not isinstance(calibration, dict) or _float(calibration.get("slope")) is None:
        return ""
    text = (f"Logistic calibration (the labels regressed on the scores' log-odds): slope "
            f"{_num(calibration['slope'], 3)} (95% CI {_interval(calibration.get('slope_ci'))}), intercept "
            f"{_num(calibration.get('intercept'), 3)}. A slope of 1 and an intercept of 0 mean the probabilities "
            "can be read as rates; above 1 they are too close to the base rate (a penalty too strong), below 1 too "
            "extreme (a model that fits noise).")
    verdict = miscalibration(calibration)
    if verdict is None:
        return f'<p class="note">{_e(text)}</p>'
    what = "too close to the base rate" if verdict == "compressed" else "too extreme"
    return (f'<p class="warn">The probabilities are {what} to be read as rates (calibration slope '
            f"{_e(_num(calibration['slope'], 3))}): they rank customers as the AUC says, but an expected count "
            "summed from them, or a threshold set from their values rather than measured on held-out rows as this "
            f"report's is, is off. {_e(text)}</p>")


def _calibration_section(deciles, calibration=None) -> str:
    rows = [d for d in deciles if _float(d.get("mean_score")) is not None and _float(d.get("positive_rate")) is not None]
    if not rows:
        return _section("calibration", "Calibration by decile", '<p class="note">No decile table was given.</p>',
                        _calibration_fit_note(calibration))
    points = [(float(d["mean_score"]), float(d["positive_rate"])) for d in rows]
    counts = [(_float(d.get("positives")), _float(d.get("rows"))) for d in rows]
    whiskers = [_wilson(k, n) for k, n in counts] if all(n and 0 <= k <= n for k, n in counts) else []
    xs = [p[0] for p in points]
    values = [v for point in points for v in point if v > 0]
    log = min(xs) > 0 and max(xs) / min(xs) > 10
    if log:
        lo, hi = _log_bounds(min(values), min(max(values), 1.0))
    else:
        lo, hi = 0.0, min(_nice_ceil(max(values + [h for _, h in whiskers], default=0.01) * 1.05), 1.0)
    scale = " (log scale)" if log else ""
    chart = _line_chart(chart_id="chart-calibration", title="Calibration by decile (validation)",
                        desc="mean predicted probability against observed positive rate per decile",
                        x=_Axis(f"Mean predicted probability{scale}", lo, hi, log=log, percent=True),
                        y=_Axis(f"Observed positive rate{scale}", lo, hi, log=log, percent=True),
                        series=[_Series("Deciles, with 95% interval" if whiskers else "Deciles", points, markers=True,
                                        whiskers=whiskers), _Series("Perfect calibration", [(lo, lo), (hi, hi)], kind="ref")])
    note = ("Each point is one tenth of the validation rows, grouped by score: the mean predicted probability "
            "against the share that were positive (with a 95% Wilson interval). Points near the diagonal mean "
            "the probabilities can be read as rates.")
    if log:
        note += " Both axes are logarithmic so that small rates are readable."
        if any(y <= 0 for _, y in points):
            note += " Deciles with no positives are drawn as hollow points on the bottom edge."
    return _section("calibration", "Calibration by decile",
                    f'<div class="pair"><figure>{chart}</figure><p class="note">{_e(note)}</p></div>',
                    _calibration_fit_note(calibration))


def _gains_section(deciles, base_rate) -> str:
    if not deciles:
        return _section("gains", "Cumulative gains and lift by decile", '<p class="note">No decile table was given.</p>')
    deciles = sorted(deciles, key=lambda d: _float(d.get("bin")) or 0)
    gains = [(0.0, 0.0)] + _pairs([d.get("cumulative_share") for d in deciles],
                                  [d.get("cumulative_gain") for d in deciles], "deciles' cumulative_share and cumulative_gain")
    series = [_Series("Model", gains, markers=True), _Series("Random", [(0, 0), (1, 1)], kind="ref")]
    if base_rate:
        series.append(_Series("Perfect", [(0, 0), (base_rate, 1), (1, 1)], kind="perfect"))
    pct = dict(lo=0.0, hi=1.0, percent=True)
    gains_chart = _line_chart(chart_id="chart-gains", title="Cumulative gains (validation)",
                              desc="share of positives captured by the top-scoring share of rows",
                              x=_Axis("Share of rows contacted, highest scores first", **pct),
                              y=_Axis("Share of positives captured", **pct), series=series)
    lifts = [_float(d.get("lift")) for d in deciles]
    lift_chart = _bar_chart(chart_id="chart-lift", title="Lift by decile (validation)",
                            desc="positive rate of each decile divided by the overall rate",
                            labels=[str(d.get("bin", "")) for d in deciles], values=lifts,
                            x_label="Decile (1 = highest scores)",
                            y=_Axis("Lift", 0.0, _nice_ceil(max([v for v in lifts if v is not None] + [1.0]) * 1.1)),
                            reference=(1.0, "Average (lift 1)"))
    header = ["Decile", "Rows", "Positives", "Score range", "Mean score", "Positive rate", "Cum. share of rows",
              "Cum. share of positives", "Lift", "Cum. lift"]
    rows = [[_e(d.get("bin", _DASH)) + (" (highest)" if d.get("bin") == 1 else ""), _int(d.get("rows")),
             _int(d.get("positives")), _e(f"{_num(d.get('min_score'))} \u2013 {_num(d.get('max_score'))}"),
             _e(_num(d.get("mean_score"))), _share(d.get("positive_rate")), _pct(d.get("cumulative_share")),
             _pct(d.get("cumulative_gain")), _num(d.get("lift"), 3), _num(d.get("cumulative_lift"), 3)]
            for d in deciles]
    return _section("gains", "Cumulative gains and lift by decile",
                    f'<div class="pair"><figure>{gains_chart}</figure><figure>{lift_chart}</figure></div>',
                    '<p class="note">Rows are sorted by score and cut into ten equal groups. Lift is a group\'s '
                    "positive rate divided by the overall rate: a lift of 3 in decile 1 means contacting those rows "
                    "finds positives three times as often as contacting at random.</p>",
                    _table(header, rows, css="deciles"))


def _coefficients_section(coefficients, summary) -> str:
    rows = sorted(coefficients, key=lambda c: c.get("feature") != "(intercept)")  # stable: intercept first
    # The bars' scale is the features' own: an unpenalized fit's collinear or separated ones (+-130 on mlc_churn)
    # would leave every other bar a hairline; theirs are drawn full length.
    odd = {str(name) for group in _list(summary.get("collinear")) for name in _list(group)}
    sizes = [(abs(v), c.get("separated") or c.get("feature") in odd) for c in rows
             if (v := _float(c.get("coef_standardized"))) is not None]
    scale = max([v for v, skip in sizes if not skip] or [v for v, _ in sizes] or [0.0])
    header = ["Rank", "Feature", "Coef.", "Std. error", "z", "p", "95% CI", "Odds ratio", "95% CI",
              "Standardized coef."]
    body = []
    for c in rows:
        # A categorical level's odds ratio compares it with its column's reference level; a numeric feature's is per
        # standard deviation.
        level = bool(c.get("reference"))
        feature = f"{c['feature']} (vs {c['reference']})" if level else c["feature"]
        ratio, ratio_ci = ((c.get("odds_ratio"), c.get("odds_ratio_ci")) if level else
                           (c.get("odds_ratio_per_sd"), c.get("odds_ratio_per_sd_ci")))
        body.append([_int(c.get("rank")) if c.get("rank") is not None else "", _e(feature), _num(c.get("coef")),
                     _num(c.get("std_error")), _num(c.get("z")), _e(_p_value(c.get("p_value"))),
                     _e(_interval([c.get("ci_low"), c.get("ci_high")])), _num(ratio),
                     _e(_interval(ratio_ci)), _spark(c.get("coef_standardized"), scale)])
    table = _table(header, body, text_columns=(1,), css="coef",
                   row_css=["intercept" if c.get("feature") == "(intercept)" else "" for c in rows])
    target = summary.get("target", "the target")
    note = (f"Coefficients are changes in the log-odds of {target} per unit of the feature, on its original scale. "
            "For a numeric feature the odds ratio is per standard deviation: the factor by which the odds change when "
            "the feature rises by one standard deviation. For a categorical level (\u201cplan=gold (vs "
            "plan=basic)\u201d) it is the factor by which the odds of a row with that level differ from those of a "
            "row with the column's reference level, all else equal. The bar shows the standardized coefficient: to the right (blue) the feature raises the odds, "
            "to the left (orange) it lowers them.")
    l2 = _float(summary.get("l2"))
    penalty = (f'<p class="note warn-soft">The model was fitted with an L2 penalty (l2 = {_e(f"{l2:g}")}): the '
               "coefficients are shrunk towards zero (the more, the larger the penalty), and the standard errors, z, p-values and intervals "
               "are approximate, because the usual formulas assume an unpenalized fit.</p>") if l2 and l2 > 0 else ""
    l1_ratio = _float(summary.get("l1_ratio"))
    if l1_ratio:
        alpha = _float(summary.get("alpha")) or 0.0
        penalty = (f'<p class="note warn-soft">The model was fitted with an elastic-net penalty (alpha = '
                   f'{_e(f"{alpha:g}")}, l1_ratio = {_e(f"{l1_ratio:g}")}): '
                   "coefficients the L1 part set to zero have no standard error. The others' standard errors, z, "
                   "p-values and intervals are those of the model with the zeroed features left out, at the same "
                   "penalty: they take the selection as given, so they are too small (as glum and H2O warn).</p>")
    if penalty and summary.get("penalized"):  # with categorical levels: what the penalty weighs differs by column
        penalty += (f'<p class="note">The penalty weighs {_e(summary["penalized"])}: a rare level\'s coefficient is '
                    "shrunk most, and its standard error says more about the penalty than about the data.</p>")
    groups = _list(summary.get("collinear"))
    named = "; ".join(", ".join(str(name) for name in _list(group)) for group in groups)
    with_errors = any(_float(c.get("std_error")) is not None for c in rows if c.get("feature") != "(intercept)")
    if groups and not with_errors:  # the fit found them: its Hessian has no inverse
        penalty += ('<p class="note warn-soft">No coefficient has a standard error: the Hessian of the '
                    f"{'nonzero ' if l1_ratio else ''}coefficients is singular, because these columns are collinear (or nearly): "
                    f"{_e(named)}. Drop one column of each group, or fit with a ridge part.</p>")
    elif groups:  # nearly collinear: the Hessian has an inverse, but these columns' entries of it are huge
        penalty += ('<p class="note warn-soft">These columns are nearly collinear (in each group one column is '
                    f"almost a combination of the others): {_e(named)}. Their coefficients can be large, of opposite "
                    "signs and with huge standard errors, and mean little on their own; they rank after the others. "
                    "Drop one column of each group, or fit with a penalty.</p>")
    separation = summary.get("separation")
    if isinstance(separation, dict) and separation.get("rules"):
        from ._separation import rules_text

        # The command says this at training; the report is what the client reads, so it says it too.
        penalty += ('<p class="note warn-soft">The classes are separated: '
                    f"{_e(rules_text(separation))}. Without a penalty these coefficients grow without bound, so "
                    "their values are where the solver stopped; their standard errors, intervals and odds ratios "
                    "mean nothing, and rows with these values score near 0 or 1. Fit with a penalty (--alpha auto "
                    "chooses one, or set --l2 &gt; 0).</p>")
    return _section("coefficients", "Coefficients", f'<p class="note">{_e(note)}</p>', penalty,
                    f'<div class="scroll">{table}</div>')


def _short_model_section(short_model, metrics, n_features) -> str:
    features = _list(short_model.get("features"))
    k = len(features)
    full_auc = short_model.get("full_auc", metrics.get("auc"))
    sentence = (f"{k} feature{' gives' if k == 1 else 's give'} AUC {_auc(short_model.get('auc'))} "
                f"against {_auc(full_auc)} for all {_int(n_features)}.")
    cards = [(f"Short model ({k} features)", short_model.get("auc"), short_model.get("auc_ci")),
             (f"Full model ({_int(n_features)} features)", full_auc, metrics.get("auc_ci"))]
    cards_html = "".join(f'<div class="kpi"><span class="label">{_e(name)}</span><span class="value">{_auc(auc)}</span>'
                         f'<span class="detail">{_e("95% CI " + _interval(ci, _auc) if _interval(ci, _auc) != _DASH else "")}'
                         f"</span></div>" for name, auc, ci in cards)
    features = "".join(f"<li>{_e(f)}</li>" for f in features)
    ranked = (" the first inputs to enter the lasso path" if short_model.get("ranked_by") == "lasso"
              else " the inputs of largest |standardized coefficient|" if short_model.get("ranked_by") else "")
    return _section("short-model", "Short model", f'<p class="big">{_e(sentence)}</p>',
                    f'<div class="kpis two">{cards_html}</div>', f"<p>Its features,{_e(ranked)}:</p><ol>{features}</ol>"
                    if ranked else f"<p>Its features:</p><ol>{features}</ol>")


def _score(value) -> str:
    """A score threshold: 3 significant digits, or as many as keep one short of 1 from reading as 1."""
    return _DASH if value is None else score_text(float(value), 3)


def _threshold_section(threshold, summary, rows) -> str:
    t = threshold
    share = t.get("share_contacted", t.get("contact_share"))
    if t.get("contacts_nobody"):
        why = (f"With a cost of {_plain(t.get('cost_fp'))} for contacting a row that turns out negative and "
               f"{_plain(t.get('cost_fn'))} for missing a positive, contacting nobody has the lowest expected cost "
               f"on the validation rows: even among the highest scores too few rows are positive for a contact to "
               f"pay. Give the real costs (a missed positive usually costs far more than a contact) or a share of "
               f"customers to contact.")
        cost = f" Expected cost {_plain(t.get('expected_cost'))}, or {_plain(t.get('cost_per_row'))} per row."
        text = f"{why}{cost}"
    elif _float(t.get("cost_fp")) is not None and _float(t.get("cost_fn")) is not None:
        why = (f"With a cost of {_plain(t['cost_fp'])} for contacting a row that turns out negative and "
               f"{_plain(t['cost_fn'])} for missing a positive, the threshold with the lowest expected cost on the "
               f"validation rows is a score of {_score(t.get('threshold'))}: contacting every row at or above it "
               f"means contacting {_pct(share)} of rows.")
        cost = f" Expected cost {_plain(t.get('expected_cost'))}, or {_plain(t.get('cost_per_row'))} per row."
    else:
        why = (f"Contacting the top {_pct(share, plain=True)} of rows means contacting every row "
               f"with a score of {_score(t.get('threshold'))} or more.")
        cost = ""
    if not t.get("contacts_nobody"):
        text = (f"{why} Those rows hold {_pct(t.get('recall'))} of the positives (recall), and "
                f"{_pct(t.get('precision'))} of them are positive (precision).{cost}")
    counts = {k: _float(t.get(k)) for k in ("tp", "fp", "tn", "fn")}
    total = sum(v for v in counts.values() if v is not None) or _float(rows)

    def cell(*keys):
        values = [counts[k] for k in keys]
        if None in values:
            return _DASH
        n = sum(values)
        return f"{_int(n)}<small>{_e(_share(n / total)) if total else ''}</small>"

    target, label = summary.get("target", "target"), summary.get("positive_label", "1")
    matrix = _table(["", "Contacted (score \u2265 threshold)", "Not contacted", "Total"],
                    [[_e(f"Positive ({target} = {label})"), cell("tp"), cell("fn"), cell("tp", "fn")],
                     ["Negative", cell("fp"), cell("tn"), cell("fp", "tn")],
                     ["Total", cell("tp", "fp"), cell("fn", "tn"), cell("tp", "fp", "fn", "tn")]], css="confusion")
    facts = _table(["Threshold", "Share contacted", "Precision", "Recall"],
                   [[_e(_score(t.get("threshold"))), _pct(share), _pct(t.get("precision")), _pct(t.get("recall"))]],
                   text_columns=(), css="compact")
    return _section("threshold", "Decision threshold", f"<p>{_e(text)}</p>",
                    f'<div class="pair narrow"><div>{matrix}</div><div>{facts}</div></div>')


def _facts_section(summary, metrics) -> str:
    converged = summary.get("converged")
    items = [
        ("Target", f"{summary.get('target', _DASH)} = {summary.get('positive_label', _DASH)}"),
        ("Training rows", f"{_int(summary.get('rows_train'))} ({_int(summary.get('positives_train'))} positives, "
                          f"{_pct(_rate(summary.get('positives_train'), summary.get('rows_train')), 2)})"),
        ("Validation rows", f"{_int(summary.get('rows_valid', metrics.get('n_rows')))} "
                            f"({_int(summary.get('positives_valid', metrics.get('n_positives')))} positives)"
                            if metrics else "none: fitted on every row"),
        ("Features", _int(summary.get("n_features"))),
        ("Solver", summary.get("solver") or _DASH),
        ("Iterations", _int(summary.get("n_iter"))),
        ("Converged", _DASH if converged is None else ("yes" if converged else "no, see the warning at the top")),
        ("L2 penalty", _DASH if _float(summary.get("l2")) is None else f"{float(summary['l2']):g}")
        if _float(summary.get("alpha")) is None else  # an elastic net's l2 is only its ridge part
        ("Penalty", f"alpha {float(summary['alpha']):g}, l1_ratio {_float(summary.get('l1_ratio')) or 0.0:g}"),
        ("Fit time", _DASH if _float(summary.get("fit_seconds")) is None else f"{_num(summary['fit_seconds'])} s"),
        *([("AUC standard error", _num(metrics.get("auc_se"), 2)),
           ("Log loss", _num(metrics.get("log_loss"), 4)),
           ("Brier score", _num(metrics.get("brier"), 3)),
           ("Average precision", _num(metrics.get("average_precision"), 3)),
           ("Calibration slope", _num((metrics.get("calibration") or {}).get("slope"), 3))] if metrics else []),
        ("Model version", summary.get("model_version") or _DASH),
        ("Created", summary.get("created") or _DASH),
    ]
    return _section("facts", "Model facts",
                    '<dl class="facts">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items) + "</dl>")


def _path_section(path: dict, features: Sequence[str], validated: bool = True) -> str:
    """The regularization path: the held-out deviance against the penalty, the coefficient paths, and the table."""
    points = _list(path.get("points"))
    chosen = int(path.get("chosen", 0))
    key = "cv_deviance" if any("cv_deviance" in p for p in points) else "valid_deviance"
    auc_key = key.replace("deviance", "auc")
    alphas = [float(p["alpha"]) for p in points]
    scored = [(a, p[key], p.get(key + "_se") or 0.0) for a, p in zip(alphas, points) if _float(p.get(key)) is not None]
    if not scored:
        return ""
    x = _Axis("Penalty alpha (log scale)", *_log_bounds(min(alphas), max(alphas)), log=True)
    low = min(d - se for _, d, se in scored)
    high = max(d + se for _, d, se in scored)
    pad = 0.05 * (high - low or 1.0)
    where = "cross-validation" if key == "cv_deviance" else "validation rows"
    curve = _line_chart(
        chart_id="chart-path", title=f"Held-out deviance along the path ({where})",
        desc=f"chosen alpha {alphas[chosen]:.4g}",
        x=x, y=_Axis("Deviance (2 x mean log-loss)", low - pad, high + pad),
        series=[_Series("Deviance \u00b1 1 SE", [(a, d) for a, d, _ in scored], markers=True,
                        whiskers=[(d - se, d + se) for _, d, se in scored]),
                _Series(f"Chosen, alpha {alphas[chosen]:.4g}", [(alphas[chosen], low - pad), (alphas[chosen], high + pad)],
                        kind="ref")])
    coefs = _list(path.get("coef_standardized"))
    charts = [f"<figure>{curve}</figure>"]
    if coefs and chosen < len(coefs):
        top = sorted(range(len(coefs[chosen])), key=lambda j: -abs(coefs[chosen][j]))[:6]
        values = [coefs[i][j] for i in range(len(coefs)) for j in top] or [0.0]
        span = max(abs(v) for v in values) or 1.0
        paths = _line_chart(
            chart_id="chart-coef-path", title="Coefficient paths: the 6 largest at the choice",
            desc="standardized coefficients along the path", x=x,
            y=_Axis("Standardized coefficient", -1.05 * span, 1.05 * span),
            series=[_Series(_short(str(features[j]) if j < len(features) else f"x{j}"),
                            list(zip(alphas, [c[j] for c in coefs])), kind=f"line{k + 1}")
                    for k, j in enumerate(top)])
        charts.append(f"<figure>{paths}</figure>")
    body = [[("\u2192 " if i == chosen else "") + _num(a), _int(p.get("n_nonzero")), _num(p.get(key)),
             _num(p.get(key + "_se")), _auc(p.get(auc_key)), "yes" if p.get("converged") else "no"]
            for i, (a, p) in enumerate(zip(alphas, points))]
    table = _table(["alpha", "Nonzero", "Deviance", "SE", "AUC (binned)", "Converged"], body, css="path")
    rule = "the largest penalty within one standard error of the least deviance" if path.get("rule") == "1se" \
        else "the least deviance"
    held_out = (f"in {path.get('selected_on') or 'cross-validation'} (the deviance is the mean over the folds, its "
                "SE that of that mean)" if key == "cv_deviance" else
                "on the validation rows (the SE is that of the mean over the rows)")
    tolerance = _float(path.get("point_tol"))
    solved = ("Each penalty was fitted, warm-started from the one before, until its optimality conditions held to "
              f"{tolerance:.1e} (the largest subgradient entry; near the path's end, until three quarters of what "
              "the penalty's change did to them was undone); the chosen one was then solved exactly"
              if tolerance is not None else "Each penalty was fitted exactly, warm-started from the one before")
    fold_tolerance = _float(path.get("fold_tol"))
    if fold_tolerance is not None:
        solved += (f"; each fold's fits, which only give its held-out deviance, held them to {fold_tolerance:.1e}, "
                   "which moves that deviance by far less than its standard error")
    note = (f"{solved}; the choice is {rule} {held_out}. The path's AUC is from scores binned on the logit scale"
            + ("; the model's AUC above is exact." if validated else "."))
    return _section("path", "Regularization path", f'<p class="note">{_e(note)}</p>', *charts,
                    f'<div class="scroll">{table}</div>')


def _render(*, title, summary, metrics, coefficients, threshold, short_model, path=None) -> Iterator[str]:
    """The page in pieces, in order, so that a writer can stream them."""
    metrics = metrics or {}  # none: a model fitted on every row, which has only its coefficients (and path) to show
    rows = metrics.get("n_rows", summary.get("rows_valid"))
    base_rate = _rate(metrics.get("n_positives", summary.get("positives_valid")), rows)
    deciles = _list(metrics.get("deciles"))
    n_features = summary.get("n_features", sum(c.get("feature") != "(intercept)" for c in coefficients))
    sections = [("roc", "ROC"), ("pr", "Precision\u2013recall"), ("calibration", "Calibration"),
                ("gains", "Gains and lift")] if metrics else []
    sections += [("coefficients", "Coefficients")]
    sections += [("path", "Regularization path")] if path else []
    sections += [("short-model", "Short model")] if short_model is not None else []
    sections += [("threshold", "Threshold")] if threshold is not None else []
    sections += [("facts", "Model facts")]
    yield _head(title)
    yield _headline(title, summary, metrics, sections, path)
    if metrics:
        yield f'<div class="pair">{_roc_section(metrics)}{_pr_section(metrics, base_rate)}</div>'
        yield _calibration_section(deciles, metrics.get("calibration"))
        yield _gains_section(deciles, base_rate)
    yield _coefficients_section(coefficients, summary)
    if path:
        yield _path_section(path, [c["feature"] for c in coefficients if c.get("feature") != "(intercept)"
                                   ] if not summary.get("features") else summary["features"], validated=bool(metrics))
    if short_model is not None:
        yield _short_model_section(short_model, metrics, n_features)
    if threshold is not None:
        yield _threshold_section(threshold, summary, rows)
    yield _facts_section(summary, metrics)
    from . import __version__

    yield (f'<footer>Made with logreg-dist {_e(__version__)}. This page is self-contained: it loads no scripts, '
           "fonts or images.</footer></main></body></html>\n")


def _check(title, summary, metrics, coefficients, threshold, short_model) -> None:
    if not isinstance(title, str):
        raise TypeError(f"title must be a str; got {type(title).__name__}.")
    for name, value, optional in (("summary", summary, False), ("metrics", metrics, True),
                                  ("threshold", threshold, True), ("short_model", short_model, True)):
        if not (isinstance(value, dict) or (optional and value is None)):
            raise TypeError(f"{name} must be a dict{' or None' if optional else ''}; got {type(value).__name__}.")
    if not isinstance(coefficients, (list, tuple)):
        raise TypeError(f"coefficients must be a list of dicts; got {type(coefficients).__name__}.")
    for k, row in enumerate(coefficients):
        if not isinstance(row, dict) or not isinstance(row.get("feature"), str):
            raise TypeError(f"coefficients[{k}] must be a dict with a str 'feature'; got {row!r:.80}.")


def render_report(*, title: str, summary: dict, metrics: dict | None, coefficients: list[dict],
                  threshold: dict | None, short_model: dict | None, path: dict | None = None) -> str:
    """The model report as one self-contained HTML page (the trained model's ``report.html``).

    Parameters
    ----------
    title : str
        Page title and heading.
    summary : dict
        The fit: ``target``, ``positive_label``, ``rows_train``, ``positives_train``,
        ``rows_valid``, ``positives_valid``, ``n_features``, ``l2``, ``solver``,
        ``n_iter``, ``converged``, ``fit_seconds``, ``model_version``, ``created``.
    metrics : dict or None
        Validation metrics: ``n_rows``, ``n_positives``, ``auc``, ``auc_se``,
        ``auc_ci``, ``log_loss``, ``brier``, ``average_precision``, ``roc``
        (``fpr``, ``tpr``), ``pr`` (``recall``, ``precision``) and ``deciles``
        (one dict per decile, ``bin`` 1 holding the highest scores). None (or
        empty) for a model fitted on every row: the page then shows the
        training counts, the cross-validated AUC of a ``path`` chosen by
        cross-validation, the coefficients, the path and the facts.
    coefficients : list of dict
        One row per feature in rank order (``feature``, ``coef``, ``std_error``,
        ``z``, ``p_value``, ``ci_low``, ``ci_high``, ``coef_standardized``,
        ``odds_ratio_per_sd``, ``odds_ratio_per_sd_ci``, ``rank``); a row whose
        feature is ``"(intercept)"`` is shown first.
    threshold : dict or None
        The chosen decision threshold and its confusion counts (``tp``, ``fp``,
        ``tn``, ``fn``), with ``cost_fp``/``cost_fn`` or ``contact_share``.
    short_model : dict or None
        A reduced model: ``features``, ``auc``, ``auc_ci``, ``full_auc``.
    path : dict or None
        The regularization path the penalty was chosen on (``Model.path``):
        ``points``, ``chosen``, ``rule``, ``coef_standardized``.

    Returns
    -------
    str
        The page.

    Missing optional keys print as a dash; NumPy arrays and scalars are read
    like lists and floats. Raises ``TypeError`` for inputs of the wrong kind and
    ``ValueError`` for curves whose arrays differ in length.
    """
    _check(title, summary, metrics, coefficients, threshold, short_model)
    return "".join(_render(title=title, summary=summary, metrics=metrics, coefficients=coefficients,
                           threshold=threshold, short_model=short_model, path=path))


_CSS = """
:root{--ink:#1d2733;--muted:#5d6875;--line:#dde2e7;--panel:#f5f7f9;--accent:#1f5fa8;--neg:#c8611f}
*{box-sizing:border-box}
body{margin:0;background:#fff;color:var(--ink);font:14px/1.5 "Helvetica Neue",Helvetica,Arial,"Liberation Sans",sans-serif}
main{max-width:1120px;margin:0 auto;padding:32px 40px 48px}
h1{font-size:26px;font-weight:600;margin:0 0 2px}
h2{font-size:18px;font-weight:600;margin:0 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
section{margin-top:36px}
.sub,.note,footer{color:var(--muted)}
.note{max-width:80ch}
.lede{font-size:15px;max-width:90ch}
.big{font-size:17px}
.kpis{display:grid;grid-template-columns:repeat(4,1fr);gap:12px;margin:20px 0}
.kpis.two{grid-template-columns:repeat(2,minmax(0,280px))}
.kpi{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:12px 16px}
.kpi .label{display:block;font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.kpi .value{display:block;font-size:26px;font-weight:600;font-variant-numeric:tabular-nums}
.kpi .detail{display:block;min-height:1.5em;font-size:12px;color:var(--muted)}
.warn{border-left:4px solid #b3261e;background:#fdf0ef;padding:8px 12px}
.warn-soft{border-left:3px solid #c9a227;padding-left:10px}
nav{margin-top:8px;padding:8px 0;border-top:1px solid var(--line);border-bottom:1px solid var(--line)}
nav a{color:var(--accent);text-decoration:none;margin-right:18px}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:28px;align-items:start}
.pair.narrow{grid-template-columns:minmax(0,3fr) minmax(0,2fr)}
.pair>.note{margin-top:40px}
.pair>section{margin-top:36px}
figure{margin:0}
svg.chart{display:block;width:100%;max-width:520px;height:auto}
svg text{fill:var(--ink);font-family:inherit}
.ctitle{font-size:14px;font-weight:600}
.tick,.legend,.value{font-size:11px}
.alabel{font-size:12px;fill:var(--muted)}
.grid{stroke:#edf0f3}
.axis{fill:none;stroke:#9aa4ae}
.model{fill:none;stroke:var(--accent);stroke-width:2}
.ref{fill:none;stroke:#8a949e;stroke-width:1.2;stroke-dasharray:5 4}
.line1,.line2,.line3,.line4,.line5,.line6{fill:none;stroke-width:2}
.line1{stroke:#0072b2}.line2{stroke:#e69f00}.line3{stroke:#009e73}.line4{stroke:#cc79a7}.line5{stroke:#56b4e9}
.line6{stroke:#d55e00;stroke-dasharray:6 3}
.perfect{fill:none;stroke:#b8c0c8;stroke-width:1.2;stroke-dasharray:2 3}
.dot{fill:var(--accent)}
.dot.hollow{fill:#fff;stroke:var(--accent);stroke-width:1.5}
.whisker{stroke:var(--accent);stroke-width:1;opacity:.6}
.bar{fill:var(--accent)}
.spark{display:block}
.spark .pos{fill:var(--accent)}
.spark .neg{fill:var(--neg)}
.spark .zero{stroke:#8a949e}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px;margin-top:12px}
th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
th{background:var(--panel);font-weight:600;vertical-align:bottom}
th.text,td.text{text-align:left;white-space:normal;overflow-wrap:anywhere}
table.coef td.text{max-width:260px}
tr.intercept td{color:var(--muted);font-style:italic}
table.confusion td small{display:block;color:var(--muted);font-size:11px}
table.compact{width:auto}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 24px;margin:0}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0;font-variant-numeric:tabular-nums}
footer{margin-top:40px;padding-top:12px;border-top:1px solid var(--line);font-size:12px}
@media print{main{padding:0}nav{display:none}section,figure,tr{break-inside:avoid}}
"""
