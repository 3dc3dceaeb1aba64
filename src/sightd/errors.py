"""The exception tree. Every error sightd raises on purpose is a `SightdError`; the API layer
turns it into the Gemini envelope `{"error": {"code", "message", "status", "details"}}` in one
place (`sightd.api.errors`). Nothing below `api/` knows HTTP, so each class carries the
google.rpc status name and the HTTP code it maps to.

    SightdError                       500 INTERNAL
    ├── InvalidArgument               400 INVALID_ARGUMENT
    │   └── PayloadTooLarge           400 INVALID_ARGUMENT (request/inline limits)
    ├── FailedPrecondition            400 FAILED_PRECONDITION (file FAILED, wrong state)
    ├── OutOfRange                    400 OUT_OF_RANGE
    ├── Unauthenticated               401 UNAUTHENTICATED
    ├── PermissionDenied              403 PERMISSION_DENIED
    ├── NotFound                      404 NOT_FOUND
    ├── AlreadyExists                 409 ALREADY_EXISTS
    ├── Aborted                       409 ABORTED
    ├── ResourceExhausted             429 RESOURCE_EXHAUSTED (quota, overload)
    ├── Cancelled                     499 CANCELLED
    ├── Internal                      500 INTERNAL
    ├── Unimplemented                 501 UNIMPLEMENTED
    ├── Unavailable                   503 UNAVAILABLE (model loading/downloading)
    └── DeadlineExceeded              504 DEADLINE_EXCEEDED
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldViolation:
    """One `google.rpc.BadRequest` field violation: which request field, and what is wrong."""

    field: str
    description: str


class SightdError(Exception):
    """Base of every deliberate error; `status`/`http_code` say how the API reports it."""

    status: ClassVar[str] = "INTERNAL"
    http_code: ClassVar[int] = 500

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        retry_after_s: float | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.retry_after_s = retry_after_s
        self.reason = reason

    def details(self) -> list[dict[str, Any]]:
        """google.rpc detail objects for the envelope."""
        out: list[dict[str, Any]] = []
        if self.field is not None:  # "" is the whole request: a violation with no field
            violation = {"field": self.field} if self.field else {}
            violation["description"] = self.message
            out.append(
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [violation],
                }
            )
        if self.reason is not None:
            out.append(
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": self.reason,
                    "domain": "sightd",
                }
            )
        if self.retry_after_s is not None:
            out.append(
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{max(1, round(self.retry_after_s))}s",
                }
            )
        return out


class InvalidArgument(SightdError):
    status = "INVALID_ARGUMENT"
    http_code = 400


class PayloadTooLarge(InvalidArgument):
    """A request body or inline payload over its limit (Gemini answers 400, not 413)."""


class FailedPrecondition(SightdError):
    status = "FAILED_PRECONDITION"
    http_code = 400


class OutOfRange(SightdError):
    status = "OUT_OF_RANGE"
    http_code = 400


class Unauthenticated(SightdError):
    status = "UNAUTHENTICATED"
    http_code = 401


class PermissionDenied(SightdError):
    status = "PERMISSION_DENIED"
    http_code = 403


class NotFound(SightdError):
    status = "NOT_FOUND"
    http_code = 404


class AlreadyExists(SightdError):
    status = "ALREADY_EXISTS"
    http_code = 409


class Aborted(SightdError):
    status = "ABORTED"
    http_code = 409


class ResourceExhausted(SightdError):
    status = "RESOURCE_EXHAUSTED"
    http_code = 429


class Cancelled(SightdError):
    status = "CANCELLED"
    http_code = 499


class Internal(SightdError):
    status = "INTERNAL"
    http_code = 500


class Unimplemented(SightdError):
    status = "UNIMPLEMENTED"
    http_code = 501


class Unavailable(SightdError):
    status = "UNAVAILABLE"
    http_code = 503


class DeadlineExceeded(SightdError):
    status = "DEADLINE_EXCEEDED"
    http_code = 504


class MissingExtra(Unavailable):
    """A heavy optional dependency (torch, transformers, av) is not installed."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"{module} is not installed; install it with `pip install 'sightd[{extra}]'`",
            reason="MISSING_EXTRA",
        )
