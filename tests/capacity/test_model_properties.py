"""Properties of the capacity model (issue 5, item 4), checked with Hypothesis."""

import dataclasses
import json
import random

from capacity_strategies import any_workloads, devices, realistic_workloads
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fleet.capacity.calibration import coefficients_from, fit
from fleet.capacity.coefficients import DEFAULT
from fleet.capacity.inputs import DEVICE_RANGES, WORKLOAD_RANGES, DeviceSpec
from fleet.capacity.model import (
    PURCHASABLE_RAM_MB,
    Verdict,
    estimate,
    judge,
    max_teis_ok,
    memory_curve,
    ram_recommendation,
    recommended_ram_mb,
    working_memory,
)

PROPS = settings(database=None, deadline=None, max_examples=150)
TEI_MAX = WORKLOAD_RANGES["teis"][2]


def rank(device, workload, coefficients=DEFAULT):
    """Verdict rank only (ok 0, marginal 1, insufficient 2), cheaper than estimate()."""
    return judge(device, workload, coefficients).verdict.rank


def grow(workload, name, extra):
    """The workload with field ``name`` increased by ``extra``, clamped to its range."""
    high = WORKLOAD_RANGES[name][2]
    value = getattr(workload, name) + extra
    if WORKLOAD_RANGES[name][0] == "int":
        value = int(value)
    return dataclasses.replace(workload, **{name: min(value, high)})


GROWABLE = sorted(WORKLOAD_RANGES)  # every numeric workload field


@PROPS
@given(devices, any_workloads, st.sampled_from(GROWABLE), st.floats(0, 50_000))
def test_more_workload_never_improves_the_verdict(device, workload, name, extra):
    bigger = grow(workload, name, extra)
    assert rank(device, bigger) >= rank(device, workload)


@PROPS
@given(devices, any_workloads)
def test_turning_encryption_on_never_improves_the_verdict(device, workload):
    plain = dataclasses.replace(workload, encrypt_db=False)
    encrypted = dataclasses.replace(workload, encrypt_db=True)
    assert rank(device, encrypted) >= rank(device, plain)


@PROPS
@given(devices, any_workloads, st.integers(0, 65_536))
def test_more_ram_never_worsens_the_verdict(device, workload, extra):
    more = dataclasses.replace(device, ram_mb=min(device.ram_mb + extra, 65_536))
    assert rank(more, workload) <= rank(device, workload)


@PROPS
@given(devices, any_workloads)
def test_ram_across_every_purchasable_size_is_monotone(device, workload):
    ranks = [
        rank(dataclasses.replace(device, ram_mb=size), workload) for size in PURCHASABLE_RAM_MB
    ]
    assert ranks == sorted(ranks, reverse=True)


def healthy_device(ram_mb, form_factor, workload):
    """Android 8+, free storage comfortably above what the workload needs (or None if the
    workload needs more than the accepted maximum), total storage 32 GB."""
    needed = judge(DeviceSpec(ram_mb=ram_mb, api_level=30), workload, DEFAULT).storage_needed_mb
    free = DEFAULT.storage_reserve_mb + needed / DEFAULT.storage_ok_fraction + 1
    if free > DEVICE_RANGES["free_storage_mb"][2]:
        return None
    return DeviceSpec(
        ram_mb=ram_mb,
        api_level=30,
        free_storage_mb=free,
        form_factor=form_factor,
        total_storage_mb=32 * 1024,
    )


@PROPS
@given(any_workloads, st.sampled_from(["phone", "tablet"]))
def test_recommended_ram_yields_ok_or_says_none_does(workload, form_factor):
    rec = ram_recommendation(workload, form_factor=form_factor)
    ram = recommended_ram_mb(workload, form_factor=form_factor)
    largest = healthy_device(PURCHASABLE_RAM_MB[-1], form_factor, workload)
    assume(largest is not None)
    if ram is not None:
        assert ram in PURCHASABLE_RAM_MB and rec.yields_ok and rec.ram_mb == ram
        result = estimate(healthy_device(ram, form_factor, workload), workload)
        assert result.verdict is Verdict.OK, result.explain()
        smaller = [size for size in PURCHASABLE_RAM_MB if size < ram]
        if smaller:  # and it is the smallest purchasable size that does
            device = healthy_device(smaller[-1], form_factor, workload)
            assert estimate(device, workload).verdict is not Verdict.OK
    else:
        # No purchasable size gives ok; the recommendation says so and why.
        for size in PURCHASABLE_RAM_MB:
            device = healthy_device(size, form_factor, workload)
            assert rank(device, workload) > 0
        assert not rec.yields_ok and rec.remaining
        assert "no RAM" in rec.note or "no purchasable RAM" in rec.note


