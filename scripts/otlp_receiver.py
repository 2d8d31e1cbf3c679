#!/usr/bin/env python3
"""A minimal OTLP/HTTP logs receiver for ringtrace-otlp's integration tests.

Decodes every POST to /v1/logs with the official OpenTelemetry protobuf messages
(the `opentelemetry-proto` package: pip install -r scripts/requirements-otlp.txt):
binary protobuf (application/x-protobuf) with ParseFromString, or OTLP/JSON
(application/json) with google.protobuf.json_format.Parse, gunzipping first when
Content-Encoding is gzip. Writes one JSON line per event to --out (default stdout):

  {"type":"request","n":1,"status":503,"content_type":...,"content_encoding":...,"records":0}
  {"type":"log","request":2,"resource":{...},"scope":"...","time_unix_nano":"...",
   "observed_time_unix_nano":"...","severity_number":9,"severity_text":"INFO",
   "body":{"string":"..."},"event_name":"","attributes":{"key":{"int":"5"}, ...}}

Typed values are {"string": s}, {"int": "decimal"}, {"double": x}, {"bool": b},
{"bytes": "hex"}, {"array": [...]}, {"kvlist": {...}} or {"empty": true}; 64-bit
integers are decimal strings so nothing loses precision in JSON.

The first line on stdout is the chosen port (bind to port 0 for a free one). The
receiver answers --fail-status (default 503, with --retry-after if given) to the
first --fail-first requests, or to every request with --always-fail, then 200 with an
ExportLogsServiceResponse (with partial_success.rejected_log_records =
--reject-per-request if set) in the request's encoding. A malformed body is
answered 400 and logged as {"type":"error",...}. It runs until killed.
"""

import argparse
import gzip
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)


def any_value(v):
    """An AnyValue as a typed JSON object."""
    kind = v.WhichOneof("value")
    if kind is None:
        return {"empty": True}
    if kind == "string_value":
        return {"string": v.string_value}
    if kind == "int_value":
        return {"int": str(v.int_value)}
    if kind == "double_value":
        d = v.double_value
        return {"double": d if d == d and d not in (float("inf"), float("-inf")) else repr(d)}
    if kind == "bool_value":
        return {"bool": v.bool_value}
    if kind == "bytes_value":
        return {"bytes": v.bytes_value.hex()}
    if kind == "array_value":
        return {"array": [any_value(x) for x in v.array_value.values]}
    if kind == "kvlist_value":
        return {"kvlist": attributes(v.kvlist_value.values)}
    return {"other": kind}


def attributes(kvs):
    out = {}
    for kv in kvs:
        if kv.key in out:
            raise ValueError(f"duplicate attribute key {kv.key!r}")
        out[kv.key] = any_value(kv.value)
    return out


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.requests = 0
        self.out = open(args.out, "a", encoding="utf-8") if args.out else sys.stdout

    def write(self, lines):
        with self.lock:
            for line in lines:
                self.out.write(json.dumps(line, sort_keys=True) + "\n")
            self.out.flush()


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # keep stderr quiet
            pass

        def reply(self, status, body=b"", content_type="text/plain", extra=()):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            cenc = self.headers.get("Content-Encoding")
            with state.lock:
                state.requests += 1
                n = state.requests
            a = state.args
            meta = {"type": "request", "n": n, "path": self.path, "content_type": ctype,
                    "content_encoding": cenc, "bytes": len(raw)}
            if self.path != "/v1/logs":
                state.write([dict(meta, status=404, records=0)])
                return self.reply(404, b"not found")
            if a.always_fail or n <= a.fail_first:
                extra = [("Retry-After", a.retry_after)] if a.retry_after is not None else []
                state.write([dict(meta, status=a.fail_status, records=0)])
                return self.reply(a.fail_status, b"try later", extra=extra)
            try:
                body = gzip.decompress(raw) if cenc == "gzip" else raw
                req = ExportLogsServiceRequest()
                if ctype == "application/x-protobuf":
                    req.ParseFromString(body)
                elif ctype == "application/json":
                    json_format.Parse(body.decode("utf-8"), req)
                else:
                    state.write([dict(meta, status=415, records=0)])
                    return self.reply(415, b"unsupported content type")
                lines = []
                for rl in req.resource_logs:
                    resource = attributes(rl.resource.attributes)
                    for sl in rl.scope_logs:
                        for r in sl.log_records:
                            lines.append({
                                "type": "log", "request": n, "resource": resource,
                                "scope": sl.scope.name, "scope_version": sl.scope.version,
                                "time_unix_nano": str(r.time_unix_nano),
                                "observed_time_unix_nano": str(r.observed_time_unix_nano),
                                "severity_number": int(r.severity_number),
                                "severity_text": r.severity_text,
                                "body": any_value(r.body), "event_name": r.event_name,
                                "attributes": attributes(r.attributes),
                            })
            except Exception as e:  # malformed body: say so in the output and answer 400
                state.write([dict(meta, status=400, records=0), {"type": "error", "request": n, "error": repr(e)}])
                return self.reply(400, repr(e).encode())
            state.write([dict(meta, status=200, records=len(lines))] + lines)
            resp = ExportLogsServiceResponse()
            if a.reject_per_request:
                resp.partial_success.rejected_log_records = a.reject_per_request
                resp.partial_success.error_message = "rejected by the test receiver"
            if ctype == "application/json":
                self.reply(200, json_format.MessageToJson(resp).encode(), "application/json")
            else:
                self.reply(200, resp.SerializeToString(), "application/x-protobuf")

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--out", help="append JSON lines here (default: stdout after the port line)")
    p.add_argument("--fail-first", type=int, default=0, metavar="N")
    p.add_argument("--always-fail", action="store_true")
    p.add_argument("--fail-status", type=int, default=503)
    p.add_argument("--retry-after", help="Retry-After value sent with failures (e.g. 0, 1, an HTTP-date)")
    p.add_argument("--reject-per-request", type=int, default=0, metavar="N")
    args = p.parse_args()
    state = State(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(state))
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
