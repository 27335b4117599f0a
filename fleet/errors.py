"""Domain errors raised by operations and mapped to HTTP answers at the edge.

Operations raise these with English messages wrapped in ``lazy_gettext`` so the edge renders
them in the user's language. JSON answers take the shape
``{"error": {"code": ..., "message": ..., "fields": {...}}}``.
"""

from __future__ import annotations


class FleetError(Exception):
    """Base class. ``status`` is the HTTP status the edge answers with."""

    status = 400
    code = "bad_request"

    def __init__(self, message, *, fields: dict | None = None):
        super().__init__(str(message))
        self.message = message
        self.fields = fields or {}

    def to_dict(self) -> dict:
        return {
            "error": {
                "code": self.code,
                "message": str(self.message),
                "fields": {
                    k: [str(m) for m in (v if isinstance(v, list) else [v])]
                    for k, v in self.fields.items()
                },
            }
        }


class InvalidInput(FleetError):
    """Input that fails a domain rule (bad Luhn, unknown org unit...). HTTP 422."""

    status = 422
    code = "invalid"


class NotFound(FleetError):
    status = 404
    code = "not_found"


class Conflict(FleetError):
    """Uniqueness or state conflict (IMEI already registered, SIM already in a device). 409."""

    status = 409
    code = "conflict"


class IllegalTransition(Conflict):
    """A lifecycle move that the state machine does not allow. 409."""

    code = "illegal_transition"


class PermissionDenied(FleetError):
    status = 403
    code = "forbidden"
