"""Seeded data generator for ``fleet rehearse``: a campaign as the sheets arrive.

Everything comes from one ``random.Random(seed)``: the same seed and sizes give the same files
byte for byte (XLSX timestamps aside). What it makes (see ``docs/rehearsal.md``):

- an org unit hierarchy country > regions > districts > facilities (``Campaign.org_units``,
  parents before children, each with a unique name and a code ``RG01``, ``RG01D03``,
  ``RG01D03F017``);
- ``holders.csv``: campaign workers and supervisors attached to facilities, with the offline
  workload fields the capacity model reads (expected TEIs 200-15,000, events per TEI,
  attributes, capture/search org units, programs, program rules, largest option set);
- ``procurement-devices.xlsx``: the phones, with a supplier's header words (``Asset No.``,
  ``Serial No.``, ``IMEI 1``, ``IMEI 2``, ``Brand``, ``RAM``, ``Storage``...), RAM written
  as ``2 GB``/``3GB``/``2048``, blank lines, and a few IMEIs with a wrong Luhn check digit;
- ``procurement-sims.csv`` (UTF-8 with BOM, header ``SIM Serial``, ``Phone Number``,
  ``Operator``...), blank lines and a few ICCIDs repeated from an earlier row (a supplier's
  copy-paste slip).

The simulated phones of the rehearsal are rows of the device sheet too (serial, IMEI, model
and RAM from their simulator profiles), all in the pilot district, so provisioning matches
them to the inventory. ``Campaign.bad_device_rows`` and ``Campaign.duplicate_sim_rows`` are
the sheet row numbers (header = row 1, blank lines counted, as the importer reports them)
that the import must refuse.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from pathlib import Path

#: Sizes of the full rehearsal and of ``--fast``.
FULL = {"regions": 8, "districts": 10, "facilities": 30, "holders": 1000, "devices": 1200,
        "phones": 20}
FAST = {"regions": 2, "districts": 3, "facilities": 8, "holders": 150, "devices": 180,
        "phones": 6}

_SYLLABLES = ("ka", "mo", "bo", "la", "ni", "sa", "tu", "ga", "ri", "do", "me", "ko", "za",
              "ba", "lu", "wa", "ne", "ti", "ma", "ru", "fo", "ke", "da", "si", "yo", "pe")
_FACILITY_KINDS = ("Health Post", "Health Centre", "CHC", "Dispensary", "MCHP", "Clinic")
_FIRST = ("Amina", "Fatmata", "Mohamed", "Ibrahim", "Mariama", "Abu", "Isatu", "Alhaji",
          "Kadiatu", "Sorie", "Hawa", "Joseph", "Zainab", "Musa", "Aminata", "Osman", "Adama",
          "Foday", "Christiana", "Sahr", "Émilie", "José", "Nguyễn", "Øystein", "Ayşe")
_LAST = ("Kamara", "Sesay", "Conteh", "Bangura", "Koroma", "Turay", "Kanu", "Jalloh",
         "Mansaray", "Fofanah", "Kargbo", "Bah", "Barrie", "Sankoh", "Dumbuya", "Kallon")
#: Procured models: (brand, model, Android version, API level, RAM as the sheet writes it,
#: storage GB). The mix of 1, 2 and 3 GB phones is what gives the capacity report its risk.
_MODELS = (("Samsung", "SM-A045F", "13", 33, "3 GB", 32),
           ("Samsung", "SM-A107F", "10", 29, "2GB", 32),
           ("Tecno", "KG5", "11", 30, "2048", 32),
           ("Samsung", "SM-J260F", "8.1", 27, "1 GB", 8),
           ("Xiaomi", "220333QAG", "12", 31, "3GB", 64))
_CARRIERS = ("Orange", "Africell", "Qcell")


def luhn_complete(digits: str) -> str:
    """``digits`` plus its Luhn check digit (IMEI and ICCID; ISO/IEC 7812-1)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return digits + str((10 - total % 10) % 10)


def break_luhn(number: str) -> str:
    """The same number with a wrong check digit."""
    return number[:-1] + str((int(number[-1]) + 3) % 10)


