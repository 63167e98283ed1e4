"""``heron tsdb import|dump|analyze``, differentially against promtool."""

from __future__ import annotations

import io
import math
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from heron.cli import main
from heron.tsdb_cli import analyze, dump, format_go_g, import_openmetrics
from tests.conftest import require_peer

OM = """# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200",path="/a b"} 1 1600000000.123
http_requests_total{code="200",path="/a b"} 1000000 1600000015
http_requests_total{code="500",path="/x\\"y"} 3 1600000000
http_requests_total{path="/x\\"y",code="500"} 4 1600000015.5
# TYPE temp gauge
temp{room="kitchen"} -0.0 1600000000
temp{room="kitchen"} 1e-300 1600000015
temp{room="kitchen"} 1.7976931348623157e+308 1600000030
temp{room="kitchen"} NaN 1600000045
temp{room="kitchen"} +Inf 1600000060
temp{room="kitchen"} -Inf 1600007260
temp{room="kitchen"} 0.1 1600014460
temp{room="kitchen"} 123456.5 1600014475
temp{room="kitchen"} 1234567 1600014490
temp{room="kitchen"} 0.000012345 1600014505
# EOF
"""


@pytest.mark.parametrize(
    ("v", "want"),
    [
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (1e6, "1e+06"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1e-300, "1e-300"),
        (0.1, "0.1"),
        (-2.5, "-2.5"),
        (math.nan, "NaN"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
    ],
)
def test_format_go_g(v: float, want: str) -> None:
    assert format_go_g(v) == want


def test_import_dump_roundtrip_bit_exact(tmp_path: Path) -> None:
    src = tmp_path / "in.om"
    src.write_text(OM)
    metas = import_openmetrics(src, tmp_path / "out")
    assert len(metas) == 3  # 2h windows, like promtool
    assert sum(m.stats.num_samples for m in metas) == 14
    from tsdb import DB, DBOptions, Matcher, MatchType

    db = DB(tmp_path / "out", DBOptions(retention_ms=0))
    got = {
        str(s.labels): (s.ts.tolist(), s.vals.view(np.uint64).tolist())
        for s in db.querier(0, 2**62).select([Matcher(MatchType.REGEX, "__name__", ".+")])
    }
    db.close()
    bits = [
        struct.unpack("<Q", struct.pack("<d", float(x)))[0]
        for x in ["-0.0", "1e-300", "1.7976931348623157e+308"]
    ]
    ts, vb = got['temp{room="kitchen"}']
    assert ts[:3] == [1600000000000, 1600000015000, 1600000030000]
    assert vb[:3] == bits
    assert got['http_requests_total{code="500", path="/x\\"y"}'][0] == [1600000000000, 1600000015500]


def test_dump_matches_promtool(tmp_path: Path) -> None:
    promtool = require_peer("promtool")
    src = tmp_path / "in.om"
    src.write_text(OM)
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", str(src), str(tmp_path / "p")],
        check=True,
    )
    (tmp_path / "p" / "wal").mkdir(exist_ok=True)  # promtool 2.42's dump wants a wal dir
    want = subprocess.run(
        [promtool, "tsdb", "dump", str(tmp_path / "p")], check=True, capture_output=True, text=True
    ).stdout
    assert main(["tsdb", "import", str(src), "--output", str(tmp_path / "h"), "-q"]) == 0
    out = io.StringIO()
    dump(tmp_path / "h", '{__name__=~".+"}', None, None, out)
    assert out.getvalue() == want
    # --match and time bounds
    out = io.StringIO()
    dump(tmp_path / "h", "temp", 1600000015000, 1600007260000, out)
    want_sub = subprocess.run(
        [
            promtool,
            "tsdb",
            "dump",
            "--match",
            "temp",
            "--min-time",
            "1600000015000",
            "--max-time",
            "1600007260000",
            str(tmp_path / "p"),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert out.getvalue() == want_sub


def test_analyze_summary(tmp_path: Path) -> None:
    src = tmp_path / "in.om"
    src.write_text(OM)
    import_openmetrics(src, tmp_path / "h")
    out = io.StringIO()
    summary = analyze(tmp_path / "h", out=out)
    assert summary["series"] == 3 and summary["samples"] == 14 and summary["blocks"] == 3
    assert summary["label_cardinality"]["__name__"] == 2
    assert "bytes/sample" in out.getvalue()


def test_import_rejects_bad_input_with_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "bad.om"
    src.write_text('ok 1 1600000000\nbroken{a="1" 2 1600000000\n# EOF\n')
    assert main(["tsdb", "import", str(src), "--output", str(tmp_path / "h")]) == 1
    err = capsys.readouterr().err
    assert "line 2" in err
    assert not list((tmp_path / "h").glob("*/meta.json"))  # nothing half-written
