#!/usr/bin/env python3
"""An independent XML-RPC peer for interoperability tests: Python's standard-library
xmlrpc.server answers Yealink's redirect.* methods and records what it received.

Usage: xmlrpc_recorder.py  -> prints "PORT <n>" once listening on 127.0.0.1 (loopback only).
Each call received is printed as a line "CALL <json>" (method, params, Basic user, content type).
"""
import base64
import json
import sys
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

CALLS = []


class Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/xmlrpc",)

    def decode_request_content(self, data):
        # Keep the HTTP facts the API relies on: Basic auth and the content type.
        auth = self.headers.get("Authorization", "")
        user = ""
        if auth.startswith("Basic "):
            user = base64.b64decode(auth[6:]).decode("utf-8", "replace").split(":", 1)[0]
        self.server.last_http = {
            "user": user,
            "has_basic": auth.startswith("Basic "),
            "content_type": self.headers.get("Content-Type", ""),
        }
        return super().decode_request_content(data)

    def log_message(self, *args):
        pass


def recorder(server, name):
    def call(*params):
        call = {"method": name, "params": list(params), **server.last_http}
        CALLS.append(call)
        # One JSON line per call on stdout: what the Rust test reads back.
        print("CALL " + json.dumps(call), flush=True)
        if name == "redirect.checkDevice":
            return [True, "unregistered"]
        return [True, "OK"]
    return call


def main():
    server = SimpleXMLRPCServer(("127.0.0.1", 0), requestHandler=Handler, logRequests=False, allow_none=False)
    server.last_http = {}
    for name in ("redirect.addServer", "redirect.registerDevice", "redirect.registerDeviceWithUniqueUrl",
                 "redirect.deRegisterDevice", "redirect.checkDevice"):
        server.register_function(recorder(server, name), name)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