@dataclass
class OrgUnit:
    name: str
    code: str
    level: int
    parent_code: str | None


@dataclass
class Campaign:
    """What the generator made, and what the import must do with it."""

    seed: int
    sizes: dict
    org_units: list[OrgUnit] = field(default_factory=list)
    pilot_district: OrgUnit | None = None
    holders_csv: Path | None = None
    devices_xlsx: Path | None = None
    sims_csv: Path | None = None
    holder_rows: int = 0
    device_rows: int = 0
    sim_rows: int = 0
    bad_device_rows: list[int] = field(default_factory=list)
    duplicate_sim_rows: list[int] = field(default_factory=list)
    #: asset tags of the simulated phones' rows, in simulator order
    phone_tags: list[str] = field(default_factory=list)
    pilot_holder_names: list[str] = field(default_factory=list)

    @property
    def districts(self) -> list[OrgUnit]:
        return [u for u in self.org_units if u.level == 3]


#: Sierra Leone mobile prefixes (ITU numbering plan for +232): numbers the validator accepts.
_MOBILE_PREFIXES = ("76", "77", "78", "79", "88", "99", "30", "33", "34", "75")


def _msisdns(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct E.164 mobile numbers ``+232PPNNNNNN``."""
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        number = f"+232{rng.choice(_MOBILE_PREFIXES)}{rng.randint(0, 999_999):06d}"
        if number not in seen:
            seen.add(number)
            out.append(number)
    return out


def _place_name(rng: random.Random, used: set[str]) -> str:
    while True:
        name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
        if name not in used:
            used.add(name)
            return name


def generate(directory: Path, *, seed: int, sizes: dict, phones: list | None = None) -> Campaign:
    """Write the campaign's sheets into ``directory`` and return what they hold.

    Args:
        sizes: ``regions``, ``districts`` (per region), ``facilities`` (per district),
            ``holders``, ``devices`` (data rows of the device sheet, bad ones included;
            the SIM sheet has as many rows).
        phones: simulator ``PhoneProfile``s to include as device rows (pilot district).
    """
    from openpyxl import Workbook

    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    camp = Campaign(seed=seed, sizes=dict(sizes))
    used: set[str] = set()
    country = OrgUnit(f"Republic of {_place_name(rng, used)}", "CTRY", 1, None)
    camp.org_units.append(country)
    facilities: list[OrgUnit] = []
    for r in range(1, sizes["regions"] + 1):
        region = OrgUnit(f"{_place_name(rng, used)} Region", f"RG{r:02d}", 2, country.code)
        camp.org_units.append(region)
        for d in range(1, sizes["districts"] + 1):
            district = OrgUnit(f"{_place_name(rng, used)} District", f"{region.code}D{d:02d}", 3,
                               region.code)
            camp.org_units.append(district)
            for f in range(1, sizes["facilities"] + 1):
                fac = OrgUnit(f"{_place_name(rng, used)} {rng.choice(_FACILITY_KINDS)}",
                              f"{district.code}F{f:03d}", 4, district.code)
                camp.org_units.append(fac)
                facilities.append(fac)
    pilot = camp.districts[0]
    camp.pilot_district = pilot
    pilot_facilities = [f for f in facilities if f.parent_code == pilot.code]

    # -- holders ------------------------------------------------------------------------------
    camp.holders_csv = directory / "holders.csv"
    n_pilot = max(len(phones or ()) * 2, 10)
    msisdns = _msisdns(rng, sizes["holders"] + sizes["devices"])
    with camp.holders_csv.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Full name", "Function", "Phone number", "Facility", "DHIS2 username",
                    "Expected TEIs", "Events per TEI", "Attributes per TEI", "Capture org units",
                    "Search org units", "Programs", "Program rules", "Option set size"])
        for i in range(sizes["holders"]):
            fac = pilot_facilities[i % len(pilot_facilities)] if i < n_pilot \
                else rng.choice(facilities)
            name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)} {i + 1:04d}"
            role = "Supervisor" if i % 10 == 9 else rng.choice(("CHW", "Vaccinator"))
            teis = int(min(15000, max(200, rng.lognormvariate(7.6, 0.8))))
            w.writerow([name, role, msisdns[i], fac.name, f"cw{i + 1:04d}", teis,
                        rng.choice((2, 3, 4, 6)), rng.randint(6, 18), rng.randint(1, 12),
                        rng.randint(1, 8), rng.randint(1, 4), rng.randint(10, 80),
                        rng.choice((50, 200, 900, 2500))])
            if i < n_pilot and role != "Supervisor":
                camp.pilot_holder_names.append(name)
    camp.holder_rows = sizes["holders"]

    # -- devices ------------------------------------------------------------------------------
    phones = list(phones or ())
    n = sizes["devices"]
    phone_rows = set(rng.sample(range(n), len(phones)))
    bad = set(rng.sample(sorted(set(range(n)) - phone_rows), max(2, n // 300)))
    blank_after = set(rng.sample(range(n), max(2, n // 250)))
    wb = Workbook()
    ws = wb.active
    ws.title = "Delivery note"
    ws.append(["Asset No.", "Box No", "Serial No.", "IMEI 1", "IMEI 2", "Brand", "Model",
               "Android", "RAM", "Storage", "District", "Remarks"])
    row_no, phone_iter = 1, iter(phones)
    districts = camp.districts
    for i in range(n):
        tag = f"PH-{i + 1:06d}"
        box = f"BX-{i // 10 + 1:04d}-{i % 10 + 1:02d}"
        if i in phone_rows:
            p = next(phone_iter)
            ram = f"{round(p.ram_mb / 1024)} GB"
            values = [tag, box, p.serial, p.imei, None, p.manufacturer.capitalize(), p.model,
                      p.android_version, ram, f"{p.storage_total_mb // 1024}", pilot.name, None]
            camp.phone_tags.append(tag)
        else:
            brand, model, android, _api, ram, storage = rng.choice(_MODELS)
            tac = f"35{rng.randint(100000, 999999)}"
            imei = luhn_complete(f"{tac}{rng.randint(0, 999999):06d}")
            imei2 = luhn_complete(f"{tac}{rng.randint(0, 999999):06d}")
            if i in bad:
                imei = break_luhn(imei)
            serial = f"R58{rng.randint(0, 36**8):X}"[:11]
            district = districts[i % len(districts)]
            values = [tag, box, serial, imei, imei2, brand, model, android, ram, f"{storage} GB",
                      district.name, "carton dented" if rng.random() < 0.02 else None]
        ws.append(values)
        row_no += 1
        if i in bad:
            camp.bad_device_rows.append(row_no)
        if i in blank_after:
            ws.append([None] * 12)
            row_no += 1
    camp.devices_xlsx = directory / "procurement-devices.xlsx"
    wb.save(camp.devices_xlsx)
    camp.device_rows = n

    # -- SIMs ---------------------------------------------------------------------------------
    camp.sims_csv = directory / "procurement-sims.csv"
    dup = set(rng.sample(range(10, n), max(2, n // 400)))
    iccids: list[str] = []
    row_no = 1
    with camp.sims_csv.open("w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow(["SIM Serial", "Phone Number", "Operator", "Data Plan", "Bundle expiry",
                    "PIN", "PUK"])
        for i in range(n):
            if i in dup:
                iccid = rng.choice(iccids)
            else:
                iccid = luhn_complete(f"8923201{rng.randint(0, 10**11 - 1):011d}")
                iccids.append(iccid)
            w.writerow([iccid, msisdns[sizes["holders"] + i], rng.choice(_CARRIERS),
                        "2 GB / 30 days", f"2027-{rng.randint(1, 12):02d}-28",
                        f"{rng.randint(0, 9999):04d}", f"{rng.randint(0, 10**8 - 1):08d}"])
            row_no += 1
            if i in dup:
                camp.duplicate_sim_rows.append(row_no)
            if i % 97 == 50:
                w.writerow([])
                row_no += 1
    camp.sim_rows = n
    return camp
