"""node_exporter-named metrics for one simulated node.

A simulated node has no kernel of its own, so the node-specific series are
modelled from the node's kubelet (``/stats/summary``): CPU time is the pods' CPU
spread over the node's cores (the rest idle), memory is the node's capacity
minus the pods' working set, load averages are the number of busy cores
smoothed over 1/5/15 minutes. Filesystem, network, disk and kernel counters are
the host's, read from /proc and statvfs as the real node_exporter does.

Run as the DaemonSet pod (built-in image ``heron/node-exporter``, hostNetwork)::

    python -m cluster.metrics.node_exporter --web.listen-address=$(HOST_IP):9100 \
        --kubelet=http://$(HOST_IP):10250 [--path.rootfs DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import platform
import signal
import time
from typing import Any

import aiohttp
from aiohttp import web

from ._expo import CONTENT_TYPE, Exposition

log = logging.getLogger(__name__)
Obj = dict[str, Any]
VERSION = "1.5.0-heron"
CPU_MODES = ("idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user")


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _ts(s: str | None) -> float | None:
    if not s:
        return None
    import calendar

    try:
        return float(calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


class NodeModel:
    """State carried between scrapes (monotonic idle time, load averages)."""

    def __init__(self) -> None:
        self.idle: dict[int, float] = {}
        self.load = [0.0, 0.0, 0.0]
        self.last: tuple[float, float] | None = None  # (time, cpu seconds)

    def update_load(self, now: float, cpu_total: float) -> None:
        if self.last is not None:
            dt = now - self.last[0]
            if dt > 0:
                busy = max(cpu_total - self.last[1], 0.0) / dt
                for i, window in enumerate((60.0, 300.0, 900.0)):
                    e = math.exp(-dt / window)
                    self.load[i] = self.load[i] * e + busy * (1 - e)
        self.last = (now, cpu_total)


def render(summary: Obj, model: NodeModel, rootfs: str = "/", now: float | None = None) -> str:
    """The node_exporter page for the node described by a kubelet ``/stats/summary``."""
    now = time.time() if now is None else now
    ex = Exposition()
    node = summary.get("node") or {}
    heron = node.get("heron") or {}
    ncpu = max(int(heron.get("cpuCapacity") or os.cpu_count() or 1), 1)
    boot = _ts(node.get("startTime")) or now
    cpu = node.get("cpu") or {}
    total = (cpu.get("usageCoreNanoSeconds") or 0) / 1e9
    user = (cpu.get("userCoreNanoSeconds") or cpu.get("usageCoreNanoSeconds") or 0) / 1e9
    system = max(total - user, 0.0)
    model.update_load(now, total)
    elapsed = max(now - boot, 0.0)
    ex.family("node_cpu_seconds_total", "counter", "Seconds the CPUs spent in each mode.")
    for i in range(ncpu):
        u, s = user / ncpu, system / ncpu
        idle = max(model.idle.get(i, 0.0), elapsed - u - s)
        model.idle[i] = idle
        vals = {"idle": idle, "user": u, "system": s}
        for mode in CPU_MODES:
            ex.sample("node_cpu_seconds_total", {"cpu": str(i), "mode": mode}, round(vals.get(mode, 0.0), 3))
    mem = node.get("memory") or {}
    used = int(mem.get("workingSetBytes") or 0)
    total_mem = int(heron.get("memoryCapacity") or (used + int(mem.get("availableBytes") or 0)))
    avail = max(total_mem - used, 0)
    for name, v in (
        ("MemTotal", total_mem),
        ("MemFree", avail),
        ("MemAvailable", avail),
        ("Buffers", 0),
        ("Cached", 0),
        ("SwapTotal", 0),
        ("SwapFree", 0),
    ):
        ex.add(f"node_memory_{name}_bytes", "gauge", f"Memory information field {name}_bytes.", {}, v)
    for i, w in enumerate(("1", "5", "15")):
        ex.add(f"node_load{w}", "gauge", f"{w}m load average.", {}, round(model.load[i], 4))
    ex.add("node_boot_time_seconds", "gauge", "Node boot time, in unixtime.", {}, boot)
    ex.add("node_time_seconds", "gauge", "System time in seconds since epoch (1970).", {}, round(now, 3))
    u = os.uname()
    ex.add(
        "node_uname_info",
        "gauge",
        "Labeled system information as provided by the uname system call.",
        {
            "domainname": "(none)",
            "machine": u.machine,
            "nodename": node.get("nodeName", u.nodename),
            "release": u.release,
            "sysname": u.sysname,
            "version": u.version,
        },
        1,
    )
    ex.add(
        "node_os_info",
        "gauge",
        "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, "
        "name, pretty_name, variant, variant_id, version, version_codename, version_id.",
        {
            "id": "heron",
            "name": "Heron",
            "pretty_name": f"Heron simulated node ({platform.system()})",
            "version": VERSION,
        },
        1,
    )
    ok = {"cpu": 1, "meminfo": 1, "loadavg": 1}
    ok["filesystem"] = _filesystem(ex, rootfs)
    ok["netdev"] = _netdev(ex)
    ok["stat"] = _stat(ex)
    ok["diskstats"] = _diskstats(ex)
    ok["filefd"] = _filefd(ex)
    ok["time"] = ok["uname"] = ok["os"] = 1
    ex.family("node_scrape_collector_success", "gauge", "node_exporter: Whether a collector succeeded.")
    for c, v in sorted(ok.items()):
        ex.sample("node_scrape_collector_success", {"collector": c}, v)
    ex.add(
        "node_exporter_build_info",
        "gauge",
        "A metric with a constant '1' value labeled by version, revision, branch, goversion from which "
        "node_exporter was built, and the goos and goarch for the build.",
        {
            "branch": "heron",
            "goarch": "amd64",
            "goos": "linux",
            "goversion": platform.python_version(),
            "revision": VERSION,
            "version": VERSION,
        },
        1,
    )
    return str(ex)


def _filesystem(ex: Exposition, rootfs: str) -> int:
    try:
        st = os.statvfs(rootfs)
    except OSError:
        return 0
    dev, fstype = "rootfs", "rootfs"
    for line in _read("/proc/mounts").splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "/":
            dev, fstype = parts[0], parts[2]
    lbl = {"device": dev, "fstype": fstype, "mountpoint": "/"}
    for name, help_text, v in (
        ("size_bytes", "Filesystem size in bytes.", st.f_blocks * st.f_frsize),
        ("free_bytes", "Filesystem free space in bytes.", st.f_bfree * st.f_frsize),
        ("avail_bytes", "Filesystem space available to non-root users in bytes.", st.f_bavail * st.f_frsize),
        ("files", "Filesystem total file nodes.", st.f_files),
        ("files_free", "Filesystem total free file nodes.", st.f_ffree),
        ("readonly", "Filesystem read-only status.", 1 if st.f_flag & os.ST_RDONLY else 0),
        ("device_error", "Whether an error occurred while getting statistics for the given device.", 0),
    ):
        ex.add(f"node_filesystem_{name}", "gauge", help_text, lbl, v)
    return 1


def _netdev(ex: Exposition) -> int:
    text = _read("/proc/net/dev")
    if not text:
        return 0
    fields = (
        ("receive_bytes", 0),
        ("receive_packets", 1),
        ("receive_errs", 2),
        ("receive_drop", 3),
        ("transmit_bytes", 8),
        ("transmit_packets", 9),
        ("transmit_errs", 10),
        ("transmit_drop", 11),
    )
    for line in text.splitlines()[2:]:
        dev, _, rest = line.partition(":")
        vals = rest.split()
        if len(vals) < 16:
            continue
        for name, i in fields:
            ex.add(
                f"node_network_{name}_total",
                "counter",
                f"Network device statistic {name}.",
                {"device": dev.strip()},
                int(vals[i]),
            )
    return 1


def _stat(ex: Exposition) -> int:
    text = _read("/proc/stat")
    if not text:
        return 0
    for line in text.splitlines():
        p = line.split()
        if not p:
            continue
        if p[0] == "ctxt":
            ex.add(
                "node_context_switches_total", "counter", "Total number of context switches.", {}, int(p[1])
            )
        elif p[0] == "intr":
            ex.add("node_intr_total", "counter", "Total number of interrupts serviced.", {}, int(p[1]))
        elif p[0] == "processes":
            ex.add("node_forks_total", "counter", "Total number of forks.", {}, int(p[1]))
        elif p[0] == "procs_running":
            ex.add("node_procs_running", "gauge", "Number of processes in runnable state.", {}, int(p[1]))
        elif p[0] == "procs_blocked":
            ex.add(
                "node_procs_blocked",
                "gauge",
                "Number of processes blocked waiting for I/O to complete.",
                {},
                int(p[1]),
            )
    return 1


def _diskstats(ex: Exposition) -> int:
    text = _read("/proc/diskstats")
    if not text:
        return 0
    for line in text.splitlines():
        p = line.split()
        if len(p) < 14:
            continue
        dev = p[2]
        if (
            dev.startswith(("loop", "ram", "fd", "dm-", "sr"))
            or dev[-1:].isdigit()
            and not dev.startswith("nvme")
        ):
            continue
        lbl = {"device": dev}
        ex.add(
            "node_disk_read_bytes_total",
            "counter",
            "The total number of bytes read successfully.",
            lbl,
            int(p[5]) * 512,
        )
        ex.add(
            "node_disk_written_bytes_total",
            "counter",
            "The total number of bytes written successfully.",
            lbl,
            int(p[9]) * 512,
        )
        ex.add(
            "node_disk_io_time_seconds_total",
            "counter",
            "Total seconds spent doing I/Os.",
            lbl,
            int(p[12]) / 1000,
        )
    return 1


def _filefd(ex: Exposition) -> int:
    p = _read("/proc/sys/fs/file-nr").split()
    if len(p) < 3:
        return 0
    ex.add("node_filefd_allocated", "gauge", "File descriptor statistics: allocated.", {}, int(p[0]))
    ex.add("node_filefd_maximum", "gauge", "File descriptor statistics: maximum.", {}, int(p[2]))
    return 1


async def _index(_: web.Request) -> web.Response:
    return web.Response(text="<h1>Node Exporter</h1><a href='/metrics'>Metrics</a>", content_type="text/html")


class NodeExporter:
    """Serves ``/metrics`` for the node whose kubelet is at ``kubelet_url``."""

    def __init__(self, kubelet_url: str, rootfs: str = "/") -> None:
        self.kubelet_url = kubelet_url.rstrip("/")
        self.rootfs = rootfs
        self.model = NodeModel()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    async def summary(self) -> Obj:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        async with self._session.get(self.kubelet_url + "/stats/summary") as r:
            r.raise_for_status()
            data: Obj = await r.json()
            return data

    async def handle(self, request: web.Request) -> web.Response:
        try:
            s = await self.summary()
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            return web.Response(status=503, text=f"kubelet unavailable: {e}\n")
        return web.Response(
            body=render(s, self.model, self.rootfs).encode(), headers={"Content-Type": CONTENT_TYPE}
        )

    async def serve(self, listen: str) -> None:
        host, _, port = listen.rpartition(":")
        app = web.Application()
        app.router.add_get("/metrics", self.handle)
        app.router.add_get("/", _index)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, host.strip("[]") or "0.0.0.0", int(port), reuse_address=True).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="node_exporter", description="Heron node exporter")
    host_ip = (
        os.environ.get("HOST_IP")
        or os.environ.get("NODE_IP")
        or os.environ.get("HERON_HOST_IP")
        or "127.0.0.1"
    )
    p.add_argument("--web.listen-address", dest="listen", default=f"{host_ip}:9100")
    p.add_argument("--kubelet", default=os.environ.get("KUBELET_URL") or f"http://{host_ip}:10250")
    p.add_argument("--path.rootfs", dest="rootfs", default="/")
    a, _unknown = p.parse_known_args(argv)  # tolerate real node_exporter flags
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def run() -> None:
        ne = NodeExporter(a.kubelet, a.rootfs)
        await ne.serve(a.listen)
        log.info("node exporter listening on %s (kubelet %s)", a.listen, a.kubelet)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(s, stop.set)
        await stop.wait()
        await ne.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
