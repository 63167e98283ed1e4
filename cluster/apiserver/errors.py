"""Kubernetes ``Status`` errors."""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    """An error answered as a ``metav1.Status`` with an HTTP code."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        """The Status object."""
        s: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            s["details"] = self.details
        return s


def _details(name: str, group: str, kind: str, **kw: Any) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    d["kind"] = kind
    d.update(kw)
    return d


def not_found(group_resource: str, name: str, group: str = "", plural: str = "") -> APIError:
    """404 NotFound: ``pods "x" not found``."""
    return APIError(
        404,
        "NotFound",
        f'{group_resource} "{name}" not found',
        details=_details(name, group, plural or group_resource.split(".")[0]),
    )


def already_exists(group_resource: str, name: str, group: str = "", plural: str = "") -> APIError:
    """409 AlreadyExists."""
    return APIError(
        409,
        "AlreadyExists",
        f'{group_resource} "{name}" already exists',
        details=_details(name, group, plural or group_resource.split(".")[0]),
    )


def conflict(group_resource: str, name: str, group: str = "", plural: str = "", why: str = "") -> APIError:
    """409 Conflict on a stale resourceVersion."""
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return APIError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {group_resource} "{name}": {why}',
        details=_details(name, group, plural or group_resource.split(".")[0]),
    )


def invalid(kind: str, name: str, causes: list[dict[str, Any]], group: str = "") -> APIError:
    """422 Invalid with field causes."""
    parts = []
    for c in causes:
        f = c.get("field", "")
        parts.append(f"{f}: {c['message']}" if f else c["message"])
    msg = f'{kind}.{group} "{name}" is invalid: ' if group else f'{kind} "{name}" is invalid: '
    if len(parts) == 1:
        msg += parts[0]
    else:
        msg += "[" + ", ".join(parts) + "]"
    return APIError(422, "Invalid", msg, details=_details(name, group, kind, causes=causes))


def bad_request(message: str) -> APIError:
    """400 BadRequest."""
    return APIError(400, "BadRequest", message)


def forbidden(message: str, name: str = "", group: str = "", kind: str = "") -> APIError:
    """403 Forbidden."""
    return APIError(403, "Forbidden", message, details=_details(name, group, kind))


def unauthorized() -> APIError:
    """401 Unauthorized."""
    return APIError(401, "Unauthorized", "Unauthorized")


def gone(message: str) -> APIError:
    """410 Expired/Gone."""
    return APIError(410, "Expired", message)


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> APIError:
    """405 MethodNotAllowed."""
    return APIError(405, "MethodNotAllowed", message)


def unsupported_media(ct: str) -> APIError:
    """415 UnsupportedMediaType."""
    return APIError(
        415,
        "UnsupportedMediaType",
        f'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got "{ct}")',
    )


def internal(message: str) -> APIError:
    """500 InternalError."""
    return APIError(500, "InternalError", f"Internal error occurred: {message}")


def status_success(details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A success Status (DELETE of collections and some subresources)."""
    s: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details is not None:
        s["details"] = details
    return s
