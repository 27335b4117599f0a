"""Calibrate the memory coefficients from the fleet's own health reports.

Each point is ``(teis, events_per_tei, app_pss_mb)``: the TEI count recorded for the device's
holder, the holder's average events per TEI, and the Capture app's memory, the ``TOTAL PSS``
line of ``dumpsys meminfo com.dhis2`` converted from kB to MB (kB / 1024). The fit is ordinary
least squares of

    app_pss_mb = baseline + mb_per_1000_teis * teis/1000 + mb_per_1000_events * events/1000

(``events = teis * events_per_tei``), solved with the 3x3 normal equations; slopes are kept
non-negative (a slope fitted negative is held at 0 and the other refitted), so the calibrated
model stays monotone. When the points do not let TEIs and events be told apart (events per TEI
the same everywhere, or TEIs and events correlated above ``COLLINEAR``), it fits one common
factor ``k`` on the default shape instead:
``app_pss_mb = baseline + k * (default TEI term + default event term)``. Below ``min_points``
usable points, or when the fit is not physical (memory not growing with the load, negative
baseline), it returns an uncalibrated result saying why, and the defaults stay in use.

The fitted intercept absorbs the memory of the fleet's usual metadata (org units, rules,
options), which the model also counts separately, so a calibrated estimate errs towards more
RAM by that amount (see docs/capacity.md).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace
from typing import Any

from .coefficients import DEFAULT, Coefficients
from .inputs import WORKLOAD_RANGES

COLLINEAR = 0.99  # |correlation| of TEIs and events above which the two slopes are not separable
MAX_PSS_MB = 65_536  # a PSS above the largest accepted RAM is a parsing error, not a point


@dataclass(frozen=True)
class Calibration:
    """Result of :func:`fit`.

    ``calibrated`` False means the defaults stay in use and ``reason`` says why. When True,
    ``baseline_app_mb``, ``mb_per_1000_teis`` and ``mb_per_1000_events`` are the fitted memory
    coefficients (MB), ``rmse_mb`` the root-mean-square error of the fit on the points used (MB),
    ``r_squared`` its coefficient of determination (None when the PSS values do not vary),
    ``method`` ``"two-slope"``, ``"teis-only"`` / ``"events-only"`` (the other slope fitted as
    negative, so held at 0) or ``"scaled-default"``."""

    calibrated: bool
    reason: str
    method: str | None
    points_given: int
    points_used: int
    points_rejected: int
    min_points: int
    encrypted: bool
    baseline_app_mb: float | None = None
    mb_per_1000_teis: float | None = None
    mb_per_1000_events: float | None = None
    rmse_mb: float | None = None
    r_squared: float | None = None
    base: Coefficients = DEFAULT

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (coefficients and errors rounded to 0.001)."""

        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 3)

        return {
            "calibrated": self.calibrated,
            "reason": self.reason,
            "method": self.method,
            "points_given": self.points_given,
            "points_used": self.points_used,
            "points_rejected": self.points_rejected,
            "min_points": self.min_points,
            "encrypted": self.encrypted,
            "baseline_app_mb": r(self.baseline_app_mb),
            "mb_per_1000_teis": r(self.mb_per_1000_teis),
            "mb_per_1000_events": r(self.mb_per_1000_events),
            "rmse_mb": r(self.rmse_mb),
            "r_squared": r(self.r_squared),
        }

    def explain(self) -> str:
        """One or two lines for a page or CLI."""
        if not self.calibrated:
            return f"Uncalibrated: the default assumptions are in use. {self.reason}"
        r2 = "n/a" if self.r_squared is None else f"{self.r_squared:.3f}"
        return (
            f"Calibrated ({self.method}) from {self.points_used} points "
            f"({self.points_rejected} rejected): baseline {self.baseline_app_mb:.1f} MB, "
            f"{self.mb_per_1000_teis:.2f} MB per 1,000 TEIs, {self.mb_per_1000_events:.2f} MB "
            f"per 1,000 events; RMSE {self.rmse_mb:.1f} MB, R\u00b2 {r2}."
        )


