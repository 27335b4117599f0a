"""The calibration surface issue 8 plugs health data into: (holder, PSS) readings -> points ->
fit -> the coefficients every estimate uses; and the chart geometry."""

from __future__ import annotations

import random

import pytest

from fleet.capacity.chart import memory_chart, nice_ceiling
from fleet.capacity.coefficients import DEFAULT
from fleet.capacity.model import DeviceSpec, Workload, estimate
from fleet.capacity.operations import active_coefficients, calibration_points, current_calibration


def test_points_from_readings(create_holder, db):
    with_load = create_holder("A", expected_teis=1200, events_per_tei=4.5)
    no_events = create_holder("B", expected_teis=300)
    no_load = create_holder("C")
    points = calibration_points([(with_load, 512.0), (no_events, 250.5), (no_load, 400.0),
                                 (None, 100.0)])
    assert points == [(1200, 4.5, 512.0), (300, 3.0, 250.5)]


def test_without_health_reports_the_defaults_are_uncalibrated(app):
    with app.app_context():
        status = current_calibration()
        assert status.readings is None and status.points == 0
        assert status.calibration.calibrated is False
        assert status.coefficients is DEFAULT and active_coefficients() is DEFAULT
        assert "Uncalibrated" in status.source and "dumpsys meminfo com.dhis2" in status.source


def test_too_few_readings_stay_uncalibrated(create_holder, db):
    holders = [create_holder(f"H{i}", expected_teis=500 * (i + 1)) for i in range(5)]
    status = current_calibration([(h, 200.0 + i) for i, h in enumerate(holders)])
    assert status.calibration.calibrated is False
    assert status.readings == 5 and status.points == 5
    assert "only 5 usable points" in status.source and "at least 20" in status.source
    assert status.coefficients is DEFAULT


def test_readings_from_a_known_law_are_recovered(create_holder, db):
    """PSS generated as 150 MB + 25 MB per 1,000 TEIs + 5 MB per 1,000 events, with noise."""
    rng = random.Random(5)
    readings = []
    for i in range(30):
        teis = rng.randrange(200, 12000)
        events = rng.choice((1.0, 2.0, 4.0, 6.0))
        holder = create_holder(f"W{i}", expected_teis=teis, events_per_tei=events)
        pss = 150 + 25 * teis / 1000 + 5 * teis * events / 1000 + rng.gauss(0, 3)
        readings.append((holder, pss))
    status = current_calibration(readings, encrypted=False)
    fit = status.calibration
    assert fit.calibrated and fit.points_used == 30 and fit.method == "two-slope"
    assert fit.baseline_app_mb == pytest.approx(150, abs=5)
    assert fit.mb_per_1000_teis == pytest.approx(25, abs=1.5)
    assert fit.mb_per_1000_events == pytest.approx(5, abs=0.5)
    assert fit.rmse_mb < 5
    c = status.coefficients
    assert c.calibrated and c.mb_per_1000_teis == fit.mb_per_1000_teis
    assert status.to_dict()["fit"]["points_used"] == 30
    # an estimate with the calibrated coefficients cites the calibration
    est = estimate(DeviceSpec(ram_mb=1024, api_level=29), Workload(teis=20000), c)
    memory = [r for r in est.reasons if r.code.startswith("memory_")]
    assert memory and "fleet calibration" in memory[0].sources[0]


def test_chart_marks_budget_ok_limit_and_workload():
    est = estimate(DeviceSpec(ram_mb=2048, api_level=29), Workload(teis=5000))
    chart = memory_chart(est)
    plot = chart["plot"]
    bottom, top = plot["y"] + plot["h"], plot["y"]

    def y_of(mb):
        return bottom - plot["h"] * mb / chart["y_max"]

    assert chart["budget"]["mb"] == pytest.approx(921.6)
    assert chart["budget"]["y"] == pytest.approx(y_of(921.6), abs=0.1)
    assert chart["ok_limit"]["y"] == pytest.approx(y_of(921.6 * 0.8), abs=0.1)
    assert top <= chart["budget"]["y"] < chart["ok_limit"]["y"] < bottom
    assert chart["x_max"] >= 5000 * 1.5
    assert (5000, round(est.memory.total_mb, 1)) in chart["samples"]
    xs = [float(p.split(",")[0]) for p in chart["curve"].split()]
    assert xs == sorted(xs) and xs[0] == plot["x"] and xs[-1] == plot["x"] + plot["w"]
    kinds = {m["kind"]: m for m in chart["markers"]}
    assert kinds["workload"]["teis"] == 5000
    assert kinds["max_ok"]["teis"] == est.max_teis_ok == 1000


def test_nice_ceiling():
    assert [nice_ceiling(v) for v in (0.7, 1, 3, 7.2, 1234, 24000)] == [
        1, 1, 5, 10, 2000, 25000]
