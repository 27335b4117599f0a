"""Calibration of the memory coefficients from (teis, events_per_tei, app_pss_mb) points."""

import json
import math
import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fleet.capacity import sources
from fleet.capacity.calibration import coefficients_from, fit
from fleet.capacity.coefficients import DEFAULT
from fleet.capacity.model import DeviceSpec, Workload, estimate, working_memory


def synthetic(n, baseline, per_ktei, per_kevent, noise_mb, seed, events=(1, 2, 3, 5, 8)):
    """Points from a known linear law plus seeded Gaussian noise (what the fit must recover)."""
    rng = random.Random(seed)
    points = []
    for _ in range(n):
        teis = rng.randint(100, 15_000)
        epi = rng.choice(events)
        pss = baseline + per_ktei * teis / 1000 + per_kevent * teis * epi / 1000
        points.append((teis, epi, pss + rng.gauss(0, noise_mb)))
    return points


def test_fit_recovers_known_coefficients_from_noisy_points():
    result = fit(synthetic(80, 150.0, 22.0, 3.0, noise_mb=10.0, seed=7))
    assert result.calibrated and result.method == "two-slope"
    assert result.points_used == 80 and result.points_rejected == 0
    assert result.baseline_app_mb == pytest.approx(150, abs=10)
    assert result.mb_per_1000_teis == pytest.approx(22, abs=2)
    assert result.mb_per_1000_events == pytest.approx(3, abs=0.6)
    assert 6 < result.rmse_mb < 14  # about the 10 MB noise put in
    assert result.r_squared > 0.95
    json.dumps(result.to_dict())
    assert "Calibrated (two-slope) from 80 points" in result.explain()


@settings(database=None, deadline=None, max_examples=60)
@given(
    st.floats(50, 400),
    st.floats(0, 80),
    st.floats(0, 20),
    st.integers(20, 60),
    st.integers(0, 10_000),
)
def test_fit_is_exact_on_noiseless_points(baseline, per_ktei, per_kevent, n, seed):
    assume(per_ktei + per_kevent >= 0.01)  # flat memory is refused (next tests)
    result = fit(synthetic(n, baseline, per_ktei, per_kevent, noise_mb=0.0, seed=seed))
    assert result.calibrated
    assert result.rmse_mb == pytest.approx(0, abs=1e-6)
    assert result.baseline_app_mb == pytest.approx(baseline, abs=1e-5)
    assert result.mb_per_1000_teis == pytest.approx(per_ktei, abs=1e-5)
    assert result.mb_per_1000_events == pytest.approx(per_kevent, abs=1e-5)


def test_below_min_points_says_uncalibrated_and_why():
    points = synthetic(19, 150.0, 22.0, 3.0, noise_mb=5.0, seed=1)
    points += [(-5, 3, 200.0), (100, 3, math.nan), ("x", 1, 2), (100, 3)]
    result = fit(points, min_points=20)
    assert not result.calibrated and result.method is None
    assert result.points_given == 23 and result.points_used == 19 and result.points_rejected == 4
    assert result.reason == "only 19 usable points (4 rejected); at least 20 are needed"
    assert result.explain().startswith("Uncalibrated: the default assumptions are in use.")
    assert coefficients_from(result) is DEFAULT


def test_same_events_per_tei_everywhere_falls_back_to_scaling_the_defaults():
    points = synthetic(40, 150.0, 2 * 30.0, 2 * 4.0, noise_mb=0.0, seed=3, events=(3,))
    result = fit(points)
    assert result.calibrated and result.method == "scaled-default"
    # the default shape 30 : 4 is kept and scaled by the fitted factor (here 2)
    assert result.mb_per_1000_teis == pytest.approx(60.0)
    assert result.mb_per_1000_events == pytest.approx(8.0)
    assert result.baseline_app_mb == pytest.approx(150.0)


def test_a_slope_fitted_negative_is_held_at_zero():
    # memory grows with events only; TEIs alone add nothing, noise pushes their slope below 0
    rng = random.Random(2)
    points = []
    for _ in range(60):
        teis, epi = rng.randint(100, 15_000), rng.choice((1, 2, 4, 8, 12))
        points.append((teis, epi, 200 + 5 * teis * epi / 1000 - 0.5 * teis / 1000))
    result = fit(points)
    assert result.calibrated and result.method == "events-only"
    assert result.mb_per_1000_teis == 0.0 and result.mb_per_1000_events > 0
    model = coefficients_from(result)
    small, large = Workload(teis=100), Workload(teis=20_000)
    assert working_memory(large, model).total_mb > working_memory(small, model).total_mb


def test_flat_memory_is_refused():
    result = fit([(t, t % 5, 300.0) for t in range(0, 30_000, 1000)])
    assert not result.calibrated
    assert "memory does not grow with the offline load" in result.reason


def test_memory_falling_with_teis_is_refused():
    points = [(t, 3, 600 - t / 50) for t in range(0, 20_000, 500)]
    result = fit(points)
    assert not result.calibrated
    assert "memory does not grow with the offline load" in result.reason


def test_constant_tei_count_is_refused():
    result = fit([(5000, e % 4, 300.0 + e) for e in range(30)])
    assert not result.calibrated and "TEI counts of the points do not vary" in result.reason


def test_min_points_below_three_is_a_programming_error():
    with pytest.raises(ValueError):
        fit([], min_points=2)


def test_calibrated_coefficients_drive_estimate():
    result = fit(synthetic(50, 250.0, 60.0, 8.0, noise_mb=0.0, seed=11))
    coefficients = coefficients_from(result)
    assert coefficients.calibrated and "calibrated (two-slope) from 50" in coefficients.source
    assert coefficients.mb_per_1000_teis == pytest.approx(60.0)
    assert coefficients.mb_per_org_unit == DEFAULT.mb_per_org_unit  # metadata terms kept

    device = DeviceSpec(ram_mb=3072, api_level=30, free_storage_mb=20_000)
    workload = Workload(teis=10_000)
    default = estimate(device, workload)
    calibrated = estimate(device, workload, coefficients)
    assert calibrated.memory.total_mb > default.memory.total_mb
    assert calibrated.memory.total_mb == pytest.approx(
        working_memory(workload, coefficients).total_mb
    )
    assert calibrated.to_dict()["calibrated"] is True
    assert calibrated.max_teis_ok < default.max_teis_ok
    assert "Coefficients: calibrated" in calibrated.explain()
    # a memory reason now cites the calibration, not the uncalibrated assumption
    small_phone = DeviceSpec(ram_mb=1024, api_level=30, free_storage_mb=20_000)
    over = estimate(small_phone, workload, coefficients)
    memory_reasons = [r for r in over.reasons if r.code == "memory_over_budget"]
    assert memory_reasons and memory_reasons[0].sources == (sources.CALIBRATED,)
    default_reason = next(
        r for r in estimate(small_phone, workload).reasons if r.code == "memory_over_budget"
    )
    assert default_reason.sources == (sources.ASSUMPTION,)


def test_encrypted_fleet_points_are_divided_by_the_encryption_factor():
    plain = synthetic(40, 200.0, 30.0, 4.0, noise_mb=0.0, seed=5)
    encrypted = [(t, e, p * DEFAULT.encryption_memory_factor) for t, e, p in plain]
    result = fit(encrypted, encrypted=True)
    assert result.encrypted and result.baseline_app_mb == pytest.approx(200.0)
    assert result.mb_per_1000_teis == pytest.approx(30.0)
