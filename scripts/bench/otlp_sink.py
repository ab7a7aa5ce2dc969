"""A local OTLP/HTTP sink for the telemetry overhead benchmark: answers 200 to every POST
(/v1/traces, /v1/metrics) and counts the bytes it was sent, so that exporting costs what it costs
against a real collector on the same host. Prints its port, then serves until killed."""

import http.server
import sys


class Sink(http.server.BaseHTTPRequestHandler):
    received = 0

    def do_POST(self):  # noqa: N802 (the handler API's name)
        length = int(self.headers.get("Content-Length", "0"))
        Sink.received += len(self.rfile.read(length))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_):
        sys.stderr.write(f"otlp sink: {Sink.received} bytes received\n")


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
print(server.server_address[1], flush=True)
server.serve_forever()
