"""Reference ``prompb`` messages built with the protobuf package (to cross-check Heron's codec)."""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.message_factory import GetMessageClass

_F = descriptor_pb2.FieldDescriptorProto


def _build() -> dict[str, type]:
    fdp = descriptor_pb2.FileDescriptorProto(
        name="heron_test_prompb.proto", package="prometheus", syntax="proto3"
    )

    def msg(name: str, fields: list[tuple[str, int, int, int, str | None]]) -> None:
        m = fdp.message_type.add(name=name)
        for fname, num, typ, label, type_name in fields:
            f = m.field.add(name=fname, number=num, type=typ, label=label)
            if type_name:
                f.type_name = type_name

    opt, rep = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    msg("Label", [("name", 1, _F.TYPE_STRING, opt, None), ("value", 2, _F.TYPE_STRING, opt, None)])
    msg("Sample", [("value", 1, _F.TYPE_DOUBLE, opt, None), ("timestamp", 2, _F.TYPE_INT64, opt, None)])
    msg(
        "Exemplar",
        [
            ("labels", 1, _F.TYPE_MESSAGE, rep, ".prometheus.Label"),
            ("value", 2, _F.TYPE_DOUBLE, opt, None),
            ("timestamp", 3, _F.TYPE_INT64, opt, None),
        ],
    )
    msg(
        "TimeSeries",
        [
            ("labels", 1, _F.TYPE_MESSAGE, rep, ".prometheus.Label"),
            ("samples", 2, _F.TYPE_MESSAGE, rep, ".prometheus.Sample"),
            ("exemplars", 3, _F.TYPE_MESSAGE, rep, ".prometheus.Exemplar"),
        ],
    )
    msg("WriteRequest", [("timeseries", 1, _F.TYPE_MESSAGE, rep, ".prometheus.TimeSeries")])
    msg(
        "LabelMatcher",
        [
            ("type", 1, _F.TYPE_INT32, opt, None),
            ("name", 2, _F.TYPE_STRING, opt, None),
            ("value", 3, _F.TYPE_STRING, opt, None),
        ],
    )
    msg(
        "Query",
        [
            ("start_timestamp_ms", 1, _F.TYPE_INT64, opt, None),
            ("end_timestamp_ms", 2, _F.TYPE_INT64, opt, None),
            ("matchers", 3, _F.TYPE_MESSAGE, rep, ".prometheus.LabelMatcher"),
        ],
    )
    msg(
        "ReadRequest",
        [
            ("queries", 1, _F.TYPE_MESSAGE, rep, ".prometheus.Query"),
            ("accepted_response_types", 2, _F.TYPE_INT32, rep, None),
        ],
    )
    msg("QueryResult", [("timeseries", 1, _F.TYPE_MESSAGE, rep, ".prometheus.TimeSeries")])
    msg("ReadResponse", [("results", 1, _F.TYPE_MESSAGE, rep, ".prometheus.QueryResult")])
    pool = descriptor_pool.DescriptorPool()
    fd = pool.Add(fdp)
    return {name: GetMessageClass(fd.message_types_by_name[name]) for name in fd.message_types_by_name}


MESSAGES = _build()
WriteRequest = MESSAGES["WriteRequest"]
ReadRequest = MESSAGES["ReadRequest"]
ReadResponse = MESSAGES["ReadResponse"]
