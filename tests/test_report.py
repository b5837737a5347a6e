"""The HTML report: complete, escaped, offline, and clean in a real browser (the model folder it goes in is
written whole by model.write_atomic_dir, tested with the outputs)."""

from __future__ import annotations

import os
import re
import shutil
import struct
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from logreg_dist import report
from logreg_dist.report import render_report

from .browser import console_lines, run_chromium

SECTIONS = ["headline", "roc", "pr", "calibration", "gains", "coefficients", "short-model", "threshold", "facts"]
CHARTS = ["chart-roc", "chart-pr", "chart-calibration", "chart-gains", "chart-lift"]
NASTY = ['<b>bold</b> & "quoted"', "spend < 100 & 'vip'", '"><script>alert(1)</script>', "R&D share"]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class StrictParser(HTMLParser):
    """html.parser, plus a check that every non-void element is closed in order and ids are unique."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.text = [], [], []
        self.tags, self.ids, self.links = Counter(), Counter(), []

    def _attrs(self, tag, attrs):
        self.tags[tag] += 1
        for name, value in attrs:
            if name == "id":
                self.ids[value] += 1
            if name in ("src", "href", "xlink:href", "srcset", "action", "data", "poster"):
                self.links.append((tag, name, value))

    def handle_starttag(self, tag, attrs):
        self._attrs(tag, attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self._attrs(tag, attrs)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'} at {self.getpos()}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> StrictParser:
    parser = StrictParser()
    parser.feed(page)
    parser.close()
    return parser


def _inputs(n_rows: int = 50_000, n_features: int = 85, seed: int = 7) -> dict:
    """Validation scores with a 0.4% base rate, metrics computed as the metrics module would, 85 coefficients."""
    rng = np.random.default_rng(seed)
    eta = -6.3 + 1.2 * rng.standard_normal(n_rows)
    y = (rng.uniform(size=n_rows) < 1 / (1 + np.exp(-eta))).astype(int)
    score = 1 / (1 + np.exp(-(eta + 0.3 * rng.standard_normal(n_rows))))
    auc = roc_auc_score(y, score)
    n_pos, n_neg = int(y.sum()), int(n_rows - y.sum())
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)  # Hanley & McNeil (1982)
    auc_se = float(np.sqrt((auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / (n_pos * n_neg)))
    fpr, tpr, roc_thr = roc_curve(y, score)
    precision, recall, pr_thr = precision_recall_curve(y, score)
    order = np.argsort(-score, kind="stable")
    deciles, seen_rows, seen_pos = [], 0, 0
    for k, part in enumerate(np.array_split(order, 10), start=1):
        s, t = score[part], y[part]
        seen_rows, seen_pos = seen_rows + len(part), seen_pos + int(t.sum())
        deciles.append({"bin": k, "rows": len(part), "positives": int(t.sum()), "min_score": float(s.min()),
                        "max_score": float(s.max()), "mean_score": float(s.mean()), "positive_rate": float(t.mean()),
                        "cumulative_share": seen_rows / n_rows, "cumulative_gain": seen_pos / n_pos,
                        "lift": float(t.mean()) / (n_pos / n_rows),
                        "cumulative_lift": (seen_pos / seen_rows) / (n_pos / n_rows)})
    metrics = {"n_rows": n_rows, "n_positives": n_pos, "auc": float(auc), "auc_se": auc_se,
               "auc_ci": [auc - 1.96 * auc_se, auc + 1.96 * auc_se], "log_loss": log_loss(y, score),
               "brier": brier_score_loss(y, score), "average_precision": average_precision_score(y, score),
               "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "threshold": roc_thr.tolist()},
               "pr": {"recall": recall.tolist(), "precision": precision.tolist(), "threshold": pr_thr.tolist()},
               "deciles": deciles}

    names = [f"{kind}_{k:02d}" for k, kind in zip(range(n_features - len(NASTY)),
                                                   ["engagement", "recency", "count", "spend", "tenure"] * 20)]
    names += NASTY
    std = rng.normal(0, 0.25, n_features)
    scale = rng.uniform(0.5, 40, n_features)
    se = rng.uniform(0.02, 0.09, n_features)
    coefficients = []
    for rank, j in enumerate(np.argsort(-np.abs(std)), start=1):
        coef, z = std[j] / scale[j], std[j] / se[j]
        coefficients.append({"feature": names[j], "coef": coef, "std_error": se[j] / scale[j], "z": z,
                             "p_value": 0.0 if rank <= 3 else float(2 * norm.sf(abs(z))),
                             "ci_low": coef - 1.96 * se[j] / scale[j], "ci_high": coef + 1.96 * se[j] / scale[j],
                             "coef_standardized": std[j], "odds_ratio": float(np.exp(coef)),
                             "odds_ratio_per_sd": float(np.exp(std[j])),
                             "odds_ratio_per_sd_ci": [float(np.exp(std[j] - 1.96 * se[j])),
                                                      float(np.exp(std[j] + 1.96 * se[j]))], "rank": rank})
    coefficients[-1].update(std_error=None, z=None, p_value=None, ci_low=None, ci_high=None)
    coefficients.append({"feature": "(intercept)", "coef": -6.31, "std_error": 0.05, "z": -126.2, "p_value": 0.0,
                         "ci_low": -6.41, "ci_high": -6.21, "coef_standardized": None, "odds_ratio": None,
                         "odds_ratio_per_sd": None, "odds_ratio_per_sd_ci": None, "rank": None})

    cost_fp, cost_fn = 1.0, 60.0
    cost = cost_fp * fpr * n_neg + cost_fn * (1 - tpr) * n_pos
    best = int(np.argmin(cost))
    tp, fp = round(tpr[best] * n_pos), round(fpr[best] * n_neg)
    threshold = {"threshold": float(roc_thr[best]), "tp": tp, "fp": fp, "tn": n_neg - fp, "fn": n_pos - tp,
                 "precision": tp / (tp + fp), "recall": tp / n_pos, "share_contacted": (tp + fp) / n_rows,
                 "expected_cost": float(cost[best]), "cost_per_row": float(cost[best]) / n_rows,
                 "cost_fp": cost_fp, "cost_fn": cost_fn}
    summary = {"target": "converted", "positive_label": "1", "rows_train": 4 * n_rows, "positives_train": 4 * n_pos + 3,
               "rows_valid": n_rows, "positives_valid": n_pos, "n_features": n_features, "l2": 1e-4,
               "solver": "newton", "n_iter": 9, "converged": True, "fit_seconds": 7.41, "model_version": "2026.11-a",
               "created": "2026-11-23T10:20:00+00:00"}
    short_model = {"features": [c["feature"] for c in coefficients[:3]], "auc": float(auc) - 0.031,
                   "auc_ci": [float(auc) - 0.05, float(auc) - 0.012], "full_auc": float(auc)}
    return {"title": "Conversion propensity \u2014 November campaign", "summary": summary, "metrics": metrics,
            "coefficients": coefficients, "threshold": threshold, "short_model": short_model}


@pytest.fixture(scope="module")
def inputs() -> dict:
    return _inputs()


@pytest.fixture(scope="module")
def page_file(inputs, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_report(**inputs), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def page(page_file) -> str:
    return page_file.read_text(encoding="utf-8")


def test_page_parses_with_every_section_chart_and_headline(page, inputs):
    parsed = parse(page)
    assert parsed.errors == [] and parsed.stack == []
    assert page.startswith("<!DOCTYPE html>")
    assert [tag for tag, n in parsed.ids.items() if n > 1] == []
    for section in SECTIONS:
        assert parsed.ids[section] == 1, section
    for chart in CHARTS:
        assert re.search(rf'<svg class="chart" id="{chart}"[^>]*><title id="{chart}-t">[^<]+</title>', page), chart
    assert parsed.tags["svg"] == len(CHARTS) + sum(c["coef_standardized"] is not None for c in inputs["coefficients"])
    auc = inputs["metrics"]["auc"]
    lo, hi = inputs["metrics"]["auc_ci"]
    assert f"Validation AUC</span><span class=\"value\">{auc:.3f}<" in page
    assert f"95% CI {lo:.3f} \u2013 {hi:.3f}" in page
    assert f"{inputs['metrics']['n_rows']:,}" == "50,000" and "50,000" in page
    assert f"{inputs['metrics']['n_positives']:,}" in page
    assert f"3 features give AUC {auc - 0.031:.3f} against {auc:.3f} for all 85." in page
    assert "<1e-16" not in page and "&lt;1e-16" in page  # p-values of 0, escaped in the cell
    assert "approximate" in page and "l2 = 0.0001" in page
    assert "Expected cost" in page and "Contacted (score \u2265 threshold)" in page


def test_page_loads_nothing_from_anywhere(page):
    parsed = parse(page)
    assert "http://" not in page and "https://" not in page
    assert parsed.tags["script"] == 0 and parsed.tags["img"] == 0 and parsed.tags["link"] == 0
    assert all(tag == "a" and name == "href" and value.startswith("#") for tag, name, value in parsed.links)
    assert "url(" not in page and "@import" not in page
    assert "default-src 'none'" in page  # the browser is told to fetch nothing, too


def test_feature_names_are_escaped(page, inputs):
    assert "<b>bold" not in page and "<script" not in page.lower()
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;" in page
    text = parse(page).text
    for name in NASTY:
        assert name in text, name  # each name is one text node: shown exactly as the user wrote it
    assert parse(page).tags["b"] == 0


@pytest.mark.parametrize(("value", "text"), [(1234567.8, "1,234,568"), (0.739412, "0.739"), (9.996, "10.0"),
                                             (0.000123456, "1.23e-4"), (-2.5, "-2.50"), (0, "0"), (None, "\u2014"),
                                             (float("nan"), "\u2014"), (999_999_999.0, "999,999,999"),
                                             (1.0107e60, "1.01e60")])
def test_numbers_read_well(value, text):
    assert report._num(value) == text


@pytest.mark.parametrize(("p", "text"), [(0.0, "<1e-16"), (3e-17, "<1e-16"), (2.34e-9, "2.3e-9"), (0.0321, "0.032"),
                                         (0.5, "0.500"), (None, "\u2014")])
def test_p_values_read_well(p, text):
    assert report._p_value(p) == text


def test_missing_optional_parts_give_a_shorter_page():
    minimal = {"title": "Minimal", "summary": {"converged": False, "n_iter": 100},
               "metrics": {"auc": 0.61, "n_rows": 1000, "n_positives": 250},
               "coefficients": [{"feature": "x1"}, {"feature": "x2", "coef": 0.2, "coef_standardized": -0.1}],
               "threshold": None, "short_model": None}
    page = render_report(**minimal)
    parsed = parse(page)
    assert parsed.errors == [] and parsed.stack == []
    assert parsed.ids["short-model"] == 0 and parsed.ids["threshold"] == 0
    assert all(parsed.ids[s] == 1 for s in ["headline", "roc", "pr", "calibration", "gains", "coefficients", "facts"])
    assert "No ROC curve was given." in page and "0.610" in page
    assert "without converging" in page  # a fit that did not converge is said so at the top


def test_a_model_without_validation_metrics_shows_its_training_counts_and_coefficients(inputs):
    summary = {**inputs["summary"], "rows_train": 12_345, "positives_train": 678}
    for metrics in (None, {}):
        page = render_report(**{**inputs, "summary": summary, "metrics": metrics, "threshold": None,
                                "short_model": None})
        parsed = parse(page)
        assert parsed.errors == [] and parsed.stack == []
        assert all(parsed.ids[s] == 0 for s in ["roc", "pr", "calibration", "gains", "threshold"])
        assert all(parsed.ids[s] == 1 for s in ["headline", "coefficients", "facts"])
        assert 'href="#roc"' not in page and "Validation AUC" not in page and "Log loss" not in page
        assert "Training rows</span><span class=\"value\">12,345<" in page and "5.5%" in page
        assert "none: fitted on every row" in page


@pytest.mark.parametrize("shape", ["contact_share", "costs_none"])
def test_threshold_given_as_a_contact_share(inputs, shape):
    threshold = {k: v for k, v in inputs["threshold"].items() if k not in ("cost_fp", "cost_fn", "expected_cost",
                                                                            "cost_per_row", "share_contacted")}
    if shape == "contact_share":  # the brief's shape
        threshold["contact_share"] = 0.1
    else:  # metrics.choose_threshold(contact_share=...): the costs present but None
        threshold.update(share_contacted=0.1, cost_fp=None, cost_fn=None, expected_cost=None, cost_per_row=None)
    page = render_report(**{**inputs, "threshold": threshold})
    assert "Contacting the top 10% of rows" in page and "Expected cost" not in page


def test_linear_calibration_axes_for_a_common_outcome(inputs):
    deciles = [{**d, "mean_score": 0.2 + 0.05 * k, "positive_rate": 0.21 + 0.05 * k} for k, d in
               enumerate(inputs["metrics"]["deciles"])]
    page = render_report(**{**inputs, "metrics": {**inputs["metrics"], "deciles": deciles}})
    chart = page[page.index('id="chart-calibration"'):]
    assert "(log scale)" not in chart[: chart.index("</svg>")]


def test_numpy_values_are_read_like_lists_and_floats(inputs):
    metrics = {**inputs["metrics"], "auc_ci": np.array(inputs["metrics"]["auc_ci"]),
               "roc": {k: np.asarray(v) for k, v in inputs["metrics"]["roc"].items()},
               "pr": {k: np.asarray(v) for k, v in inputs["metrics"]["pr"].items()},
               "n_rows": np.int64(inputs["metrics"]["n_rows"]), "auc": np.float64(inputs["metrics"]["auc"])}
    summary = {**inputs["summary"], "converged": np.bool_(False)}
    short_model = {**inputs["short_model"], "features": np.array(inputs["short_model"]["features"])}
    page = render_report(**{**inputs, "metrics": metrics, "summary": summary, "short_model": short_model})
    assert render_report(**inputs).count("95% CI") == page.count("95% CI")
    assert "without converging" in page and "50,000" in page


def test_public_names():
    assert report.__all__ == ["render_report"]
    assert all(callable(getattr(report, name)) for name in report.__all__)


def test_unequal_curves_are_refused(inputs):
    bad_roc = {"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 1.0]}  # found after the page's header is rendered
    with pytest.raises(ValueError, match=r"metrics\['roc'\] 'fpr' and 'tpr' must be sequences of equal length; got 3 and 2"):
        render_report(**{**inputs, "metrics": {**inputs["metrics"], "roc": bad_roc}})


def test_inputs_of_the_wrong_kind_are_refused(inputs):
    with pytest.raises(TypeError, match=r"coefficients\[1\] must be a dict with a str 'feature'; got \{'coef': 1\}"):
        render_report(**{**inputs, "coefficients": [{"feature": "a"}, {"coef": 1}]})
    with pytest.raises(TypeError, match="threshold must be a dict or None; got list"):
        render_report(**{**inputs, "threshold": []})


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.slow
def test_chromium_renders_the_page_without_console_errors(page_file, page, tmp_path):
    # Control first: a page with our policy that tries to load an image must show up in the console check.
    control = tmp_path / "control.html"
    control.write_text(f'<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="{report._CSP}">'
                       '</head><body><img src="https://example.invalid/pixel.png"></body></html>', encoding="utf-8")
    probe = run_chromium(control, "--dump-dom", profile=tmp_path / "profile")
    assert probe.returncode == 0 and any("Content Security Policy" in line for line in console_lines(probe.stderr))

    dom = run_chromium(page_file, "--dump-dom", profile=tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console_lines(dom.stderr) == []
    parsed = parse(dom.stdout)
    assert all(parsed.ids[section] == 1 for section in SECTIONS)
    assert all(parsed.ids[chart] == 1 for chart in CHARTS)
    assert parsed.tags["svg"] == parse(page).tags["svg"] and parsed.tags["polyline"] > 0

    shot = tmp_path / "report.png"
    run = run_chromium(page_file, f"--screenshot={shot}", "--window-size=1280,4000", "--hide-scrollbars",
                       profile=tmp_path / "profile")
    assert run.returncode == 0, run.stderr[-2000:]
    assert console_lines(run.stderr) == []
    assert _png_size(shot) == (1280, 4000) and shot.stat().st_size > 50_000  # drawn, not blank
    keep = os.environ.get("LOGREG_REPORT_SCREENSHOT")  # e.g. /tmp/report-screenshot.png, for a person to look at
    if keep:
        shutil.copyfile(shot, keep)


def test_a_model_whose_nonzero_coefficients_have_no_standard_errors_says_why():
    from logreg_dist.report import _coefficients_section

    rows = [{"feature": "(intercept)", "coef": -1.0, "std_error": None},
            {"feature": "a", "coef": 0.5, "std_error": None, "rank": 1},
            {"feature": "b", "coef": 0.0, "std_error": None, "rank": 2}]
    summary = {"target": "churn", "alpha": 1e-3, "l1_ratio": 1.0, "collinear": [["a", "c"]]}
    section = _coefficients_section(rows, summary)
    assert "No coefficient has a standard error" in section and "collinear (or nearly): a, c." in section
    # Without standard errors for another reason (a wide fit takes no Hessian), nothing is said of collinearity.
    assert "collinear" not in _coefficients_section(rows, {**summary, "collinear": None})


def test_nearly_collinear_columns_keep_their_standard_errors_and_the_note_says_so():
    from logreg_dist.report import _coefficients_section

    rows = [{"feature": "(intercept)", "coef": -1.0, "std_error": 0.1},
            {"feature": "a", "coef": 40.0, "std_error": 30.0, "rank": 2},
            {"feature": "c", "coef": -39.0, "std_error": 30.0, "rank": 3},
            {"feature": "b", "coef": 0.5, "std_error": 0.1, "rank": 1}]
    section = _coefficients_section(rows, {"target": "churn", "collinear": [["a", "c"]]})
    assert "nearly collinear" in section and "a, c" in section and "No coefficient has a standard error" not in section


def test_a_level_odds_ratio_compares_it_with_the_reference_level():
    from logreg_dist.report import _coefficients_section

    rows = [{"feature": "(intercept)", "coef": -1.0, "std_error": 0.1},
            {"feature": "plan=gold", "coef": 2.18, "std_error": 0.1, "rank": 1, "reference": "plan=basic",
             "odds_ratio": float(np.exp(2.18)), "odds_ratio_ci": [7.2, 10.7], "odds_ratio_per_sd": 1.89,
             "odds_ratio_per_sd_ci": [1.8, 2.0]},
            {"feature": "tenure", "coef": -0.05, "std_error": 0.01, "rank": 2, "odds_ratio": 0.951,
             "odds_ratio_per_sd": 0.25, "odds_ratio_per_sd_ci": [0.2, 0.3]}]
    section = _coefficients_section(rows, {"target": "churn"})
    cells = re.findall(r"<td[^>]*>(.*?)</td>", section)
    gold, tenure = cells.index("plan=gold (vs plan=basic)"), cells.index("tenure")
    assert cells[gold + 6] == "8.85" and cells[gold + 7] == "7.20 \u2013 10.7"  # exp(coef), not per SD
    assert cells[tenure + 6] == "0.250"  # a numeric feature's per SD


def test_collinear_and_separated_coefficients_do_not_set_the_bars_scale():
    """mlc_churn's unpenalized minutes and charges (+-130 standardized) left every other bar a hairline."""
    from logreg_dist.report import _coefficients_section

    rows = [{"feature": "(intercept)", "coef": -1.0},
            {"feature": "minutes", "coef": 2.0, "coef_standardized": 131.0, "rank": 3},
            {"feature": "charge", "coef": -12.0, "coef_standardized": -130.0, "rank": 4},
            {"feature": "level", "coef": -30.0, "coef_standardized": -24.0, "separated": True, "rank": 5},
            {"feature": "plan", "coef": -2.3, "coef_standardized": -1.0, "rank": 1},
            {"feature": "calls", "coef": 0.5, "coef_standardized": 0.5, "rank": 2}]
    section = _coefficients_section(rows, {"target": "churn", "collinear": [["minutes", "charge"]]})
    widths = [float(w) for w in re.findall(r'<rect class="(?:pos|neg)" x="[\d.]+" y="2" width="([\d.]+)"', section)]
    # In row order: minutes, charge and the separated level full length; plan the scale, calls half of it.
    assert widths == [56.0, 56.0, 56.0, 56.0, 28.0]


