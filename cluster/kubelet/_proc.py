"""Container processes: spawning in their own session, killing the group, /proc accounting."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
PR_SET_PDEATHSIG = 1

_libc: ctypes.CDLL | None
try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover
    _libc = None


def _boot_time() -> float:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:  # pragma: no cover
        pass
    return time.time() - time.monotonic()


BOOT_TIME = _boot_time()
_SETPRIV = shutil.which("setpriv") is not None


def _child_setup() -> None:  # runs in the child between fork and exec
    if _libc is not None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # restore default signal dispositions the parent may have changed
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(s, signal.SIG_DFL)


@dataclass(slots=True)
class ProcInfo:
    """One line of /proc/<pid>/stat (the fields we use)."""

    pid: int
    ppid: int
    pgid: int
    sid: int
    state: str
    utime: int
    stime: int
    cutime: int
    cstime: int
    threads: int
    starttime: int
    rss_pages: int

    @property
    def start_epoch(self) -> float:
        return BOOT_TIME + self.starttime / CLK_TCK


def read_stat(pid: int) -> ProcInfo | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read().decode(errors="replace")
    except OSError:
        return None
    r = s.rfind(")")
    f2 = s[r + 2 :].split()
    try:
        return ProcInfo(
            pid=pid,
            state=f2[0],
            ppid=int(f2[1]),
            pgid=int(f2[2]),
            sid=int(f2[3]),
            utime=int(f2[11]),
            stime=int(f2[12]),
            cutime=int(f2[13]),
            cstime=int(f2[14]),
            threads=int(f2[17]),
            starttime=int(f2[19]),
            rss_pages=int(f2[21]),
        )
    except (IndexError, ValueError):
        return None


_scan_cache: tuple[float, dict[int, list[ProcInfo]]] = (0.0, {})


def scan_sessions(max_age: float = 0.5) -> dict[int, list[ProcInfo]]:
    """All live processes grouped by session id (cached for ``max_age`` seconds)."""
    global _scan_cache
    now = time.monotonic()
    if now - _scan_cache[0] < max_age:
        return _scan_cache[1]
    by_sid: dict[int, list[ProcInfo]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        p = read_stat(int(name))
        if p is not None and p.state != "Z":
            by_sid.setdefault(p.sid, []).append(p)
    _scan_cache = (now, by_sid)
    return by_sid


def invalidate_scan() -> None:
    global _scan_cache
    _scan_cache = (0.0, {})


@dataclass(slots=True)
class Usage:
    """Resource usage of one container (its session)."""

    cpu_user: float = 0.0  # seconds, cumulative
    cpu_system: float = 0.0
    rss: int = 0  # bytes
    threads: int = 0
    processes: int = 0
    fds: int = 0

    @property
    def cpu_total(self) -> float:
        return self.cpu_user + self.cpu_system


def session_usage(sid: int, count_fds: bool = True) -> Usage:
    procs = scan_sessions().get(sid, [])
    u = Usage()
    for p in procs:
        u.cpu_user += p.utime / CLK_TCK
        u.cpu_system += p.stime / CLK_TCK
        if p.pid == sid:  # reaped children are accounted to the leader
            u.cpu_user += p.cutime / CLK_TCK
            u.cpu_system += p.cstime / CLK_TCK
        u.rss += p.rss_pages * PAGE_SIZE
        u.threads += p.threads
        u.processes += 1
        if count_fds:
            with contextlib.suppress(OSError):
                u.fds += len(os.listdir(f"/proc/{p.pid}/fd"))
    return u


def kill_session(sid: int, sig: int = signal.SIGKILL) -> None:
    """Signal every process of a session (its process group first)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(sid, sig)
    invalidate_scan()
    for p in scan_sessions(0).get(sid, []):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p.pid, sig)


def same_process(pid: int, starttime: int) -> bool:
    p = read_stat(pid)
    return p is not None and p.starttime == starttime and p.state != "Z"


_REAPER_SCRIPT = r"""
import os, signal, sys
groups = set()
for line in sys.stdin:
    op, _, g = line.strip().partition(" ")
    if op == "+":
        groups.add(int(g))
    elif op == "-":
        groups.discard(int(g))
for g in groups:
    try:
        os.killpg(g, signal.SIGKILL)
    except OSError:
        pass
"""


