"""``heron dashboards``: flags, defaults, and the served app (waitress) as a real process."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from heron import dashboards_cli

from .stack import REPO, Proc, free_port, get, get_json, wait_until


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="heron")
    dashboards_cli.register(p.add_subparsers(dest="command", required=True))
    return p.parse_args(["dashboards", *argv])


def test_defaults() -> None:
    a = parse()
    assert a.prometheus_url == "http://127.0.0.1:9090"
    assert a.alertmanager_url == "http://127.0.0.1:9093"
    assert a.dashboards is None  # the shipped ones
    assert a.listen == ("127.0.0.1", 3000)
    assert a.func is dashboards_cli.cmd_dashboards


def test_flags() -> None:
    a = parse(
        "--prometheus-url",
        "http://prom:9090",
        "--dashboards",
        "a",
        "--dashboards",
        "b",
        "--listen",
        "0.0.0.0:8080",
    )
    assert (a.prometheus_url, a.dashboards, a.listen) == ("http://prom:9090", ["a", "b"], ("0.0.0.0", 8080))
    assert parse("--listen", ":3001").listen == ("0.0.0.0", 3001)
    with pytest.raises(SystemExit):
        parse("--listen", "host:http")


def test_serves_with_waitress(tmp_path: Path, heron: str) -> None:
    (tmp_path / "d.json").write_text('{"uid": "mine", "title": "Mine", "panels": []}')
    port = free_port()
    proc = Proc(
        [
            sys.executable,
            "-m",
            "heron.dashboards_cli",
            "--prometheus-url",
            heron,
            "--dashboards",
            str(tmp_path),
            "--listen",
            f"127.0.0.1:{port}",
        ],
        tmp_path / "log",
        cwd=REPO,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: (proc.check(), get(url + "/api/health")[0] == 200)[1], 60, "dashboards up")
        assert [d["uid"] for d in get_json(url + "/api/search")] == ["mine"]
        status, body = get(url + "/d/mine/mine")
        assert status == 200 and b"_dash-renderer" in body
        import urllib.request

        with urllib.request.urlopen(url + "/api/health") as r:
            assert r.headers["Server"] == "heron-dashboards"  # waitress's ident, not Werkzeug's dev server
    finally:
        proc.stop()
    assert "heron dashboards: http://127.0.0.1" in (tmp_path / "log").read_text()
