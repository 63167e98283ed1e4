"""One pod on one node: its containers as processes, probes, restarts, status."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import os
import re
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from ._env import ConfigError, container_env, expand
from ._images import ImageError, entrypoint, image_id
from ._probes import resolve_port, run_probe, timing
from ._proc import Process, Usage, session_usage
from ._volumes import Volumes
from .client import ApiError, path_for
from .quantity import parse_quantity

if TYPE_CHECKING:
    from ._kubelet import Kubelet

log = logging.getLogger(__name__)
Obj = dict[str, Any]

REPO_ROOT = str(Path(__file__).resolve().parents[2])
OWN_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")


def rfc3339(t: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if t is None else t))


def qos_class(pod: Obj) -> str:
    cs = pod.get("spec", {}).get("containers", [])
    any_set = False
    guaranteed = True
    for c in cs:
        r = c.get("resources") or {}
        lim, req = r.get("limits") or {}, r.get("requests") or {}
        if lim or req:
            any_set = True
        for res in ("cpu", "memory"):
            if res not in lim or parse_quantity(req.get(res, lim[res])) != parse_quantity(lim[res]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


@dataclass
class Container:
    """Runtime state of one container of the pod."""

    spec: Obj
    init: bool = False
    proc: Process | None = None
    container_id: str = ""
    restart_count: int = 0
    state: Obj = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: Obj = field(default_factory=dict)
    ready: bool = False
    started: bool = False
    ever_ran: bool = False
    backoff: float = 0.0
    oom: bool = False
    cpu_seen: float = 0.0
    usage: Usage = field(default_factory=Usage)
    probe_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def name(self) -> str:
        return self.spec["name"]

    @property
    def memory_limit(self) -> float:
        lim = (self.spec.get("resources") or {}).get("limits") or {}
        try:
            return parse_quantity(lim.get("memory")) if lim.get("memory") else 0.0
        except ValueError:
            return 0.0

    def status(self) -> Obj:
        st: Obj = {
            "name": self.name,
            "state": self.state,
            "lastState": self.last_state,
            "ready": self.ready,
            "restartCount": self.restart_count,
            "image": self.spec.get("image", ""),
            "imageID": image_id(self.spec.get("image", "")) if self.ever_ran else "",
            "started": self.started and "running" in self.state,
        }
        if self.container_id:
            st["containerID"] = self.container_id
        return st


class PodWorker:
    """Runs one pod until it is deleted or the kubelet stops."""

    def __init__(self, kubelet: Kubelet, pod: Obj) -> None:
        self.k = kubelet
        self.pod = pod
        self.uid: str = pod["metadata"]["uid"]
        self.ns: str = pod["metadata"].get("namespace", "default")
        self.name: str = pod["metadata"]["name"]
        self.dir = kubelet.pods_dir / self.uid
        self.volumes = Volumes(
            self.dir,
            kubelet.pvc_root,
            kubelet.get_configmap,
            kubelet.get_secret,
            kubelet.service_account_token,
            kubelet.allocatable,
            kubelet.client.ca_pem if kubelet.client.base_url.startswith("https") else None,
        )
        spec = pod.get("spec", {})
        self.init_containers = [Container(c, init=True) for c in spec.get("initContainers") or []]
        self.containers = [Container(c) for c in spec.get("containers") or []]
        self.pod_ip = ""
        self.start_time = ""
        self.phase = "Pending"
        self.initialized = not self.init_containers
        self.sandbox_ready = False
        self.terminating = False
        self.deleted = False
        self.stopped = False
        self._conds: dict[str, Obj] = {}
        self._pushed: str = ""
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._status_task: asyncio.Task[None] | None = None
        self._ctasks: list[asyncio.Task[bool]] = []
        self._term_task: asyncio.Task[None] | None = None
        self._resume(pod.get("status") or {})

    # -- lifecycle ---------------------------------------------------------------
    def _resume(self, status: Obj) -> None:
        """Carry over restart counts and start time from a previous kubelet run."""
        self.start_time = status.get("startTime", "")
        prev = {c["name"]: c for c in status.get("containerStatuses") or []}
        prev.update({c["name"]: c for c in status.get("initContainerStatuses") or []})
        for c in self.init_containers + self.containers:
            p = prev.get(c.name)
            if p:
                c.restart_count = int(p.get("restartCount", 0))
                if "running" in (p.get("state") or {}) or "terminated" in (p.get("state") or {}):
                    c.ever_ran = True
                    c.last_state = {
                        "terminated": {
                            "exitCode": 137 if "running" in p["state"] else 0,
                            "reason": "Error" if "running" in p["state"] else "Completed",
                            "startedAt": (p["state"].get("running") or {}).get("startedAt"),
                            "finishedAt": rfc3339(),
                        }
                    }
                    if "terminated" in p["state"]:
                        c.last_state = {"terminated": p["state"]["terminated"]}
        if status.get("phase") in ("Succeeded", "Failed") and status.get("containerStatuses"):
            self.phase = status["phase"]
        self._prev_ip = status.get("podIP", "")

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"pod-{self.ns}/{self.name}")
        self._status_task = asyncio.create_task(self._status_loop(), name=f"status-{self.name}")

    @property
    def host_network(self) -> bool:
        return bool(self.pod.get("spec", {}).get("hostNetwork"))

    @property
    def restart_policy(self) -> str:
        return self.pod.get("spec", {}).get("restartPolicy") or "Always"

    def update(self, pod: Obj) -> None:
        """A newer version of the pod object arrived from the API server."""
        old = self.pod
        self.pod = pod
        if pod["metadata"].get("deletionTimestamp") and not self.terminating:
            grace = pod["metadata"].get("deletionGracePeriodSeconds")
            if grace is None:
                grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
            self.begin_termination(float(grace), delete=True)
            return
        if self.pod_ip and (
            old["metadata"].get("labels") != pod["metadata"].get("labels")
            or old["metadata"].get("annotations") != pod["metadata"].get("annotations")
        ):
            self.k.spawn(self.refresh_volumes())

    def on_deleted(self) -> None:
        """The pod object is gone from the API server."""
        self.deleted = True
        if not self.terminating:
            grace = self.pod.get("spec", {}).get("terminationGracePeriodSeconds", 30)
            self.begin_termination(float(grace), delete=False)

    def begin_termination(self, grace: float, delete: bool) -> None:
        self.terminating = True
        self._term_task = asyncio.create_task(self._terminate(grace, delete))

    async def refresh_volumes(self) -> None:
        if self.stopped or not self.pod_ip:
            return
        with contextlib.suppress(ConfigError, OSError):
            await self.volumes.sync(self.pod, self.pod_ip, self.k.node_ip)

    # -- the main flow -------------------------------------------------------------
    async def run(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pod %s/%s worker failed", self.ns, self.name)

    async def _run(self) -> None:
        if self.phase in ("Succeeded", "Failed"):
            for c in self.init_containers + self.containers:
                c.state = c.last_state or {"terminated": {"exitCode": 0, "reason": "Completed"}}
                c.last_state = {}
            self.sandbox_ready = False
            self._mark()
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.host_network:
            self.pod_ip = self.k.node_ip
        else:
            self.pod_ip = self.k.ipam.allocate(self.uid, getattr(self, "_prev_ip", ""))
        if not self.start_time:
            self.start_time = rfc3339()
        self.sandbox_ready = True
        self._mark()
        # volumes (retry until their sources exist)
        while not self.terminating:
            try:
                await self.volumes.sync(self.pod, self.pod_ip, self.k.node_ip)
                break
            except ConfigError as e:
                for c in self.init_containers + self.containers:
                    c.state = {"waiting": {"reason": "CreateContainerConfigError", "message": str(e)}}
                self._mark()
                self.k.event(self.pod, "Warning", "Failed", f"Error: {e}")
                await self._sleep(2.0)
        # init containers, in order
        for c in self.init_containers:
            if self.terminating:
                return
            ok = await self._container_loop(c)
            if not ok:
                return
        self.initialized = True
        self._mark()
        self._ctasks = [
            asyncio.create_task(self._container_loop(c), name=f"ctr-{self.name}/{c.name}")
            for c in self.containers
        ]
        await asyncio.gather(*self._ctasks, return_exceptions=True)

    async def _sleep(self, seconds: float, c: Container | None = None) -> None:
        """Sleep, waking early on termination."""
        ev = c.wake if c else asyncio.Event()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(ev.wait(), seconds)
        ev.clear()

    def _argv_env(self, c: Container) -> tuple[list[str], dict[str, str], str]:
        spec = c.spec
        svc_env = self.k.service_env(self.ns) if self.pod["spec"].get("enableServiceLinks", True) else {}
        svc_env = {**svc_env, **self.k.master_service_env()}
        env = container_env(
            self.pod,
            spec,
            pod_ip=self.pod_ip,
            host_ip=self.k.node_ip,
            configmaps=self.k.get_configmap,
            secrets=self.k.get_secret,
            services=svc_env,
            node_allocatable=self.k.allocatable,
        )
        rootfs = self.dir / "containers" / c.name / "rootfs"
        mounts = self.volumes.mount(self.pod, spec, rootfs)
        ports = [p.get("containerPort") for p in spec.get("ports") or []]
        cmd = [expand(str(a), env) for a in spec.get("command") or []] or None
        args = spec.get("args")
        args = [expand(str(a), env) for a in args] if args is not None else None
        argv = entrypoint(spec.get("image", ""), cmd, args, self.pod_ip, ports[0] if ports else None)
        argv = [_rewrite_paths(a, mounts) for a in argv]
        env = {k: _rewrite_paths(v, mounts) for k, v in env.items()}
        base = {
            "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(rootfs),
            "HOSTNAME": self.name if not self.host_network else self.k.node_name,
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "PYTHONUNBUFFERED": "1",
            "HERON_ROOT": str(rootfs),
            "HERON_NODE_NAME": self.k.node_name,
            "HERON_HOST_IP": self.k.node_ip,
        }
        if argv[0] == sys.executable:
            base["PYTHONPATH"] = REPO_ROOT  # Heron's own modules, whichever checkout runs
        full = {**base, **env}
        wd = spec.get("workingDir")
        cwd = rootfs / wd.lstrip("/") if wd else rootfs
        cwd.mkdir(parents=True, exist_ok=True)
        return argv, full, str(cwd)

    async def _container_loop(self, c: Container) -> bool:
        """Run one container with restarts; for init containers, True once it succeeded."""
        image_backoff = 0.0
        while not self.terminating:
            try:
                argv, env, cwd = self._argv_env(c)
            except ImageError as e:
                reason = "ErrImagePull" if image_backoff == 0 else "ImagePullBackOff"
                c.state = {"waiting": {"reason": reason, "message": str(e)}}
                self._mark()
                self.k.event(self.pod, "Warning", "Failed", f"Failed to pull image: {e}", c.name)
                image_backoff = min(max(image_backoff * 2, self.k.backoff_initial), self.k.backoff_max)
                await self._sleep(image_backoff, c)
                continue
            except (ConfigError, OSError) as e:
                c.state = {"waiting": {"reason": "CreateContainerConfigError", "message": str(e)}}
                self._mark()
                self.k.event(self.pod, "Warning", "Failed", f"Error: {e}", c.name)
                await self._sleep(2.0, c)
                continue
            if c.ever_ran:
                c.restart_count += 1
            c.container_id = "heron://" + uuid.uuid4().hex + uuid.uuid4().hex
            c.oom = False
            c.cpu_seen = 0.0
            log_path = self.log_path(c.name, c.restart_count)
            self._prune_logs(c)
            proc = Process(argv, env, cwd, log_path)
            try:
                proc.start()
            except OSError as e:
                c.ever_ran = True
                now = rfc3339()
                c.state = {
                    "terminated": {
                        "exitCode": 128,
                        "reason": "StartError",
                        "message": f"failed to start container: exec: {e}",
                        "startedAt": now,
                        "finishedAt": now,
                        "containerID": c.container_id,
                    }
                }
                self.k.event(self.pod, "Warning", "Failed", f"Error: {e}", c.name)
                exit_code = 128
            else:
                c.proc = proc
                c.ever_ran = True
                self.k.save_pid(self, c, proc)
                c.state = {"running": {"startedAt": rfc3339(proc.started_at)}}
                c.started = "startupProbe" not in c.spec
                c.ready = False if c.init else ("readinessProbe" not in c.spec and c.started)
                self.k.event(self.pod, "Normal", "Started", f"Started container {c.name}", c.name)
                self._start_probes(c)
                self._mark()
                exit_code = await proc.wait()
                self._stop_probes(c)
                self.k.retire(c)
                reason = "OOMKilled" if c.oom else ("Completed" if exit_code == 0 else "Error")
                c.state = {
                    "terminated": {
                        "exitCode": exit_code,
                        "reason": reason,
                        "startedAt": rfc3339(proc.started_at),
                        "finishedAt": rfc3339(proc.finished_at),
                        "containerID": c.container_id,
                    }
                }
            c.ready = False
            c.started = False
            if self.terminating:
                self._mark()
                break
            if c.init and exit_code == 0:
                self._mark()
                return True
            policy = self.restart_policy
            if c.init and policy == "Always":
                policy = "OnFailure"
            restart = policy == "Always" or (policy == "OnFailure" and exit_code != 0)
            if not restart:
                self._mark()
                return False
            ran = (c.proc.finished_at - c.proc.started_at) if c.proc else 0.0
            if ran >= self.k.backoff_reset:
                c.backoff = 0.0
            delay = c.backoff
            c.backoff = self.k.backoff_initial if c.backoff == 0 else min(c.backoff * 2, self.k.backoff_max)
            c.last_state = {"terminated": c.state["terminated"]}
            if delay > 0:
                c.state = {
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": f"back-off {_dur(delay)} restarting failed container={c.name} "
                        f"pod={self.name}_{self.ns}({self.uid})",
                    }
                }
                self._mark()
                self.k.event(
                    self.pod,
                    "Warning",
                    "BackOff",
                    f"Back-off restarting failed container {c.name} in pod {self.name}_{self.ns}({self.uid})",
                    c.name,
                )
                await self._sleep(delay, c)
        return False

    def log_path(self, container: str, restart: int) -> Path:
        return self.dir / "logs" / container / f"{restart}.log"

    def _prune_logs(self, c: Container) -> None:
        d = self.dir / "logs" / c.name
        if not d.is_dir():
            return
        for f in d.glob("*.log"):
            with contextlib.suppress(ValueError, OSError):
                if int(f.stem) < c.restart_count - 1:
                    f.unlink()

    # -- probes ------------------------------------------------------------------------
    def _start_probes(self, c: Container) -> None:
        if c.init:
            return
        if "startupProbe" in c.spec:
            c.probe_tasks.append(asyncio.create_task(self._probe_loop(c, "Startup")))
        else:
            self._start_main_probes(c)

    def _start_main_probes(self, c: Container) -> None:
        for kind in ("Liveness", "Readiness"):
            if f"{kind.lower()}Probe" in c.spec:
                c.probe_tasks.append(asyncio.create_task(self._probe_loop(c, kind)))

    def _stop_probes(self, c: Container) -> None:
        for t in c.probe_tasks:
            t.cancel()
        c.probe_tasks.clear()

    async def _probe_loop(self, c: Container, kind: str) -> None:
        probe = c.spec[f"{kind[0].lower()}{kind[1:]}Probe"]
        proc = c.proc
        await asyncio.sleep(timing(probe, "initialDelaySeconds"))
        successes = failures = 0
        period = max(timing(probe, "periodSeconds"), 0.05)
        while proc is not None and proc.running and not self.terminating:
            _, env, cwd = proc.argv, proc.env, proc.cwd
            ok, msg = await run_probe(probe, c.spec, self.pod_ip, env=env, cwd=cwd, session=self.k.http)
            if not proc.running or self.terminating:
                return
            self.k.probe_result(self, c, kind, ok)
            if ok:
                successes += 1
                failures = 0
            else:
                failures += 1
                successes = 0
                self.k.event(self.pod, "Warning", "Unhealthy", f"{kind} probe failed: {msg}", c.name)
            if kind == "Readiness":
                if ok and successes >= timing(probe, "successThreshold") and not c.ready:
                    c.ready = True
                    self._mark()
                elif not ok and failures >= timing(probe, "failureThreshold") and c.ready:
                    c.ready = False
                    self._mark()
            elif ok and kind == "Startup":
                c.started = True
                c.ready = "readinessProbe" not in c.spec
                self._mark()
                self._start_main_probes(c)
                return
            elif not ok and failures >= timing(probe, "failureThreshold"):
                what = "liveness" if kind == "Liveness" else "startup"
                self.k.event(
                    self.pod,
                    "Normal",
                    "Killing",
                    f"Container {c.name} failed {what} probe, will be restarted",
                    c.name,
                )
                grace = probe.get("terminationGracePeriodSeconds")
                if grace is None:
                    grace = self.pod["spec"].get("terminationGracePeriodSeconds", 30)
                asyncio.create_task(proc.stop(float(grace)))
                return
            await asyncio.sleep(period)

    # -- resource accounting -----------------------------------------------------------
    def sample(self) -> None:
        """Refresh usage; enforce memory limits (OOMKilled)."""
        for c in self.init_containers + self.containers:
            if c.proc is None or not c.proc.running:
                continue
            u = session_usage(c.proc.pid)
            # cumulative cpu must never go backwards while the container lives
            if u.cpu_total < c.cpu_seen:
                scale = c.cpu_seen - u.cpu_total
                u.cpu_user += scale
            c.cpu_seen = u.cpu_total
            c.usage = u
            lim = c.memory_limit
            if lim and u.rss > lim:
                c.oom = True
                self.k.oom_events[(self.ns, self.name, c.name)] = (
                    self.k.oom_events.get((self.ns, self.name, c.name), 0) + 1
                )
                self.k.event(
                    self.pod,
                    "Warning",
                    "OOMKilling",
                    f"Memory limit {int(lim)} exceeded by container {c.name} ({u.rss} bytes)",
                    c.name,
                )
                c.proc.kill_now()

    # -- termination ------------------------------------------------------------------
    async def _terminate(self, grace: float, delete: bool) -> None:
        if delete:
            self.k.event(self.pod, "Normal", "Killing", "Stopping pod", None)
        for c in self.init_containers + self.containers:
            c.wake.set()
        deadline = time.monotonic() + grace
        await asyncio.gather(
            *(self._stop_container(c, deadline) for c in self.init_containers + self.containers),
            return_exceptions=True,
        )
        for t in self._ctasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(t), 2.0)
        if self._task is not None:
            self._task.cancel()
        codes = [
            (c.state.get("terminated") or {}).get("exitCode", 0)
            for c in self.containers
            if "terminated" in c.state
        ]
        self.phase = "Succeeded" if all(code == 0 for code in codes) else "Failed"
        for c in self.containers:
            if "waiting" in c.state and c.last_state.get("terminated"):
                c.state = {"terminated": c.last_state["terminated"]}
        self.sandbox_ready = False
        if not self.host_network:
            self.k.ipam.release(self.uid)
        if delete and not self.deleted and not self.stopped:
            self._mark()
            await self._push_status(force=True)
            with contextlib.suppress(ApiError, aiohttp.ClientError, OSError, asyncio.TimeoutError):
                await self.k.client.delete(
                    path_for("v1", "pods", self.ns, self.name),
                    {
                        "apiVersion": "v1",
                        "kind": "DeleteOptions",
                        "gracePeriodSeconds": 0,
                        "preconditions": {"uid": self.uid},
                    },
                )
        await self.close()
        self.k.forget(self)

    async def _stop_container(self, c: Container, deadline: float) -> None:
        proc = c.proc
        if proc is None or not proc.running:
            return
        pre = (c.spec.get("lifecycle") or {}).get("preStop")
        if pre:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    run_probe(
                        {**pre, "timeoutSeconds": max(deadline - time.monotonic(), 0.1)},
                        c.spec,
                        self.pod_ip,
                        env=proc.env,
                        cwd=proc.cwd,
                        session=self.k.http,
                    )
                    if "sleep" not in pre
                    else asyncio.sleep(float(pre["sleep"].get("seconds", 0))),
                    max(deadline - time.monotonic(), 0.1),
                )
        self.k.event(self.pod, "Normal", "Killing", f"Stopping container {c.name}", c.name)
        await proc.stop(max(deadline - time.monotonic(), 0.0))

    async def stop(self, grace: float) -> None:
        """Stop the processes without touching the API (kubelet shutdown)."""
        self.stopped = True
        self.terminating = True
        for c in self.init_containers + self.containers:
            c.wake.set()
        deadline = time.monotonic() + grace
        await asyncio.gather(
            *(
                c.proc.stop(max(deadline - time.monotonic(), 0.0))
                for c in self.init_containers + self.containers
                if c.proc is not None
            ),
            return_exceptions=True,
        )
        await self.close()

    def kill_now(self) -> None:
        self.stopped = True
        self.terminating = True
        for c in self.init_containers + self.containers:
            if c.proc is not None:
                c.proc.kill_now()

    async def close(self) -> None:
        for t in [self._task, self._status_task, *self._ctasks]:
            if t is not None and t is not asyncio.current_task():
                t.cancel()
        for c in self.init_containers + self.containers:
            self._stop_probes(c)
        if self.deleted or (not self.stopped and self.terminating):
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- status ---------------------------------------------------------------------------
    def _mark(self) -> None:
        self._dirty.set()

    def _phase(self) -> str:
        if self.phase in ("Succeeded", "Failed") and self.terminating:
            return self.phase
        cs = self.containers
        if not self.initialized:
            if (
                any(
                    "terminated" in c.state and c.state["terminated"].get("exitCode") != 0
                    for c in self.init_containers
                )
                and self.restart_policy == "Never"
            ):
                return "Failed"
            return "Pending"
        running = sum(1 for c in cs if "running" in c.state)
        waiting_new = sum(1 for c in cs if "waiting" in c.state and not c.ever_ran)
        terminated = [c for c in cs if "terminated" in c.state]
        if waiting_new:
            return "Pending"
        if running:
            return "Running"
        if len(terminated) == len(cs) and cs:
            if self.restart_policy == "Always":
                return "Running"
            if all(c.state["terminated"].get("exitCode") == 0 for c in terminated):
                return "Succeeded"
            if self.restart_policy == "Never" or all(
                c.state["terminated"].get("exitCode") == 0 for c in terminated
            ):
                return "Failed"
            return "Running"
        return "Running" if any(c.ever_ran for c in cs) else "Pending"

    def _cond(self, ctype: str, ok: bool, reason: str = "", message: str = "") -> Obj:
        st = "True" if ok else "False"
        prev = self._conds.get(ctype)
        c: Obj = {
            "type": ctype,
            "status": st,
            "lastProbeTime": None,
            "lastTransitionTime": prev["lastTransitionTime"] if prev and prev["status"] == st else rfc3339(),
        }
        if not ok and reason:
            c["reason"] = reason
            if message:
                c["message"] = message
        self._conds[ctype] = c
        return c

    def status(self) -> Obj:
        phase = self._phase()
        self.phase = phase
        unready = [c.name for c in self.containers if not c.ready]
        terminal = phase in ("Succeeded", "Failed")
        cr_reason = "PodCompleted" if terminal else "ContainersNotReady"
        cr_msg = "" if terminal else f"containers with unready status: [{' '.join(unready)}]"
        conds = [
            self._cond("PodReadyToStartContainers", self.sandbox_ready),
            self._cond(
                "Initialized",
                self.initialized,
                "ContainersNotInitialized",
                "containers with incomplete status: ["
                + " ".join(c.name for c in self.init_containers if "terminated" not in c.state)
                + "]",
            ),
            self._cond("Ready", not unready and not terminal, cr_reason, cr_msg),
            self._cond("ContainersReady", not unready and not terminal, cr_reason, cr_msg),
        ]
        st: Obj = {
            "phase": phase,
            "conditions": conds,
            "hostIP": self.k.node_ip,
            "hostIPs": [{"ip": self.k.node_ip}],
            "startTime": self.start_time or rfc3339(),
            "containerStatuses": [c.status() for c in self.containers],
            "qosClass": qos_class(self.pod),
        }
        if self.pod_ip:
            st["podIP"] = self.pod_ip
            st["podIPs"] = [{"ip": self.pod_ip}]
        if self.init_containers:
            st["initContainerStatuses"] = [c.status() for c in self.init_containers]
        return st

    async def _status_loop(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(0.05)  # coalesce bursts
            self._dirty.clear()
            if self.stopped or self.deleted or not self.k.connected:
                continue
            with contextlib.suppress(Exception):
                await self._push_status()

    async def _push_status(self, force: bool = False) -> None:
        status = self.status()
        key = json.dumps(
            {**status, "conditions": [{**c, "lastTransitionTime": None} for c in status["conditions"]]},
            sort_keys=True,
        )
        if key == self._pushed and not force:
            return
        path = path_for("v1", "pods", self.ns, self.name, "status")
        pod = self.pod
        for _ in range(5):
            body = copy.deepcopy(pod)
            old = body.get("status") or {}
            others = [c for c in old.get("conditions") or [] if c.get("type") not in OWN_CONDITIONS]
            body["status"] = {**old, **status, "conditions": others + status["conditions"]}
            try:
                new = await self.k.client.replace(path, body)
                self._pushed = key
                if new.get("metadata", {}).get("uid") == self.uid:
                    self.pod = new if not self.pod["metadata"].get("deletionTimestamp") else self.pod
                return
            except ApiError as e:
                if e.status == 409:
                    try:
                        pod = await self.k.client.get(path_for("v1", "pods", self.ns, self.name))
                    except ApiError as e2:
                        if e2.status == 404:
                            return
                        raise
                    if pod["metadata"].get("uid") != self.uid:
                        return
                    continue
                if e.status == 404:
                    return
                raise


def _dur(s: float) -> str:
    if s >= 60 and s % 60 == 0:
        return f"{int(s // 60)}m0s"
    if s >= 60:
        return f"{int(s // 60)}m{s % 60:g}s"
    return f"{s:g}s"


_MOUNT_CACHE: dict[str, re.Pattern[str]] = {}


def _rewrite_paths(s: str, mounts: list[tuple[str, Path]]) -> str:
    """Point absolute paths under volume mounts at the pod's rootfs."""
    for mp, link in sorted(mounts, key=lambda m: -len(m[0])):
        if mp == "/" or mp not in s:
            continue
        pat = _MOUNT_CACHE.get(mp)
        if pat is None:
            pat = _MOUNT_CACHE[mp] = re.compile(r"(?<![\w./-])" + re.escape(mp) + r"(?![\w.-])")
        target = str(link)
        s = pat.sub(lambda _m: target, s)  # noqa: B023 (used immediately)
    return s


__all__ = ["PodWorker", "Container", "rfc3339", "qos_class", "resolve_port"]
