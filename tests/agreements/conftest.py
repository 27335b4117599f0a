"""Fixtures for agreement, label-printing and scanning tests: a phone checked out to a holder
in a district (country > region > district > facility) with a paired SIM."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

_seq = itertools.count(1)


@pytest.fixture()
def place(create_org_unit):
    """Country > region > district > facility; returns (district, facility)."""
    n = next(_seq)
    country = create_org_unit(f"Nigeria {n}")
    region = create_org_unit(f"Kano State {n}", parent=country)
    district = create_org_unit(f"Kano Municipal {n}", parent=region)
    facility = create_org_unit(f"Gwale PHC {n}", parent=district)
    return district, facility


@pytest.fixture()
def checked_out(db, place, create_holder, create_device, create_sim):
    """checked_out(**device_kw) -> device checked out to a holder in the facility, SIM paired."""
    from fleet.inventory.operations import checkout, pair_sim

    _district, facility = place

    def make(holder_name=None, **kw):
        n = next(_seq)
        holder = create_holder(
            holder_name or f"Ngozi Ọkafọ̀ {n}", msisdn=f"+23480312{n:05d}", org_unit_id=facility.id
        )
        kw.setdefault("box_number", f"B-{n:04d}")
        kw.setdefault("serial", f"R58N{n:06d}")
        device = create_device(org_unit_id=facility.id, **kw)
        sim = create_sim(msisdn=f"+23480399{n:05d}")
        pair_sim(device, sim, actor=None)
        checkout(device, holder, actor=None, condition="new in box")
        db.session.commit()
        return device

    return make


@pytest.fixture()
def store_files(app):
    """Files in the agreement store (<DATA_DIR>/agreements), as a set of names."""

    def list_files():
        root = Path(app.config["DATA_DIR"]) / "agreements"
        return {p.name for p in root.rglob("*") if p.is_file()} if root.exists() else set()

    return list_files
