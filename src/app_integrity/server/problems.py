"""RFC 9457 problem+json responses, one per error code, with the status the protocol assigns it."""

from __future__ import annotations

from starlette.responses import JSONResponse

from app_integrity.errors import CODES, AppIntegrityError, UnavailableError

PROBLEM_JSON = "application/problem+json"

_STATUS_BY_CODE = {
    "input.too_large": 413,
    "input.header_too_large": 431,
    "key.already_registered": 409,
    "key.unknown": 404,
    "admin.disabled": 403,
    "admin.unauthorized": 401,
    "verify.unauthorized": 401,
}

_STATUS_BY_FAMILY = {
    "input": 400,
    "config": 500,
}


def status_for(error: AppIntegrityError) -> int:
    """400 for bad input, 403 for a proof that failed, 409 for a duplicate, 503 when a dependency is down."""
    if error.code in _STATUS_BY_CODE:
        return _STATUS_BY_CODE[error.code]
    if isinstance(error, UnavailableError):
        return 503
    family = error.code.partition(".")[0]
    return _STATUS_BY_FAMILY.get(family, 403)


def problem(status: int, code: str, detail: str, *, headers: dict[str, str] | None = None) -> JSONResponse:
    """A problem+json body: ``type`` is a stable URN built from the code, ``title`` the catalogue's text."""
    body = {
        "type": f"urn:app-integrity:error:{code}",
        "title": CODES.get(code, code),
        "status": status,
        "detail": detail,
        "code": code,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_for(error: AppIntegrityError) -> JSONResponse:
    return problem(status_for(error), error.code, error.message)
