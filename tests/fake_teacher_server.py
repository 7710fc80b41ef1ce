"""A stand-in for a serving engine (vLLM, llama.cpp) started as a command:
``python tests/fake_teacher_server.py PORT MODEL_PATH RECORD`` appends MODEL_PATH to RECORD,
then answers /v1/models and every completion with "served by MODEL_PATH"."""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, model_path, record = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with open(record, "a") as out:
    out.write(model_path + "\n")


class Handler(BaseHTTPRequestHandler):
    def _reply(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._reply({"data": [{"id": "teacher"}]})

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = f"served by {model_path}"
        choice = ({"text": text} if "prompt" in request
                  else {"message": {"role": "assistant", "content": text}})
        self._reply({"choices": [{**choice, "finish_reason": "stop", "index": i}
                                 for i in range(request.get("n", 1))],
                     "usage": {"prompt_tokens": 1, "completion_tokens": 3}})

    def log_message(self, *args: object) -> None:
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
