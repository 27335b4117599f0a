"""Capacity fixtures: a small campaign in the real inventory (org units, holders with workloads,
devices checked out through the inventory operations)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pytest

#: Workload columns of the "campaign configuration" of docs/capacity.md's worked examples.
CAMPAIGN = {"events_per_tei": 3, "attributes_per_tei": 10, "capture_org_units": 10,
            "search_org_units": 5, "programs": 2, "program_rules": 40, "largest_option_set": 200,
            "reserved_values": 100}


@dataclass
class Campaign:
    units: dict = field(default_factory=dict)
    holders: dict = field(default_factory=dict)
    devices: dict = field(default_factory=dict)


@pytest.fixture()
def campaign(db, create_org_unit, create_holder, create_device):
    """Testland > North > districts Alpha and Beta > one facility each.

    Devices (key: RAM MB, API, storage GB, holder TEIs, where):
      a1 1024/29/8, 500 TEIs, Alpha facility          a2 3072/30/32, 1,000 TEIs, Alpha
      a3 2048/29/32, 5,000 TEIs + 195 capture OUs      a4 RAM unknown, Alpha
      b1 768/29/32, 1,500 TEIs; device at region level, holder in Beta (district from holder)
      b2 2048/22/32, 800 TEIs, Beta                    b3 4096/30/32, 300 capture OUs, Beta
      n1 3072/30/32, 100 TEIs, holder at region level (no district)
      lost: 1024 MB, Alpha, reported lost (left out)   idle: no holder (left out)
      noload: holder without a recorded workload (counted, not judged)
    """
    from fleet.inventory import operations as ops

    c = Campaign()
    country = create_org_unit("Testland")
    north = create_org_unit("North", parent=country)
    alpha = create_org_unit("Alpha", parent=north, code="ALPHA")
    beta = create_org_unit("Beta", parent=north)
    c.units = {"north": north, "alpha": alpha, "beta": beta,
               "alpha_hc": create_org_unit("Alpha HC", parent=alpha),
               "beta_hc": create_org_unit("Beta HC", parent=beta)}

    def holder(key, unit, teis, **kw):
        workload = {} if teis is None else {**CAMPAIGN, "expected_teis": teis}
        c.holders[key] = create_holder(f"Worker {key}", org_unit_id=c.units[unit].id,
                                       **{**workload, **kw})
        return c.holders[key]

    def device(key, unit, ram, api, storage, holder_obj=None, **kw):
        dev = create_device(ram_mb=ram, api_level=api, storage_gb=storage,
                            org_unit_id=c.units[unit].id if unit else None,
                            asset_tag=f"CAP-{key.upper()}", **kw)
        if holder_obj is not None:
            ops.checkout(dev, holder_obj, actor=None)
            db.session.commit()
        c.devices[key] = dev
        return dev

    device("a1", "alpha_hc", 1024, 29, 8, holder("a1", "alpha_hc", 500))
    device("a2", "alpha_hc", 3072, 30, 32, holder("a2", "alpha_hc", 1000))
    device("a3", "alpha_hc", 2048, 29, 32, holder("a3", "alpha_hc", 5000, capture_org_units=195))
    device("a4", "alpha_hc", None, 29, 32, holder("a4", "alpha_hc", 700))
    device("b1", "north", 768, 29, 32, holder("b1", "beta_hc", 1500))
    device("b2", "beta_hc", 2048, 22, 32, holder("b2", "beta_hc", 800))
    device("b3", "beta_hc", 4096, 30, 32, holder("b3", "beta_hc", 1000, capture_org_units=300))
    device("n1", None, 3072, 30, 32, holder("n1", "north", 100))
    lost = device("lost", "alpha_hc", 1024, 29, 16, holder("lost", "alpha_hc", 900))
    ops.report_loss(lost, kind="lost", on=date(2026, 1, 5), report="left on a bus", actor=None)
    db.session.commit()
    device("idle", "alpha_hc", 1024, 29, 16)
    device("noload", "alpha_hc", 2048, 29, 32, holder("noload", "alpha_hc", None))
    return c