def _usable(point: Any) -> tuple[float, float, float] | None:
    try:
        teis, events_per_tei, pss = point
    except (TypeError, ValueError):
        return None
    values = (teis, events_per_tei, pss)
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in values):
        return None
    if not all(math.isfinite(v) for v in values):
        return None
    if not 0 <= teis <= WORKLOAD_RANGES["teis"][2]:
        return None
    if not 0 <= events_per_tei <= WORKLOAD_RANGES["events_per_tei"][2]:
        return None
    if not 0 < pss <= MAX_PSS_MB:
        return None
    return float(teis), float(events_per_tei), float(pss)


def _solve3(a: list[list[float]], b: list[float]) -> list[float] | None:
    """Solve a 3x3 linear system by Gaussian elimination with partial pivoting; None if
    singular."""
    m = [row[:] + [rhs] for row, rhs in zip(a, b, strict=True)]
    n = 3
    scale = max(abs(x) for row in a for x in row) or 1.0
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) < 1e-12 * scale:
            return None
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, n):
            f = m[r][col] / m[col][col]
            for k in range(col, n + 1):
                m[r][k] -= f * m[col][k]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][k] * x[k] for k in range(r + 1, n))) / m[r][r]
    return x


def _two_slope(x1: list[float], x2: list[float], y: list[float]) -> list[float] | None:
    rows = [(1.0, a, b) for a, b in zip(x1, x2, strict=True)]
    ata = [[sum(r[i] * r[j] for r in rows) for j in range(3)] for i in range(3)]
    aty = [sum(r[i] * v for r, v in zip(rows, y, strict=True)) for i in range(3)]
    return _solve3(ata, aty)


def _non_negative_fit(
    x1: list[float], x2: list[float], y: list[float]
) -> tuple[str, float, float, float]:
    """Least squares of y = b0 + s1*x1 + s2*x2 with s1, s2 >= 0 (memory cannot shrink as the
    load grows): the unconstrained solution if its slopes are non-negative, otherwise the best
    fit with one slope held at 0 (where a convex problem's constrained optimum then lies), or
    both at 0. Returns (method, b0, s1, s2)."""
    solution = _two_slope(x1, x2, y)
    if solution is not None and solution[1] >= 0 and solution[2] >= 0:
        return ("two-slope", *solution)
    candidates = [("flat", statistics.fmean(y), 0.0, 0.0)]
    s1, b1 = statistics.linear_regression(x1, y)
    if s1 >= 0:
        candidates.append(("teis-only", b1, s1, 0.0))
    s2, b2 = statistics.linear_regression(x2, y)
    if s2 >= 0:
        candidates.append(("events-only", b2, 0.0, s2))

    def sse(candidate: tuple[str, float, float, float]) -> float:
        _, b0, a1, a2 = candidate
        return sum((v - b0 - a1 * p - a2 * q) ** 2 for v, p, q in zip(y, x1, x2, strict=True))

    return min(candidates, key=sse)


