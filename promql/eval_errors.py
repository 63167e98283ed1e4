"""Errors raised while executing a PromQL query (not while parsing it).

The HTTP API maps them to Prometheus's ``errorType``: :class:`QueryTimeoutError`
to ``timeout`` (503), :class:`QueryCanceledError` to ``canceled`` (499), and
every other :class:`EvalError` (including :class:`TooManySamplesError`) to
``execution`` (422).
"""

from __future__ import annotations

__all__ = [
    "EvalError",
    "QueryCanceledError",
    "QueryTimeoutError",
    "StorageReadError",
    "TooManySamplesError",
]


class EvalError(Exception):
    """An error during query execution (Prometheus's ``execution`` error type)."""

    error_type = "execution"


class QueryTimeoutError(EvalError):
    """The query ran longer than the engine's timeout."""

    error_type = "timeout"

    def __init__(self, where: str = "expression evaluation") -> None:
        super().__init__(f"query timed out in {where}")


class QueryCanceledError(EvalError):
    """The query was canceled by its caller."""

    error_type = "canceled"

    def __init__(self, where: str = "expression evaluation") -> None:
        super().__init__(f"query was canceled in {where}")


class TooManySamplesError(EvalError):
    """The query would hold more than ``max_samples`` samples in memory."""

    def __init__(self, where: str = "query execution") -> None:
        super().__init__(f"query processing would load too many samples into memory in {where}")


class StorageReadError(EvalError):
    """The storage failed while the query read from it."""
