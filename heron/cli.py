"""The ``heron`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="heron", description="Heron: a Prometheus-compatible observability stack."
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from . import (
        alertmanager_cli,
        cluster_cli,
        dashboards_cli,
        operator,
        promql_cli,
        server_cli,
        tsdb_cli,
        up,
    )

    up.register(sub)
    server_cli.register(sub)
    alertmanager_cli.register(sub)
    dashboards_cli.register(sub)
    cluster_cli.register(sub)
    operator.register(sub)
    promql_cli.register(sub)
    tsdb_cli.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Handler = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
