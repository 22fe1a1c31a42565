"""tools/serving_client.py against a local stand-in for TF Serving's REST API."""

from __future__ import annotations

import base64
import http.server
import json
import sys
import threading

import pytest

from tests.conftest import load_tool

client = load_tool("serving_client")


class FakeServing(http.server.BaseHTTPRequestHandler):
    requests: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeServing.requests.append((self.path, body))
        if body["inputs"].get("num_steps", 0) > 100:
            self._reply(400, {"error": "assertion failed: [num_steps is above the limit"})
            return
        png = base64.b64decode(body["inputs"]["content"]["b64"])[::-1]  # something derived
        self._reply(200, {"outputs": {"png_bytes": {"b64": base64.b64encode(png).decode()},
                                      "total_loss": 1.5, "content_loss": 0.5,
                                      "style_loss": 1e-3, "tv_loss": 7.0}})

    def _reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.HTTPServer(("127.0.0.1", 0), FakeServing)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    FakeServing.requests = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1/models/tf_nst:predict"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


def test_request_is_columnar_b64_and_omits_unset_parameters():
    body = client.build_request(b"\x89PNG", b"\xff\xd8", num_steps=50, style_weight=None)
    assert body == {"signature_name": "serving_default",
                    "inputs": {"content": {"b64": "iVBORw=="}, "style": {"b64": "/9g="},
                               "num_steps": 50}}
    json.dumps(body)  # serialisable


def test_round_trip_writes_the_png(server, tmp_path):
    (tmp_path / "c.png").write_bytes(b"content-bytes")
    (tmp_path / "s.png").write_bytes(b"style-bytes")
    out = tmp_path / "out.png"
    status = client.main([f"--content={tmp_path / 'c.png'}", f"--style={tmp_path / 's.png'}",
                          f"--output={out}", f"--url={server}", "--image_size=64"])
    assert status == 0
    assert out.read_bytes() == b"content-bytes"[::-1]
    path, body = FakeServing.requests[0]
    assert path == "/v1/models/tf_nst:predict"
    assert body["inputs"]["image_size"] == 64 and "num_steps" not in body["inputs"]
    assert base64.b64decode(body["inputs"]["style"]["b64"]) == b"style-bytes"


def test_server_error_is_one_line_and_nothing_written(server, tmp_path, capsys):
    (tmp_path / "c.png").write_bytes(b"c")
    out = tmp_path / "out.png"
    status = client.main([f"--content={tmp_path / 'c.png'}", f"--style={tmp_path / 'c.png'}",
                          f"--output={out}", f"--url={server}", "--num_steps=500"])
    assert status == 1 and not out.exists()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HTTP 400" in err and "num_steps is above the limit" in err


def test_grpc_without_the_serving_api_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_serving", None)  # as if not installed
    (tmp_path / "c.png").write_bytes(b"c")
    out = tmp_path / "out.png"
    status = client.main([f"--content={tmp_path / 'c.png'}", f"--style={tmp_path / 'c.png'}",
                          f"--output={out}", "--grpc=localhost:1"])
    assert status == 1 and not out.exists()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install tensorflow-serving-api" in err
