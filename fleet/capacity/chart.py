"""Geometry of the calculator's chart: estimated working memory (MB) against TEI count, with the
RAM Android leaves the Capture app on the device (above it: insufficient) and the ok limit marked.

Pure numbers for ``templates/capacity/_chart.html`` to draw as SVG on the server (no script, no
CDN): coordinates in SVG user units, rounded to 0.1.
"""

from __future__ import annotations

import math
from typing import Any

from .inputs import WORKLOAD_RANGES
from .model import memory_curve
from .results import Estimate

WIDTH, HEIGHT = 640, 340
LEFT, RIGHT, TOP, BOTTOM = 64, 32, 16, 44
SAMPLES = 41
TEIS_MAX = int(WORKLOAD_RANGES["teis"][2])


def nice_ceiling(value: float) -> float:
    """Smallest of 1, 2, 2.5, 5 x 10^n that is >= ``value`` (> 0)."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value * (1 - 1e-9):
            return float(candidate)
    return float(10 ** (exponent + 1))


def axis_max(value: float, count: int = 5) -> float:
    """Axis end for data up to ``value``: a multiple of a nice tick step (about ``count``
    ticks), so the axis ends on a labelled tick without wasting half the plot."""
    step = nice_ceiling(value / count)
    return step * math.ceil(value / step - 1e-9)


def _ticks(maximum: float, count: int = 5) -> list[float]:
    step = nice_ceiling(maximum / count)
    return [i * step for i in range(int(maximum / step + 1e-9) + 1)]


def tei_axis_max(est: Estimate) -> int:
    """Right end of the TEI axis: room past the workload and past the TEI count at which the
    memory estimate reaches the budget (when that is within 10 times the workload)."""
    w = est.workload
    slope = _slope(est)
    start = est.memory.total_mb - slope * w.teis
    crossing = (est.memory_budget_mb - start) / slope if slope > 0 else 0
    wanted = max(1000, w.teis * 1.5, min(crossing * 1.15, max(w.teis, 1000) * 10))
    return int(min(axis_max(wanted), TEIS_MAX))


def _slope(est: Estimate) -> float:
    """MB per TEI of the (linear) memory estimate, other workload fields fixed."""
    points = memory_curve(est.device, est.workload, [0, 1000], est.coefficients)
    return (points[1][1] - points[0][1]) / 1000


def memory_chart(est: Estimate) -> dict[str, Any]:
    """Chart data for ``est``: ``curve`` (SVG polyline points string), ``samples``
    [(teis, mb)], axis ``x_ticks``/``y_ticks`` [(position, label value)], horizontal ``lines``
    for the budget and the ok limit, vertical markers for the workload's TEIs and the largest
    TEI count at ok, and the plot box (``plot``: x, y, w, h)."""
    x_max = tei_axis_max(est)
    samples = memory_curve(
        est.device, est.workload,
        sorted({round(x_max * i / (SAMPLES - 1)) for i in range(SAMPLES)} | {est.workload.teis}),
        est.coefficients,
    )
    budget, ok_limit = est.memory_budget_mb, est.memory_ok_limit_mb
    y_max = axis_max(max(budget * 1.2, est.memory.total_mb * 1.1))
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(teis: float) -> float:
        return round(LEFT + pw * teis / x_max, 1)

    def sy(mb: float) -> float:
        return round(TOP + ph * (1 - min(mb, y_max * 1.05) / y_max), 1)

    markers = [{"x": sx(est.workload.teis), "teis": est.workload.teis, "kind": "workload"}]
    if est.max_teis_ok is not None and est.max_teis_ok <= x_max:
        markers.append({"x": sx(est.max_teis_ok), "teis": est.max_teis_ok, "kind": "max_ok"})
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "plot": {"x": LEFT, "y": TOP, "w": pw, "h": ph},
        "x_max": x_max,
        "y_max": y_max,
        "samples": samples,
        "curve": " ".join(f"{sx(t)},{sy(m)}" for t, m in samples),
        "point": {"x": sx(est.workload.teis), "y": sy(est.memory.total_mb),
                  "mb": round(est.memory.total_mb, 1)},
        "x_ticks": [(sx(t), int(t)) for t in _ticks(x_max)],
        "y_ticks": [(sy(m), int(m)) for m in _ticks(y_max)],
        "budget": {"y": sy(budget), "mb": round(budget, 1), "ram_mb": est.device.ram_mb},
        "ok_limit": {"y": sy(ok_limit), "mb": round(ok_limit, 1)},
        "zones": {
            "ok": {"y": sy(ok_limit), "h": round(sy(0) - sy(ok_limit), 1)},
            "marginal": {"y": sy(budget), "h": round(sy(ok_limit) - sy(budget), 1)},
            "insufficient": {"y": TOP, "h": round(sy(budget) - TOP, 1)},
        },
        "markers": markers,
    }