@PROPS
@given(devices, any_workloads)
def test_max_teis_ok_is_consistent_with_estimate(device, workload):
    best = max_teis_ok(device, workload)
    if best is None:
        zero = dataclasses.replace(workload, teis=0)
        assert estimate(device, zero).verdict is not Verdict.OK
        return
    at_best = dataclasses.replace(workload, teis=best)
    assert estimate(device, at_best).verdict is Verdict.OK
    if best < TEI_MAX:
        beyond = dataclasses.replace(workload, teis=best + 1)
        assert estimate(device, beyond).verdict is not Verdict.OK
    # the estimate reports the same figure, and its own verdict agrees with it
    result = estimate(device, workload)
    assert result.max_teis_ok == best
    assert (result.verdict is Verdict.OK) == (workload.teis <= best)


@PROPS
@given(devices, realistic_workloads)
def test_every_non_ok_verdict_has_cited_reasons(device, workload):
    result = estimate(device, workload)
    if result.verdict is Verdict.OK:
        assert result.reasons == ()
    else:
        assert result.reasons
        assert max(Verdict(r.severity).rank for r in result.reasons) == result.verdict.rank
    for reason in result.reasons + result.notes:
        assert reason.sources and all(s.strip() for s in reason.sources)
        assert reason.message
    json.dumps(result.to_dict())  # JSON-friendly all the way down


@PROPS
@given(devices, realistic_workloads, st.lists(st.integers(0, TEI_MAX), max_size=20))
def test_memory_curve_matches_working_memory_and_rises(device, workload, points):
    points = sorted(points)
    curve = memory_curve(device, workload, points)
    assert [t for t, _ in curve] == points
    mbs = [mb for _, mb in curve]
    assert mbs == sorted(mbs)
    for teis, mb in curve:
        expected = working_memory(dataclasses.replace(workload, teis=teis)).total_mb
        assert abs(mb - expected) <= 0.05 + 1e-9  # rounded to 0.1 MB, plus float error


@st.composite
def calibrated_coefficients(draw):
    """Coefficients from a fit on noisy synthetic fleet data with random true coefficients."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    baseline, per_ktei, per_kevent = (
        draw(st.floats(50, 400)),
        draw(st.floats(0, 80)),
        draw(st.floats(0, 20)),
    )
    points = []
    for _ in range(draw(st.integers(20, 50))):
        teis, epi = rng.randint(0, 20_000), rng.uniform(0, 10)
        pss = baseline + per_ktei * teis / 1000 + per_kevent * teis * epi / 1000
        points.append((teis, epi, pss + rng.gauss(0, draw(st.floats(0, 50)))))
    result = fit(points)
    assume(result.calibrated)
    return coefficients_from(result)


@PROPS
@given(calibrated_coefficients(), devices, any_workloads, st.sampled_from(GROWABLE), st.data())
def test_calibrated_model_keeps_the_monotone_properties(coefficients, device, workload, name, data):
    bigger = grow(workload, name, data.draw(st.floats(0, 50_000)))
    assert rank(device, bigger, coefficients) >= rank(device, workload, coefficients)
    more = dataclasses.replace(
        device, ram_mb=min(device.ram_mb + data.draw(st.integers(0, 8192)), 65_536)
    )
    assert rank(more, workload, coefficients) <= rank(device, workload, coefficients)
    best = max_teis_ok(device, workload, coefficients=coefficients)
    if best is not None and best < TEI_MAX:
        assert rank(device, dataclasses.replace(workload, teis=best), coefficients) == 0
        assert rank(device, dataclasses.replace(workload, teis=best + 1), coefficients) > 0