def fit(
    points: list[tuple[float, float, float]],
    min_points: int = 20,
    *,
    encrypted: bool = False,
    base: Coefficients = DEFAULT,
) -> Calibration:
    """Fit the memory coefficients from ``points`` = ``[(teis, events_per_tei, app_pss_mb)]``.

    Points with a wrong shape, non-finite or out-of-range values (TEIs 0-500,000, events per
    TEI 0-1,000, PSS above 0 and at most 65,536 MB) are rejected and counted. ``encrypted`` says
    the devices ran with DHIS2 ``encryptDB`` on (a server-wide setting): the PSS is divided by
    ``base.encryption_memory_factor`` so that :func:`~fleet.capacity.model.estimate` does not
    apply it twice. Never raises for bad points; raises ValueError if ``min_points`` < 3.

    Returns a :class:`Calibration`; uncalibrated (with the reason) below ``min_points`` usable
    points, when TEI counts do not vary, or when the fit is not physical."""
    if min_points < 3:
        raise ValueError("min_points must be at least 3 (three coefficients are fitted)")
    given = list(points)
    usable = [p for p in (_usable(q) for q in given) if p is not None]
    common = {
        "points_given": len(given),
        "points_used": len(usable),
        "points_rejected": len(given) - len(usable),
        "min_points": min_points,
        "encrypted": encrypted,
        "base": base,
    }

    def uncalibrated(reason: str) -> Calibration:
        return Calibration(calibrated=False, reason=reason, method=None, **common)

    if len(usable) < min_points:
        return uncalibrated(
            f"only {len(usable)} usable points ({common['points_rejected']} rejected); "
            f"at least {min_points} are needed"
        )
    factor = base.encryption_memory_factor if encrypted else 1.0
    x1 = [t / 1000 for t, _, _ in usable]
    x2 = [t * e / 1000 for t, e, _ in usable]
    y = [p / factor for _, _, p in usable]
    if len(set(x1)) < 2:
        return uncalibrated("the TEI counts of the points do not vary; nothing to fit a slope to")

    try:
        separable = abs(statistics.correlation(x1, x2)) <= COLLINEAR
    except statistics.StatisticsError:  # events constant (e.g. all zero)
        separable = False
    if separable:
        method, baseline, per_ktei, per_kevent = _non_negative_fit(x1, x2, y)
    else:
        method = "scaled-default"
        load = [
            a * base.mb_per_1000_teis + b * base.mb_per_1000_events
            for a, b in zip(x1, x2, strict=True)
        ]
        slope, baseline = statistics.linear_regression(load, y)
        slope = max(slope, 0.0)
        per_ktei, per_kevent = slope * base.mb_per_1000_teis, slope * base.mb_per_1000_events
    if per_ktei <= 0 and per_kevent <= 0:
        return uncalibrated(
            f"memory does not grow with the offline load in these {len(usable)} points; "
            "the defaults stay in use"
        )
    if baseline < 0:
        return uncalibrated(
            f"the fitted baseline is negative ({baseline:.1f} MB), which is not physical; "
            "the defaults stay in use"
        )

    predicted = [baseline + per_ktei * a + per_kevent * b for a, b in zip(x1, x2, strict=True)]
    residuals = [(yi - pi) * factor for yi, pi in zip(y, predicted, strict=True)]
    ss_res = sum(r * r for r in residuals)
    mean_y = statistics.fmean(p for _, _, p in usable)
    ss_tot = sum((p - mean_y) ** 2 for _, _, p in usable)
    return Calibration(
        calibrated=True,
        reason=f"fitted from {len(usable)} points",
        method=method,
        baseline_app_mb=baseline,
        mb_per_1000_teis=per_ktei,
        mb_per_1000_events=per_kevent,
        rmse_mb=math.sqrt(ss_res / len(usable)),
        r_squared=None if ss_tot == 0 else 1 - ss_res / ss_tot,
        **common,
    )


def coefficients_from(calibration: Calibration) -> Coefficients:
    """Coefficients to pass to ``estimate``: the calibration's base with the three fitted
    memory coefficients (and ``calibrated=True`` and a ``source`` naming the fit), or the base
    unchanged, still marked uncalibrated, when ``calibration.calibrated`` is False."""
    if not calibration.calibrated:
        return calibration.base
    return replace(
        calibration.base,
        baseline_app_mb=calibration.baseline_app_mb,
        mb_per_1000_teis=calibration.mb_per_1000_teis,
        mb_per_1000_events=calibration.mb_per_1000_events,
        calibrated=True,
        source=(
            f"calibrated ({calibration.method}) from {calibration.points_used} dumpsys meminfo "
            f"points, RMSE {calibration.rmse_mb:.1f} MB"
        ),
    )
