"""``heron alertmanager`` flags (Alertmanager's names) and start-up errors."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from heron import alertmanager_cli

from .util import REPO


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="heron")
    alertmanager_cli.register(p.add_subparsers(dest="command", required=True))
    return p.parse_args(["alertmanager", *argv])


def test_flags() -> None:
    a = parse(
        "--config.file=am.yml",
        "--storage.path=/tmp/x",
        "--web.listen-address=127.0.0.1:9093",
        "--web.external-url=http://am.example/",
        "--cluster.listen-address=",
        "--cluster.peer=10.0.0.1:9094",
        "--cluster.peer=10.0.0.2:9094",
        "--cluster.peer-timeout=5s",
        "--data.retention=24h",
    )
    assert a.config_file == "am.yml" and a.storage_path == "/tmp/x"
    assert a.listen_address == "127.0.0.1:9093" and a.external_url == "http://am.example/"
    assert a.cluster_listen_address == "" and a.cluster_peers == ["10.0.0.1:9094", "10.0.0.2:9094"]
    assert a.cluster_peer_timeout == 5.0 and a.data_retention == 86400.0
    d = parse()
    assert d.config_file == "alertmanager.yml" and d.listen_address == "0.0.0.0:9093"
    assert d.cluster_listen_address == "0.0.0.0:9094"


def test_invalid_config_exits_with_message(tmp_path: Path) -> None:
    cfg = tmp_path / "am.yml"
    cfg.write_text("route:\n  receiver: nope\nreceivers: [{name: r}]\n")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "heron.alertmanager_cli",
            f"--config.file={cfg}",
            f"--storage.path={tmp_path}/d",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )
    assert r.returncode == 1
    assert f'{cfg}:2: undefined receiver "nope" used in route' in r.stderr