class Reaper:
    """A tiny watchdog process: when this process dies (even by SIGKILL), it kills every
    container process group still registered, so nothing outlives the cluster."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid = 0

    def _ensure(self) -> subprocess.Popen[bytes] | None:
        if self._proc is None or self._pid != os.getpid() or self._proc.poll() is not None:
            try:
                self._proc = subprocess.Popen(
                    [sys.executable, "-S", "-c", _REAPER_SCRIPT],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,  # terminal signals must not reach it
                    close_fds=True,
                )
                self._pid = os.getpid()
            except OSError:  # pragma: no cover
                self._proc = None
        return self._proc

    def _send(self, line: str) -> None:
        p = self._ensure()
        if p is None or p.stdin is None:
            return
        with contextlib.suppress(OSError, ValueError):
            p.stdin.write(line.encode())
            p.stdin.flush()

    def add(self, pgid: int) -> None:
        self._send(f"+ {pgid}\n")

    def remove(self, pgid: int) -> None:
        if self._proc is not None:
            self._send(f"- {pgid}\n")


REAPER = Reaper()


def exit_code_of(returncode: int) -> int:
    """Popen's returncode to a container exit code (signals -> 128+n)."""
    return 128 - returncode if returncode < 0 else returncode


class Process:
    """One container process, leader of its own session and process group."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str, log_path: Path) -> None:
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self.starttime = 0
        self.started_at = 0.0
        self.finished_at = 0.0
        self.exit_code: int | None = None
        self._exited = asyncio.Event()
        self._pidfd: int | None = None

    def start(self) -> None:
        """Spawn; raises ``OSError`` (e.g. command not found)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        exe = self.argv[0]
        if "/" not in exe:
            found = shutil.which(exe, path=self.env.get("PATH", os.defpath))
            if found is None:
                raise FileNotFoundError(2, f'executable file not found in $PATH: "{exe}"')
        elif not os.access(os.path.join(self.cwd, exe), os.X_OK):
            raise FileNotFoundError(2, f'no such file or directory: "{exe}"')
        # PR_SET_PDEATHSIG through setpriv(1) when available: no Python code between fork
        # and exec (safe with threads, and lets subprocess use vfork/posix_spawn)
        argv, pre = (
            (["setpriv", "--pdeathsig", "KILL", "--", *self.argv], None)
            if _SETPRIV
            else (self.argv, _child_setup)
        )
        with open(self.log_path, "ab", buffering=0) as logf:
            self.popen = subprocess.Popen(
                argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=logf,
                start_new_session=True,
                preexec_fn=pre,
                close_fds=True,
            )
        self.pid = self.popen.pid
        REAPER.add(self.pid)
        self.started_at = time.time()
        st = read_stat(self.pid)
        self.starttime = st.starttime if st else 0
        loop = asyncio.get_running_loop()
        try:
            self._pidfd = os.pidfd_open(self.pid)
            loop.add_reader(self._pidfd, self._on_exit)
        except (OSError, AttributeError):
            self._pidfd = None
            loop.create_task(self._poll())

    def _on_exit(self) -> None:
        assert self.popen is not None
        rc = self.popen.poll()
        if rc is None:
            return
        if self._pidfd is not None:
            asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        self._finish(rc)

    async def _poll(self) -> None:
        assert self.popen is not None
        while self.popen.poll() is None:
            await asyncio.sleep(0.1)
        self._finish(self.popen.returncode)

    def _finish(self, rc: int) -> None:
        if self.exit_code is None:
            self.exit_code = exit_code_of(rc)
            self.finished_at = time.time()
            # like a container runtime: nothing of the container outlives its main process
            kill_session(self.pid, signal.SIGKILL)
            REAPER.remove(self.pid)
            self._exited.set()

    @property
    def running(self) -> bool:
        return self.popen is not None and self.exit_code is None

    async def wait(self) -> int:
        await self._exited.wait()
        assert self.exit_code is not None
        return self.exit_code

    def signal(self, sig: int) -> None:
        if self.running:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)

    async def stop(self, grace: float) -> int:
        """SIGTERM the group, wait up to ``grace`` seconds, then SIGKILL."""
        if self.popen is None:
            return 0
        if self.running and grace > 0:
            self.signal(signal.SIGTERM)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._exited.wait(), grace)
        if self.running:
            kill_session(self.pid, signal.SIGKILL)
        return await self.wait()

    def kill_now(self) -> None:
        """SIGKILL synchronously (used at interpreter exit and for node crashes)."""
        if self.running:
            kill_session(self.pid, signal.SIGKILL)