def test_a_log_axis_over_many_decades_labels_at_most_six():
    from logreg_dist.report import _Axis

    axis = _Axis("score", 1e-12, 1.0, log=True, percent=True)
    assert [axis.tick_label(t) for t in axis.ticks()] == ["1e-10%", "1e-7%", "1e-4%", "0.1%", "100%"]
    assert _Axis("score", 1e-3, 1.0, log=True).ticks() == [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]


def test_a_separated_model_says_so_beside_its_coefficients():
    """The command warned of separation at training, but the report, what the client reads, did not: it now names
    the strongest rules and what they mean for the coefficients and scores."""
    from logreg_dist.report import _coefficients_section

    rows = [{"feature": "(intercept)", "coef": -3.0},
            {"feature": "region=R005", "coef": -23.0, "coef_standardized": -4.1, "separated": True, "rank": 2},
            {"feature": "tenure", "coef": -0.05, "coef_standardized": -0.6, "rank": 1}]
    separation = {"features": [f"region=R{k:03d}" for k in range(5, 13)], "perfect_prediction": False,
                  "rules": [f"'region=R{k:03d}' = 1 predicts the negative class" for k in range(5, 13)]}
    section = _coefficients_section(rows, {"target": "churn", "separation": separation})
    assert "The classes are separated: &#x27;region=R005&#x27; = 1 predicts the negative class" in section
    assert "and 3 more features" in section and "--alpha auto" in section
    assert "separated" not in _coefficients_section(rows, {"target": "churn", "separation": None})
