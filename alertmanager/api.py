"""HTTP API: Alertmanager's API v2 (plus ``POST /api/v1/alerts``), lifecycle and ``/metrics``.

Request validation mirrors go-swagger's: unparseable bodies answer 400 with
``{"code":400,"message":...}``, schema violations 422 with ``{"code":6xx,...}``, and the
handlers' own checks 400 with a JSON string, as Alertmanager 0.25 does.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .labels import Matcher, MatcherError, compile_regex, parse_matchers, valid_label_name
from .silence import (
    EQUAL,
    NOT_EQUAL,
    NOT_REGEXP,
    REGEXP,
    Silence,
    SilenceError,
    SilenceMatcher,
    SilenceNotFound,
)
from .types import ZERO, Alert, AlertStatus, format_time_millis, now_ns, parse_time

if TYPE_CHECKING:
    from .main import Alertmanager

AM_KEY = web.AppKey("alertmanager", object)


def _am(req: web.Request) -> Alertmanager:
    return req.app[AM_KEY]  # type: ignore[return-value]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data, separators=(",", ":")).encode() + b"\n",
        status=status,
        content_type="application/json",
    )


def _swagger_err(status: int, code: int, message: str) -> web.Response:
    """go-swagger's validation error body (written without a trailing newline)."""
    body = json.dumps({"code": code, "message": message}, separators=(",", ":")).encode()
    return web.Response(body=body, status=status, content_type="application/json")


class _BadRequest(Exception):
    def __init__(self, resp: web.Response) -> None:
        self.resp = resp


# --- alerts ----------------------------------------------------------------------------------


def _labelset(v: Any, field: str) -> dict[str, str]:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise _BadRequest(
            _swagger_err(
                400,
                400,
                f'parsing alerts body from "" failed, because json: cannot unmarshal {_jtype(v)} '
                f"into Go struct field Alert.{field} of type models.LabelSet",
            )
        )
    for val in v.values():
        if not isinstance(val, str):
            raise _BadRequest(
                _swagger_err(
                    400,
                    400,
                    f'parsing alerts body from "" failed, because json: cannot unmarshal {_jtype(val)} '
                    f"into Go struct field Alert.{field} of type string",
                )
            )
    return dict(v)


