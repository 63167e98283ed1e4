"""PromQL parse errors, formatted like Prometheus's ``parser.ParseErr``."""

from __future__ import annotations

__all__ = ["ParseError", "position_of"]


def position_of(expr: str, pos: int) -> tuple[int, int]:
    """1-based ``(line, column)`` of character offset ``pos`` in ``expr``."""
    pos = max(0, min(pos, len(expr)))
    line = expr.count("\n", 0, pos) + 1
    last_break = expr.rfind("\n", 0, pos)
    return line, pos - last_break


class ParseError(ValueError):
    """A query that does not parse or type-check.

    ``str(err)`` reads like Prometheus: ``1:14: parse error: unexpected end of input``.
    ``msg`` is the bare message, ``line``/``column`` are 1-based, ``expr`` is the
    query text and ``start``/``end`` the character range the error refers to.
    """

    def __init__(
        self,
        msg: str,
        line: int,
        column: int,
        expr: str,
        start: int | None = None,
        end: int | None = None,
    ) -> None:
        super().__init__(msg)
        self.msg = msg
        self.line = line
        self.column = column
        self.expr = expr
        self.start = start
        self.end = end

    @classmethod
    def at(cls, msg: str, expr: str, start: int, end: int | None = None) -> ParseError:
        """An error located at character offsets ``start``..``end`` of ``expr``."""
        line, column = position_of(expr, start)
        return cls(msg, line, column, expr, start, start if end is None else end)

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: parse error: {self.msg}"

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.msg, self.line, self.column, self.expr, self.start, self.end))
