"""Outputs of the capacity model: verdict, reasons, breakdowns, the estimate itself.

All have ``to_dict()`` (JSON-friendly, MB rounded to 0.1) for the API, page and CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .coefficients import DEFAULT, Coefficients
from .inputs import DeviceSpec, Workload


class Verdict(StrEnum):
    """Verdict, ordered: ``ok`` < ``marginal`` < ``insufficient``."""

    OK = "ok"
    MARGINAL = "marginal"
    INSUFFICIENT = "insufficient"

    @property
    def rank(self) -> int:
        """0 for ok, 1 for marginal, 2 for insufficient (higher is worse)."""
        return _RANK[self]


_RANK = {Verdict.OK: 0, Verdict.MARGINAL: 1, Verdict.INSUFFICIENT: 2}


@dataclass(frozen=True)
class Reason:
    """One finding. ``severity`` is ``"marginal"`` or ``"insufficient"`` for a reason that
    drives the verdict, ``"info"`` for a note that does not. ``sources`` cite where the
    threshold or figure comes from; ``fixable_by_ram`` says whether a device with more RAM
    would clear it."""

    code: str
    severity: str
    message: str
    sources: tuple[str, ...]
    fixable_by_ram: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "sources": list(self.sources),
            "fixable_by_ram": self.fixable_by_ram,
        }


@dataclass(frozen=True)
class Breakdown:
    """A modelled quantity in MB with its additive terms (MB, before any factor) and the
    assumptions used to compute it."""

    total_mb: float
    terms_mb: dict[str, float]
    factor: float
    assumptions: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict, MB rounded to 0.1."""
        return {
            "total_mb": round(self.total_mb, 1),
            "terms_mb": {k: round(v, 1) for k, v in self.terms_mb.items()},
            "factor": self.factor,
            "assumptions": list(self.assumptions),
        }


@dataclass(frozen=True)
class RamRecommendation:
    """Smallest purchasable RAM (MB) that clears every RAM-related reason for a workload.

    ``ram_mb`` is None when even the largest purchasable size does not; ``yields_ok`` is True
    when that RAM makes the workload ``ok`` on a device with no other problem (False when a
    reason RAM cannot fix remains, listed in ``remaining``); ``note`` says it in words."""

    ram_mb: int | None
    yields_ok: bool
    note: str
    remaining: tuple[Reason, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        return {
            "ram_mb": self.ram_mb,
            "yields_ok": self.yields_ok,
            "note": self.note,
            "remaining": [r.to_dict() for r in self.remaining],
        }


@dataclass(frozen=True)
class Estimate:
    """Result of :func:`estimate` (see the module docstring for the rules).

    ``reasons`` drove the verdict (severity marginal or insufficient; empty when ok), ``notes``
    are findings that did not. ``memory_budget_mb`` is the RAM left to the foreground app and
    ``memory_ok_limit_mb`` the share of it ``ok`` may use. ``max_teis_ok`` / ``max_teis_marginal``
    are the largest TEI counts (other workload fields unchanged) judged ``ok`` / not
    ``insufficient`` on this device, None when even 0 TEIs is not, capped at the input range
    maximum (500,000)."""

    device: DeviceSpec
    workload: Workload
    verdict: Verdict
    reasons: tuple[Reason, ...]
    notes: tuple[Reason, ...]
    database: Breakdown
    media_mb: float
    storage_needed_mb: float
    memory: Breakdown
    memory_budget_mb: float
    memory_ok_limit_mb: float
    recommendation: RamRecommendation
    max_teis_ok: int | None
    max_teis_marginal: int | None
    coefficients: Coefficients = field(repr=False, default=DEFAULT)

    @property
    def recommended_ram_mb(self) -> int | None:
        """The recommendation's RAM when it yields ok, else None (see RamRecommendation)."""
        return self.recommendation.ram_mb if self.recommendation.yields_ok else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict of everything (MB rounded to 0.1)."""
        return {
            "verdict": self.verdict.value,
            "reasons": [r.to_dict() for r in self.reasons],
            "notes": [r.to_dict() for r in self.notes],
            "device": self.device.to_dict(),
            "workload": self.workload.to_dict(),
            "database": self.database.to_dict(),
            "media_mb": round(self.media_mb, 1),
            "storage_needed_mb": round(self.storage_needed_mb, 1),
            "memory": self.memory.to_dict(),
            "memory_budget_mb": round(self.memory_budget_mb, 1),
            "memory_ok_limit_mb": round(self.memory_ok_limit_mb, 1),
            "recommended_ram_mb": self.recommended_ram_mb,
            "recommendation": self.recommendation.to_dict(),
            "max_teis_ok": self.max_teis_ok,
            "max_teis_marginal": self.max_teis_marginal,
            "calibrated": self.coefficients.calibrated,
            "coefficients_source": self.coefficients.source,
        }

    def explain(self) -> str:
        """A short plain-text explanation (several lines) for a CLI or a log."""
        d, w = self.device, self.workload
        lines = [
            f"Verdict: {self.verdict.value.upper()} for a {d.ram_mb} MB {d.form_factor}, "
            f"Android API {d.api_level}, carrying {w.teis:,} TEIs "
            f"({w.events_per_tei:g} events each).",
        ]
        for r in self.reasons:
            lines.append(f"  [{r.severity}] {r.message}")
            lines.extend(f"      source: {s}" for s in r.sources)
        for r in self.notes:
            lines.append(f"  [note] {r.message}")
            lines.extend(f"      source: {s}" for s in r.sources)
        lines.append(
            f"Working memory: {self.memory.total_mb:,.0f} MB of a {self.memory_budget_mb:,.0f} MB "
            f"foreground budget (ok up to {self.memory_ok_limit_mb:,.0f} MB)."
        )
        lines.append(
            f"Database: {self.database.total_mb:,.0f} MB; media: {self.media_mb:,.0f} MB; "
            f"storage needed: {self.storage_needed_mb:,.0f} MB."
        )
        lines.append(f"Recommended RAM: {self.recommendation.note}")
        if self.max_teis_ok is None:
            lines.append("Largest TEI count at ok on this device: none (not ok even with 0 TEIs).")
        else:
            lines.append(f"Largest TEI count at ok on this device: {self.max_teis_ok:,}.")
        if self.max_teis_marginal is None:
            lines.append("Largest TEI count before insufficient: none.")
        else:
            lines.append(f"Largest TEI count before insufficient: {self.max_teis_marginal:,}.")
        lines.append(
            "Coefficients: "
            + ("calibrated, " if self.coefficients.calibrated else "UNCALIBRATED, ")
            + self.coefficients.source
            + "."
        )
        return "\n".join(lines)