def _jtype(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def _time_field(v: Any, what: str) -> int:
    if v is None or v == "":
        return ZERO
    if not isinstance(v, str):
        raise _BadRequest(
            _swagger_err(
                400, 400, f'parsing {what} body from "" failed, because json: cannot unmarshal {_jtype(v)}'
            )
        )
    try:
        return parse_time(v)
    except ValueError:
        raise _BadRequest(
            _swagger_err(
                400,
                400,
                f'parsing {what} body from "" failed, because parsing time "{v}" as "2006-01-02T15:04:05Z07:00": '
                f'cannot parse "{v}" as "2006"',
            )
        ) from None


_URI_OK = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:|^/|^$|^[^:]*$")


def decode_postable_alerts(body: bytes) -> list[dict[str, Any]]:
    """Parse and schema-check a ``postableAlerts`` body (raises ``_BadRequest``)."""
    try:
        data = json.loads(body or b"null")
    except ValueError as e:
        raise _BadRequest(
            _swagger_err(400, 400, f'parsing alerts body from "" failed, because invalid JSON: {e}')
        ) from None
    if data is None:
        raise _BadRequest(_swagger_err(422, 602, "alerts in body is required"))
    if not isinstance(data, list):
        raise _BadRequest(
            _swagger_err(
                400,
                400,
                f'parsing alerts body from "" failed, because json: cannot unmarshal {_jtype(data)} '
                "into Go value of type models.PostableAlerts",
            )
        )
    out = []
    for i, a in enumerate(data):
        if not isinstance(a, dict):
            raise _BadRequest(
                _swagger_err(
                    400,
                    400,
                    f'parsing alerts body from "" failed, because json: cannot unmarshal {_jtype(a)} '
                    "into Go value of type models.PostableAlert",
                )
            )
        labels = _labelset(a.get("labels"), "labels")
        ann = _labelset(a.get("annotations"), "annotations")
        starts = _time_field(a.get("startsAt"), "alerts")
        ends = _time_field(a.get("endsAt"), "alerts")
        gen = a.get("generatorURL", "")
        if gen is None:
            gen = ""
        if not isinstance(gen, str):
            raise _BadRequest(
                _swagger_err(
                    400,
                    400,
                    'parsing alerts body from "" failed, because json: cannot unmarshal '
                    f"{_jtype(gen)} into Go struct field Alert.generatorURL of type strfmt.URI",
                )
            )
        if "labels" not in a or a["labels"] is None:
            raise _BadRequest(_swagger_err(422, 602, f"{i}.labels in body is required"))
        if gen and not _valid_uri(gen):
            raise _BadRequest(
                _swagger_err(422, 601, f'{i}.generatorURL in body must be of type uri: "{gen}"')
            )
        out.append(
            {"labels": labels, "annotations": ann, "startsAt": starts, "endsAt": ends, "generatorURL": gen}
        )
    return out


def _valid_uri(s: str) -> bool:
    try:
        u = urllib.parse.urlparse(s)
    except ValueError:
        return False
    if s.startswith(":"):
        return False
    return bool(u.scheme or u.path or u.netloc)


def validate_alert(a: Alert) -> str | None:
    """``types.Alert.Validate``: the error text, or ``None``."""
    if a.starts_at == ZERO:
        return "start time missing"
    if a.ends_at != ZERO and a.ends_at < a.starts_at:
        return "start time must be before end time"
    for k, v in a.labels.items():
        if not valid_label_name(k):
            return f'invalid label set: invalid name "{k}"'
        if not _valid_utf8(v):
            return f'invalid label set: invalid value "{v}"'
    if not a.labels:
        return "at least one label pair required"
    for k, v in a.annotations.items():
        if not valid_label_name(k):
            return f'invalid annotations: invalid name "{k}"'
        if not _valid_utf8(v):
            return f'invalid annotations: invalid value "{v}"'
    return None


def _valid_utf8(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def post_alerts(req: web.Request, version: str = "v2") -> web.Response:
    am = _am(req)
    try:
        raw = decode_postable_alerts(await req.read())
    except _BadRequest as e:
        if version == "v1":
            raw_body = e.resp.body if isinstance(e.resp.body, bytes) else b"{}"
            msg = json.loads(raw_body).get("message", "")
            return _json({"status": "error", "errorType": "bad_data", "error": msg}, 400)
        return e.resp
    alerts = [
        Alert(
            labels=r["labels"],
            annotations=r["annotations"],
            starts_at=r["startsAt"],
            ends_at=r["endsAt"],
            generator_url=r["generatorURL"],
        )
        for r in raw
    ]
    errs = am.insert_alerts(alerts, version)
    if errs:
        msg = "; ".join(errs)
        if version == "v1":
            return _json({"status": "error", "errorType": "bad_data", "error": msg}, 400)
        return _json(msg, 400)
    if version == "v1":
        return _json({"status": "success"})
    return web.Response(status=200)


async def post_alerts_v1(req: web.Request) -> web.Response:
    return await post_alerts(req, "v1")


def _bool_param(req: web.Request, name: str, default: bool = True) -> bool:
    v = req.query.get(name)
    if v is None or v == "":
        return default
    if v.lower() in ("true", "1", "t"):
        return True
    if v.lower() in ("false", "0", "f"):
        return False
    raise _BadRequest(_swagger_err(422, 601, f'{name} in query must be of type boolean: "{v}"'))


def _filters(req: web.Request) -> list[Matcher]:
    out: list[Matcher] = []
    for f in req.query.getall("filter", []):
        try:
            out += parse_matchers(f)
        except MatcherError as e:
            raise _BadRequest(_json(str(e), 400)) from None
    return out


def _receiver_re(req: web.Request) -> re.Pattern[str] | None:
    r = req.query.get("receiver")
    if r is None:
        return None
    try:
        return compile_regex(r)
    except MatcherError as e:
        raise _BadRequest(_json(f"failed to parse receiver param: {e}", 400)) from None


def gettable_alert(a: Alert, st: AlertStatus, receivers: list[str]) -> dict[str, Any]:
    return {
        "annotations": dict(a.annotations),
        "endsAt": format_time_millis(a.ends_at),
        "fingerprint": a.fp_str,
        "receivers": [{"name": r} for r in receivers],
        "startsAt": format_time_millis(a.starts_at),
        "status": {"inhibitedBy": st.inhibited_by, "silencedBy": st.silenced_by, "state": st.state},
        "updatedAt": format_time_millis(a.updated_at),
        "generatorURL": a.generator_url,
        "labels": dict(a.labels),
    }


async def get_alerts(req: web.Request) -> web.Response:
    am = _am(req)
    try:
        active = _bool_param(req, "active")
        silenced = _bool_param(req, "silenced")
        inhibited = _bool_param(req, "inhibited")
        unprocessed = _bool_param(req, "unprocessed")
        matchers = _filters(req)
        rre = _receiver_re(req)
    except _BadRequest as e:
        return e.resp
    flt = am.alert_filter(matchers, silenced, inhibited, active, unprocessed)
    now = now_ns(am.clock)
    res = []
    for a in am.alerts.list():
        receivers = [r.opts.receiver for r in am.route.match(a.labels)]
        if rre is not None and not any(rre.match(r) for r in receivers):
            continue
        if not flt(a, now):
            continue
        res.append(gettable_alert(a, am.marker.status(a.fingerprint), receivers))
    res.sort(key=lambda x: x["fingerprint"])
    return _json(res)


async def get_alert_groups(req: web.Request) -> web.Response:
    am = _am(req)
    try:
        active = _bool_param(req, "active")
        silenced = _bool_param(req, "silenced")
        inhibited = _bool_param(req, "inhibited")
        matchers = _filters(req)
        rre = _receiver_re(req)
    except _BadRequest as e:
        return e.resp
    flt = am.alert_filter(matchers, silenced, inhibited, active, True)
    assert am.dispatcher is not None
    groups, receivers = am.dispatcher.groups(
        lambda r: rre is None or rre.match(r.opts.receiver) is not None, flt
    )
    out = []
    for g in groups:
        out.append(
            {
                "alerts": [
                    gettable_alert(a, am.marker.status(a.fingerprint), receivers.get(a.fingerprint, []))
                    for a in g.alerts
                ],
                "labels": dict(g.labels),
                "receiver": {"name": g.receiver},
            }
        )
    return _json(out)


# --- status, receivers -----------------------------------------------------------------------


async def get_status(req: web.Request) -> web.Response:
    am = _am(req)
    return _json(
        {
            "cluster": am.cluster_status(),
            "config": {"original": am.config.original},
            "uptime": format_time_millis(am.started_at),
            "versionInfo": am.version_info(),
        }
    )


async def get_receivers(req: web.Request) -> web.Response:
    am = _am(req)
    return _json([{"name": r.name} for r in am.config.receivers])


# --- silences --------------------------------------------------------------------------------

_TYPE_TO_API = {
    EQUAL: (False, True),
    REGEXP: (True, True),
    NOT_EQUAL: (False, False),
    NOT_REGEXP: (True, False),
}


def gettable_silence(s: Silence, now: int) -> dict[str, Any]:
    return {
        "id": s.id,
        "status": {"state": s.state(now)},
        "updatedAt": format_time_millis(s.updated_at),
        "comment": s.comment,
        "createdBy": s.created_by,
        "endsAt": format_time_millis(s.ends_at),
        "matchers": [
            {
                "isEqual": _TYPE_TO_API[m.type][1],
                "isRegex": _TYPE_TO_API[m.type][0],
                "name": m.name,
                "value": m.pattern,
            }
            for m in s.matchers
        ],
        "startsAt": format_time_millis(s.starts_at),
    }


def _silence_sort_key(s: Silence, now: int) -> tuple[int, int]:
    st = s.state(now)
    if st == "active":
        return (0, s.ends_at)
    if st == "pending":
        return (1, s.starts_at)
    return (2, -s.ends_at)


def silence_matches_filter(s: Silence, matchers: list[Matcher]) -> bool:
    sms = {m.name: m.pattern for m in s.matchers}
    return all(m.name in sms and m.matches(sms[m.name]) for m in matchers)


async def get_silences(req: web.Request) -> web.Response:
    am = _am(req)
    try:
        matchers = _filters(req)
    except _BadRequest as e:
        return e.resp
    now = now_ns(am.clock)
    sils = [s for s in am.silences.all() if silence_matches_filter(s, matchers)]
    sils.sort(key=lambda s: _silence_sort_key(s, now))
    return _json([gettable_silence(s, now) for s in sils])


def _is_uuid(s: str) -> bool:
    try:
        uuid.UUID(s)
    except ValueError:
        return False
    return True


async def get_silence(req: web.Request) -> web.Response:
    am = _am(req)
    sid = req.match_info["id"]
    if not _is_uuid(sid):
        return _swagger_err(422, 601, f'silenceID in path must be of type uuid: "{sid}"')
    s = am.silences.get(sid)
    if s is None:
        return web.Response(status=404)
    return _json(gettable_silence(s, now_ns(am.clock)))


async def delete_silence(req: web.Request) -> web.Response:
    am = _am(req)
    sid = req.match_info["id"]
    if not _is_uuid(sid):
        return _swagger_err(422, 601, f'silenceID in path must be of type uuid: "{sid}"')
    try:
        am.silences.expire(sid)
    except SilenceNotFound:
        return web.Response(status=404)
    except SilenceError as e:
        return _json(str(e), 500)
    am.silences_changed()
    return web.Response(status=200)


def decode_postable_silence(body: bytes) -> Silence:
    try:
        d = json.loads(body or b"null")
    except ValueError as e:
        raise _BadRequest(
            _swagger_err(400, 400, f'parsing silence body from "" failed, because {e}')
        ) from None
    if d is None:
        raise _BadRequest(_swagger_err(422, 602, "silence in body is required"))
    if not isinstance(d, dict):
        raise _BadRequest(
            _swagger_err(
                400,
                400,
                f'parsing silence body from "" failed, because json: cannot unmarshal {_jtype(d)} '
                "into Go value of type models.PostableSilence",
            )
        )
    for k in ("comment", "createdBy", "endsAt", "matchers", "startsAt"):
        if d.get(k) is None:
            raise _BadRequest(_swagger_err(422, 602, f"{k} in body is required"))
    ms = d["matchers"]
    if not isinstance(ms, list):
        raise _BadRequest(
            _swagger_err(400, 400, 'parsing silence body from "" failed, because matchers must be a list')
        )
    if not ms:
        raise _BadRequest(_swagger_err(422, 612, "matchers in body should have at least 1 items"))
    matchers = []
    for i, m in enumerate(ms):
        if not isinstance(m, dict):
            raise _BadRequest(
                _swagger_err(400, 400, 'parsing silence body from "" failed, because bad matcher')
            )
        for k in ("isRegex", "name", "value"):
            if m.get(k) is None:
                raise _BadRequest(_swagger_err(422, 602, f"matchers.{i}.{k} in body is required"))
        is_regex = bool(m["isRegex"])
        is_equal = m.get("isEqual", True)
        is_equal = True if is_equal is None else bool(is_equal)
        t = (REGEXP if is_equal else NOT_REGEXP) if is_regex else (EQUAL if is_equal else NOT_EQUAL)
        matchers.append(SilenceMatcher(str(m["name"]), str(m["value"]), t))
    starts = _time_field(d["startsAt"], "silence")
    ends = _time_field(d["endsAt"], "silence")
    return Silence(
        id=str(d.get("id") or ""),
        matchers=matchers,
        starts_at=starts,
        ends_at=ends,
        created_by=str(d["createdBy"]),
        comment=str(d["comment"]),
    )


async def post_silences(req: web.Request) -> web.Response:
    am = _am(req)
    try:
        sil = decode_postable_silence(await req.read())
    except _BadRequest as e:
        return e.resp
    if sil.starts_at >= sil.ends_at:
        return _json("Failed to create silence: start time must be before end time", 400)
    if sil.ends_at < now_ns(am.clock):
        return _json("Failed to create silence: end time can't be in the past", 400)
    try:
        sid = am.silences.set(sil)
    except SilenceNotFound as e:
        return _json(str(e), 404)
    except SilenceError as e:
        return _json(f"silence invalid: {e}", 400)
    am.silences_changed()
    return _json({"silenceID": sid})


# --- lifecycle, metrics ----------------------------------------------------------------------


async def healthy(req: web.Request) -> web.Response:
    return web.Response(text="OK")


async def ready(req: web.Request) -> web.Response:
    return web.Response(text="OK")


async def reload(req: web.Request) -> web.Response:
    am = _am(req)
    err = await am.reload()
    if err is not None:
        return web.Response(status=500, text=f"failed to reload config: {err}\n")
    return web.Response(text="")


async def metrics(req: web.Request) -> web.Response:
    am = _am(req)
    return web.Response(
        body=am.expose_metrics().encode(),
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
    )


async def index(req: web.Request) -> web.Response:
    am = _am(req)
    return web.Response(
        text=(
            "<html><head><title>Heron Alertmanager</title></head><body><h1>Heron Alertmanager</h1>"
            f'<p>API: <a href="{am.route_prefix}/api/v2/status">/api/v2/status</a></p></body></html>'
        ),
        content_type="text/html",
    )


def make_app(am: Alertmanager, prefix: str = "") -> web.Application:
    """The aiohttp application for one Alertmanager."""
    app = web.Application(client_max_size=32 * 1024 * 1024)
    app[AM_KEY] = am
    p = prefix.rstrip("/")
    r = app.router
    r.add_get(p + "/", index)
    r.add_get(p + "/api/v2/alerts", get_alerts)
    r.add_post(p + "/api/v2/alerts", post_alerts)
    r.add_post(p + "/api/v1/alerts", post_alerts_v1)
    r.add_get(p + "/api/v2/alerts/groups", get_alert_groups)
    r.add_get(p + "/api/v2/status", get_status)
    r.add_get(p + "/api/v2/receivers", get_receivers)
    r.add_get(p + "/api/v2/silences", get_silences)
    r.add_post(p + "/api/v2/silences", post_silences)
    r.add_get(p + "/api/v2/silence/{id}", get_silence)
    r.add_delete(p + "/api/v2/silence/{id}", delete_silence)
    r.add_get(p + "/-/healthy", healthy)
    r.add_get(p + "/-/ready", ready)
    r.add_post(p + "/-/reload", reload)
    r.add_get(p + "/metrics", metrics)
    return app
