"""Hypothesis strategies for capacity inputs (shared by the capacity tests)."""

from hypothesis import strategies as st

from fleet.capacity.inputs import DEVICE_RANGES, WORKLOAD_RANGES, DeviceSpec, Workload


def field_values(spec):
    kind, low, high, _unit = spec
    if kind == "int":
        return st.integers(int(low), int(high))
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


workloads = st.builds(
    Workload,
    **{name: field_values(spec) for name, spec in WORKLOAD_RANGES.items()},
    encrypt_db=st.booleans(),
)

# Workloads of the size campaigns see (DESIGN.md: 1,000-10,000+ TEIs, hundreds of org units),
# so the properties are exercised around the thresholds and not only at absurd extremes.
realistic_workloads = st.builds(
    Workload,
    teis=st.integers(0, 30_000),
    events_per_tei=st.floats(0, 12, allow_nan=False),
    attributes_per_tei=st.integers(0, 40),
    capture_org_units=st.integers(0, 300),
    search_org_units=st.integers(0, 300),
    programs=st.integers(0, 30),
    program_rules=st.integers(0, 200),
    option_set_size=st.integers(0, 20_000),
    reserved_values=st.integers(0, 1_000),
    encrypt_db=st.booleans(),
    media_files_per_tei=st.floats(0, 5, allow_nan=False),
    media_avg_kb=st.floats(0, 2_000, allow_nan=False),
)

any_workloads = st.one_of(workloads, realistic_workloads)

devices = st.builds(
    DeviceSpec,
    ram_mb=field_values(DEVICE_RANGES["ram_mb"]),
    api_level=field_values(DEVICE_RANGES["api_level"]),
    free_storage_mb=st.one_of(st.none(), field_values(DEVICE_RANGES["free_storage_mb"])),
    form_factor=st.sampled_from(["phone", "tablet"]),
    total_storage_mb=st.one_of(st.none(), field_values(DEVICE_RANGES["total_storage_mb"])),
)
