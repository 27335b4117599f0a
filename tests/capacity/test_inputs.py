"""Out-of-range and malformed inputs are refused with a clear CapacityInputError."""

import math

import pytest
from capacity_strategies import field_values
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.capacity.coefficients import Coefficients
from fleet.capacity.inputs import (
    DEVICE_RANGES,
    WORKLOAD_RANGES,
    CapacityInputError,
    DeviceSpec,
    Workload,
)

PROPS = settings(database=None, deadline=None, max_examples=100)


def build(cls, name, value):
    if cls is Workload:
        kwargs = {"teis": 1000, name: value}
    else:
        kwargs = {"ram_mb": 2048, "api_level": 29, name: value}
    return cls(**kwargs)


ALL_FIELDS = [(Workload, n, s) for n, s in WORKLOAD_RANGES.items()] + [
    (DeviceSpec, n, s) for n, s in DEVICE_RANGES.items()
]


@PROPS
@given(st.sampled_from(ALL_FIELDS), st.data())
def test_out_of_range_values_are_refused_naming_field_and_range(target, data):
    cls, name, (kind, low, high, unit) = target
    below = data.draw(st.floats(-1e12, low, exclude_max=True, allow_nan=False))
    above = data.draw(st.floats(high, 1e12, exclude_min=True, allow_nan=False))
    for value in (below, above):
        if kind == "int":
            value = math.floor(value) if value < low else math.ceil(value)
        with pytest.raises(CapacityInputError) as info:
            build(cls, name, value)
        assert info.value.field == name
        assert f"between {low:,} and {high:,}" in info.value.message
        assert str(info.value).startswith(f"{name}: ")


@PROPS
@given(st.sampled_from(ALL_FIELDS), st.data())
def test_in_range_values_are_accepted(target, data):
    cls, name, spec = target
    value = data.draw(field_values(spec))
    assert getattr(build(cls, name, value), name) == value


@pytest.mark.parametrize(
    ("cls", "name", "value", "fragment"),
    [
        (Workload, "teis", -1, "between 0 and 500,000 TEIs, got -1"),
        (Workload, "teis", 2_000_000, "between 0 and 500,000"),
        (Workload, "teis", 10.5, "whole number"),
        (Workload, "teis", True, "must be a number"),
        (Workload, "teis", "5000", "must be a number"),
        (Workload, "events_per_tei", math.nan, "finite"),
        (Workload, "media_avg_kb", math.inf, "finite"),
        (Workload, "encrypt_db", "yes", "true or false"),
        (DeviceSpec, "ram_mb", 2, "between 256 and 65,536 MB, got 2"),
        (DeviceSpec, "ram_mb", 2_147_483_648, "between 256 and 65,536 MB"),
        (DeviceSpec, "api_level", 0, "between 1 and 40"),
        (DeviceSpec, "free_storage_mb", -5, "between 0"),
        (DeviceSpec, "form_factor", "watch", "'phone' or 'tablet'"),
    ],
)
def test_bad_values_give_clear_messages(cls, name, value, fragment):
    with pytest.raises(CapacityInputError) as info:
        build(cls, name, value)
    assert info.value.field == name
    assert fragment in info.value.message


def test_from_mapping_refuses_unknown_and_missing_fields():
    assert Workload.from_mapping({"teis": 5}).teis == 5
    with pytest.raises(CapacityInputError) as info:
        Workload.from_mapping({"teis": 5, "tei": 6})
    assert info.value.field == "tei" and "not a known field" in info.value.message
    with pytest.raises(CapacityInputError) as info:
        DeviceSpec.from_mapping({"ram_mb": 2048})
    assert info.value.field == "api_level" and "required" in info.value.message


def test_unknown_storage_is_allowed_and_round_trips():
    device = DeviceSpec(ram_mb=2048, api_level=29)
    assert device.free_storage_mb is None and device.total_storage_mb is None
    assert DeviceSpec.from_mapping(device.to_dict()) == device
    workload = Workload(teis=10, encrypt_db=True)
    assert Workload.from_mapping(workload.to_dict()) == workload


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mb_per_1000_teis": -1.0},
        {"encryption_memory_factor": 0.9},
        {"ok_fraction_of_budget": 0.0},
        {"budget_fraction_by_ram_class": ((2048, 0.5), (1024, 0.6))},
        {"budget_fraction_by_ram_class": ((1024, 0.5), (2048, 0.4))},
        {"budget_fraction_above": 0.1},
        {"baseline_app_mb": math.nan},
    ],
)
def test_coefficients_refuse_values_that_break_the_model(kwargs):
    with pytest.raises(ValueError):
        Coefficients(**kwargs)
