"""Tests for openai_bg.

Everything runs against real HTTP servers on 127.0.0.1 (port 0) in threads:
``responses`` and similar mocks patch the ``requests`` library and cannot see
``urllib.request`` traffic, and a real socket also tests what a mock hides
(headers as sent, paths as encoded, resets, trickling bodies, TLS, proxies).
No test needs the internet or an API key.
"""

from __future__ import annotations

import copy
import http.client
import io
import json
import logging
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import openai_bg
from openai_bg import (APIConnectionError, APIResponseDecodeError,
                       APIStatusError, APITimeoutError, Client,
                       FinishReason, LlmResponse, OpenAIError)

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = "sk-test-SECRETKEY-0123456789abcdef"


###############################################################################
# Loopback servers
###############################################################################

class Recorded:
    """One request as the server received it."""

    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path
        self.headers = headers  # lower-case names
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))


def reply(status=200, body=None, headers=None):
    """A scripted answer: body is a dict/list (sent as JSON), bytes or str."""
    return (status, body, headers or {})


class QuietServer(ThreadingHTTPServer):
    """A test server: a client that hangs up on purpose is not news."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


RESET = object()  # a reply body: reset the connection instead of answering


class SSE:
    """A scripted event-stream answer: byte chunks written as they are given
    (``pause`` seconds apart), chunked or close-delimited; with ``drop`` the
    connection is reset after the last chunk instead of ending cleanly."""

    def __init__(self, chunks, chunked=True, drop=False, pause=0.0):
        self.chunks = [c.encode() if isinstance(c, str) else c for c in chunks]
        self.chunked = chunked
        self.drop = drop
        self.pause = pause


class FakeAPI:
    """A scripted OpenAI-like HTTP server.

    ``on(method, path, *answers)`` queues answers for a path; the last one
    repeats.  An answer is ``reply(...)`` or a callable taking the Recorded
    request and returning ``reply(...)``; a reply's body may be an ``SSE``.
    With ``keep_alive`` connections stay open between requests;
    ``connections`` counts the connections accepted."""

    def __init__(self, tls_context=None, keep_alive=False):
        self.requests = []
        self.routes = {}
        self.fallback = None  # an answer for every path without a route
        self.lock = threading.Lock()
        self.connections = 0
        self.keep_alive = keep_alive
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with api.lock:
                    api.connections += 1

            def log_message(self, *args):
                pass

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rec = Recorded(self.command, self.path,
                               {k.lower(): v for k, v in self.headers.items()},
                               body)
                with api.lock:
                    api.requests.append(rec)
                    answer = api.answer_for(self.command, self.path)
                if callable(answer):
                    answer = answer(rec)
                status, payload, headers = answer
                if payload is RESET:
                    self.close_connection = True
                    return reset(self.connection)
                if isinstance(payload, SSE):
                    return self.stream(status, payload, headers)
                if isinstance(payload, (dict, list)):
                    data = json.dumps(payload).encode()
                    headers = dict({"Content-Type": "application/json"}, **headers)
                elif isinstance(payload, str):
                    data = payload.encode()
                else:
                    data = payload or b""
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                if not api.keep_alive:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(data)

            def stream(self, status, sse, headers):
                self.send_response(status)
                headers = dict({"Content-Type": "text/event-stream"}, **headers)
                for name, value in headers.items():
                    self.send_header(name, value)
                if sse.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.flush()
                for chunk in sse.chunks:
                    if sse.pause:
                        time.sleep(sse.pause)
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk)
                                     if sse.chunked else chunk)
                    self.wfile.flush()
                if sse.drop:
                    reset(self.connection)
                    self.close_connection = True
                elif sse.chunked:
                    self.wfile.write(b"0\r\n\r\n")
                    if not api.keep_alive:
                        self.close_connection = True

            do_GET = do_POST = do_DELETE = handle_any

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        scheme = "http"
        if tls_context is not None:
            self.httpd.socket = tls_context.wrap_socket(self.httpd.socket,
                                                        server_side=True)
            scheme = "https"
        self.port = self.httpd.server_address[1]
        self.url = "%s://127.0.0.1:%d" % (scheme, self.port)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def answer_for(self, method, path):
        answers = self.routes.get((method, path.split("?")[0]))
        if not answers and self.fallback is not None:
            return self.fallback
        if not answers:
            return reply(404, {"error": {
                "message": "no route for %s %s" % (method, path),
                "type": "invalid_request_error", "param": None, "code": None}})
        if len(answers) > 1:
            return answers.pop(0)
        return answers[0]

    def on(self, method, path, *answers):
        with self.lock:
            self.routes[(method, path)] = list(answers)

    def paths(self, method=None):
        return [r.path for r in self.requests if method in (None, r.method)]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class RawServer:
    """A TCP server that hands each connection to ``behaviour(conn)``, for
    answers no HTTP server would give (resets, trickles, garbage)."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.connections = 0
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn):
        try:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            self.behaviour(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        self.sock.close()


def reset(conn):
    """Close with RST instead of FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()


@pytest.fixture
def raw_server():
    """Start RawServers that are closed after the test: ``raw_server(behaviour)``."""
    servers = []

    def start(behaviour):
        server = RawServer(behaviour)
        servers.append(server)
        return server
    yield start
    for server in servers:
        server.close()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """Tests start from an environment with no OpenAI, proxy or CA settings,
    and a journal location of their own (the CLI journals by default)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    for name in list(os.environ):
        upper = name.upper()
        if upper.startswith("OPENAI_") or upper.endswith("_PROXY") or upper in (
                "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(openai_bg, "_default_client", None)


@pytest.fixture
def api():
    server = FakeAPI()
    yield server
    server.close()


class Sleeps(list):
    """Stands in for time.sleep: records the delays, sleeps not at all."""

    def __call__(self, seconds):
        self.append(seconds)


def make_client(base_url, **kwargs):
    """A client on ``base_url`` that records its retry sleeps instead of sleeping."""
    c = Client(api_key=KEY, base_url=base_url, **kwargs)
    c._sleep = Sleeps()
    return c


@pytest.fixture
def client(api):
    return make_client(api.url + "/v1")


@pytest.fixture
def closed_port():
    """A port where connections are refused: bound (so nobody else takes it
    during the test) but not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


###############################################################################
# Response bodies
###############################################################################

# Bodies of the OpenAPI spec's examples (openai/openai-openapi, openapi.yaml,
# x-oaiMeta response examples), copied so the tests need nothing outside the repo.
SPEC_EXAMPLES = {
    'retrieve':
    {'id': 'resp_67cb71b351908190a308f3859487620d06981a8637e6bc44',
     'object': 'response',
     'created_at': 1741386163,
     'status': 'completed',
     'completed_at': 1741386164,
     'error': None,
     'incomplete_details': None,
     'instructions': None,
     'max_output_tokens': None,
     'model': 'gpt-4o-2024-08-06',
     'output': [{'type': 'message',
                 'id': 'msg_67cb71b3c2b0819084d481baaaf148f206981a8637e6bc44',
                 'status': 'completed',
                 'role': 'assistant',
                 'content': [{'type': 'output_text',
                              'text': 'Silent circuits hum,  \n'
                                      'Thoughts emerge in data streams—  \n'
                                      'Digital dawn breaks.',
                              'annotations': []}]}],
     'parallel_tool_calls': True,
     'previous_response_id': None,
     'reasoning': {'effort': None, 'summary': None},
     'store': True,
     'temperature': 1.0,
     'text': {'format': {'type': 'text'}},
     'tool_choice': 'auto',
     'tools': [],
     'top_p': 1.0,
     'truncation': 'disabled',
     'usage': {'input_tokens': 32,
               'input_tokens_details': {'cached_tokens': 0, 'cache_write_tokens': 0},
               'output_tokens': 18,
               'output_tokens_details': {'reasoning_tokens': 0},
               'total_tokens': 50},
     'user': None,
     'metadata': {}},
    'cancel':
    {'id': 'resp_67cb71b351908190a308f3859487620d06981a8637e6bc44',
     'object': 'response',
     'created_at': 1741386163,
     'status': 'cancelled',
     'background': True,
     'completed_at': None,
     'error': None,
     'incomplete_details': None,
     'instructions': None,
     'max_output_tokens': None,
     'model': 'gpt-4o-2024-08-06',
     'output': [{'type': 'message',
                 'id': 'msg_67cb71b3c2b0819084d481baaaf148f206981a8637e6bc44',
                 'status': 'in_progress',
                 'role': 'assistant',
                 'content': [{'type': 'output_text',
                              'text': 'Silent circuits hum,  \n'
                                      'Thoughts emerge in data streams—  \n'
                                      'Digital dawn breaks.',
                              'annotations': []}]}],
     'parallel_tool_calls': True,
     'previous_response_id': None,
     'reasoning': {'effort': None, 'summary': None},
     'store': True,
     'temperature': 1.0,
     'text': {'format': {'type': 'text'}},
     'tool_choice': 'auto',
     'tools': [],
     'top_p': 1.0,
     'truncation': 'disabled',
     'usage': None,
     'user': None,
     'metadata': {}},
    'web_search':
    {'id': 'resp_67ccf18ef5fc8190b16dbee19bc54e5f087bb177ab789d5c',
     'object': 'response',
     'created_at': 1741484430,
     'status': 'completed',
     'completed_at': 1741484431,
     'error': None,
     'incomplete_details': None,
     'instructions': None,
     'max_output_tokens': None,
     'model': 'gpt-5.4',
     'output': [{'type': 'web_search_call',
                 'id': 'ws_67ccf18f64008190a39b619f4c8455ef087bb177ab789d5c',
                 'status': 'completed'},
                {'type': 'message',
                 'id': 'msg_67ccf190ca3881909d433c50b1f6357e087bb177ab789d5c',
                 'status': 'completed',
                 'role': 'assistant',
                 'content': [{'type': 'output_text',
                              'text': 'As of today, March 9, 2025, one notable positive '
                                      'news story...',
                              'annotations': [{'type': 'url_citation',
                                               'start_index': 442,
                                               'end_index': 557,
                                               'url': 'https://.../?utm_source=chatgpt.com',
                                               'title': '...'},
                                              {'type': 'url_citation',
                                               'start_index': 962,
                                               'end_index': 1077,
                                               'url': 'https://.../?utm_source=chatgpt.com',
                                               'title': '...'},
                                              {'type': 'url_citation',
                                               'start_index': 1336,
                                               'end_index': 1451,
                                               'url': 'https://.../?utm_source=chatgpt.com',
                                               'title': '...'}]}]}],
     'parallel_tool_calls': True,
     'previous_response_id': None,
     'reasoning': {'effort': None, 'summary': None},
     'store': True,
     'temperature': 1.0,
     'text': {'format': {'type': 'text'}},
     'tool_choice': 'auto',
     'tools': [{'type': 'web_search_preview',
                'domains': [],
                'search_context_size': 'medium',
                'user_location': {'type': 'approximate',
                                  'city': None,
                                  'country': 'US',
                                  'region': None,
                                  'timezone': None}}],
     'top_p': 1.0,
     'truncation': 'disabled',
     'usage': {'input_tokens': 328,
               'input_tokens_details': {'cached_tokens': 0, 'cache_write_tokens': 0},
               'output_tokens': 356,
               'output_tokens_details': {'reasoning_tokens': 0},
               'total_tokens': 684},
     'user': None,
     'metadata': {}},
    'functions':
    {'id': 'resp_67ca09c5efe0819096d0511c92b8c890096610f474011cc0',
     'object': 'response',
     'created_at': 1741294021,
     'status': 'completed',
     'completed_at': 1741294022,
     'error': None,
     'incomplete_details': None,
     'instructions': None,
     'max_output_tokens': None,
     'model': 'gpt-5.4',
     'output': [{'type': 'function_call',
                 'id': 'fc_67ca09c6bedc8190a7abfec07b1a1332096610f474011cc0',
                 'call_id': 'call_unLAR8MvFNptuiZK6K6HCy5k',
                 'name': 'get_current_weather',
                 'arguments': '{"location":"Boston, MA","unit":"celsius"}',
                 'status': 'completed'}],
     'parallel_tool_calls': True,
     'previous_response_id': None,
     'reasoning': {'effort': None, 'summary': None},
     'store': True,
     'temperature': 1.0,
     'text': {'format': {'type': 'text'}},
     'tool_choice': 'auto',
     'tools': [{'type': 'function',
                'description': 'Get the current weather in a given location',
                'name': 'get_current_weather',
                'parameters': {'type': 'object',
                               'properties': {'location': {'type': 'string',
                                                           'description': 'The city and '
                                                                          'state, e.g. San '
                                                                          'Francisco, CA'},
                                              'unit': {'type': 'string',
                                                       'enum': ['celsius', 'fahrenheit']}},
                               'required': ['location', 'unit']},
                'strict': True}],
     'top_p': 1.0,
     'truncation': 'disabled',
     'usage': {'input_tokens': 291,
               'output_tokens': 23,
               'output_tokens_details': {'reasoning_tokens': 0},
               'total_tokens': 314},
     'user': None,
     'metadata': {}},
    'reasoning':
    {'id': 'resp_67ccd7eca01881908ff0b5146584e408072912b2993db808',
     'object': 'response',
     'created_at': 1741477868,
     'status': 'completed',
     'completed_at': 1741477869,
     'error': None,
     'incomplete_details': None,
     'instructions': None,
     'max_output_tokens': None,
     'model': 'o1-2024-12-17',
     'output': [{'type': 'message',
                 'id': 'msg_67ccd7f7b5848190a6f3e95d809f6b44072912b2993db808',
                 'status': 'completed',
                 'role': 'assistant',
                 'content': [{'type': 'output_text',
                              'text': 'The classic tongue twister...',
                              'annotations': []}]}],
     'parallel_tool_calls': True,
     'previous_response_id': None,
     'reasoning': {'effort': 'high', 'summary': None},
     'store': True,
     'temperature': 1.0,
     'text': {'format': {'type': 'text'}},
     'tool_choice': 'auto',
     'tools': [],
     'top_p': 1.0,
     'truncation': 'disabled',
     'usage': {'input_tokens': 81,
               'input_tokens_details': {'cached_tokens': 0, 'cache_write_tokens': 0},
               'output_tokens': 1035,
               'output_tokens_details': {'reasoning_tokens': 832},
               'total_tokens': 1116},
     'user': None,
     'metadata': {}},
    'file_search':
    {'id': 'resp_67ccf4c55fc48190b71bd0463ad3306d09504fb6872380d7',
     'object': 'response',
     'created_at': 1741485253,
     'status': 'completed',
     'completed_at': 1741485254,
     'error': None,
     'incomplete_details': None,
     'instructions': None,
     'max_output_tokens': None,
     'model': 'gpt-5.4',
     'output': [{'type': 'file_search_call',
                 'id': 'fs_67ccf4c63cd08190887ef6464ba5681609504fb6872380d7',
                 'status': 'completed',
                 'queries': ['attributes of an ancient brown dragon'],
                 'results': None},
                {'type': 'message',
                 'id': 'msg_67ccf4c93e5c81909d595b369351a9d309504fb6872380d7',
                 'status': 'completed',
                 'role': 'assistant',
                 'content': [{'type': 'output_text',
                              'text': 'The attributes of an ancient brown dragon '
                                      'include...',
                              'annotations': [{'type': 'file_citation',
                                               'index': 320,
                                               'file_id': 'file-4wDz5b167pAf72nx1h9eiN',
                                               'filename': 'dragons.pdf'},
                                              {'type': 'file_citation',
                                               'index': 576,
                                               'file_id': 'file-4wDz5b167pAf72nx1h9eiN',
                                               'filename': 'dragons.pdf'},
                                              {'type': 'file_citation',
                                               'index': 815,
                                               'file_id': 'file-4wDz5b167pAf72nx1h9eiN',
                                               'filename': 'dragons.pdf'},
                                              {'type': 'file_citation',
                                               'index': 815,
                                               'file_id': 'file-4wDz5b167pAf72nx1h9eiN',
                                               'filename': 'dragons.pdf'},
                                              {'type': 'file_citation',
                                               'index': 1030,
                                               'file_id': 'file-4wDz5b167pAf72nx1h9eiN',
                                               'filename': 'dragons.pdf'},
                                              {'type': 'file_citation',
                                               'index': 1030,
                                               'file_id': 'file-4wDz5b167pAf72nx1h9eiN',
                                               'filename': 'dragons.pdf'},
                                              {'type': 'file_citation',
                                               'index': 1156,
                                               'file_id': 'file-4wDz5b167pAf72nx1h9eiN',
                                               'filename': 'dragons.pdf'},
                                              {'type': 'file_citation',
                                               'index': 1225,
                                               'file_id': 'file-4wDz5b167pAf72nx1h9eiN',
                                               'filename': 'dragons.pdf'}]}]}],
     'parallel_tool_calls': True,
     'previous_response_id': None,
     'reasoning': {'effort': None, 'summary': None},
     'store': True,
     'temperature': 1.0,
     'text': {'format': {'type': 'text'}},
     'tool_choice': 'auto',
     'tools': [{'type': 'file_search',
                'filters': None,
                'max_num_results': 20,
                'ranking_options': {'ranker': 'auto', 'score_threshold': 0.0},
                'vector_store_ids': ['vs_1234567890']}],
     'top_p': 1.0,
     'truncation': 'disabled',
     'usage': {'input_tokens': 18307,
               'input_tokens_details': {'cached_tokens': 0, 'cache_write_tokens': 0},
               'output_tokens': 348,
               'output_tokens_details': {'reasoning_tokens': 0},
               'total_tokens': 18655},
     'user': None,
     'metadata': {}},
}


def body(status="completed", output=(), rid="resp_abc", **extra):
    """A minimal Response body."""
    out = {"id": rid, "object": "response", "created_at": 1741386163,
           "status": status, "background": True, "error": None,
           "incomplete_details": None, "model": "o3-deep-research",
           "output": list(output), "usage": None, "store": True}
    out.update(extra)
    return out


def message(*texts, annotations=None, phase=None):
    content = []
    for i, text in enumerate(texts):
        entry = {"type": "output_text", "text": text, "annotations": []}
        if annotations and i in annotations:
            entry["annotations"] = annotations[i]
        content.append(entry)
    item = {"type": "message", "id": "msg_1", "status": "completed",
            "role": "assistant", "content": content}
    if phase:
        item["phase"] = phase
    return item


USAGE = {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 40,
                                                        "cache_write_tokens": 7},
         "output_tokens": 250, "output_tokens_details": {"reasoning_tokens": 200},
         "total_tokens": 351}

FIRST = "Fusion output rose in 2025. "
SECOND = "ITER slipped again."
DEEP_RESEARCH = body(
    output=[
        {"type": "reasoning", "id": "rs_1", "summary": [
            {"type": "summary_text", "text": "Looking for sources. "},
            {"type": "summary_text", "text": "Comparing them."}],
         "encrypted_content": "gAAAA-secret-blob"},
        {"type": "web_search_call", "id": "ws_1", "status": "completed",
         "action": {"type": "search", "query": "fusion news"}},
        {"type": "code_interpreter_call", "id": "ci_1", "status": "completed",
         "container_id": "cntr_1", "code": "print(1)", "outputs": None},
        message(FIRST, SECOND, annotations={
            0: [{"type": "url_citation", "start_index": 0, "end_index": 13,
                 "url": "https://example.org/fusion", "title": "Fusion report"}],
            1: [{"type": "url_citation", "start_index": 0, "end_index": 4,
                 "url": "https://example.org/iter", "title": "ITER news"},
                {"type": "file_citation", "index": 3, "file_id": "file-1",
                 "filename": "x.pdf"}]}, phase="final_answer"),
    ],
    usage=USAGE, service_tier="flex")


def convert(data, rid=None):
    return openai_bg._response_from_json(copy.deepcopy(data), rid)


def sdk_output_text(data):
    """The official SDK's Response.output_text algorithm, written out."""
    return "".join(c["text"] for item in data["output"] if item["type"] == "message"
                   for c in item["content"] if c["type"] == "output_text")


###############################################################################
# Conversion
###############################################################################

@pytest.mark.parametrize("name", sorted(SPEC_EXAMPLES))
def test_spec_examples_convert_and_text_matches_sdk_output_text(name):
    data = SPEC_EXAMPLES[name]
    r = convert(data)
    assert isinstance(r, LlmResponse)
    assert r.text == sdk_output_text(data)
    assert r.response_id == data["id"]
    assert r.status == data["status"]
    assert r.raw == data
    json.dumps(r.to_dict())  # always serialisable


def test_spec_example_texts_are_the_known_strings():
    assert convert(SPEC_EXAMPLES["retrieve"]).text.startswith("Silent circuits hum,")
    assert convert(SPEC_EXAMPLES["functions"]).text == ""
    # The cancel example keeps its partial answer (a cancelled job's output is kept).
    cancelled = convert(SPEC_EXAMPLES["cancel"])
    assert cancelled.text.endswith("Digital dawn breaks.")
    assert cancelled.error_code == "cancelled"


def test_completed_full_conversion():
    r = convert(DEEP_RESEARCH)
    kinds = [type(p).__name__ for p in r.content.parts]
    assert kinds == ["ThinkingPart", "ServerToolCallPart", "ServerToolCallPart",
                     "TextPart", "TextPart"]
    assert r.content.role == "model"
    assert r.content.parts[0].thinking == "Looking for sources. Comparing them."
    assert r.content.parts[1].server_tool_call == DEEP_RESEARCH["output"][1]
    assert r.text == FIRST + SECOND
    assert r.finish_reason is FinishReason.STOP
    assert r.turn_complete is True
    assert r.partial is False
    assert r.interrupted is False
    assert r.error_code is None
    assert r.error_message is None
    meta = r.provider_metadata["openai"]
    assert meta["response_id"] == "resp_abc"
    assert meta["status"] == "completed"
    assert meta["service_tier"] == "flex"
    assert meta["phase"] == "final_answer"
    assert meta["encrypted_content"] == "gAAAA-secret-blob"
    assert [o["type"] for o in meta["built_in_tool_outputs"]] == [
        "web_search_call", "code_interpreter_call"]
    assert meta["conversation_history_parts"][0]["server_tool_call"]["type"] == "reasoning"
    assert r.done


def test_url_citations_index_into_text():
    r = convert(DEEP_RESEARCH)
    assert [(c.uri, c.title) for c in r.citations] == [
        ("https://example.org/fusion", "Fusion report"),
        ("https://example.org/iter", "ITER news")]
    first, second = r.citations
    assert r.text[first.start_index:first.end_index] == "Fusion output"
    # The second part's indices are shifted by the first part's length.
    assert (second.start_index, second.end_index) == (len(FIRST), len(FIRST) + 4)
    assert r.text[second.start_index:second.end_index] == "ITER"
    assert r.citation_metadata.citation_sources == r.citations


def test_usage_mapping_uses_api_total():
    u = convert(DEEP_RESEARCH).usage_metadata
    assert (u.prompt_token_count, u.candidates_token_count, u.total_token_count) == (
        100, 250, 351)
    assert u.cache_read_input_token_count == 40
    assert u.cache_creation_input_token_count == 7
    assert u.thinking_token_count == 200


def test_usage_total_computed_when_absent():
    u = convert(body(usage={"input_tokens": 3, "output_tokens": 4})).usage_metadata
    assert u.total_token_count == 7
    assert u.cache_read_input_token_count is None
    assert u.thinking_token_count is None


def test_function_call_part():
    r = convert(SPEC_EXAMPLES["functions"])
    (part,) = r.content.parts
    assert isinstance(part, openai_bg.FunctionCallPart)
    assert part.name == "get_current_weather"
    assert part.args == {"location": "Boston, MA", "unit": "celsius"}
    assert part.id == "call_unLAR8MvFNptuiZK6K6HCy5k"
    assert part.to_dict() == {"name": "get_current_weather", "args": part.args,
                              "id": "call_unLAR8MvFNptuiZK6K6HCy5k"}


def test_function_call_with_unparsable_arguments_gets_empty_args():
    r = convert(body(output=[{"type": "function_call", "call_id": "c1",
                              "name": "f", "arguments": "{not json"}]))
    assert r.content.parts[0].args == {}


@pytest.mark.parametrize("kind", ["shell_call_output", "apply_patch_call_output",
                                  "function_call_output", "some_future_output"])
def test_tool_output_items_become_server_tool_responses(kind):
    item = {"type": kind, "id": "x1", "call_id": "c1", "output": "ok"}
    r = convert(body(output=[item]))
    (part,) = r.content.parts
    assert isinstance(part, openai_bg.ServerToolResponsePart)
    assert part.server_tool_response == item
    assert part.to_dict() == {"server_tool_response": item}


@pytest.mark.parametrize("kind", ["web_search_call", "file_search_call", "computer_call",
                                  "image_generation_call", "code_interpreter_call",
                                  "local_shell_call", "mcp_call", "mcp_approval_request",
                                  "custom_tool_call", "shell_call", "apply_patch_call"])
def test_built_in_tool_items_become_server_tool_calls(kind):
    item = {"type": kind, "id": "x1", "status": "completed"}
    r = convert(body(output=[item]))
    (part,) = r.content.parts
    assert isinstance(part, openai_bg.ServerToolCallPart)
    assert part.to_dict() == {"server_tool_call": item}
    listed = r.provider_metadata["openai"].get("built_in_tool_outputs", [])
    assert (item in listed) == (kind != "custom_tool_call")


def test_mcp_list_tools_fills_tool_search_selected():
    r = convert(body(output=[{"type": "mcp_list_tools", "id": "m", "server_label": "s",
                              "tools": [{"name": "tool_a"}, {"name": "tool_b"}, "junk"]}]))
    assert r.provider_metadata["openai"]["tool_search_selected"] == ["tool_a", "tool_b"]


def test_unknown_item_types_are_kept_not_raised():
    items = [{"type": "hologram_call", "id": "h1", "beam": [1, 2]},
             {"id": "no-type-at-all"}]
    r = convert(body(output=items))
    assert [p.server_tool_call for p in r.content.parts] == items


def test_refusal_is_reported_not_dropped():
    item = {"type": "message", "id": "m", "role": "assistant", "status": "completed",
            "content": [{"type": "refusal", "refusal": "I can't help with that."}]}
    r = convert(body(output=[item]))
    assert r.provider_metadata["openai"]["refusal"] == "I can't help with that."
    assert r.finish_reason is FinishReason.SAFETY
    assert r.text == ""


def test_empty_text_and_empty_summary_make_no_parts():
    r = convert(body(output=[message(""), {"type": "reasoning", "id": "r", "summary": []}]))
    assert r.content is None
    assert r.to_dict()["content"] is None


@pytest.mark.parametrize("status", ["queued", "in_progress"])
def test_pending_statuses(status):
    data = body(status, output=[message("partial")], usage=USAGE)
    r = convert(data, "resp_abc")
    assert r.content is None
    assert r.usage_metadata is None
    assert r.finish_reason is None
    assert r.turn_complete is False
    assert r.partial is False
    assert r.provider_metadata == {"openai": {"response_id": "resp_abc", "status": status}}
    assert not r.done
    assert r.text == ""
    assert r.raw == data


def test_failed_with_error():
    r = convert(body("failed", error={"code": "server_error", "message": "boom"}))
    assert (r.error_code, r.error_message) == ("server_error", "boom")
    assert r.turn_complete is True
    assert r.finish_reason is None
    assert r.done


def test_failed_without_error_uses_reference_defaults():
    r = convert(body("failed"))
    assert (r.error_code, r.error_message) == ("unknown", "Background response failed")


def test_cancelled():
    r = convert(body("cancelled", output=[message("half an ans")]))
    assert r.error_code == "cancelled"
    assert r.error_message == "Background response was cancelled"
    assert r.turn_complete is True
    assert r.finish_reason is None
    assert r.text == "half an ans"


@pytest.mark.parametrize("reason,expected", [
    ("max_output_tokens", FinishReason.MAX_TOKENS),
    ("content_filter", FinishReason.SAFETY),
    ("something_new", FinishReason.STOP),
    (None, FinishReason.STOP)])
def test_incomplete_finish_reasons(reason, expected):
    details = {"reason": reason} if reason else None
    r = convert(body("incomplete", output=[message("cut")], incomplete_details=details))
    assert r.finish_reason is expected
    assert r.turn_complete is True
    assert r.error_code is None


def test_unknown_status_passes_through():
    r = convert(body("paused_for_review", output=[message("so far")]))
    assert r.status == "paused_for_review"
    assert r.turn_complete is False
    assert r.finish_reason is None
    assert r.done  # wait_response returns it rather than polling blindly
    assert r.text == "so far"


def test_mismatched_id_is_recorded(caplog):
    with caplog.at_level(logging.WARNING, logger="openai_bg"):
        r = convert(body(rid="resp_other"), "resp_asked")
    assert r.response_id == "resp_other"
    assert r.provider_metadata["openai"]["requested_id"] == "resp_asked"
    assert "resp_asked" in caplog.text


def test_to_dict_matches_reference_serde_shape():
    d = convert(DEEP_RESEARCH).to_dict()
    assert list(d) == ["content", "usage_metadata", "finish_reason", "citation_metadata",
                       "partial", "turn_complete", "interrupted", "error_code",
                       "error_message", "provider_metadata"]
    assert d["finish_reason"] == "Stop"
    assert d["content"]["parts"][0] == {"thinking": "Looking for sources. Comparing them."}
    assert d["content"]["parts"][3] == {"text": FIRST}
    assert d["content"]["parts"][1]["server_tool_call"]["type"] == "web_search_call"
    assert d["citation_metadata"]["citationSources"][0] == {
        "uri": "https://example.org/fusion", "title": "Fusion report", "startIndex": 0,
        "endIndex": 13, "license": None, "publicationDate": None}
    assert d["usage_metadata"] == {
        "prompt_token_count": 100, "candidates_token_count": 250,
        "total_token_count": 351, "cache_read_input_token_count": 40,
        "cache_creation_input_token_count": 7, "thinking_token_count": 200}
    assert "raw" not in d


def test_to_dict_omits_none_citation_and_provider_metadata():
    d = LlmResponse().to_dict()
    assert d == {"content": None, "usage_metadata": None, "finish_reason": None,
                 "partial": False, "turn_complete": False, "interrupted": False,
                 "error_code": None, "error_message": None}


def test_raw_is_out_of_repr_and_equality():
    a = convert(SPEC_EXAMPLES["retrieve"])
    b = convert(SPEC_EXAMPLES["retrieve"])
    b.raw = {"something": "else"}
    assert a == b
    assert "raw" not in repr(a)
    assert "Silent circuits" in repr(a)


def test_finish_reason_values_are_reference_strings():
    assert [f.value for f in FinishReason] == ["Stop", "MaxTokens", "Safety",
                                              "Recitation", "Other"]
    assert FinishReason.STOP == "Stop"


def test_thinking_and_function_parts_drop_none_fields():
    assert openai_bg.ThinkingPart("t", "sig").to_dict() == {"thinking": "t",
                                                           "signature": "sig"}
    assert openai_bg.FunctionCallPart("f", {}).to_dict() == {"name": "f", "args": {}}


@pytest.mark.parametrize("bad", [[], "text", 3, None, {"id": "x"}, {"status": 5}])
def test_non_response_bodies_raise_decode_error(bad):
    with pytest.raises(APIResponseDecodeError):
        convert(bad)


WRONG_TYPES = [
    ("output is a string", {"output": "a string"},
     lambda r: r.content is None and r.status == "completed"),
    ("output items are not objects", {"output": [1, None, "x", []]},
     lambda r: r.content is None),
    ("usage is a list", {"usage": [1, 2]}, lambda r: r.usage_metadata is None),
    ("counts are a string, negative, a bool",
     {"usage": {"input_tokens": "12", "output_tokens": -5, "total_tokens": True}},
     lambda r: (r.usage_metadata.prompt_token_count, r.usage_metadata.candidates_token_count,
                r.usage_metadata.total_token_count) == (0, 0, 0)),
    ("message content without types", {"output": [{"type": "message",
                                                   "content": [{"text": "no type"}, 5]}]},
     lambda r: r.text == "" and r.content is None),
    ("message content flat", {"output": [{"type": "message", "content": "flat"}]},
     lambda r: r.content is None),
    ("summary texts of the wrong type", {"output": [{"type": "reasoning",
                                                     "summary": [{"text": 5}, "x"]}]},
     lambda r: r.content is None),
    ("function call fields of the wrong type",
     {"output": [{"type": "function_call", "name": 5, "arguments": 5, "call_id": 7}]},
     lambda r: r.content.parts == [openai_bg.FunctionCallPart(name="", args={}, id=None)]),
    ("citation fields of the wrong type", {"output": [message("abc", annotations={0: [
        {"type": "url_citation", "start_index": "0", "end_index": None, "url": 3}]})]},
     lambda r: r.text == "abc" and r.citations == [openai_bg.CitationSource()]),
    ("error is a string", {"error": "boom", "status": "failed"},
     lambda r: (r.error_code, r.error_message) == ("unknown", "Background response failed")),
    ("incomplete details is a string", {"incomplete_details": "x", "status": "incomplete"},
     lambda r: r.finish_reason is FinishReason.STOP),
    ("id is a number", {"id": 42}, lambda r: r.response_id == "resp_abc"),
    ("service tier is a list", {"service_tier": ["x"]},
     lambda r: "service_tier" not in r.provider_metadata["openai"]),
]


@pytest.mark.parametrize("name,mutation,expected", WRONG_TYPES,
                         ids=[case[0] for case in WRONG_TYPES])
def test_wrong_types_give_a_best_effort_response(name, mutation, expected):
    data = body(output=[message("ok")], usage=USAGE)
    data.update(mutation)
    r = convert(data, "resp_abc")
    assert expected(r)
    json.dumps(r.to_dict(), allow_nan=False)


###############################################################################
# Requests as the server sees them
###############################################################################

def test_poll_sends_get_with_headers(api, client):
    api.on("GET", "/v1/responses/resp_abc", reply(200, body()))
    r = client.poll_response("resp_abc")
    assert r.status == "completed"
    (req,) = api.requests
    assert (req.method, req.path) == ("GET", "/v1/responses/resp_abc")
    assert req.headers["authorization"] == "Bearer " + KEY
    assert req.headers["accept"] == "application/json"
    assert req.headers["user-agent"].startswith("openai_bg/" + openai_bg.__version__)
    assert "content-type" not in req.headers
    assert "openai-organization" not in req.headers
    assert "openai-project" not in req.headers
    assert req.body == b""


def test_cancel_posts_no_body_and_converts_answer(api, client):
    api.on("POST", "/v1/responses/resp_abc/cancel",
           reply(200, body("cancelled", output=[message("partial")])))
    r = client.cancel_response("resp_abc")
    (req,) = api.requests
    assert (req.method, req.path) == ("POST", "/v1/responses/resp_abc/cancel")
    assert req.body == b""
    assert req.headers["content-length"] == "0"
    assert req.headers.get("content-type") in (None, "application/json")
    assert r.status == "cancelled"
    assert r.text == "partial"


def test_cancel_of_finished_job_reports_its_real_status(api, client):
    # The reference claims "cancelled" whatever the body says; we do not.
    api.on("POST", "/v1/responses/resp_abc/cancel",
           reply(200, body("completed", output=[message("done")])))
    r = client.cancel_response("resp_abc")
    assert r.status == "completed"
    assert r.error_code is None
    assert r.text == "done"


def test_create_adds_background_and_store_and_passes_params(api, client):
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="resp_new")))
    r = client.create_response(model="o3-deep-research", input="Question?",
                               tools=[{"type": "web_search_preview"}],
                               future_param={"x": 1})
    assert r.response_id == "resp_new"
    assert r.status == "queued"
    assert not r.done
    (req,) = api.requests
    assert req.headers["content-type"] == "application/json"
    assert req.json() == {"model": "o3-deep-research", "input": "Question?",
                          "tools": [{"type": "web_search_preview"}],
                          "future_param": {"x": 1}, "background": True, "store": True}


def test_create_respects_caller_background_and_store(api, client):
    api.on("POST", "/v1/responses", reply(200, body("completed")))
    client.create_response(model="m", input="q", background=False, store=False)
    sent = api.requests[0].json()
    assert sent["background"] is False
    assert sent["store"] is False


@pytest.mark.parametrize("kwargs,error", [
    (dict(model="", input="q"), TypeError), (dict(model=None, input="q"), TypeError),
    (dict(model="m", input=""), TypeError), (dict(model="m", input=5), TypeError),
    (dict(model="m", input="q", stream=True), ValueError),
    (dict(model="m", input="q", metadata={"x": object()}), TypeError)])
def test_create_rejects_bad_arguments_before_sending(api, client, kwargs, error):
    with pytest.raises(error):
        client.create_response(**kwargs)
    assert api.requests == []


@pytest.mark.parametrize("kwargs,words", [
    (dict(cancel_on_timout=True), "did you mean cancel_on_timeout=?"),
    (dict(on_updte=print), "did you mean on_update=?"),
    (dict(poll_intervall=5), "did you mean poll_interval=?"),
    (dict(steam=True), "did you mean stream=?"),
    (dict(callback=print), "callback= is a function"),
    (dict(timeout=60), "timeout= is a keyword of the wait"),
    (dict(on_event=print), "on_event= is a keyword of the wait")])
def test_wait_keywords_and_near_misses_never_reach_the_body(api, client, kwargs, words):
    calls = [lambda: client.create_response(model="m", input="q", **kwargs),
             lambda: client.create_response_stream(model="m", input="q", **kwargs)]
    if "timeout" not in kwargs and "on_event" not in kwargs:  # not create_and_wait's own
        calls.append(lambda: client.create_and_wait(model="m", input="q", **kwargs))
    for call in calls:
        with pytest.raises(TypeError) as info:
            call()
        assert words in str(info.value)
    assert api.requests == []


def test_ids_are_str_and_many_jobs_take_any_iterable_of_ids(api, client):
    assert LlmResponse().response_id == ""  # no body: still a str
    api.fallback = lambda rec: reply(200, body("completed", rid=rec.path.rsplit("/", 1)[1]))
    jobs = {"r1": "first question", "r2": "second"}  # ids -> what they are for
    ended = {o.response_id for o in client.as_completed(jobs)}
    assert ended == set(jobs) and set(client.wait_many(iter(jobs))) == set(jobs)


def test_body_parameters_like_the_wait_keywords_still_pass(api, client):
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    client.create_response(model="m", input="q", stream_options=None, store=True,
                           text={"format": {"type": "text"}}, max_tool_calls=3)
    assert api.requests[0].json()["max_tool_calls"] == 3


def test_org_project_default_headers_and_query(api):
    c = Client(api_key=KEY, base_url=api.url + "/v1/", organization="org_1",
               project="proj_1", default_headers={"X-Gateway": "gw"},
               default_query={"api-version": "preview"})
    api.on("GET", "/v1/responses/r1", reply(200, body(rid="r1")))
    c.poll_response("r1")
    (req,) = api.requests
    assert req.path == "/v1/responses/r1?api-version=preview"
    assert req.headers["openai-organization"] == "org_1"
    assert req.headers["openai-project"] == "proj_1"
    assert req.headers["x-gateway"] == "gw"


def test_environment_configuration(api, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", api.url + "/v1/")
    monkeypatch.setenv("OPENAI_ORG_ID", "org_env")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_env")
    c = Client()
    assert c.base_url == api.url + "/v1"
    api.on("GET", "/v1/responses/r1", reply(200, body(rid="r1")))
    c.poll_response("r1")
    h = api.requests[0].headers
    assert h["authorization"] == "Bearer " + KEY
    assert (h["openai-organization"], h["openai-project"]) == ("org_env", "proj_env")


def test_default_base_url():
    assert Client(api_key=KEY).base_url == "https://api.openai.com/v1"


def test_missing_key_names_the_variable():
    with pytest.raises(OpenAIError, match="OPENAI_API_KEY"):
        Client()


@pytest.mark.parametrize("kwargs", [dict(default_headers="X-A: b"), dict(default_query=[1]),
                                    dict(default_headers={"X-A": 5}), dict(timeout="60"),
                                    dict(base_url="ftp://x"), dict(base_url="api.openai.com"),
                                    dict(timeout=0), dict(timeout=-1), dict(max_retries=-1),
                                    dict(max_retries=1.5), dict(max_response_bytes=0)])
def test_bad_client_arguments(kwargs):
    with pytest.raises((ValueError, TypeError)):
        Client(api_key=KEY, **kwargs)


def test_repr_never_shows_the_key():
    c = Client(api_key=KEY, organization="org_1")
    assert KEY not in repr(c)
    assert "org_1" in repr(c)
    assert KEY not in str(c)


def test_module_level_functions_use_a_default_client(api, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", api.url + "/v1")
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r9")))
    api.on("GET", "/v1/responses/r9", reply(200, body("completed", rid="r9",
                                                      output=[message("hi")])))
    api.on("POST", "/v1/responses/r9/cancel", reply(200, body("cancelled", rid="r9")))
    assert openai_bg.create_response(model="m", input="q").response_id == "r9"
    assert openai_bg.poll_response("r9").text == "hi"
    assert openai_bg.wait_response("r9").text == "hi"
    assert openai_bg.create_and_wait(model="m", input="q").text == "hi"
    assert openai_bg.cancel_response("r9").status == "cancelled"
    first = openai_bg._default_client
    assert first is not None
    assert openai_bg._client() is first
    assert [r.method for r in api.requests] == ["POST", "GET", "GET", "POST", "GET", "POST"]


@pytest.mark.parametrize("rid,path", [
    ("a/b", "a%2Fb"), ("../files", "..%2Ffiles"), ("x?y=1", "x%3Fy%3D1"),
    ("%2e%2e", "%252e%252e"), ("has space", "has%20space"), ("é", "%C3%A9"),
    ("x#frag", "x%23frag")])
def test_ids_are_sent_as_one_encoded_segment(api, client, rid, path):
    api.on("GET", "/v1/responses/" + path, reply(200, body(rid=rid)))
    r = client.poll_response(rid)
    assert api.paths() == ["/v1/responses/" + path]
    assert r.response_id == rid


@pytest.mark.parametrize("rid,error", [
    ("", ValueError), (".", ValueError), ("..", ValueError), ("a\nb", ValueError),
    ("resp\x00", ValueError), ("resp_1\r", ValueError), (" resp_1", ValueError),
    ("resp_1 ", ValueError), (None, TypeError),
    (123, TypeError), (b"resp", TypeError)])
def test_bad_ids_never_reach_the_network(api, client, rid, error):
    for call in (client.poll_response, client.cancel_response, client.wait_response):
        with pytest.raises(error):
            call(rid)
    assert api.requests == []


@pytest.mark.parametrize("headers", [{"X-A": "a\r\nX-Injected: 1"}, {"X-A": "a\nb"},
                                     {"Bad Name": "v"}, {"X-A": "nul\x00"}])
def test_header_injection_is_rejected(headers):
    with pytest.raises(ValueError):
        Client(api_key=KEY, default_headers=headers)


def test_key_with_newline_is_rejected_without_echoing_it():
    with pytest.raises(ValueError) as info:
        Client(api_key=KEY + "\r\nX-Evil: 1")
    assert KEY not in str(info.value)


###############################################################################
# Errors
###############################################################################

@pytest.mark.parametrize("status,cls", [
    (400, openai_bg.BadRequestError), (401, openai_bg.AuthenticationError),
    (403, openai_bg.PermissionDeniedError), (404, openai_bg.NotFoundError),
    (409, openai_bg.ConflictError), (422, openai_bg.UnprocessableEntityError),
    (429, openai_bg.RateLimitError), (500, openai_bg.InternalServerError),
    (503, openai_bg.InternalServerError), (418, APIStatusError)])
def test_status_errors(api, status, cls):
    c = Client(api_key=KEY, base_url=api.url + "/v1", max_retries=0)
    error = {"message": "Response with id 'r1' not found.", "type": "invalid_request_error",
             "param": "response_id", "code": "not_found"}
    api.on("GET", "/v1/responses/r1", reply(status, {"error": error},
                                            {"x-request-id": "req_123"}))
    with pytest.raises(cls) as info:
        c.poll_response("r1")
    exc = info.value
    assert type(exc) is cls
    assert isinstance(exc, openai_bg.APIError)
    assert isinstance(exc, OpenAIError)
    assert exc.status_code == status
    assert exc.request_id == "req_123"
    assert (exc.code, exc.type, exc.param) == ("not_found", "invalid_request_error",
                                               "response_id")
    assert exc.body == error
    assert "Response with id 'r1' not found." in str(exc)
    assert str(status) in str(exc)
    assert "req_123" in str(exc)
    assert exc.headers["x-request-id"] == "req_123"


@pytest.mark.parametrize("payload,expected", [
    ("<html><body>Bad gateway</body></html>", "Bad gateway"),
    ("upstream connect error", "upstream connect error"),
    (b"", "HTTP 502"),
    ({"code": 502, "message": "prism says no"}, "prism says no"),
    ({"error": "plain string error"}, "plain string error")])
def test_error_bodies_of_every_shape(api, payload, expected):
    c = Client(api_key=KEY, base_url=api.url, max_retries=0)
    api.on("GET", "/responses/r1", reply(502, payload))
    with pytest.raises(openai_bg.InternalServerError) as info:
        c.poll_response("r1")
    assert expected in str(info.value)
    assert info.value.status_code == 502


@pytest.mark.parametrize("payload,what", [
    ("<html>Please log in to the proxy</html>", "not JSON"), (b"", "empty body"),
    (b"\xff\xfe{\x00", "not UTF-8"), ([1, 2], "JSON object"), ('"str"', "JSON object"),
    ({"hello": "world"}, "status")])
def test_2xx_bodies_that_are_not_responses(api, client, payload, what):
    api.on("GET", "/v1/responses/r1", reply(200, payload, {"x-request-id": "req_9"}))
    with pytest.raises(APIResponseDecodeError) as info:
        client.poll_response("r1")
    assert what in str(info.value)
    assert len(api.requests) == 1  # a bad body is not retried


@pytest.mark.parametrize("mutation,check", [
    ({"output": "a string"}, lambda r: r.content is None),
    ({"usage": [1, 2]}, lambda r: r.usage_metadata is None),
    ({"usage": {"input_tokens": "12", "output_tokens": -3}},
     lambda r: r.usage_metadata.prompt_token_count == 0),
    ({"output": [{"type": "message", "content": [{"text": "no type"}]}]},
     lambda r: r.text == ""),
    ({"status": "archived"}, lambda r: r.status == "archived" and r.done),
    ({"output": [{"type": "teleport_call", "id": "t1"}]},
     lambda r: r.content.parts[0].server_tool_call["type"] == "teleport_call"),
    ({"id": "resp_somebody_else"},
     lambda r: r.provider_metadata["openai"]["requested_id"] == "r1")])
def test_malformed_responses_over_the_wire(api, client, mutation, check):
    data = body(rid="r1", output=[message("ok")])
    data.update(mutation)
    api.on("GET", "/v1/responses/r1", reply(200, data))
    r = client.poll_response("r1")
    assert isinstance(r, LlmResponse)
    assert check(r)


def test_redirects_are_not_followed_and_credentials_stay_home(api):
    elsewhere = FakeAPI()
    try:
        elsewhere.on("GET", "/steal", reply(200, body()))
        api.on("GET", "/v1/responses/r1",
               reply(302, b"", {"Location": elsewhere.url + "/steal"}))
        api.on("POST", "/v1/responses/r1/cancel",
               reply(307, b"", {"Location": elsewhere.url + "/steal"}))
        c = Client(api_key=KEY, base_url=api.url + "/v1",
                   default_headers={"api-key": "azure-secret-value"})
        with pytest.raises(openai_bg.RedirectError) as info:
            c.poll_response("r1")
        assert info.value.status_code == 302
        assert info.value.location == elsewhere.url + "/steal"
        assert elsewhere.url + "/steal" in str(info.value)
        assert "base_url" in str(info.value)
        with pytest.raises(openai_bg.RedirectError):
            c.cancel_response("r1")
        assert elsewhere.requests == []
        assert len(api.requests) == 2
    finally:
        elsewhere.close()


def test_connection_refused(api, closed_port):
    c = Client(api_key=KEY, base_url="http://127.0.0.1:%d" % closed_port, max_retries=0)
    with pytest.raises(APIConnectionError) as info:
        c.poll_response("r1")
    assert not isinstance(info.value, APITimeoutError)
    assert "refused" in str(info.value).lower()


###############################################################################
# Retries
###############################################################################

def _decide(sent=True, status=None, headers=None, create=False, stream=False,
            retryable=True, taken=0, max_retries=2):
    """_retry_decision on a described failure, the delay's jitter removed:
    ("raise" or the delay's upper bound, maybe_created)."""
    from types import SimpleNamespace
    answer = None if status is None else SimpleNamespace(status=status, headers=headers or {})
    outcome = SimpleNamespace(answer=answer, sent=sent, retryable=retryable)
    request = SimpleNamespace(create=create, stream=stream)
    delay, maybe_created = openai_bg._retry_decision(outcome, request, taken, max_retries)
    if delay is None:
        return "raise", maybe_created
    ceiling = min(0.5 * 2 ** taken, 8.0)  # the backoff: 0.5 s doubling, jittered down 25 %
    if 0.75 * ceiling <= delay <= ceiling:
        return "backoff", maybe_created
    return round(delay, 3), maybe_created


RETRY_TABLE = [
    # what happened                                      -> (wait, maybe created)
    (dict(sent=False), ("backoff", False)),                  # refused, reset before sending
    (dict(sent=True), ("backoff", False)),                   # a poll whose answer broke
    (dict(sent=True, retryable=False), ("raise", False)),    # an untrusted certificate
    (dict(sent=False, create=True), ("backoff", False)),     # a create never sent: retried
    (dict(sent=True, create=True), ("raise", True)),         # a create sent, no answer
    (dict(status=500), ("backoff", False)),
    (dict(status=503, create=True), ("raise", True)),        # may be running: never twice
    (dict(status=408, create=True), ("raise", True)),
    (dict(status=429, create=True), ("backoff", False)),     # refused: safe to send again
    (dict(status=400, create=True), ("raise", False)),
    (dict(status=409), ("backoff", False)),
    (dict(status=404), ("raise", False)),
    (dict(status=401), ("raise", False)),
    (dict(status=404, stream=True), ("raise", False)),       # no streaming: the wait polls
    (dict(status=500, stream=True), ("backoff", False)),
    (dict(status=400, headers={"x-should-retry": "true"}), ("backoff", False)),
    (dict(status=500, headers={"x-should-retry": "false"}), ("raise", False)),
    (dict(status=500, create=True, headers={"x-should-retry": "true"}), ("backoff", False)),
    (dict(status=429, headers={"retry-after": "3"}), (3.0, False)),
    (dict(status=429, headers={"retry-after-ms": "1500", "retry-after": "9"}), (1.5, False)),
    (dict(status=429, headers={"retry-after": "nan"}), ("backoff", False)),
    (dict(status=429, headers={"retry-after": "-1"}), ("backoff", False)),
    (dict(status=429, headers={"retry-after": "61"}), ("raise", False)),  # "not now"
    (dict(status=500, taken=1), ("backoff", False)),         # the second retry waits longer
    (dict(status=429, taken=1, headers={"retry-after": "0.2"}), (0.2, False)),
    (dict(status=500, taken=2), ("raise", False)),           # max_retries used up
    (dict(status=500, create=True, taken=2), ("raise", True)),
    (dict(sent=False, taken=2, max_retries=2), ("raise", False)),
    (dict(status=500, taken=1, max_retries=0), ("raise", False)),
]


@pytest.mark.parametrize("happened,decision", RETRY_TABLE)
def test_retry_decision_table(happened, decision):
    assert _decide(**happened) == decision


def test_backoff_doubles_to_a_ceiling_with_at_most_a_quarter_of_jitter():
    for taken, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = [openai_bg._backoff(taken) for _ in range(200)]
        assert ceiling * 0.75 <= min(delays) and max(delays) <= ceiling
        assert max(delays) - min(delays) > ceiling * 0.1  # jittered: many clients spread out


def test_poll_retries_5xx_with_backoff(api, client):
    api.on("GET", "/v1/responses/r1", reply(500, b"oops"), reply(502, b"oops"),
           reply(200, body(rid="r1")))
    assert client.poll_response("r1").status == "completed"
    assert len(api.requests) == 3
    first, second = client._sleep
    assert 0.375 <= first <= 0.5
    assert 0.75 <= second <= 1.0


@pytest.mark.parametrize("status", [408, 409, 429, 500, 503, 504])
def test_retryable_statuses(api, client, status):
    api.on("GET", "/v1/responses/r1", reply(status, b""), reply(200, body(rid="r1")))
    client.poll_response("r1")
    assert len(api.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_permanent_statuses_are_not_retried(api, client, status):
    api.on("GET", "/v1/responses/r1", reply(status, b""), reply(200, body(rid="r1")))
    with pytest.raises(APIStatusError):
        client.poll_response("r1")
    assert len(api.requests) == 1
    assert client._sleep == []


def test_retries_are_bounded_by_max_retries(api, client):
    api.on("POST", "/v1/responses/r1/cancel", reply(503, b"busy"))
    with pytest.raises(openai_bg.InternalServerError):
        client.cancel_response("r1")
    assert len(api.requests) == 3
    assert len(client._sleep) == 2


def test_max_retries_zero_means_one_attempt(api):
    c = Client(api_key=KEY, base_url=api.url, max_retries=0)
    api.on("GET", "/responses/r1", reply(500, b""))
    with pytest.raises(openai_bg.InternalServerError):
        c.poll_response("r1")
    assert len(api.requests) == 1


def test_x_should_retry_overrides_the_status_rule(api, client):
    api.on("GET", "/v1/responses/r1", reply(500, b"", {"x-should-retry": "false"}))
    with pytest.raises(openai_bg.InternalServerError):
        client.poll_response("r1")
    assert len(api.requests) == 1
    api.on("GET", "/v1/responses/r2", reply(400, b"", {"x-should-retry": "true"}),
           reply(200, body(rid="r2")))
    client.poll_response("r2")
    assert len(api.requests) == 3


@pytest.mark.parametrize("headers,delay", [
    ({"retry-after-ms": "250"}, 0.25), ({"retry-after": "3"}, 3.0),
    ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
    ({"retry-after": "60"}, 60.0)])
def test_server_retry_hints_are_honoured(api, client, headers, delay):
    api.on("GET", "/v1/responses/r1", reply(429, b"", headers), reply(200, body(rid="r1")))
    client.poll_response("r1")
    assert client._sleep == [delay]


def test_retry_after_http_date(api, client):
    from email.utils import formatdate
    when = formatdate(time.time() + 5, usegmt=True)
    api.on("GET", "/v1/responses/r1", reply(503, b"", {"retry-after": when}),
           reply(200, body(rid="r1")))
    client.poll_response("r1")
    (delay,) = client._sleep
    assert 3.0 <= delay <= 5.0


@pytest.mark.parametrize("headers", [{"retry-after": "61"}, {"retry-after-ms": "60001"},
                                     {"retry-after": "3600"}])
def test_long_server_hints_mean_do_not_retry(api, client, headers):
    api.on("GET", "/v1/responses/r1", reply(429, b"", headers), reply(200, body(rid="r1")))
    with pytest.raises(openai_bg.RateLimitError):
        client.poll_response("r1")
    assert len(api.requests) == 1
    assert client._sleep == []


@pytest.mark.parametrize("value", ["soon", "", "nan", "-5"])
def test_garbage_retry_hints_fall_back_to_backoff(api, client, value):
    api.on("GET", "/v1/responses/r1", reply(429, b"", {"retry-after": value}),
           reply(200, body(rid="r1")))
    client.poll_response("r1")
    assert 0.375 <= client._sleep[0] <= 0.5


def test_retries_are_logged_at_debug(api, client, caplog):
    api.on("GET", "/v1/responses/r1", reply(503, b""), reply(200, body(rid="r1")))
    with caplog.at_level(logging.DEBUG, logger="openai_bg"):
        client.poll_response("r1")
    (record,) = [r for r in caplog.records if "retrying" in r.getMessage()]
    message = record.getMessage()
    for part in ("GET", "/responses/r1", "HTTP 503", "retry 1 of 2"):
        assert part in message
    assert KEY not in caplog.text


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_create_is_not_retried_on_ambiguous_5xx(api, client, status):
    api.on("POST", "/v1/responses", reply(status, b"gateway"),
           reply(200, body("queued")))
    with pytest.raises(openai_bg.InternalServerError) as info:
        client.create_response(model="m", input="q")
    assert info.value.may_have_been_created is True
    assert "may have been created" in str(info.value)
    assert len(api.requests) == 1


def test_create_is_retried_on_429(api, client):
    api.on("POST", "/v1/responses", reply(429, b"", {"retry-after-ms": "10"}),
           reply(200, body("queued", rid="r7")))
    assert client.create_response(model="m", input="q").response_id == "r7"
    assert len(api.requests) == 2


def test_create_is_retried_when_the_server_says_so(api, client):
    api.on("POST", "/v1/responses", reply(500, b"", {"x-should-retry": "true"}),
           reply(200, body("queued", rid="r7")))
    client.create_response(model="m", input="q")
    assert len(api.requests) == 2


@pytest.mark.parametrize("payload", ["<html>proxy</html>", {"status": "queued"}])
def test_create_with_unusable_answer_may_have_created(api, client, payload):
    api.on("POST", "/v1/responses", reply(200, payload))
    with pytest.raises(APIResponseDecodeError) as info:
        client.create_response(model="m", input="q")
    assert info.value.may_have_been_created is True
    assert "may have been created" in str(info.value)
    assert len(api.requests) == 1


def test_create_400_is_a_clean_rejection(api, client):
    api.on("POST", "/v1/responses", reply(400, {"error": {"message": "bad model"}}))
    with pytest.raises(openai_bg.BadRequestError) as info:
        client.create_response(model="m", input="q")
    assert info.value.may_have_been_created is False
    assert len(api.requests) == 1


def test_create_retried_when_connection_refused(closed_port):
    c = make_client("http://127.0.0.1:%d" % closed_port)
    with pytest.raises(APIConnectionError) as info:
        c.create_response(model="m", input="q")
    assert len(c._sleep) == 2  # nothing was sent, so retrying is safe
    assert info.value.may_have_been_created is False


def test_create_not_retried_after_reset_once_sent(raw_server):
    server = raw_server(reset)
    c = make_client(server.url)
    with pytest.raises(APIConnectionError) as info:
        c.create_response(model="m", input="q")
    assert info.value.may_have_been_created is True
    assert "may have been created" in str(info.value)
    assert server.connections == 1
    assert c._sleep == []


def test_create_not_retried_after_timeout_once_sent(raw_server):
    server = raw_server(lambda conn: time.sleep(3))
    c = make_client(server.url, timeout=0.5)
    with pytest.raises(APITimeoutError) as info:
        c.create_response(model="m", input="q")
    assert info.value.may_have_been_created is True
    assert server.connections == 1


def test_poll_retries_timeouts(raw_server):
    server = raw_server(lambda conn: time.sleep(2))
    c = make_client(server.url, timeout=0.3)
    with pytest.raises(APITimeoutError):
        c.poll_response("r1")
    assert server.connections == 3
    assert len(c._sleep) == 2


def test_poll_retries_resets(raw_server):
    server = raw_server(reset)
    c = make_client(server.url)
    with pytest.raises(APIConnectionError):
        c.poll_response("r1")
    assert server.connections == 3


###############################################################################
# Deadlines, sizes and broken HTTP
###############################################################################

def trickle(headers, body_bytes, pause):
    def behaviour(conn):
        conn.sendall(headers)
        for i in range(len(body_bytes)):
            conn.sendall(body_bytes[i:i + 1])
            time.sleep(pause)
    return behaviour


def test_trickling_body_is_bounded_by_timeout(raw_server):
    data = json.dumps(body()).encode()
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data)
    server = raw_server(trickle(head, data, 0.05))
    c = Client(api_key=KEY, base_url=server.url, timeout=1.0, max_retries=0)
    with pytest.raises(APITimeoutError):
        c.poll_response("r1")
    # Each byte arrives well within the timeout, and the whole body would
    # arrive (after len(data) * 0.05 s, over 15 s): only a total deadline
    # makes this a timeout rather than a success.


def test_trickling_headers_are_bounded_by_timeout(raw_server):
    server = raw_server(trickle(b"", b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 400, 0.05))
    c = Client(api_key=KEY, base_url=server.url, timeout=1.0, max_retries=0)
    with pytest.raises(APITimeoutError):
        c.poll_response("r1")
    # (400 header bytes at 0.05 s each would arrive after 20 s: only a total
    # deadline makes this a timeout.)


def test_body_size_limit_declared(api):
    c = Client(api_key=KEY, base_url=api.url, max_response_bytes=1000, max_retries=0)
    api.on("GET", "/responses/r1", reply(200, body(output=[message("x" * 5000)])))
    with pytest.raises(openai_bg.ResponseTooLargeError) as info:
        c.poll_response("r1")
    assert info.value.limit == 1000
    assert "1000" in str(info.value)


def test_body_size_limit_without_content_length(raw_server):
    data = json.dumps(body(output=[message("x" * 5000)])).encode()
    server = raw_server(lambda conn: conn.sendall(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + data))
    c = make_client(server.url, max_response_bytes=1000)
    with pytest.raises(openai_bg.ResponseTooLargeError):
        c.poll_response("r1")
    assert server.connections == 1  # a body too big stays too big


def test_body_size_limit_with_lying_chunked_answer(raw_server):
    # Content-Length says 10, but the body is chunked (which wins) and huge.
    chunk = b"x" * 4000
    answer = (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n"
              + (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 5 + b"0\r\n\r\n")
    server = raw_server(lambda conn: conn.sendall(answer))
    c = Client(api_key=KEY, base_url=server.url, max_response_bytes=1000, max_retries=0)
    with pytest.raises(openai_bg.ResponseTooLargeError):
        c.poll_response("r1")


def test_default_body_limit_is_generous():
    assert Client(api_key=KEY).max_response_bytes >= 64 * 1024 * 1024


@pytest.mark.parametrize("name,behaviour", [
    ("truncated", lambda conn: conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"id\": \"r1\"")),
    ("reset mid-headers", lambda conn: (conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Le"),
                                        time.sleep(0.05), reset(conn))),
    ("reset mid-body", lambda conn: (conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"id\""), time.sleep(0.05),
        reset(conn))),
    ("closed before answering", lambda conn: None),
    ("not HTTP", lambda conn: conn.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")),
    ("bad chunking", lambda conn: conn.sendall(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n"))])
def test_broken_http_answers_raise_connection_errors(name, behaviour, raw_server):
    server = raw_server(behaviour)
    c = make_client(server.url)
    with pytest.raises(APIConnectionError) as info:
        c.poll_response("r1")
    assert not isinstance(info.value, APITimeoutError)
    assert server.connections == 3  # each is worth retrying for a poll


###############################################################################
# Secrets
###############################################################################

def test_the_key_never_appears_in_errors_or_logs(api, caplog, closed_port):
    azure = "azure-key-value-123456"
    c = make_client(api.url, max_retries=1, default_headers={"api-key": azure},
                    default_query={"token": "query-token-98765"})
    echo = {"error": {"message": "Incorrect API key provided: %s (%s)" % (KEY, azure),
                      "type": "invalid_request_error", "code": "invalid_api_key"}}
    api.on("GET", "/responses/r1", reply(401, echo))
    api.on("GET", "/responses/r2", reply(500, "internal: " + KEY))
    api.on("GET", "/responses/r3", reply(200, "<html>%s</html>" % KEY))
    api.on("POST", "/responses", reply(502, "bad " + KEY))
    errors = []
    with caplog.at_level(logging.DEBUG, logger="openai_bg"):
        for call in (lambda: c.poll_response("r1"), lambda: c.poll_response("r2"),
                     lambda: c.poll_response("r3"),
                     lambda: c.create_response(model="m", input="q"),
                     lambda: Client(api_key=KEY, base_url="http://127.0.0.1:%d" % closed_port,
                                    max_retries=0).poll_response("r4")):
            with pytest.raises(OpenAIError) as info:
                call()
            errors.append(info.value)
    assert "[redacted]" in str(errors[0])
    for exc in errors:
        for text in (str(exc), repr(exc), repr(exc.args), repr(getattr(exc, "body", ""))):
            assert KEY not in text
            assert azure not in text
            assert "query-token-98765" not in text
    assert caplog.records
    assert KEY not in caplog.text
    assert azure not in caplog.text
    assert KEY not in repr(c)
    assert azure not in repr(c)


###############################################################################
# TLS and proxies
###############################################################################

@pytest.fixture
def tls_files(tmp_path):
    paths = {}
    for name, text in (("ca.pem", TEST_CA_PEM), ("leaf.pem", TEST_LEAF_PEM),
                       ("leaf.key", TEST_LEAF_KEY)):
        path = tmp_path / name
        path.write_text(text)
        paths[name] = str(path)
    return paths


@pytest.fixture
def tls_api(tls_files):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files["leaf.pem"], tls_files["leaf.key"])
    server = FakeAPI(tls_context=context)
    server.on("GET", "/v1/responses/r1", reply(200, body(rid="r1")))
    yield server
    server.close()


def test_tls_with_callers_context(tls_api, tls_files):
    context = ssl.create_default_context(cafile=tls_files["ca.pem"])
    c = Client(api_key=KEY, base_url=tls_api.url + "/v1", ssl_context=context)
    assert c.poll_response("r1").status == "completed"
    assert tls_api.requests[0].headers["authorization"] == "Bearer " + KEY


def test_tls_is_verified_by_default(tls_api, monkeypatch, tmp_path):
    empty = tmp_path / "empty-dir"
    empty.mkdir()
    monkeypatch.setenv("SSL_CERT_DIR", str(empty))
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    c = make_client(tls_api.url + "/v1")
    with pytest.raises(APIConnectionError) as info:
        c.poll_response("r1")
    assert "CERTIFICATE" in str(info.value).upper()
    assert tls_api.requests == []
    assert c._sleep == []  # not retried


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"])
def test_ca_bundle_variables(tls_api, tls_files, monkeypatch, variable):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv(variable, tls_files["ca.pem"])
    c = Client(api_key=KEY, base_url=tls_api.url + "/v1")
    assert c.poll_response("r1").status == "completed"


def test_missing_ca_bundle_file_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "nope.pem"))
    with pytest.raises(ValueError, match="REQUESTS_CA_BUNDLE"):
        Client(api_key=KEY)


def test_http_proxy_and_no_proxy(api, monkeypatch):
    proxy = FakeAPI()
    try:
        target = api.url + "/v1/responses/r1"
        proxy.on("GET", target, reply(200, body(rid="r1", service_tier="via-proxy")))
        api.on("GET", "/v1/responses/r1", reply(200, body(rid="r1")))
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("http_proxy", proxy.url)
        r = Client(api_key=KEY, base_url=api.url + "/v1").poll_response("r1")
        assert r.provider_metadata["openai"]["service_tier"] == "via-proxy"
        assert proxy.paths() == [target]
        assert api.requests == []
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        Client(api_key=KEY, base_url=api.url + "/v1").poll_response("r1")
        assert len(proxy.requests) == 1
        assert len(api.requests) == 1
    finally:
        proxy.close()


class TunnelProxy:
    """An HTTPS proxy: answers CONNECT and relays bytes, recording targets."""

    def __init__(self, refuse=None):
        self.connects = []
        self.connect_headers = []
        self.seen = bytearray()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_CONNECT(self):
                host, port = self.path.rsplit(":", 1)
                proxy.connects.append(self.path)
                proxy.connect_headers.append({k.lower(): v for k, v in self.headers.items()})
                if refuse:
                    self.send_response(refuse)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                upstream = socket.create_connection((host, int(port)))
                self.send_response(200, "Connection established")
                self.end_headers()
                self.wfile.flush()
                import selectors
                sel = selectors.DefaultSelector()
                sel.register(self.connection, selectors.EVENT_READ, upstream)
                sel.register(upstream, selectors.EVENT_READ, self.connection)
                open_ends = 2
                while open_ends:
                    for key, _ in sel.select(5):
                        data = key.fileobj.recv(65536)
                        if not data:
                            sel.unregister(key.fileobj)
                            open_ends -= 1
                            continue
                        proxy.seen.extend(data)
                        key.data.sendall(data)
                upstream.close()

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_https_proxy_tunnels_and_never_sees_the_key(tls_api, tls_files, monkeypatch):
    proxy = TunnelProxy()
    try:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("https_proxy", proxy.url)
        context = ssl.create_default_context(cafile=tls_files["ca.pem"])
        c = Client(api_key=KEY, base_url=tls_api.url + "/v1", ssl_context=context)
        assert c.poll_response("r1").status == "completed"
        assert proxy.connects == ["127.0.0.1:%d" % tls_api.port]
        assert KEY.encode() not in bytes(proxy.seen)  # end-to-end encrypted
        assert tls_api.requests[0].headers["authorization"] == "Bearer " + KEY
    finally:
        proxy.close()


###############################################################################
# Threads
###############################################################################

def poll_from_threads(server, client, threads=32, polls=20):
    """``threads`` threads each poll ``polls`` distinct ids on one client;
    returns what went wrong (a wrong answer, an exception)."""
    def answer(rec):
        rid = rec.path.rsplit("/", 1)[1]
        return reply(200, body(rid=rid, output=[message("text of " + rid)]))
    server.fallback = answer
    failures = []

    def worker(n):
        try:
            for i in range(polls):
                rid = "resp_%d_%d" % (n, i)
                r = client.poll_response(rid)
                if r.response_id != rid or r.text != "text of " + rid:
                    failures.append((rid, r.response_id, r.text))
        except Exception as exc:  # pragma: no cover - reported by the caller
            failures.append(repr(exc))

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(120)
    return failures


def test_one_client_many_threads(api, client):
    assert poll_from_threads(api, client) == []
    assert len(api.requests) == 32 * 20


###############################################################################
# Property test: the converter never fails in an undocumented way
###############################################################################


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(
        ["id", "type", "status", "output", "text", "content", "usage", "summary",
         "annotations", "error", "start_index", "end_index", "url", "arguments",
         "input_tokens", "total_tokens", "refusal", "tools", "name", "x"]),
        children, max_size=6),
    max_leaves=25)


def mutate(data, value, draw):
    """Replace one randomly chosen node of ``data`` with ``value``."""
    node = data
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return data
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, (dict, list)) and child and draw(st.booleans()):
            node = child
            continue
        node[key] = value
        return data


def check_converter(data):
    try:
        r = openai_bg._response_from_json(data, "resp_x")
    except APIResponseDecodeError:
        return
    assert isinstance(r, LlmResponse)
    assert isinstance(r.text, str)
    assert isinstance(r.done, bool)
    json.dumps(r.to_dict())


texts = st.text(max_size=12)
annotations = st.fixed_dictionaries({
    "type": st.sampled_from(["url_citation", "file_citation"]),
    "start_index": st.integers(0, 40) | st.none(), "end_index": st.integers(0, 40) | st.none(),
    "url": texts | st.none(), "title": texts})
content_entries = st.one_of(
    st.fixed_dictionaries({"type": st.just("output_text"), "text": texts,
                           "annotations": st.lists(annotations, max_size=3)}),
    st.fixed_dictionaries({"type": st.just("refusal"), "refusal": texts}), json_values)
output_items = st.one_of(
    st.fixed_dictionaries({"type": st.just("message"), "role": st.just("assistant"),
                           "content": st.lists(content_entries, max_size=3)},
                          optional={"phase": texts}),
    st.fixed_dictionaries({"type": st.just("reasoning"), "summary": st.lists(
        st.fixed_dictionaries({"type": st.just("summary_text"), "text": texts}), max_size=3)},
        optional={"encrypted_content": texts}),
    st.fixed_dictionaries({"type": st.just("function_call"), "name": texts, "call_id": texts,
                           "arguments": texts | json_values.map(json.dumps)}),
    st.fixed_dictionaries({"type": st.sampled_from(sorted(openai_bg._BUILT_IN_TOOL_TYPES) + [
        "custom_tool_call", "x_output", "new_item_type"]), "id": texts},
        optional={"tools": st.lists(st.fixed_dictionaries({"name": texts}), max_size=2)}),
    json_values)
counts = st.integers(-3, 10 ** 6) | json_values
response_bodies = st.fixed_dictionaries(
    {"id": texts, "object": st.just("response"),
     "status": st.sampled_from(["queued", "in_progress", "completed", "incomplete", "failed",
                                "cancelled", "new_status"]),
     "output": st.lists(output_items, max_size=6)},
    optional={"usage": st.fixed_dictionaries({}, optional={
        "input_tokens": counts, "output_tokens": counts, "total_tokens": counts,
        "output_tokens_details": st.fixed_dictionaries({}, optional={
            "reasoning_tokens": counts})}) | json_values,
        "error": st.fixed_dictionaries({}, optional={"code": texts, "message": texts}),
        "incomplete_details": st.fixed_dictionaries({}, optional={"reason": st.sampled_from(
            ["max_output_tokens", "content_filter", "other"])}),
        "service_tier": texts | json_values})


def expected_text(data):
    """The answer text, worked out independently of the converter."""
    if data["status"] in ("queued", "in_progress"):
        return ""
    return "".join(entry["text"] for item in data["output"]
                   if isinstance(item, dict) and item.get("type") == "message"
                   and isinstance(item.get("content"), list)
                   for entry in item["content"]
                   if isinstance(entry, dict) and entry.get("type") == "output_text"
                   and isinstance(entry.get("text"), str))


@settings(max_examples=150, deadline=None)
@given(response_bodies)
def test_converter_on_response_shaped_bodies(data):
    r = openai_bg._response_from_json(copy.deepcopy(data), "resp_x")
    assert r.status == data["status"]
    assert r.done == (data["status"] not in ("queued", "in_progress"))
    assert r.text == expected_text(data)
    assert r.raw == data
    for source in r.citations:
        assert source.start_index is None or 0 <= source.start_index <= len(r.text) + 40
    json.dumps(r.to_dict(), allow_nan=False)
    if r.done:
        kinds = [item.get("type") for item in data["output"] if isinstance(item, dict)]
        assert len(r.provider_metadata["openai"].get("built_in_tool_outputs", [])) == sum(
            isinstance(kind, str) and kind in openai_bg._BUILT_IN_TOOL_TYPES for kind in kinds)


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_converter_accepts_arbitrary_json(data):
    check_converter(data)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(SPEC_EXAMPLES) + ["deep"]), json_values, st.data())
def test_converter_accepts_mutated_real_bodies(name, value, data):
    base = DEEP_RESEARCH if name == "deep" else SPEC_EXAMPLES[name]
    for _ in range(data.draw(st.integers(1, 4))):
        mutated = mutate(copy.deepcopy(base), value, data.draw)
        check_converter(mutated)


###############################################################################
# wait_response
###############################################################################

class FakeClock:
    """A simulated monotonic clock: sleeping advances it instantly."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(client):
    fake = FakeClock()
    client._clock = fake
    client._sleep = fake.sleep
    return fake


def test_wait_returns_after_n_polls(api, client, clock):
    api.on("GET", "/v1/responses/r1", reply(200, body("queued", rid="r1")),
           reply(200, body("in_progress", rid="r1")), reply(200, body("in_progress", rid="r1")),
           reply(200, body("completed", rid="r1", output=[message("answer")])))
    seen = []
    r = client.wait_response("r1", on_update=seen.append)
    assert r.text == "answer"
    assert r.status == "completed"
    assert [s.status for s in seen] == ["queued", "in_progress", "in_progress", "completed"]
    assert len(api.requests) == 4
    assert len(clock.sleeps) == 3


@pytest.mark.parametrize("status", ["failed", "cancelled", "incomplete", "new_status"])
def test_wait_returns_on_any_final_status(api, client, clock, status):
    api.on("GET", "/v1/responses/r1", reply(200, body("in_progress", rid="r1")),
           reply(200, body(status, rid="r1")))
    assert client.wait_response("r1").status == status


def test_wait_timeout_without_cancel(api, client, clock):
    api.on("GET", "/v1/responses/r1", reply(200, body("in_progress", rid="r1")))
    with pytest.raises(openai_bg.WaitTimeoutError) as info:
        client.wait_response("r1", timeout=30)
    exc = info.value
    assert isinstance(exc, TimeoutError)
    assert isinstance(exc, OpenAIError)
    assert exc.response.status == "in_progress"
    assert exc.response_id == "r1"
    assert exc.cancelled is False
    assert 30 <= exc.elapsed <= 31
    assert api.paths("POST") == []


def test_wait_timeout_with_cancel(api, client, clock):
    api.on("GET", "/v1/responses/r1", reply(200, body("in_progress", rid="r1")))
    api.on("POST", "/v1/responses/r1/cancel", reply(200, body("cancelled", rid="r1")))
    with pytest.raises(openai_bg.WaitTimeoutError) as info:
        client.wait_response("r1", timeout=5, cancel_on_timeout=True)
    assert info.value.cancelled is True
    assert info.value.response.status == "cancelled"
    assert api.paths("POST") == ["/v1/responses/r1/cancel"]


def test_library_is_silent_by_default(api):
    # In a plain script (no logging configured, no OPENAI_LOG), a warning must
    # not reach stderr through Python's last-resort handler.
    api.on("GET", "/v1/responses/r1", reply(503, b""), reply(200, body(rid="other")))
    script = ("import openai_bg\n"
              "c = openai_bg.Client(api_key='k', base_url=%r, max_retries=0)\n"
              "c._sleep = lambda s: None\n"
              "print(c.wait_response('r1').status)\n" % (api.url + "/v1"))
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_LOG"}
    done = subprocess.run([sys.executable, "-c", script], cwd=HERE, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.stdout == "completed\n"
    assert done.stderr == ""
    assert len(api.requests) == 2  # the 503 and the mismatched id did happen


def test_cli_shows_warnings(api):
    api.on("GET", "/v1/responses/r1", reply(503, b""), reply(200, body(rid="r1")))
    done = cli(api, "wait", "r1", "--max-retries", "0", "--interval", "0.05",
               env={"OPENAI_LOG": ""})
    assert done.returncode == 0
    assert "openai-bg: polling r1 failed (HTTP 503" in done.stderr
    assert "-> HTTP" not in done.stderr


def test_wait_survives_transient_errors(api, client, clock):
    api.on("GET", "/v1/responses/r1", reply(200, body("in_progress", rid="r1")),
           *([reply(503, b"down")] * 3), *([reply(429, b"slow")] * 3),
           reply(200, body("completed", rid="r1", output=[message("ok")])))
    assert client.wait_response("r1").text == "ok"
    assert len(api.requests) == 8


def test_wait_fails_fast_when_no_server_ever_answered(client, clock, closed_port):
    client.base_url = "http://127.0.0.1:%d" % closed_port
    with pytest.raises(APIConnectionError) as info:
        client.wait_response("r1", timeout=20)
    assert info.value.response_id == "r1"
    assert "OPENAI_BASE_URL" in str(info.value)
    assert len(clock.sleeps) == client.max_retries  # the first poll's own retries only


def test_wait_survives_network_errors_once_a_poll_succeeded(client, clock):
    server = FakeAPI()
    server.on("GET", "/v1/responses/r1", reply(200, body("in_progress", rid="r1")))
    client.base_url = server.url + "/v1"
    seen = []

    def on_update(response):
        seen.append(response.status)
        server.close()  # the server goes away after the first poll
    with pytest.raises(openai_bg.WaitTimeoutError) as info:
        client.wait_response("r1", timeout=20, on_update=on_update)
    assert seen == ["in_progress"]
    assert info.value.response.status == "in_progress"
    assert info.value.status == "in_progress"


@pytest.mark.parametrize("status,cls", [(401, openai_bg.AuthenticationError),
                                        (403, openai_bg.PermissionDeniedError),
                                        (404, openai_bg.NotFoundError)])
def test_wait_raises_permanent_errors_at_once(api, client, clock, status, cls):
    api.on("GET", "/v1/responses/r1", reply(200, body("in_progress", rid="r1")),
           reply(status, {"error": {"message": "nope"}}))
    with pytest.raises(cls) as info:
        client.wait_response("r1")
    assert info.value.response_id == "r1"
    assert len(api.requests) == 2
    assert "10 minutes" not in str(info.value)


def test_wait_404_after_ten_minutes_mentions_expiry(api, client, clock):
    def answer(rec):
        if clock.now < 700:
            return reply(200, body("in_progress", rid="r1"))
        return reply(404, {"error": {"message": "Response with id 'r1' not found."}})
    api.on("GET", "/v1/responses/r1", answer)
    with pytest.raises(openai_bg.NotFoundError) as info:
        client.wait_response("r1")
    assert "store=false" in str(info.value)
    assert "10 minutes" in str(info.value)


def test_wait_fixed_interval_and_server_hint(api, client, clock):
    api.on("GET", "/v1/responses/r1", reply(200, body("in_progress", rid="r1")),
           reply(200, body("in_progress", rid="r1"), {"openai-poll-after-ms": "2500"}),
           reply(200, body("in_progress", rid="r1"), {"openai-poll-after-ms": "0"}),
           reply(200, body("in_progress", rid="r1"), {"openai-poll-after-ms": "9e9"}),
           reply(200, body("in_progress", rid="r1"), {"openai-poll-after-ms": "nan"}),
           reply(200, body("in_progress", rid="r1"), {"openai-poll-after-ms": "soon"}),
           reply(200, body("completed", rid="r1")))
    client.wait_response("r1", poll_interval=7)
    assert clock.sleeps == [7, 2.5, 0.1, 30, 7, 7]


@pytest.mark.parametrize("duration", [10, 60, 600, 1800])
def test_adaptive_schedule(api, client, clock, duration):
    def answer(rec):
        status = "completed" if clock.now >= duration else "in_progress"
        return reply(200, body(status, rid="r1"))
    api.on("GET", "/v1/responses/r1", answer)
    client.wait_response("r1")
    polls = len(api.requests)
    delay = clock.now - duration
    print("job of %5d s: %3d polls, detected %.2f s late" % (duration, polls, delay))
    assert delay <= max(1.0, 0.1 * duration) + 1e-9
    assert delay <= 30
    assert polls <= 100
    if duration == 1800:
        assert polls < 1800 / 15  # a fixed 1 s poll would make 1,800


def test_wait_argument_checks(api, client):
    with pytest.raises(ValueError):
        client.wait_response("r1", timeout=0)
    with pytest.raises(ValueError):
        client.wait_response("r1", poll_interval=-1)
    with pytest.raises(TypeError):
        client.wait_response("r1", timeout="10")
    with pytest.raises(TypeError):
        client.wait_response("r1", on_update="print")
    assert api.requests == []


def test_wait_propagates_keyboard_interrupt(api, client, clock):
    api.on("GET", "/v1/responses/r1", reply(200, body("in_progress", rid="r1")))

    def interrupt(seconds):
        raise KeyboardInterrupt
    client._sleep = interrupt
    with pytest.raises(KeyboardInterrupt):
        client.wait_response("r1")
    assert api.paths("POST") == []


def test_create_and_wait_cancels_on_interrupt(api, client, clock):
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    api.on("GET", "/v1/responses/r1", reply(200, body("in_progress", rid="r1")))
    api.on("POST", "/v1/responses/r1/cancel", reply(200, body("cancelled", rid="r1")))

    def interrupt(seconds):
        raise KeyboardInterrupt
    client._sleep = interrupt
    with pytest.raises(KeyboardInterrupt):
        client.create_and_wait(model="m", input="q")
    assert api.paths("POST") == ["/v1/responses", "/v1/responses/r1/cancel"]


def test_create_and_wait_errors_carry_the_id(api, client, clock):
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    api.on("GET", "/v1/responses/r1", reply(403, {"error": {"message": "no"}}))
    with pytest.raises(openai_bg.PermissionDeniedError) as info:
        client.create_and_wait(model="m", input="q")
    assert info.value.response_id == "r1"
    api.on("GET", "/v1/responses/r1", reply(200, body("in_progress", rid="r1")))
    with pytest.raises(openai_bg.WaitTimeoutError) as info:
        client.create_and_wait(model="m", input="q", timeout=3)
    assert info.value.response_id == "r1"


def test_create_and_wait_returns_final_result(api, client, clock):
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    api.on("GET", "/v1/responses/r1", reply(200, body("in_progress", rid="r1")),
           reply(200, body("completed", rid="r1", output=[message("done")])))
    seen = []
    r = client.create_and_wait(model="m", input="q", on_update=seen.append)
    assert r.text == "done"
    assert ([s.status for s in seen] == ["queued", "in_progress",
                                                              "completed"])


###############################################################################
# Command line (the real command, in a subprocess)
###############################################################################

class Ran:
    """What a command did: its exit code and what it wrote."""

    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def cli(api, *args, stdin=None, env=None, prefix=None):
    """``openai-bg ARGS`` in this process through ``main(argv)`` (with
    ``prefix``, the real command in a subprocess): the environment has only
    the key and the server's URL (plus ``env``), stdin is ``stdin`` or empty,
    stdout and stderr are UTF-8 byte streams as a pipe would give."""
    environment = {k: v for k, v in os.environ.items()
                   if not k.upper().startswith("OPENAI_") and not k.upper().endswith("_PROXY")}
    environment.update(OPENAI_API_KEY=KEY, OPENAI_BASE_URL=api.url + "/v1")
    environment.update(env or {})
    if prefix is not None:
        done = subprocess.run([sys.executable, *prefix, *args], cwd=HERE, input=stdin,
                              capture_output=True, text=True, env=environment, timeout=60)
    else:
        done = _cli_in_process(args, stdin, environment)
    assert KEY not in done.stdout
    assert KEY not in done.stderr
    assert "Traceback" not in done.stderr
    return done


def _cli_in_process(args, stdin, environment):
    streams = [io.TextIOWrapper(io.BytesIO((stdin or "").encode()), encoding="utf-8"),
               io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="\n"),
               io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="\n")]
    saved_env, saved_streams = dict(os.environ), (sys.stdin, sys.stdout, sys.stderr)
    os.environ.clear()
    os.environ.update(environment)
    sys.stdin, sys.stdout, sys.stderr = streams
    try:
        code = openai_bg.main(list(args))
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.environ.clear()
        os.environ.update(saved_env)
    for stream in streams[1:]:
        stream.flush() if not stream.closed else None
    out, err = (s.buffer.getvalue().decode() if not s.closed else "" for s in streams[1:])
    for stream in streams:
        stream.detach() if not stream.closed else None
    return Ran(code, out, err)


def test_cli_create_prints_the_id(api):
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="resp_new")))
    done = cli(api, "create", "--model", "o3-deep-research", "--tool", "web_search_preview",
               "--instructions", "Be brief.", "--param", "max_tool_calls=5",
               "--param", "service_tier=flex", "--param", 'reasoning={"summary": "auto"}',
               "What is new?")
    assert done.returncode == 0
    assert done.stdout == "resp_new\n"
    assert api.requests[0].json() == {
        "model": "o3-deep-research", "input": "What is new?", "instructions": "Be brief.",
        "tools": [{"type": "web_search_preview"}], "max_tool_calls": 5,
        "service_tier": "flex", "reasoning": {"summary": "auto"},
        "background": True, "store": True}


def test_cli_create_reads_stdin_and_module_entry_point(api):
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="resp_new")))
    done = cli(api, "create", "--model", "m", "-", stdin="from stdin\n",
               prefix=("-m", "openai_bg"))
    assert done.returncode == 0
    assert done.stdout.strip() == "resp_new"
    assert api.requests[0].json()["input"] == "from stdin\n"


def test_cli_poll(api):
    api.on("GET", "/v1/responses/r1", reply(200, DEEP_RESEARCH))
    done = cli(api, "poll", "r1")
    assert done.returncode == 0
    assert done.stdout.startswith(FIRST + SECOND + "\n")
    assert "1. Fusion report\n   https://example.org/fusion" in done.stdout
    assert "2. ITER news\n   https://example.org/iter" in done.stdout
    api.on("GET", "/v1/responses/r2", reply(200, body("in_progress", rid="r2")))
    done = cli(api, "poll", "r2")
    assert done.returncode == 6
    assert done.stdout == ""
    assert "in_progress" in done.stderr


def test_cli_json_output(api):
    api.on("GET", "/v1/responses/r1", reply(200, DEEP_RESEARCH))
    done = cli(api, "--json", "poll", "r1")
    out = json.loads(done.stdout)
    assert out["response"] == openai_bg._response_from_json(
        copy.deepcopy(DEEP_RESEARCH), "r1").to_dict()
    assert out["raw"] == DEEP_RESEARCH
    done_after = cli(api, "poll", "r1", "--json")  # global options go either side
    assert json.loads(done_after.stdout) == out


def test_cli_wait_progress_and_exit_codes(api):
    api.on("GET", "/v1/responses/r1", reply(200, body("queued", rid="r1")),
           reply(200, body("in_progress", rid="r1")), reply(200, body("in_progress", rid="r1")),
           reply(200, body("completed", rid="r1", output=[message("final answer")])))
    done = cli(api, "wait", "r1", "--interval", "0.05")
    assert done.returncode == 0
    assert done.stdout == "final answer\n"
    progress = [line for line in done.stderr.splitlines() if line.startswith("r1: ")]
    assert [line.split(",")[0] for line in progress] == [
        "r1: queued", "r1: in_progress", "r1: completed"]
    assert progress[-1].endswith("4 polls")


@pytest.mark.parametrize("status,code", [("failed", 1), ("cancelled", 1), ("incomplete", 1)])
def test_cli_wait_unsuccessful_endings(api, status, code):
    api.on("GET", "/v1/responses/r1", reply(200, body(status, rid="r1", error={
        "code": "server_error", "message": "it broke"} if status == "failed" else None)))
    done = cli(api, "wait", "r1")
    assert done.returncode == code
    assert status in done.stderr
    if status == "failed":
        assert "it broke" in done.stderr


def test_cli_wait_timeout_and_cancel(api):
    api.on("GET", "/v1/responses/r1", reply(200, body("in_progress", rid="r1")))
    api.on("POST", "/v1/responses/r1/cancel", reply(200, body("cancelled", rid="r1")))
    done = cli(api, "wait", "r1", "--timeout", "0.3", "--interval", "0.1")
    assert done.returncode == 5
    assert "still in_progress" in done.stderr
    assert api.paths("POST") == []
    done = cli(api, "wait", "r1", "--timeout", "0.3", "--interval", "0.1",
               "--cancel-on-timeout")
    assert done.returncode == 5
    assert api.paths("POST") == ["/v1/responses/r1/cancel"]


def test_cli_cancel(api):
    api.on("POST", "/v1/responses/r1/cancel", reply(200, body("cancelled", rid="r1")))
    api.on("POST", "/v1/responses/r2/cancel", reply(200, body("completed", rid="r2")))
    assert cli(api, "cancel", "r1").returncode == 0
    done = cli(api, "cancel", "r2")
    assert done.returncode == 1
    assert "completed" in done.stderr


def test_cli_run(api):
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    api.on("GET", "/v1/responses/r1", reply(200, body("completed", rid="r1",
                                                      output=[message("ran")])))
    done = cli(api, "run", "--model", "m", "--interval", "0.05", "question")
    assert done.returncode == 0
    assert done.stdout == "ran\n"
    assert "created r1" in done.stderr


@pytest.mark.parametrize("status,code,words", [
    (401, 3, "HTTP 401"), (404, 3, "not found"), (500, 3, "HTTP 500")])
def test_cli_api_errors(api, status, code, words):
    api.on("GET", "/v1/responses/r1", reply(status, {"error": {
        "message": "Response with id 'r1' not found."}}, {"x-request-id": "req_42"}))
    done = cli(api, "poll", "r1", "--max-retries", "0")
    assert done.returncode == code
    (line,) = done.stderr.strip().splitlines()[-1:]
    assert words in line
    assert "req_42" in line


def test_cli_network_error(api, closed_port):
    done = cli(api, "poll", "r1", "--max-retries", "0", "--base-url",
               "http://127.0.0.1:%d/v1" % closed_port)
    assert done.returncode == 4
    assert "network error" in done.stderr


@pytest.mark.parametrize("args", [[], ["poll"], ["create", "q"], ["bogus"],
                                  ["create", "--model", "m", "--param", "novalue", "q"],
                                  ["poll", "bad\tid"]])
def test_cli_usage_errors(api, args):
    assert cli(api, *args).returncode == 2
    assert api.requests == []


def test_cli_missing_key(api):
    done = cli(api, "poll", "r1", env={"OPENAI_API_KEY": ""})
    assert done.returncode == 2
    assert "OPENAI_API_KEY" in done.stderr


def test_cli_help_everywhere(api):
    for command in ("create", "poll", "wait", "cancel", "run"):
        done = cli(api, command, "--help")
        assert done.returncode == 0
        assert "example" in done.stdout


def start_cli(api, *args, ignored=()):
    """Start ``openai_bg.py ARGS`` against ``api``.  SIGINT is reset to its
    default in the child: a CI shell may start us with it ignored, a
    terminal user's shell does not; the signals in ``ignored`` are ignored
    from the start, as ``nohup`` does."""
    def child_signals():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        for signum in ignored:
            signal.signal(signum, signal.SIG_IGN)
    environment = dict(os.environ, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=api.url + "/v1")
    return subprocess.Popen(
        [sys.executable, "openai_bg.py", *args], cwd=HERE, env=environment,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=child_signals)


def start_run(api, *extra, ignored=()):
    """Start ``openai_bg.py run`` on a job that never finishes; return once it
    is polling."""
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    api.on("GET", "/v1/responses/r1", reply(200, body("in_progress", rid="r1")))
    api.on("POST", "/v1/responses/r1/cancel", reply(200, body("cancelled", rid="r1")))
    proc = start_cli(api, "run", "--model", "m", "--interval", "0.05", *extra, "q",
                     ignored=ignored)
    deadline = time.monotonic() + 30
    while len(api.paths("GET")) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    return proc


def slow_create(api, stream=False):
    """A create the test answers when it chooses (with the job's first event
    if ``stream``): returns (arrived, release)."""
    arrived, release = threading.Event(), threading.Event()
    created = {"type": "response.created", "sequence_number": 0,
               "response": body("queued", rid="r1")}

    def answer(request):
        arrived.set()
        release.wait(30)
        if stream:
            return reply(200, SSE([sse_event(created)]))
        return reply(200, body("queued", rid="r1"))
    api.on("POST", "/v1/responses", answer)
    api.on("GET", "/v1/responses/r1", reply(200, body("in_progress", rid="r1")))
    api.on("POST", "/v1/responses/r1/cancel", reply(200, body("cancelled", rid="r1")))
    return arrived, release


@pytest.mark.parametrize("command, stream", [(["run"], True), (["run"], False),
                                             (["run", "--no-stream"], False),
                                             (["create"], False)])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_during_the_create_waits_for_the_job_id(api, command, stream, signum):
    # The create is on the wire: stopping now would orphan a paid-for job.
    arrived, release = slow_create(api, stream)
    proc = start_cli(api, *command, "--model", "m", "q")
    try:
        assert arrived.wait(30)
        proc.send_signal(signum)
        time.sleep(0.3)  # handled while the answer is still awaited
    finally:
        release.set()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    if command[0] == "run":
        assert api.paths("POST") == ["/v1/responses", "/v1/responses/r1/cancel"]
        assert "response r1 cancelled" in err
    else:
        assert api.paths("POST") == ["/v1/responses"]
        assert "response r1 was left as it was" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", [["run"], ["create"]])
def test_a_second_interrupt_during_the_create_stops_at_once(api, command):
    arrived, release = slow_create(api)
    proc = start_cli(api, *command, "--model", "m", "q")
    try:
        assert arrived.wait(30)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)  # the create still has no answer
    finally:
        release.set()
    assert proc.returncode == 130
    assert "interrupted" in err
    assert api.paths("POST") == ["/v1/responses"]
    assert "Traceback" not in err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_cli_run_interrupted_cancels_the_job(api, signum):
    proc = start_run(api)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert api.paths("POST")[-1] == "/v1/responses/r1/cancel"
    assert "cancelled" in err
    assert "Traceback" not in err
    assert KEY not in err


def test_cli_run_no_cancel_leaves_the_job(api):
    proc = start_run(api, "--no-cancel")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert api.paths("POST") == ["/v1/responses"]
    assert "still running" in err


def test_progress_is_one_live_line_on_a_terminal():
    class Terminal(list):
        def isatty(self):
            return True

        def write(self, text):
            self.append(text)

        def flush(self):
            pass

    screen = Terminal()
    now = [100.0]
    progress = openai_bg._Progress(screen, lambda: now[0])
    for status, at in (("queued", 100.5), ("in_progress", 103), ("in_progress", 110),
                       ("completed", 125)):
        now[0] = at
        progress.update(convert(body(status, rid="r1")))
    text = "".join(screen)
    assert text.count("\r\033[K") == 4  # every update redraws the same line
    assert text.endswith("r1: completed, 25 s, 4 polls\n")
    assert text.count("\n") == 1


def test_cli_ca_bundle(tls_api, tls_files):
    done = cli(tls_api, "poll", "r1", "--ca-bundle", tls_files["ca.pem"])
    assert done.returncode == 0, done.stderr
    done = cli(tls_api, "poll", "r1", "--max-retries", "0",
               env={"SSL_CERT_FILE": os.devnull, "SSL_CERT_DIR": os.devnull})
    assert done.returncode == 4
    assert "CERTIFICATE" in done.stderr.upper()
    done = cli(tls_api, "poll", "r1", "--ca-bundle", tls_files["ca.pem"] + ".missing")
    assert done.returncode == 2
    assert "--ca-bundle" in done.stderr
    assert len(tls_api.requests) == 1


def test_openai_log_info_reports_status_changes(api):
    api.on("GET", "/v1/responses/r1", reply(200, body("in_progress", rid="r1")),
           reply(200, body("completed", rid="r1")))
    done = cli(api, "wait", "r1", "--interval", "0.05", env={"OPENAI_LOG": "info"},
               prefix=("openai_bg.py",))
    assert done.returncode == 0
    assert "response r1 is in_progress" in done.stderr
    assert "response r1 is completed" in done.stderr
    assert "HTTP 200" not in done.stderr  # request lines are DEBUG only


def test_openai_log_debug_logs_requests_without_the_key(api):
    api.on("GET", "/v1/responses/r1", reply(503, b""), reply(200, body(rid="r1")))
    done = cli(api, "poll", "r1", env={"OPENAI_LOG": "debug"}, prefix=("openai_bg.py",))
    assert done.returncode == 0
    assert "retrying GET /responses/r1" in done.stderr
    assert "GET /responses/r1 -> HTTP 200" in done.stderr


###############################################################################
# Azure OpenAI: its request id header, and tokens that expire
###############################################################################

class AzureLike:
    """A loopback server playing Azure OpenAI: /openai/v1/responses, an
    api-version query, an apim-request-id on every answer, and bearer tokens
    of which only the newest is accepted."""

    def __init__(self, api):
        self.valid = "entra-token-0001"
        self.seen_tokens = []
        api.fallback = self.answer
        self.polls = 0

    def answer(self, rec):
        headers = {"apim-request-id": "apim-%d" % len(self.seen_tokens)}
        token = rec.headers.get("authorization", "")[len("Bearer "):]
        self.seen_tokens.append(token)
        if "api-version=2025-04-01-preview" not in rec.path or \
                not rec.path.startswith("/openai/v1/responses"):
            return reply(404, {"error": {"message": "wrong path %s" % rec.path}}, headers)
        if token != self.valid:
            return reply(401, {"error": {"message": "token %s expired" % token,
                                         "code": "401"}}, headers)
        if rec.method == "POST":
            return reply(200, body("queued", rid="resp_az"), headers)
        self.polls += 1
        if self.polls == 2:  # the token expires during the wait
            self.valid = "entra-token-0002"
        status = "completed" if self.polls >= 4 else "in_progress"
        return reply(200, body(status, rid="resp_az", output=[message("azure answer")]), headers)


def test_azure_token_source_is_called_per_request_and_rotates_during_a_wait(api, caplog):
    azure = AzureLike(api)
    calls = []

    def token():  # what azure-identity's get_bearer_token_provider returns
        calls.append(1)
        return azure.valid
    c = Client(api_key=token, base_url=api.url + "/openai/v1",
               default_query={"api-version": "2025-04-01-preview"})
    assert calls == []  # nothing fetched before the first request
    c._clock = clock = FakeClock()
    c._sleep = clock.sleep
    with caplog.at_level(logging.DEBUG, logger="openai_bg"):
        result = c.create_and_wait(model="gpt-4o-deep", input="q")
    assert result.text == "azure answer"
    assert len(calls) == len(api.requests) == 5  # one call per request
    assert azure.seen_tokens == ["entra-token-0001"] * 3 + ["entra-token-0002"] * 2
    logged = " ".join(r.getMessage() for r in caplog.records) + repr(c)
    assert "entra-token" not in logged


def test_azure_request_id_and_token_redaction_in_errors(api):
    azure = AzureLike(api)
    c = Client(api_key=lambda: "entra-stale-token", base_url=api.url + "/openai/v1",
               default_query={"api-version": "2025-04-01-preview"})
    with pytest.raises(openai_bg.AuthenticationError) as info:
        c.poll_response("resp_az")
    assert info.value.request_id == "apim-0"  # Azure's header when there is no x-request-id
    assert "(request id apim-0)" in str(info.value)
    assert "entra-stale-token" not in str(info.value)  # echoed back, redacted
    assert "[redacted]" in str(info.value)
    assert azure.seen_tokens == ["entra-stale-token"]
    # x-request-id wins where both are sent.
    api.fallback = reply(500, {"error": {"message": "x"}},
                         {"x-request-id": "req_1", "apim-request-id": "apim-9"})
    c = Client(api_key=KEY, base_url=api.url, max_retries=0)
    with pytest.raises(openai_bg.InternalServerError) as info:
        c.poll_response("r")
    assert info.value.request_id == "req_1"


@pytest.mark.parametrize("source, error", [
    (lambda: "", "returned no key"),
    (lambda: None, "returned no key"),
    (lambda: 42, "api_key\\(\\) returns must be a str, not int"),
    (lambda: "tok\nen-with-newline", "HTTP headers cannot carry"),
    (lambda: 1 / 0, "raised ZeroDivisionError"),
])
def test_a_bad_token_source_fails_before_anything_is_sent(api, source, error):
    c = Client(api_key=source, base_url=api.url)
    with pytest.raises((OpenAIError, TypeError, ValueError), match=error):
        c.poll_response("resp_1")
    assert api.requests == []


###############################################################################
# Streaming: SSE framing, the primitive, resume and fallback
###############################################################################

def sse_event(event, name=True, eol="\n"):
    """One event as a server frames it."""
    lines = (["event: " + event["type"]] if name else []) + ["data: " + json.dumps(event)]
    return eol.join(lines) + eol + eol


def job_events(rid="resp_s", searches=("fusion news", "ITER schedule"),
               pages=("https://example.org/fusion",), text="The answer, in full."):
    """The events of a whole deep-research job, numbered from 0, and its final body."""
    events = []

    def add(kind, **fields):
        events.append(dict(type=kind, sequence_number=len(events), **fields))
    add("response.created", response=body("queued", rid=rid))
    add("response.in_progress", response=body("in_progress", rid=rid))
    for query in searches:
        add("response.output_item.added", output_index=len(events),
            item={"type": "web_search_call", "id": "ws_%d" % len(events), "status": "in_progress"})
        add("response.output_item.done", output_index=len(events),
            item={"type": "web_search_call", "id": "ws_%d" % len(events), "status": "completed",
                  "action": {"type": "search", "query": query}})
    for url in pages:
        add("response.output_item.done", output_index=len(events),
            item={"type": "web_search_call", "id": "ws_%d" % len(events), "status": "completed",
                  "action": {"type": "open_page", "url": url}})
    add("response.reasoning_summary_text.done", item_id="rs_1", output_index=0,
        summary_index=0, text="**Planning the search**\nthen more")
    for start in range(0, len(text), 7):
        add("response.output_text.delta", item_id="msg_1", output_index=0, content_index=0,
            delta=text[start:start + 7])
    final = body("completed", rid=rid, output=[message(text)])
    add("response.completed", response=final)
    return events, final


class StreamJob:
    """A background job served as a stream: each stream request (the create's,
    then each resume) follows the next plan, then the last one repeats:
      ("full",)       every event after starting_after, then the end
      ("drop", k)     k events after starting_after, then a reset
      ("close", k)    k events, then a clean close (close-delimited)
      ("repeat", k)   k already-seen events first, then all the rest
      ("repeat", k, n) k already-seen events, n new ones, then a reset
      ("refuse", s)   HTTP s with a JSON error
      ("json",)       the current Response as plain JSON
    Polls (GET without stream=true) answer ``poll_body``."""

    def __init__(self, api, plans, rid="resp_s", **kwargs):
        self.events, self.final = job_events(rid, **kwargs)
        self.plans = list(plans)
        self.rid = rid
        self.poll_body = body("in_progress", rid=rid)
        self.stream_requests = []
        api.on("POST", "/v1/responses", self.answer)
        api.on("GET", "/v1/responses/" + rid, self.answer)

    def answer(self, rec):
        if rec.method == "GET" and "stream=true" not in rec.path:
            return reply(200, self.poll_body)
        if rec.method == "POST" and not rec.json().get("stream"):
            return reply(200, body("queued", rid=self.rid))
        self.stream_requests.append(rec.path)
        after = -1
        if "starting_after=" in rec.path:
            after = int(rec.path.split("starting_after=")[1].split("&")[0])
        plan = self.plans.pop(0) if len(self.plans) > 1 else self.plans[0]
        rest = [e for e in self.events if e["sequence_number"] > after]
        kind = plan[0]
        if kind == "refuse":
            return reply(plan[1], {"error": {
                "message": "This response can no longer be streamed because it is more "
                           "than 5 minutes old.", "type": "invalid_request_error"}})
        if kind == "json":
            return reply(200, self.poll_body)
        drop = kind == "drop" or len(plan) == 3
        if kind in ("drop", "close"):
            rest = rest[:plan[1]]
        if kind == "repeat":
            seen = [e for e in self.events if e["sequence_number"] <= after][-plan[1]:]
            rest = seen + (rest[:plan[2]] if drop else rest)
        return reply(200, SSE([sse_event(e) for e in rest], chunked=kind != "close",
                              drop=drop))


def test_sse_parser_framing_cases():
    parse = openai_bg._SSEParser(10 ** 6)
    stream = (b": keep-alive comment\r\n"
              b"event: response.created\r\nid: 7\r\nretry: 1000\r\n"
              b"data: {\"a\":\r\ndata:  1}\r\n\r\n"            # CRLF, multi-line data
              b"data: two\rdata: lines\r\r"                      # CR only
              b"data: [DONE]\n\n")
    assert parse.feed(stream) + parse.end() == ['{"a":\n 1}', "two\nlines", "[DONE]"]


def test_sse_parser_survives_every_split_point():
    event = {"type": "response.output_text.delta", "sequence_number": 3,
             "delta": "h\u00e9\u20ac\U0001f600"}
    data = ("event: x\r\ndata: %s\r\n\r\n" % json.dumps(event, ensure_ascii=False)).encode()
    for cut in range(1, len(data)):  # splitting UTF-8 characters and CRLF pairs
        parse = openai_bg._SSEParser(10 ** 6)
        found = parse.feed(data[:cut]) + parse.feed(data[cut:]) + parse.end()
        assert [json.loads(d) for d in found] == [event], cut


def test_sse_parser_drops_an_unfinished_last_event_and_keeps_a_cr_ended_one():
    parse = openai_bg._SSEParser(10 ** 6)
    assert parse.feed(b"data: 1\n\ndata: 2\n") + parse.end() == ["1"]
    parse = openai_bg._SSEParser(10 ** 6)
    assert parse.feed(b"data: 1\r\r") + parse.end() == ["1"]


def test_sse_parser_bounds_each_event():
    parse = openai_bg._SSEParser(100)
    assert parse.feed(b"data: " + b"x" * 60 + b"\n\n") == ["x" * 60]  # per event, not per stream
    assert parse.feed(b"data: " + b"x" * 60 + b"\n\n") == ["x" * 60]
    with pytest.raises(openai_bg.ResponseTooLargeError):
        parse.feed(b"data: " + b"x" * 200)


def feed_in_pieces(parse, data, size=16 * 1024):
    found = []
    for start in range(0, len(data), size):
        found += parse.feed(data[start:start + size])
    return found + parse.end()


def test_sse_parser_counts_each_byte_once_toward_its_event():
    # 0.2.0 added the whole pending buffer on every read: a 20 MB event in
    # 16 KiB pieces summed to gigabytes and was refused under 64 MiB.
    value = b"x" * (20 * 1000 * 1000)
    event = b"event: response.completed\ndata: " + value + b"\n\n"
    parse = openai_bg._SSEParser(openai_bg.DEFAULT_MAX_RESPONSE_BYTES)
    assert feed_in_pieces(parse, event) == [value.decode()]
    # The limit is what one event holds (its data lines as sent): exactly at it
    # passes, one byte over fails, however the event is cut.
    for size in (1, 7, 16 * 1024):
        exact = b"data: " + b"y" * 994 + b"\n\n"
        assert feed_in_pieces(openai_bg._SSEParser(1000), exact, size) == ["y" * 994]
        over = b"data: " + b"y" * 995 + b"\n\n"
        with pytest.raises(openai_bg.ResponseTooLargeError, match="1000 bytes"):
            feed_in_pieces(openai_bg._SSEParser(1000), over, size)
    # Multi-line data counts every line; the line in progress counts too.
    with pytest.raises(openai_bg.ResponseTooLargeError):
        openai_bg._SSEParser(1000).feed(b"data: " + b"z" * 600 + b"\ndata: " + b"z" * 600)
    with pytest.raises(openai_bg.ResponseTooLargeError):
        openai_bg._SSEParser(1000).feed(b": a comment that never ends " + b"z" * 1000)


def test_sse_parser_work_is_proportional_to_each_read():
    # Feeding an event in pieces touches each piece once: the parser keeps the
    # pieces of an unfinished line apart and joins them once, at its end.
    parse = openai_bg._SSEParser(10 ** 9)
    for _ in range(1000):
        assert parse.feed(b"data-less piece without a line end ") == []
    assert parse.pending == 35 * 1000
    assert len(parse.line) == 1000  # kept as pieces, not re-joined per read
    assert parse.feed(b"\n\ndata: 1\n\n") == ["1"]
    assert parse.line == [] and parse.pending == 0


def test_a_big_final_event_in_small_chunks_ends_the_streamed_wait(api, client, clock):
    text = "deep research " * 330000  # a 4.6 MB answer in response.completed
    events, final = job_events(text="short")
    final = body("completed", rid="resp_s", output=[message(text)])
    events[-1] = dict(events[-1], response=final)
    data = "".join(sse_event(e) for e in events).encode()
    pieces = [data[i:i + 16 * 1024] for i in range(0, len(data), 16 * 1024)]
    api.on("GET", "/v1/responses/resp_s", reply(200, SSE(pieces)))
    result = client.wait_response("resp_s", stream=True)
    assert result.status == "completed"
    assert result.text == text
    assert api.paths("GET") == ["/v1/responses/resp_s?stream=true"]  # no poll needed


SDK_MISSING = ("the official SDK is not installed (the test extra installs it "
               "on Python 3.10+; it does not support older ones)")


def sdk_events(data):
    """The official SDK's parse of the same bytes, where the SDK is installed."""
    streaming = pytest.importorskip("openai._streaming", reason=SDK_MISSING)
    found = []
    for sse in streaming.SSEDecoder().iter_bytes(iter([data])):
        if sse.data.startswith("[DONE]"):
            break
        found.append(json.loads(sse.data))
    return found


@pytest.mark.xdist_group("sdk")  # one worker imports the SDK, not every one
def test_stream_events_match_the_sdk_parse(api, client):
    events, _ = job_events()
    data = "".join(sse_event(e, eol=eol) for e, eol in zip(events, ["\n", "\r\n", "\r"] * 20))
    data = ": ping\n\n" + data + "data: [DONE]\n\n"
    api.on("GET", "/v1/responses/resp_s", reply(200, SSE([data])))
    with client.stream_response("resp_s") as stream:
        got = list(stream)
    assert got == events
    if sys.version_info >= (3, 10):
        assert got == sdk_events(data.encode())


def test_stream_response_primitive(api, client):
    events, final = job_events()
    api.on("GET", "/v1/responses/resp_s", reply(200, SSE([sse_event(e) for e in events])))
    stream = client.stream_response("resp_s", starting_after=4)
    assert list(stream) == events
    rec = api.requests[0]
    assert rec.path == "/v1/responses/resp_s?stream=true&starting_after=4"
    assert rec.headers["accept"] == "text/event-stream"
    assert stream.response_id == "resp_s"
    assert stream.last_sequence_number == events[-1]["sequence_number"]
    assert stream.response == openai_bg._response_from_json(copy.deepcopy(final))
    assert stream.response.text == "The answer, in full."


@pytest.mark.parametrize("chunked", [True, False])
def test_stream_ends_after_the_terminal_event_done_or_close(api, client, chunked):
    events, _ = job_events()
    tail = ["data: [DONE]\n\n", sse_event(dict(events[0], sequence_number=99))]
    api.on("GET", "/v1/responses/a", reply(200, SSE([sse_event(e) for e in events] + tail,
                                                     chunked=chunked)))
    assert len(list(client.stream_response("a"))) == len(events)  # stops at completed
    api.on("GET", "/v1/responses/b", reply(200, SSE([sse_event(events[0]), "data: [DONE]\n\n",
                                                     sse_event(events[1])], chunked=chunked)))
    stream = client.stream_response("b")
    assert list(stream) == [events[0]]
    assert stream.response is None
    api.on("GET", "/v1/responses/c", reply(200, SSE([sse_event(events[0])], chunked=chunked)))
    stream = client.stream_response("c")  # a cancelled job's stream just ends
    assert list(stream) == [events[0]]
    assert stream.response is None


def test_stream_skips_non_object_data_with_a_warning(api, client, caplog):
    events, _ = job_events()
    api.on("GET", "/v1/responses/resp_s", reply(200, SSE(
        ["data: not json\n\n", "data: [1, 2]\n\n", sse_event(events[0]), sse_event(events[-1])])))
    with caplog.at_level(logging.WARNING, logger="openai_bg"):
        got = list(client.stream_response("resp_s"))
    assert got == [events[0], events[-1]]
    assert caplog.text.count("not a JSON object") == 2


def test_stream_error_events_nested_and_flat(api, client):
    nested = {"type": "error", "sequence_number": 2,
              "error": {"type": "server_error", "code": "oops", "message": "it broke",
                        "param": None}}
    flat = {"type": "error", "sequence_number": 3, "code": "flat", "message": "flat one",
            "param": None}
    api.on("GET", "/v1/responses/r", reply(200, SSE([sse_event(nested)])))
    stream = client.stream_response("r")
    assert list(stream) == [nested]
    assert stream.error["code"] == "oops"
    api.on("GET", "/v1/responses/r", reply(200, SSE([sse_event(flat)])))
    stream = client.stream_response("r")
    assert list(stream) == [flat]
    assert stream.error["message"] == "flat one"


def test_broken_stream_raises_connection_error(api, client):
    events, _ = job_events()
    api.on("GET", "/v1/responses/resp_s", reply(200, SSE([sse_event(e) for e in events[:3]],
                                                         drop=True)))
    stream = client.stream_response("resp_s")
    got = []
    with pytest.raises(APIConnectionError):
        for event in stream:
            got.append(event)
    assert got == events[:3]
    assert stream.last_sequence_number == 2


def test_silent_stream_raises_timeout_and_timeout_is_per_silence(api):
    events, _ = job_events()
    c = Client(api_key=KEY, base_url=api.url + "/v1", timeout=0.4)
    # Each gap (0.1 s) is under the timeout, the whole stream (> 3 timeouts) is not.
    events = events[:14]
    api.on("GET", "/v1/responses/slow", reply(200, SSE([sse_event(e) for e in events], pause=0.1)))
    assert len(list(c.stream_response("slow"))) == len(events)
    api.on("GET", "/v1/responses/quiet", reply(200, SSE([sse_event(events[0]), ": tick\n\n"],
                                                        pause=0.8)))
    with pytest.raises(APITimeoutError):
        list(c.stream_response("quiet"))


def test_trickled_stream_one_byte_at_a_time(raw_server):
    events, _ = job_events(searches=("caf\u00e9 \u20ac",), pages=())
    data = "".join(sse_event(e, eol=eol) for e, eol in zip(events, ["\r\n", "\r", "\n"] * 20))
    payload = data.encode()

    def trickle_stream(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Connection: close\r\n\r\n")
        for i in range(len(payload)):
            conn.sendall(payload[i:i + 1])
    server = raw_server(trickle_stream)
    c = Client(api_key=KEY, base_url=server.url)
    assert list(c.stream_response("resp_s")) == events


def test_stream_answered_with_json_by_a_gateway(api, client):
    api.on("GET", "/v1/responses/r1", reply(200, body("completed", rid="r1",
                                                      output=[message("hi")])))
    stream = client.stream_response("r1")
    assert list(stream) == []
    assert stream.response.text == "hi"
    assert stream.response_id == "r1"
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r2")))
    stream = client.create_response_stream(model="m", input="q")
    assert list(stream) == []
    assert stream.response_id == "r2"
    assert stream.response.status == "queued"


def test_create_response_stream_sends_the_flags_and_knows_the_id(api, client):
    job = StreamJob(api, [("full",)])
    stream = client.create_response_stream(model="m", input="q", tools=[{"type": "x"}])
    assert stream.response_id == "resp_s"  # known before iterating
    assert list(stream) == job.events
    sent = api.requests[0].json()
    assert sent["stream"] is True
    assert sent["background"] is True
    assert sent["store"] is True
    assert sent["tools"] == [{"type": "x"}]


@pytest.mark.parametrize("kwargs", [{"background": False}, {"stream": False}, {"store": False}])
def test_create_response_stream_refuses_contrary_flags(api, client, kwargs):
    with pytest.raises(ValueError):
        client.create_response_stream(model="m", input="q", **kwargs)
    assert api.requests == []


def test_create_response_refuses_stream_and_points_to_the_stream_call(api, client):
    with pytest.raises(ValueError, match="create_response_stream"):
        client.create_response(model="m", input="q", stream=True)
    assert api.requests == []


def test_create_stream_broken_before_the_id_may_have_created(api, client):
    api.on("POST", "/v1/responses", reply(200, SSE([": only a comment\n\n"], drop=True)))
    with pytest.raises(APIConnectionError) as info:
        client.create_response_stream(model="m", input="q")
    assert info.value.may_have_been_created is True
    assert len(api.paths("POST")) == 1  # never resent


def test_create_stream_is_retried_only_where_safe(api, client):
    job = StreamJob(api, [("full",)])
    api.on("POST", "/v1/responses", reply(429, {"error": {"message": "slow down"}}), job.answer)
    assert client.create_response_stream(model="m", input="q").response_id == "resp_s"
    api.on("POST", "/v1/responses", reply(500, {"error": {"message": "boom"}}))
    with pytest.raises(openai_bg.InternalServerError) as info:
        client.create_response_stream(model="m", input="q")
    assert info.value.may_have_been_created is True
    assert len(api.paths("POST")) == 3


def test_streamed_create_and_wait_survives_drops_and_a_refused_resume(api, client, clock):
    # Three drops (one resume repeating old events), then the resume window
    # has passed (400): the wait polls until the job ends.
    job = StreamJob(api, [("drop", 3), ("repeat", 2, 4), ("drop", 3), ("refuse", 400)])
    delivered, updates = [], []

    def on_update(response):
        updates.append(response.status)
        if len(job.stream_requests) == 4:  # the job finishes while we poll
            job.poll_body = job.final
    result = client.create_and_wait(model="m", input="q", stream=True,
                                    on_event=delivered.append, on_update=on_update)
    assert delivered == job.events[:10]  # each once, in order, across the drops
    assert job.stream_requests == [
        "/v1/responses", "/v1/responses/resp_s?stream=true&starting_after=2",
        "/v1/responses/resp_s?stream=true&starting_after=6",
        "/v1/responses/resp_s?stream=true&starting_after=9"]
    assert updates[:2] == ["queued", "in_progress"]
    assert updates[-1] == "completed"
    assert result == client.poll_response("resp_s")
    assert result.text == "The answer, in full."


def test_streamed_wait_delivers_every_event_once_and_returns_the_terminal_response(api, client,
                                                                                  clock):
    job = StreamJob(api, [("drop", 5), ("repeat", 3), ("drop", 2), ("full",)])
    delivered = []
    result = client.wait_response("resp_s", stream=True, on_event=delivered.append)
    assert delivered == job.events
    assert result == openai_bg._response_from_json(copy.deepcopy(job.final))
    assert api.paths("GET")[-1].startswith("/v1/responses/resp_s?stream=true")  # no extra poll


@pytest.mark.parametrize("status", [400, 404, 405, 415, 501])
def test_refused_stream_falls_back_to_polling(api, client, clock, status):
    job = StreamJob(api, [("refuse", status)])
    job.poll_body = job.final
    result = client.wait_response("resp_s", stream=True)
    assert result.text == "The answer, in full."
    assert len(job.stream_requests) == 1


def test_stream_answered_with_json_falls_back_to_polling(api, client, clock):
    job = StreamJob(api, [("json",)])
    polls = []

    def on_update(response):
        polls.append(response.status)
        if len(polls) == 2:
            job.poll_body = job.final
    result = client.wait_response("resp_s", stream=True, on_update=on_update)
    assert result.status == "completed"
    assert len(job.stream_requests) == 1


@pytest.mark.parametrize("content_type, page", [
    ("text/html; charset=utf-8", b"<html><body>Sign in to the gateway</body></html>"),
    ("text/plain", b"ok"),
    (None, b""),
    ("application/json", b'{"ok": true}'),  # JSON, but not a Response
    ("application/octet-stream", b"\xff\xfe\x00"),
])
def test_stream_answered_with_anything_but_events_falls_back_to_polling(
        api, client, clock, content_type, page):
    job = StreamJob(api, [("full",)])
    job.poll_body = job.final
    headers = {"Content-Type": content_type} if content_type else {}
    api.on("GET", "/v1/responses/resp_s", lambda rec: reply(200, page, headers)
           if "stream=true" in rec.path else reply(200, job.final))
    result = client.wait_response("resp_s", stream=True)
    assert result.text == "The answer, in full."
    stream_requests = [p for p in api.paths("GET") if "stream=true" in p]
    assert len(stream_requests) == 1  # the fallback is for the rest of the wait


def test_a_quiet_stream_is_reported_as_quiet_once_per_reconnect(api, caplog):
    events, final = job_events()
    c = Client(api_key=KEY, base_url=api.url + "/v1", timeout=0.3)
    quiet = SSE([sse_event(events[0]), ": tick\n\n"], pause=0.6)
    answers = [reply(200, quiet), reply(200, SSE([sse_event(e) for e in events[1:]]))]
    api.on("GET", "/v1/responses/resp_s", *answers)
    with caplog.at_level(logging.WARNING, logger="openai_bg"):
        assert c.wait_response("resp_s", stream=True).status == "completed"
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["resp_s: no events for 0.3 s; reconnecting"]
    api.on("GET", "/v1/responses/resp_q", reply(200, quiet))
    with pytest.raises(APITimeoutError, match="no bytes for 0.3 s") as info:
        list(c.stream_response("resp_q"))
    assert "whole attempt" not in str(info.value)
    assert info.value.silence == pytest.approx(0.3)


def test_stream_that_ends_without_terminal_event_is_polled(api, client, clock):
    StreamJob(api, [("close", 4), ("full",)])
    result = client.wait_response("resp_s", stream=True)  # poll: still in progress: resume
    assert result.status == "completed"
    assert [p.split("?")[1] if "?" in p else "" for p in api.paths("GET")] == [
        "stream=true", "", "stream=true&starting_after=3"]
    cancelled = StreamJob(api, [("close", 2)], rid="resp_c")
    cancelled.poll_body = body("cancelled", rid="resp_c")
    assert client.wait_response("resp_c", stream=True).status == "cancelled"


def test_streamed_wait_times_out_and_cancels(api, client, clock):
    job = StreamJob(api, [("close", 1)])
    api.on("POST", "/v1/responses/resp_s/cancel", reply(200, body("cancelled", rid="resp_s")))
    original_poll = job.answer

    def slow(rec):
        clock.now += 10
        return original_poll(rec)
    api.on("GET", "/v1/responses/resp_s", slow)
    with pytest.raises(openai_bg.WaitTimeoutError) as info:
        client.wait_response("resp_s", stream=True, timeout=25, cancel_on_timeout=True)
    assert info.value.cancelled is True
    assert info.value.status == "in_progress"
    assert api.paths("POST") == ["/v1/responses/resp_s/cancel"]


@pytest.mark.parametrize("pause", [0.3, 3.0])  # a busy stream, a silent one
def test_streamed_wait_ends_at_its_timeout(api, pause):
    events, _ = job_events()
    # The whole stream would end with the final event (after ~3.6 s or 3 s);
    # a wait of 0.5 s must not follow it there.
    chunks = [sse_event(e) for e in events]
    api.on("GET", "/v1/responses/resp_s", lambda rec: reply(200, SSE(
        chunks, pause=pause)) if "stream=true" in rec.path else reply(200, body(
            "in_progress", rid="resp_s")))
    c = make_client(api.url + "/v1")  # the real clock; a request timeout of 60 s
    with pytest.raises(openai_bg.WaitTimeoutError) as info:
        c.wait_response("resp_s", stream=True, timeout=0.5)
    assert info.value.status in (None, "queued", "in_progress")


def test_streamed_wait_does_not_wait_for_a_slow_stream_to_open(raw_server):
    server = raw_server(lambda conn: time.sleep(5))  # accepts, never answers
    c = make_client(server.url, max_retries=0)  # a request timeout of 60 s
    with pytest.raises(openai_bg.WaitTimeoutError):
        c.wait_response("resp_s", stream=True, timeout=0.5)


def test_streamed_create_and_wait_cancels_on_interrupt(api, client, clock):
    StreamJob(api, [("drop", 3)])
    api.on("POST", "/v1/responses/resp_s/cancel", reply(200, body("cancelled", rid="resp_s")))

    def on_event(event):
        if event["sequence_number"] == 1:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt) as info:
        client.create_and_wait(model="m", input="q", stream=True, on_event=on_event)
    assert info.value.response_id == "resp_s"
    assert info.value.cancelled is True
    assert api.paths("POST") == ["/v1/responses", "/v1/responses/resp_s/cancel"]


def test_without_stream_no_request_asks_for_one(api, client, clock):
    job = StreamJob(api, [("full",)])
    job.poll_body = job.final
    client.create_and_wait(model="m", input="q")
    client.wait_response("resp_s")
    assert job.stream_requests == []
    assert "stream" not in api.requests[0].json()


###############################################################################
# Keep-alive connections, TLS sessions, lifetime
###############################################################################

@pytest.fixture
def kept_api():
    server = FakeAPI(keep_alive=True)
    server.on("GET", "/v1/responses/r1", reply(200, body("in_progress", rid="r1")))
    yield server
    server.close()


def kept_client(server, **kwargs):
    return make_client(server.url + "/v1", **kwargs)


OK_ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
             % (len(json.dumps(body(rid="r1"))), json.dumps(body(rid="r1")).encode()))


def read_request(conn):
    """Read one request head (and its Content-Length body); b"" at EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
            while len(rest) < length:
                rest += conn.recv(65536)
    return head


def test_polls_reuse_one_connection(kept_api):
    c = kept_client(kept_api)
    for _ in range(5):
        assert c.poll_response("r1").status == "in_progress"
    assert kept_api.connections == 1
    assert len(kept_api.requests) == 5
    assert c._transport.opened == 1


def test_connection_close_answers_are_not_reused(api):
    c = kept_client(api)  # api answers "Connection: close"
    api.on("GET", "/v1/responses/r1", reply(200, body(rid="r1")))
    for _ in range(3):
        c.poll_response("r1")
    assert api.connections == 3
    assert c._sleep == []


def test_server_that_closes_idle_connections(raw_server):
    def answer_then_close_when_idle(conn):
        conn.sendall(OK_ANSWER)
        time.sleep(0.1)  # idle: the server drops the connection
    server = raw_server(answer_then_close_when_idle)
    c = kept_client(server)
    c.poll_response("r1")
    time.sleep(0.3)
    assert c.poll_response("r1").status == "completed"  # a stale connection is dropped
    assert server.connections == 2
    assert c._sleep == []  # no error, no retry spent


def test_server_that_closes_as_the_request_goes_out(raw_server):
    def answer_once_then_close_on_the_next_request(conn):
        conn.sendall(OK_ANSWER)
        read_request(conn)  # the next request arrives: close without answering
    server = raw_server(answer_once_then_close_on_the_next_request)
    c = kept_client(server)
    for _ in range(3):
        assert c.poll_response("r1").status == "completed"
    assert c._sleep == []  # each reconnect was immediate, no retry spent
    assert server.connections == 3


def test_create_goes_out_on_its_own_connection(kept_api):
    kept_api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    c = kept_client(kept_api)
    c.poll_response("r1")
    c.create_response(model="m", input="q")
    c.poll_response("r1")
    assert kept_api.connections == 2  # the create's connection is reused afterwards


def test_create_lost_in_flight_on_a_kept_alive_client_is_never_resent(kept_api):
    kept_api.on("POST", "/v1/responses", reply(200, RESET))
    c = kept_client(kept_api)
    c.poll_response("r1")
    with pytest.raises(APIConnectionError) as info:
        c.create_response(model="m", input="q")
    assert info.value.may_have_been_created is True
    assert kept_api.paths("POST") == ["/v1/responses"]
    assert c._sleep == []


def test_reused_connection_gets_the_new_attempts_deadline(raw_server):
    def fast_then_slow(conn):
        conn.sendall(OK_ANSWER)
        read_request(conn)
        time.sleep(3)  # the second answer would come far past the timeout
        conn.sendall(OK_ANSWER)
    server = raw_server(fast_then_slow)
    c = kept_client(server, timeout=0.5, max_retries=0)
    c.poll_response("r1")
    with pytest.raises(APITimeoutError):
        c.poll_response("r1")
    assert server.connections == 1


def test_oversized_and_half_read_answers_are_never_reused(kept_api):
    kept_api.on("GET", "/v1/responses/big", reply(200, {"pad": "x" * 5000, "status": "queued"}))
    c = kept_client(kept_api, max_response_bytes=1000)
    with pytest.raises(openai_bg.ResponseTooLargeError):
        c.poll_response("big")
    c.poll_response("r1")
    assert kept_api.connections == 2
    events, _ = job_events()
    kept_api.on("GET", "/v1/responses/s", reply(200, SSE([sse_event(e) for e in events])))
    stream = c.stream_response("s")
    next(stream)
    stream.close()  # half-read: closed, not pooled
    c.poll_response("r1")
    assert kept_api.connections == 3  # the stream took the pooled one, then closed it


def test_fully_read_stream_connection_is_reused(kept_api):
    events, _ = job_events()  # a cancelled job's stream: it ends without a terminal event
    kept_api.on("GET", "/v1/responses/s", reply(200, SSE([sse_event(e) for e in events[:4]])))
    c = kept_client(kept_api)
    assert len(list(c.stream_response("s"))) == 4
    c.poll_response("r1")
    assert kept_api.connections == 1


def test_close_and_context_manager(kept_api):
    with kept_client(kept_api) as c:
        c.poll_response("r1")
        assert sum(len(v) for v in c._transport._idle.values()) == 1
    assert c._transport._idle == {}
    c.poll_response("r1")  # still usable: a new connection
    assert kept_api.connections == 2
    c.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
@pytest.mark.filterwarnings("ignore:This process")  # fork() with server threads: on purpose
def test_forked_child_does_not_reuse_the_parents_connection(kept_api):
    c = kept_client(kept_api)
    c.poll_response("r1")
    pid = os.fork()
    if pid == 0:  # the child
        try:
            ok = c.poll_response("r1").status == "in_progress"
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    c.poll_response("r1")  # the parent's connection still works
    assert kept_api.connections == 2
    assert len(kept_api.requests) == 3


def test_many_threads_share_a_bounded_pool(kept_api):
    assert poll_from_threads(kept_api, kept_client(kept_api)) == []
    assert len(kept_api.requests) == 32 * 20
    assert kept_api.connections <= 32 + 2  # about one per thread, not one per poll


def test_no_resource_warnings_and_quiet_exit(kept_api):
    script = ("import gc, openai_bg\n"
              "c = openai_bg.Client(api_key='k', base_url=%r)\n"
              "c.poll_response('r1')\n"
              "del c\n"
              "gc.collect()\n"
              "openai_bg.poll_response('r1')\n"  # the default client, closed at exit
              "print('ok')\n" % (kept_api.url + "/v1"))
    env = dict(os.environ, OPENAI_API_KEY="k", OPENAI_BASE_URL=kept_api.url + "/v1")
    done = subprocess.run([sys.executable, "-W", "error::ResourceWarning", "-c", script],
                          cwd=HERE, env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout == "ok\n"
    assert done.stderr == ""


def tls_server(tls_files, keep_alive):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files["leaf.pem"], tls_files["leaf.key"])
    server = FakeAPI(tls_context=context, keep_alive=keep_alive)
    server.on("GET", "/v1/responses/r1", reply(200, body(rid="r1")))
    return server


def test_tls_sessions_are_resumed_on_new_connections(tls_files):
    server = tls_server(tls_files, keep_alive=False)  # every answer closes
    try:
        context = ssl.create_default_context(cafile=tls_files["ca.pem"])
        c = Client(api_key=KEY, base_url=server.url + "/v1", ssl_context=context)
        for _ in range(3):
            c.poll_response("r1")
        assert server.connections == 3
        assert c._transport.opened == 3
        assert c._transport.resumed == 2
    finally:
        server.close()


def test_proxy_tunnel_is_reused_and_only_the_connect_carries_proxy_credentials(
        tls_files, monkeypatch):
    server = tls_server(tls_files, keep_alive=True)
    proxy = TunnelProxy()
    try:
        host_port = proxy.url.split("//")[1]
        monkeypatch.setenv("HTTPS_PROXY", "http://user:pr0xy-pa55@%s" % host_port)
        monkeypatch.setenv("https_proxy", "http://user:pr0xy-pa55@%s" % host_port)
        context = ssl.create_default_context(cafile=tls_files["ca.pem"])
        c = Client(api_key=KEY, base_url=server.url + "/v1", ssl_context=context)
        for _ in range(3):
            c.poll_response("r1")
        assert proxy.connects == ["127.0.0.1:%d" % server.port]
        assert proxy.connect_headers[0]["proxy-authorization"].startswith("Basic ")
        assert all("proxy-authorization" not in r.headers for r in server.requests)
        assert server.connections == 1
    finally:
        proxy.close()
        server.close()


@pytest.mark.parametrize("max_retries", [0, 2])
def test_proxy_refusing_connect_is_a_retryable_connection_error_for_creates(
        tls_files, monkeypatch, max_retries):
    server = tls_server(tls_files, keep_alive=True)
    proxy = TunnelProxy(refuse=502)
    try:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("https_proxy", proxy.url)
        context = ssl.create_default_context(cafile=tls_files["ca.pem"])
        c = make_client(server.url + "/v1", ssl_context=context, max_retries=max_retries)
        with pytest.raises(APIConnectionError) as info:
            c.create_response(model="m", input="q")
        assert info.value.may_have_been_created is False
        assert "502" in str(info.value)
        assert len(proxy.connects) == max_retries + 1  # retried like a refused connection
        assert server.requests == []
    finally:
        proxy.close()
        server.close()


###############################################################################
# Webhooks: verification, and the listen command
###############################################################################

WEBHOOK_KEY = b"test-webhook-key-0123456789abcdef"
WEBHOOK_SECRET = "whsec_" + __import__("base64").b64encode(WEBHOOK_KEY).decode()


def signed(payload, secret_key=WEBHOOK_KEY, webhook_id="wh_1", timestamp=None,
           signature=None):
    """Headers a Standard Webhooks sender puts on ``payload`` (bytes);
    ``signature`` may wrap the real one: "v1,AAAA {sig}"."""
    import base64
    import hashlib
    import hmac
    timestamp = str(int(time.time())) if timestamp is None else str(timestamp)
    digest = hmac.new(secret_key, b"%s.%s.%s" % (webhook_id.encode(), timestamp.encode(),
                                                 payload), hashlib.sha256).digest()
    sig = "v1," + base64.b64encode(digest).decode()
    return {"webhook-id": webhook_id, "webhook-timestamp": timestamp,
            "webhook-signature": sig if signature is None else signature.format(sig=sig)}


def webhook_event(rid="resp_w", kind="response.completed", event_id="evt_1"):
    return json.dumps({"id": event_id, "type": kind, "created_at": 1750000000,
                       "object": "event", "data": {"id": rid}}).encode()


def sdk_verdict(payload, headers, secret, tolerance=300):
    """The official SDK's verdict on the same inputs: None (verified) or the error class name."""
    openai = pytest.importorskip("openai", reason=SDK_MISSING)
    sdk = openai.OpenAI(api_key="unused", webhook_secret=secret)
    try:
        sdk.webhooks.verify_signature(payload, headers, secret=secret, tolerance=tolerance)
    except Exception as exc:  # noqa: BLE001 - the verdict is the class
        return type(exc).__name__
    return None


def our_verdict(payload, headers, secret, tolerance=300):
    try:
        openai_bg.verify_webhook(payload, headers, secret, tolerance=tolerance)
    except openai_bg.InvalidWebhookSignatureError:
        return "InvalidWebhookSignatureError"
    return None


WEBHOOK_NOW = 1750000000  # the clock, frozen for the cases below


@pytest.fixture
def frozen_clock(monkeypatch):
    """time.time() fixed at WEBHOOK_NOW (for us and the SDK alike)."""
    monkeypatch.setattr(time, "time", lambda: float(WEBHOOK_NOW))


def webhook_cases():
    body_ = webhook_event()
    now = WEBHOOK_NOW
    plain = b"plain-secret-without-prefix"
    def at(payload, **kwargs):  # signed "now", on the frozen clock
        kwargs.setdefault("timestamp", now)
        return signed(payload, **kwargs)
    return [
        ("valid", body_, at(body_), WEBHOOK_SECRET, None),
        ("several signatures, one good", body_,
         at(body_, signature="v1,AAAA {sig} v1,BBBB"), WEBHOOK_SECRET, None),
        ("unprefixed signature", body_,
         dict(at(body_), **{"webhook-signature": at(body_)["webhook-signature"][3:]}),
         WEBHOOK_SECRET, None),
        ("exactly at the tolerance (old)", body_, at(body_, timestamp=now - 300),
         WEBHOOK_SECRET, None),
        ("exactly at the tolerance (new)", body_, at(body_, timestamp=now + 300),
         WEBHOOK_SECRET, None),
        ("one second too old", body_, at(body_, timestamp=now - 301),
         WEBHOOK_SECRET, "InvalidWebhookSignatureError"),
        ("one second too new", body_, at(body_, timestamp=now + 301),
         WEBHOOK_SECRET, "InvalidWebhookSignatureError"),
        ("non-ASCII body", "{\"t\": \"caf\u00e9 \u20ac\"}".encode(),
         at("{\"t\": \"caf\u00e9 \u20ac\"}".encode()), WEBHOOK_SECRET, None),
        ("secret without the prefix", body_, at(body_, secret_key=plain),
         plain.decode(), None),
        ("wrong secret", body_, at(body_, secret_key=b"other"), WEBHOOK_SECRET,
         "InvalidWebhookSignatureError"),
        ("body changed", body_ + b" ", at(body_), WEBHOOK_SECRET,
         "InvalidWebhookSignatureError"),
        ("timestamp not an integer", body_, at(body_, timestamp="soon"), WEBHOOK_SECRET,
         "InvalidWebhookSignatureError"),
        ("id changed", body_, dict(at(body_), **{"webhook-id": "wh_2"}), WEBHOOK_SECRET,
         "InvalidWebhookSignatureError"),
        ("another scheme version beside a good one", body_,
         at(body_, signature="v2,AAAA {sig}"), WEBHOOK_SECRET, None),
        ("only another scheme version", body_, at(body_, signature="v2,AAAA"),
         WEBHOOK_SECRET, "InvalidWebhookSignatureError"),
    ]


@pytest.mark.parametrize("name,payload,headers,secret,expected",
                         webhook_cases(), ids=[c[0] for c in webhook_cases()])
def test_verify_webhook_cases(frozen_clock, name, payload, headers, secret, expected):
    assert our_verdict(payload, headers, secret) == expected
    # str payloads (UTF-8), header names in any case, an email.message.Message
    import email.message
    message = email.message.Message()
    for key, value in headers.items():
        message[key.upper()] = value
    assert our_verdict(payload.decode("utf-8"), message, secret) == expected


@pytest.mark.xdist_group("sdk")
@pytest.mark.skipif(sys.version_info < (3, 10), reason="the official SDK needs Python 3.10+")
@pytest.mark.parametrize("name,payload,headers,secret,expected",
                         webhook_cases(), ids=[c[0] for c in webhook_cases()])
def test_verify_webhook_agrees_with_the_official_sdk(frozen_clock, name, payload, headers,
                                                     secret, expected):
    assert our_verdict(payload, headers, secret) == sdk_verdict(payload, headers, secret)


@pytest.mark.parametrize("drop", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_webhook_header_names_it(drop):
    headers = signed(webhook_event())
    del headers[drop]
    with pytest.raises(openai_bg.InvalidWebhookSignatureError, match=drop) as info:
        openai_bg.verify_webhook(webhook_event(), headers, WEBHOOK_SECRET)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, OpenAIError)
    assert info.value.reason == "missing-header"


@pytest.mark.parametrize("signature", ["v1,", "v1,abc,def", "   ", "v2,abc"])
def test_malformed_webhook_signature(signature):
    headers = dict(signed(webhook_event()), **{"webhook-signature": signature})
    with pytest.raises(openai_bg.InvalidWebhookSignatureError, match="webhook-signature"):
        openai_bg.verify_webhook(webhook_event(), headers, WEBHOOK_SECRET)


def test_webhook_messages_never_hold_the_secret_or_expected_signature():
    import base64
    import hashlib
    import hmac
    payload = webhook_event()
    headers = signed(payload, secret_key=b"attacker")
    expected = base64.b64encode(hmac.new(WEBHOOK_KEY, b"wh_1.%s.%s" % (
        headers["webhook-timestamp"].encode(), payload), hashlib.sha256).digest()).decode()
    with pytest.raises(openai_bg.InvalidWebhookSignatureError) as info:
        openai_bg.verify_webhook(payload, headers, WEBHOOK_SECRET, tolerance=300)
    for text in (str(info.value), repr(info.value)):
        assert WEBHOOK_SECRET not in text
        assert expected not in text
        assert WEBHOOK_SECRET[6:] not in text
    assert info.value.reason == "no-match"


def test_webhook_secret_configuration(monkeypatch):
    payload = webhook_event()
    for missing in (None, ""):
        with pytest.raises(OpenAIError, match="OPENAI_WEBHOOK_SECRET") as info:
            openai_bg.verify_webhook(payload, signed(payload), missing)
        assert not isinstance(info.value, openai_bg.InvalidWebhookSignatureError)
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", WEBHOOK_SECRET)
    openai_bg.verify_webhook(payload, signed(payload))  # the variable is used
    with pytest.raises(openai_bg.InvalidWebhookSignatureError):
        openai_bg.verify_webhook(payload, signed(payload), "other-secret")  # the argument wins
    with pytest.raises(ValueError, match="secret") as info:
        openai_bg.verify_webhook(payload, signed(payload), "whsec_***not base64***")
    assert "not base64***" not in str(info.value)


def test_unwrap_webhook_returns_the_event_or_a_payload_error():
    payload = webhook_event("resp_9")
    event = openai_bg.unwrap_webhook(payload, signed(payload), WEBHOOK_SECRET)
    assert event["type"] == "response.completed"
    assert event["data"] == {"id": "resp_9"}
    for bad in (b"[1, 2]", b"not json", b"\"text\"", b""):
        with pytest.raises(openai_bg.InvalidWebhookPayloadError, match="not valid") as info:
            openai_bg.unwrap_webhook(bad, signed(bad), WEBHOOK_SECRET)
        assert not isinstance(info.value, openai_bg.APIError)  # no made-up status
        assert info.value.reason == "not-json-object"
    openai_bg.verify_webhook(b"not json", signed(b"not json"), WEBHOOK_SECRET)  # not parsed


def test_unwrap_webhook_refuses_a_signed_body_that_is_not_utf8():
    # Verified over the raw bytes, then decoded strictly: never altered.
    for bad in (b'{"id": "evt_1", "type": "x", "data": "\xff\xfe"}', b"\xff\xfe",
                b'{"a": "\xed\xa0\x80"}'):  # an encoded surrogate is not UTF-8 either
        openai_bg.verify_webhook(bad, signed(bad), WEBHOOK_SECRET)
        with pytest.raises(openai_bg.InvalidWebhookPayloadError, match="not UTF-8") as info:
            openai_bg.unwrap_webhook(bad, signed(bad), WEBHOOK_SECRET)
        assert info.value.reason == "not-utf-8"
        assert isinstance(info.value, OpenAIError) and isinstance(info.value, ValueError)
    # A str body that UTF-8 cannot carry (bytes decoded with surrogateescape).
    text = b'{"a": "\xff"}'.decode("utf-8", "surrogateescape")
    with pytest.raises(openai_bg.InvalidWebhookPayloadError, match="not valid"):
        openai_bg.unwrap_webhook(text, signed(b"{}"), WEBHOOK_SECRET)
    # A correctly encoded non-ASCII body comes back exactly.
    good = json.dumps({"id": "evt_1", "type": "x", "data": "h\u00e9\U0001f600"},
                      ensure_ascii=False).encode("utf-8")
    assert openai_bg.unwrap_webhook(good, signed(good), WEBHOOK_SECRET)["data"] == \
        "h\u00e9\U0001f600"


def test_client_webhook_methods_use_the_clients_secret(api):
    c = Client(api_key=KEY, base_url=api.url, webhook_secret=WEBHOOK_SECRET)
    payload = webhook_event()
    c.verify_webhook(payload, signed(payload))
    assert c.unwrap_webhook(payload, signed(payload))["id"] == "evt_1"
    assert api.requests == []


class Listener:
    """``openai-bg listen`` in a subprocess, on a free port it picks itself."""

    def __init__(self, *args, env=None, secret=WEBHOOK_SECRET):
        environment = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        if secret is not None:
            environment["OPENAI_WEBHOOK_SECRET"] = secret
        environment.update(env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "openai_bg.py", "listen", "--port", "0", *args], cwd=HERE,
            env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        assert "listening" in line, line + self.proc.stderr.read()
        self.url = line.split(" on ")[1].strip()
        self.seen_err = ""
        self.base = self.url.rsplit("/", 1)[0] if self.url.count("/") > 2 else self.url

    def post(self, payload, headers, path=None, method="POST"):
        import http.client
        host, port = self.base.split("//")[1].split("/")[0].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            target = path if path is not None else "/" + self.url.split("/", 3)[3] \
                if self.url.count("/") > 2 else "/"
            conn.request(method, target, body=payload, headers=headers)
            answer = conn.getresponse()
            answer.read()
            return answer.status
        finally:
            conn.close()

    def wait_for_stderr(self, text, timeout=20):
        """Read stderr until ``text`` shows (the listener works on its own
        threads: a test waits for what it said, not for a time)."""
        import select
        deadline = time.monotonic() + timeout
        while text not in self.seen_err and time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stderr.fileno()], [], [], 0.1)
            if ready:
                self.seen_err += os.read(self.proc.stderr.fileno(), 65536).decode()
        assert text in self.seen_err, self.seen_err

    def read_lines(self, count, timeout=20):
        """The first ``count`` lines of stdout, as they are printed."""
        lines = []
        deadline = time.monotonic() + timeout
        while len(lines) < count and time.monotonic() < deadline:
            lines.append(self.proc.stdout.readline())
        return lines

    def stop(self, already=()):
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, "".join(already) + out, self.seen_err + err


def test_listen_prints_verified_events_once_and_refuses_bad_ones():
    listener = Listener("--path", "/hooks")
    try:
        good = webhook_event("resp_1")
        assert listener.post(good, signed(good, webhook_id="wh_a"), "/hooks") == 200
        assert listener.post(good, signed(good, webhook_id="wh_a"), "/hooks") == 200  # retry
        dup = signed(good, webhook_id="wh_a")
        assert listener.post(good, {k.upper(): v for k, v in dup.items()}, "/hooks") == 200
        forged = signed(good, secret_key=b"forger", webhook_id="wh_b")
        assert listener.post(good, forged, "/hooks") == 400
        old = signed(good, webhook_id="wh_c", timestamp=int(time.time()) - 1000)
        assert listener.post(good, old, "/hooks") == 400
        second = webhook_event("resp_2", event_id="evt_2")
        assert listener.post(second, signed(second, webhook_id="wh_b"), "/hooks") == 200
        huge = b"{" + b" " * (1024 * 1024 + 10) + b"}"
        assert listener.post(huge, signed(huge, webhook_id="wh_d"), "/hooks") == 413
        assert listener.post(good, signed(good), "/elsewhere") == 404
        assert listener.post(None, {}, "/hooks", method="GET") == 405
    finally:
        code, out, err = listener.stop()
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [e["data"]["id"] for e in lines] == ["resp_1", "resp_2"]  # forged id wh_b still new
    assert "Traceback" not in err


def test_listen_refusals_reach_the_sender_and_the_listener_goes_on():
    # Refused without reading the body, each must still arrive as a status,
    # not as a reset (bodies far larger than the socket buffers).
    listener = Listener("--path", "/hooks")
    try:
        for size in (1024 * 1024 + 10, 4 * 1024 * 1024, 12 * 1024 * 1024):
            huge = b"{" + b" " * size + b"}"
            for _ in range(3):
                assert listener.post(huge, signed(huge), "/hooks") == 413
        big = b"x" * (4 * 1024 * 1024)
        assert listener.post(big, {}, "/elsewhere") == 404
        assert listener.post(big, {}, "/hooks", method="PUT") == 405
        chunked = iter([b"{", b" " * (4 * 1024 * 1024), b"}"])
        assert listener.post(chunked, {}, "/hooks") == 411
        good = webhook_event("resp_after")
        assert listener.post(good, signed(good), "/hooks") == 200
    finally:
        code, out, err = listener.stop()
    assert code == 0
    assert [json.loads(line)["data"]["id"] for line in out.splitlines()] == ["resp_after"]
    assert "Traceback" not in err


def test_listen_answers_expect_100_continue_from_the_head():
    # A sender that asks first (curl does, for big bodies) is refused before
    # it sends the body, and told to go on when the head is acceptable.
    listener = Listener("--path", "/hooks")
    host, port = listener.base.split("//")[1].split(":")

    def ask(path, payload, headers, length=None):
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            head = ["POST %s HTTP/1.1" % path, "Host: x", "Expect: 100-continue",
                    "Content-Length: %d" % (len(payload) if length is None else length)]
            head += ["%s: %s" % item for item in headers.items()]
            conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            data = conn.recv(65536)
            if data.startswith(b"HTTP/1.1 100 "):  # go on
                conn.sendall(payload)
                while data.count(b"HTTP/1.1 ") < 2:
                    chunk = conn.recv(65536)
                    assert chunk, data
                    data += chunk
            return [status[:3] for status in data.split(b"HTTP/1.1 ")[1:]]
    try:
        assert ask("/hooks", b"", {}, length=50 * 1024 * 1024) == [b"413"]
        assert ask("/elsewhere", b"x" * 10, {}) == [b"404"]
        good = webhook_event("resp_asked")
        assert ask("/hooks", good, signed(good)) == [b"100", b"200"]
    finally:
        code, out, err = listener.stop()
    assert code == 0
    assert [json.loads(line)["data"]["id"] for line in out.splitlines()] == ["resp_asked"]


def test_listen_fetch_adds_the_response(api):
    api.on("GET", "/v1/responses/resp_1", reply(200, body("completed", rid="resp_1",
                                                          output=[message("fetched")])))
    listener = Listener("--fetch", env={"OPENAI_API_KEY": KEY,
                                        "OPENAI_BASE_URL": api.url + "/v1"})
    try:
        good = webhook_event("resp_1")
        assert listener.post(good, signed(good, webhook_id="wh_1"), "/") == 200
        missing = webhook_event("resp_404", event_id="evt_2")
        assert listener.post(missing, signed(missing, webhook_id="wh_2"), "/") == 200
        listener.wait_for_stderr("could not fetch response resp_404")
    finally:
        code, out, err = listener.stop()
    first, second = [json.loads(line) for line in out.splitlines()]
    assert first["event"]["data"]["id"] == "resp_1"
    assert first["text"] == "fetched"
    assert first["response"]["provider_metadata"]["openai"]["status"] == "completed"
    assert second["event"]["data"]["id"] == "resp_404"
    assert second["response"] is None
    assert "resp_404" in err
    assert KEY not in err


def test_listen_prints_every_acknowledged_event_when_stopped(raw_server):
    server = raw_server(lambda conn: time.sleep(10))  # the API never answers a fetch
    listener = Listener("--fetch", env={"OPENAI_API_KEY": KEY,
                                        "OPENAI_BASE_URL": server.url + "/v1"})
    try:
        for n in range(3):
            event = webhook_event("resp_%d" % n, event_id="evt_%d" % n)
            assert listener.post(event, signed(event, webhook_id="wh_%d" % n), "/") == 200
        deadline = time.monotonic() + 10
        while server.connections < 1 and time.monotonic() < deadline:
            time.sleep(0.02)  # the first fetch is under way
    finally:
        code, out, err = listener.stop()
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [line["event"]["data"]["id"] for line in lines] == ["resp_0", "resp_1", "resp_2"]
    assert all(line["response"] is None for line in lines)
    assert "3 event(s) printed without fetching" in err


@pytest.mark.parametrize("after", [0, 1, 3, 8])
def test_listen_stopped_while_busy_prints_each_acknowledged_event_once(after):
    # Deliveries keep coming while SIGTERM arrives: every event answered 200
    # is printed exactly once, and no event answered otherwise is (one whose
    # answer was lost to the exit may be printed: OpenAI sends it again).
    listener = Listener()
    acknowledged, refused, in_doubt = [], [], []

    def deliver():
        for n in range(200):
            event = webhook_event("resp_%d" % n, event_id="evt_%d" % n)
            try:
                status = listener.post(event, signed(event, webhook_id="wh_%d" % n), "/")
            except (OSError, http.client.HTTPException):  # cut off by the exit
                in_doubt.append("resp_%d" % n)
                return
            (acknowledged if status == 200 else refused).append("resp_%d" % n)
            if refused:
                return
    poster = threading.Thread(target=deliver)
    poster.start()
    deadline = time.monotonic() + 20
    while len(acknowledged) < after and time.monotonic() < deadline:
        time.sleep(0.001)
    code, out, err = listener.stop()
    poster.join(30)
    printed = [json.loads(line)["data"]["id"] for line in out.splitlines()]
    assert code == 0, err
    assert printed in (acknowledged, acknowledged + in_doubt), (printed, err)
    assert "Traceback" not in err


def test_listen_a_second_signal_does_not_cut_the_last_prints_short(raw_server):
    server = raw_server(lambda conn: time.sleep(10))  # the API never answers a fetch
    listener = Listener("--fetch", env={"OPENAI_API_KEY": KEY,
                                        "OPENAI_BASE_URL": server.url + "/v1"})
    ids = ["resp_%d" % n for n in range(400)]  # more lines than a pipe holds
    try:
        for n, rid in enumerate(ids):
            event = webhook_event(rid, event_id="evt_%d" % n)
            assert listener.post(event, signed(event, webhook_id="wh_%d" % n), "/") == 200
    finally:
        listener.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # it is printing into the full pipe nobody reads yet
        listener.proc.send_signal(signal.SIGTERM)
        code, out, err = listener.stop()
    assert code == 0, err
    assert [json.loads(line)["event"]["data"]["id"] for line in out.splitlines()] == ids
    assert "400 event(s) printed without fetching" in err


def test_listen_secret_file_and_missing_secret(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(WEBHOOK_SECRET + "\n")
    listener = Listener("--secret-file", str(secret_file), secret=None)
    try:
        good = webhook_event()
        assert listener.post(good, signed(good), "/") == 200
    finally:
        code, out, _ = listener.stop()
    assert code == 0
    assert json.loads(out)["id"] == "evt_1"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    done = subprocess.run([sys.executable, "openai_bg.py", "listen", "--port", "0"], cwd=HERE,
                          env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "OPENAI_WEBHOOK_SECRET" in done.stderr


# -- listen under hostile senders (the server in-process, its limits shortened)

@pytest.fixture
def hook_server(monkeypatch):
    """Start listen's server in-process: ``hook_server(**limits)`` returns
    (server, receiver); limits are the module's LISTEN_* constants."""
    started = []

    def start(capacity=None, **limits):
        for name, value in limits.items():
            monkeypatch.setattr(openai_bg, name, value)
        if capacity is not None:
            monkeypatch.setattr(openai_bg, "_listen_capacity", lambda: capacity)
        receiver = openai_bg._WebhookReceiver(WEBHOOK_SECRET, "/hooks")
        server = openai_bg._WebhookServer(receiver, "127.0.0.1", 0)
        started.append(server)
        return server, receiver
    yield start
    for server in started:
        server.close()


def raw_request(payload, headers, path="/hooks", extra=b""):
    head = ["POST %s HTTP/1.1" % path, "Host: x"]
    head += ["%s: %s" % item for item in headers.items()]
    if "Content-Length" not in headers and "Transfer-Encoding" not in headers:
        head.append("Content-Length: %d" % len(payload))
    return ("\r\n".join(head) + "\r\n\r\n").encode("utf-8") + extra + payload


def read_answer(conn):
    """One whole HTTP answer (head and Content-Length body) from a socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(rest) < length:
        rest += conn.recv(65536)
    return head + b"\r\n\r\n" + rest


def delivery(n):
    event = webhook_event("resp_%d" % n, event_id="evt_%d" % n)
    return event, signed(event, webhook_id="wh_%d" % n)


def taken(receiver):
    return [e["data"]["id"] for e in receiver.drain()]


def test_listen_answers_in_one_write_on_kept_alive_connections(hook_server):
    # 0.2.0 wrote the head and the body apart: each answer then waited ~40 ms
    # for the sender's delayed ACK.  One write: the first read holds it all.
    server, receiver = hook_server()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        for n in range(20):
            conn.sendall(raw_request(*delivery(n)))
            first = conn.recv(65536)
            assert first.startswith(b"HTTP/1.1 200 OK\r\n")
            assert first.endswith(b"\r\n\r\nok\n")  # head and body in one read
            assert b"Connection: close" not in first
    assert taken(receiver) == ["resp_%d" % n for n in range(20)]


def test_listen_takes_pipelined_requests_in_order(hook_server):
    server, receiver = hook_server()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(b"".join(raw_request(*delivery(n)) for n in range(5)))
        answers = b""
        while answers.count(b"HTTP/1.1 200") < 5:
            answers += conn.recv(65536)
    assert taken(receiver) == ["resp_%d" % n for n in range(5)]


@pytest.mark.parametrize("stall", ["nothing", "half a head", "half a body",
                                   "idle after an answer"])
def test_listen_deadlines_close_stalled_connections(hook_server, stall):
    server, receiver = hook_server(LISTEN_HEAD_SECONDS=0.3, LISTEN_BODY_SECONDS=0.3,
                                   LISTEN_IDLE_SECONDS=0.3)
    event, headers = delivery(1)
    whole = raw_request(event, headers)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        if stall == "half a head":
            conn.sendall(whole[:20])
        elif stall == "half a body":
            conn.sendall(whole[:-5])
        elif stall == "idle after an answer":
            conn.sendall(whole)
            assert read_answer(conn).startswith(b"HTTP/1.1 200")
        rest = b""
        while True:  # the server closes it: EOF (after a 408 where a request began)
            chunk = conn.recv(65536)
            if not chunk:
                break
            rest += chunk
    assert rest in (b"", ) if stall in ("nothing", "idle after an answer") else \
        rest.startswith(b"HTTP/1.1 408")
    assert len(server.peers) == 0


def test_listen_serves_real_deliveries_while_hundreds_of_connections_stall(hook_server):
    server, receiver = hook_server(capacity=64)
    stalled = []
    try:
        for _ in range(300):  # far more than it serves at once: the oldest make room
            conn = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            conn.sendall(b"POST /hooks HTTP/1.1\r\nHost: x\r\nContent-Le")
            stalled.append(conn)
        for n in range(10):
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
                conn.sendall(raw_request(*delivery(n)))
                assert read_answer(conn).startswith(b"HTTP/1.1 200")
        assert len(server.peers) <= 64
    finally:
        for conn in stalled:
            conn.close()
    assert taken(receiver) == ["resp_%d" % n for n in range(10)]


def test_listen_absorbs_a_burst_of_64_new_connections(hook_server):
    server, receiver = hook_server()
    conns = [socket.socket() for _ in range(64)]
    for conn in conns:  # all connect before any is served
        conn.setblocking(False)
        conn.connect_ex(("127.0.0.1", server.port))
    statuses = []
    for n, conn in enumerate(conns):
        conn.setblocking(True)
        conn.settimeout(10)
        conn.sendall(raw_request(*delivery(n)))
        statuses.append(read_answer(conn)[:12])
        conn.close()
    assert statuses == [b"HTTP/1.1 200"] * 64
    assert len(taken(receiver)) == 64


def test_listen_bounds_the_memory_of_an_unfinished_head(hook_server):
    server, receiver = hook_server()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(b"POST /hooks HTTP/1.1\r\nX-Big: " + b"a" * (64 * 1024))
        assert read_answer(conn).startswith(b"HTTP/1.1 431")


@pytest.mark.parametrize("lengths, status", [
    (["\u00b2"], 400),             # a superscript two passes str.isdigit()
    (["\u0665"], 400),             # an Arabic-Indic five too
    (["-1"], 400), (["+5"], 400), (["0x10"], 400), ([" "], 400),
    (["5", "6"], 400),            # two different lengths: which one frames it?
    (["5, 6"], 400),
    (["LEN", "LEN"], 200),        # copies that agree are one length (RFC 9112)
    (["LEN, LEN"], 200),
])
def test_listen_reads_content_length_as_rfc_9112_says(hook_server, lengths, status):
    server, receiver = hook_server()
    event, headers = delivery(1)
    head = ["POST /hooks HTTP/1.1", "Host: x"] + ["%s: %s" % item for item in headers.items()]
    head += ["Content-Length: " + v.replace("LEN", str(len(event))) for v in lengths]
    data = ("\r\n".join(head) + "\r\n\r\n").encode("utf-8") + event
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(data)
        answer = read_answer(conn)
    assert answer.startswith(b"HTTP/1.1 %d" % status)
    if status == 400:
        assert b"Connection: close" in answer
        assert taken(receiver) == []


def test_listen_refuses_a_smuggled_delivery(hook_server):
    # Content-Length beside Transfer-Encoding: 0.2.0 framed by the length and
    # served the delivery smuggled behind it.
    server, receiver = hook_server()
    smuggled = raw_request(*delivery(2))
    event, headers = delivery(1)
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(event), event)
    head = ["POST /hooks HTTP/1.1", "Host: x", "Transfer-Encoding: chunked",
            "Content-Length: %d" % len(chunked)] + ["%s: %s" % i for i in headers.items()]
    data = ("\r\n".join(head) + "\r\n\r\n").encode() + chunked + smuggled
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(data)
        answers = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            answers += chunk
    assert answers.startswith(b"HTTP/1.1 400")
    assert answers.count(b"HTTP/1.1") == 1  # closed: nothing behind it is read
    assert taken(receiver) == []


def test_listen_remembers_ids_as_long_as_a_replay_could_pass():
    receiver = openai_bg._WebhookReceiver(WEBHOOK_SECRET, "/", max_ids=30000)
    now = [0.0]
    receiver.clock = lambda: now[0]
    event = webhook_event("resp_replayed")
    captured = signed(event, webhook_id="wh_captured")
    assert receiver.receive(event, captured) == (200, "ok")
    for n in range(20000):  # 0.2.0 forgot an id after 10,000 others (33/s for 300 s)
        now[0] = n * 0.015
        other = webhook_event("resp_%d" % n)
        assert receiver.receive(other, signed(other, webhook_id="wh_%d" % n))[0] == 200
    assert receiver.receive(event, captured) == (200, "duplicate")  # still known
    now[0] = 2 * openai_bg.DEFAULT_WEBHOOK_TOLERANCE + 1  # a replay would fail the clock now
    assert receiver.receive(webhook_event("x"), signed(webhook_event("x"), webhook_id="new")) \
        == (200, "ok")
    assert "wh_captured" not in receiver.seen  # and the memory is given back
    assert len(receiver.seen) < 20000
    full = openai_bg._WebhookReceiver(WEBHOOK_SECRET, "/", max_ids=2)
    for n in range(2):
        assert full.receive(*delivery(n))[0] == 200
    assert full.receive(*delivery(3))[0] == 503  # bounded: send it later, never forget early


def test_listen_refuses_a_signed_body_that_is_not_utf8(hook_server):
    server, receiver = hook_server()
    bad = b'{"id": "evt_1", "type": "response.completed", "data": "\xff\xfe"}'
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(raw_request(bad, signed(bad)))
        answer = read_answer(conn)
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"not UTF-8" in answer
    assert taken(receiver) == []


def test_listen_survives_hang_ups_without_a_traceback():
    listener = Listener("--path", "/hooks")
    host, port = listener.base.split("//")[1].split(":")
    try:
        event, headers = delivery(1)
        whole = raw_request(event, headers)
        for cut in (0, 10, len(whole) - 40, len(whole) - 3):
            for how in ("close", "reset"):
                conn = socket.create_connection((host, int(port)), timeout=10)
                conn.sendall(whole[:cut])
                if how == "reset":
                    reset(conn)
                else:
                    conn.close()
        assert listener.post(event, headers, "/hooks") == 200
    finally:
        code, out, err = listener.stop()
    assert code == 0
    assert "Traceback" not in err and "Exception" not in err
    assert [json.loads(line)["data"]["id"] for line in out.splitlines()] == ["resp_1"]


def test_listen_refuses_new_deliveries_after_sigterm_even_with_stdout_blocked():
    # Nobody reads stdout: the listener's main thread blocks writing big lines
    # (unbuffered, as in many containers).  After SIGTERM every new delivery
    # gets 503, and every line it then writes is whole.
    listener = Listener(env={"PYTHONUNBUFFERED": "1"})
    acknowledged = []
    padding = "p" * 30000
    try:
        for n in range(12):  # ~360 KB of lines: far more than a pipe holds
            event = json.dumps({"id": "evt_%d" % n, "type": "response.completed",
                                "data": {"id": "resp_%d" % n}, "pad": padding}).encode()
            assert listener.post(event, signed(event, webhook_id="wh_%d" % n), "/") == 200
            acknowledged.append("resp_%d" % n)
        listener.proc.send_signal(signal.SIGTERM)
        late = webhook_event("resp_late", event_id="evt_late")
        deadline = time.monotonic() + 10
        status = 200
        while status != 503 and time.monotonic() < deadline:  # the signal is on its way
            status = listener.post(late, signed(late, webhook_id="wh_late"), "/")
            if status == 200 and "resp_late" not in acknowledged:  # then duplicates
                acknowledged.append("resp_late")
        assert status == 503
    finally:
        code, out, err = listener.stop()
    lines = [json.loads(line) for line in out.splitlines()]  # each one whole
    assert [line["data"]["id"] for line in lines] == acknowledged
    assert code == 0, err


def test_listen_fetch_prints_one_shape_for_every_event(api):
    api.on("GET", "/v1/responses/resp_1", reply(200, body("completed", rid="resp_1",
                                                          output=[message("fetched")])))
    listener = Listener("--fetch", env={"OPENAI_API_KEY": KEY,
                                        "OPENAI_BASE_URL": api.url + "/v1"})
    try:
        other = json.dumps({"id": "evt_b", "type": "batch.completed",
                            "data": {"id": "batch_1"}}).encode()
        assert listener.post(other, signed(other, webhook_id="wh_b"), "/") == 200
        good = webhook_event("resp_1")
        assert listener.post(good, signed(good, webhook_id="wh_1"), "/") == 200
        printed = listener.read_lines(2)
    finally:
        code, out, err = listener.stop(printed)
    first, second = [json.loads(line) for line in out.splitlines()]
    assert sorted(first) == sorted(second) == ["event", "response", "text"]
    assert first == {"event": json.loads(other), "response": None, "text": None}
    assert second["text"] == "fetched"
    assert api.paths() == ["/v1/responses/resp_1"]  # only response.* events are fetched


###############################################################################
# Promises under hostile servers, inputs and terminals
###############################################################################

def test_key_echoed_in_headers_ids_and_failed_jobs_never_leaks(api, caplog):
    echo = {"x-request-id": "Bearer " + KEY}
    api.on("GET", "/v1/responses/r1", reply(200, body("in_progress", rid="r1"), echo))
    api.on("GET", "/v1/responses/r2", reply(200, body("completed", rid=KEY)))  # id = the key
    api.on("GET", "/v1/responses/r3", reply(200, body("failed", rid="r3", error={
        "code": "server_error", "message": "bad key %s" % KEY})))
    api.on("GET", "/v1/responses/r4", reply(500, {"error": {"message": "no"}}, echo))
    c = Client(api_key=KEY, base_url=api.url + "/v1", max_retries=0)
    with caplog.at_level(logging.DEBUG, logger="openai_bg"):
        c.poll_response("r1")
        c.poll_response("r2")
        failed = c.poll_response("r3")
        with pytest.raises(openai_bg.InternalServerError) as info:
            c.poll_response("r4")
    assert "x-request-id" in caplog.text.lower() or "request id" in caplog.text
    assert KEY not in caplog.text
    assert KEY not in failed.error_message
    assert KEY not in repr(failed)
    assert KEY not in str(info.value)
    assert KEY not in repr(info.value.headers)
    for args in (["poll", "r1"], ["poll", "r2"], ["poll", "r3"], ["--json", "poll", "r2"],
                 ["wait", "r3"], ["poll", "r4", "--max-retries", "0"]):
        cli(api, *args)  # cli() asserts the key is in neither stdout nor stderr


def test_percent_encoded_credential_query_values_are_redacted(api):
    token = "AbC+dEf/ghi=jk"
    c = Client(api_key=KEY, base_url=api.url, default_query={"token": token}, max_retries=0)
    encoded = "AbC%2BdEf%2Fghi%3Djk"
    api.on("GET", "/responses/r1", reply(400, {"error": {"message": "bad url ?token=%s and %s"
                                                         % (encoded, token)}}))
    with pytest.raises(openai_bg.BadRequestError) as info:
        c.poll_response("r1")
    assert api.requests[0].path == "/responses/r1?token=" + encoded  # sent as given
    text = str(info.value) + repr(info.value.url) + repr(info.value.body)
    assert encoded not in text
    assert token not in text
    assert "[redacted]" in text


def test_userinfo_in_base_url_is_refused_without_repeating_it():
    with pytest.raises(ValueError) as info:
        Client(api_key=KEY, base_url="http://user:s3cr3t-pass@example.com/v1")
    assert "s3cr3t-pass" not in str(info.value)
    assert "user name or password" in str(info.value)


@pytest.mark.parametrize("base_url", ["http:///v1", "http://host:port/v1", "http://h:99999/v1",
                                      "https://api.example.com/v1\n", "ftp://host/v1",
                                      "https://exa mple.com/v1", "https://h/v1?x=1"])
def test_malformed_base_urls_are_refused_at_construction(base_url):
    with pytest.raises(ValueError, match="base_url"):
        Client(api_key=KEY, base_url=base_url)


def test_upper_case_scheme_works(api):
    api.on("GET", "/v1/responses/r1", reply(200, body(rid="r1")))
    c = Client(api_key=KEY, base_url=api.url.replace("http://", "HTTP://") + "/v1")
    assert c.poll_response("r1").status == "completed"


@pytest.mark.parametrize("kwargs,name", [
    ({"api_key": "sk-\u201cpasted\u201d"}, "api_key"),
    ({"api_key": "sk-\u20ac-key"}, "api_key"),
    ({"api_key": "sk-ok", "organization": "org-\u20ac"}, "organization"),
    ({"api_key": "sk-ok", "project": "proj\n"}, "project"),
    ({"api_key": "sk-ok", "default_headers": {"X-\u00e9": "v"}}, "header name"),
    ({"api_key": "sk-ok", "default_headers": {"X-Token": "caf\u00e9-secret"}}, "X-Token"),
])
def test_credentials_http_cannot_carry_fail_at_construction(api, kwargs, name):
    with pytest.raises(ValueError) as info:
        Client(base_url=api.url, **kwargs)
    assert name in str(info.value)
    for value in kwargs.values():
        if isinstance(value, str) and value != "sk-ok":
            assert value not in str(info.value)
    assert api.requests == []


@pytest.mark.parametrize("key", ["", "   ", "\t"])
def test_blank_keys_are_refused(key):
    with pytest.raises(OpenAIError, match="OPENAI_API_KEY"):
        Client(api_key=key)


@pytest.mark.parametrize("timeout", [1e10, float("inf"), float("nan"), 0, -1])
def test_absurd_timeouts_are_refused_at_construction(timeout):
    with pytest.raises(ValueError, match="timeout"):
        Client(api_key=KEY, timeout=timeout)


def test_request_timeout_option_is_checked_by_the_cli(api):
    done = cli(api, "poll", "r1", "--request-timeout", "1e10")
    assert done.returncode == 2
    assert "--request-timeout" in done.stderr
    assert api.requests == []


def test_wait_deadline_cuts_server_requested_retry_delays(api, client, clock):
    api.on("GET", "/v1/responses/r1", reply(503, b"busy", {"Retry-After": "5"}))
    with pytest.raises(openai_bg.WaitTimeoutError) as info:
        client.wait_response("r1", timeout=1)
    assert clock.now <= 1.0 + 1e-9  # no sleep went past what was left of the wait
    assert all(s <= 1.0 for s in clock.sleeps)
    assert info.value.response is None


def test_wait_deadline_caps_each_request(raw_server):
    server = raw_server(lambda conn: time.sleep(5))  # never answers in time
    c = make_client(server.url, timeout=60, max_retries=0)
    with pytest.raises(openai_bg.WaitTimeoutError):
        c.wait_response("r1", timeout=0.5)  # ends as a wait timeout, not after 60 s


def test_trickled_connect_reply_is_bounded_by_the_timeout(raw_server, tls_files, monkeypatch):
    def trickle_connect(conn):
        for byte in b"HTTP/1.1 200 Connection established\r\nX-Pad: " + b"x" * 40 + b"\r\n\r\n":
            conn.sendall(bytes([byte]))
            time.sleep(0.1)
    proxy = raw_server(trickle_connect)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("https_proxy", proxy.url)
    context = ssl.create_default_context(cafile=tls_files["ca.pem"])
    c = Client(api_key=KEY, base_url="https://127.0.0.1:9/v1", ssl_context=context,
               timeout=1.5, max_retries=0)
    with pytest.raises(APITimeoutError):  # not a TLS failure 9 s later
        c.poll_response("r1")


def test_cli_wait_on_a_dead_base_url_fails_fast_with_a_hint(api, closed_port):
    done = cli(api, "wait", "r1", "--timeout", "30", "--max-retries", "0", "--base-url",
               "http://127.0.0.1:%d/v1" % closed_port)
    assert done.returncode == 4
    assert "OPENAI_BASE_URL" in done.stderr
    assert "r1" in done.stderr


INTERIM = b"HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n" \
          b"HTTP/1.1 102 Processing\r\n\r\n"


@pytest.mark.parametrize("method", ["poll", "create"])
def test_interim_1xx_answers_are_skipped(raw_server, method):
    queued = json.dumps(body("queued", rid="r1")).encode()
    server = raw_server(lambda conn: conn.sendall(
        INTERIM + b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(queued), queued)))
    c = Client(api_key=KEY, base_url=server.url)
    r = c.poll_response("r1") if method == "poll" else c.create_response(model="m", input="q")
    assert r.status == "queued"
    assert r.response_id == "r1"


@pytest.mark.parametrize("payload", [{"id": "resp_1"}, {"id": "resp_1", "status": 5},
                                     {"id": "resp_1", "output": []}])
def test_2xx_create_with_an_id_but_no_status_names_the_created_job(api, client, payload):
    api.on("POST", "/v1/responses", reply(200, payload))
    with pytest.raises(APIResponseDecodeError) as info:
        client.create_response(model="m", input="q")
    assert info.value.may_have_been_created is True
    assert info.value.response_id == "resp_1"
    assert "resp_1" in str(info.value)


def nested(depth):
    return "[" * depth + "]" * depth


def test_deeply_nested_bodies_are_errors_not_crashes(api, client):
    deep = nested(100000)
    api.on("GET", "/v1/responses/ok", reply(200, deep))
    with pytest.raises(APIResponseDecodeError, match="nested"):
        client.poll_response("ok")
    api.on("GET", "/v1/responses/err", reply(500, deep))
    with pytest.raises(openai_bg.InternalServerError):
        client.poll_response("err")
    call = {"type": "function_call", "name": "f", "call_id": "c", "arguments": nested(100000)}
    api.on("GET", "/v1/responses/args", reply(200, body(output=[call], rid="args")))
    (part,) = client.poll_response("args").content.parts
    assert part.args == {}
    api.on("POST", "/v1/responses", reply(200, deep))
    with pytest.raises(APIResponseDecodeError) as info:
        client.create_response(model="m", input="q")
    assert info.value.may_have_been_created is True


def test_non_finite_numbers_never_reach_to_dict(api, client):
    text = json.dumps(body(usage={"input_tokens": 5, "output_tokens": 2, "total_tokens": 7},
                           output=[{"type": "web_search_call", "score": 1.5}]))
    text = text.replace("1.5", "NaN").replace('"total_tokens": 7', '"total_tokens": Infinity')
    text = text.replace('"input_tokens": 5', '"input_tokens": 1e999')
    api.on("GET", "/v1/responses/r1", reply(200, text))
    r = client.poll_response("r1")
    json.dumps(r.to_dict(), allow_nan=False)  # raises if any NaN or Infinity got through
    json.dumps(r.raw, allow_nan=False)
    assert r.usage_metadata.prompt_token_count == 0
    assert r.usage_metadata.total_token_count == 2


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_numbers_are_never_sent(api, client, value):
    with pytest.raises(ValueError, match="NaN"):
        client.create_response(model="m", input="q", temperature=value)
    assert api.requests == []


def test_interrupt_in_the_first_on_update_cancels_the_job(api, client, clock):
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    api.on("POST", "/v1/responses/r1/cancel", reply(200, body("cancelled", rid="r1")))

    def on_update(response):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt) as info:
        client.create_and_wait(model="m", input="q", on_update=on_update)
    assert api.paths("POST") == ["/v1/responses", "/v1/responses/r1/cancel"]
    assert info.value.response_id == "r1"
    assert info.value.cancelled is True
    assert isinstance(info.value, openai_bg.JobInterrupted)


# -- the command line as a Unix citizen ---------------------------------------

def run_cli(api, args, env=None, **kwargs):
    """The real command with bytes in and out (for encodings and descriptors)."""
    environment = {k: v for k, v in os.environ.items()
                   if not k.upper().startswith(("OPENAI_", "PYTHON", "LC_", "LANG"))}
    environment.update(OPENAI_API_KEY=KEY, OPENAI_BASE_URL=api.url + "/v1")
    environment.update(env or {})
    done = subprocess.run([sys.executable, "openai_bg.py", *args], cwd=HERE, env=environment,
                          capture_output=True, timeout=60, **kwargs)
    assert KEY.encode() not in done.stdout + done.stderr
    assert b"Traceback" not in done.stderr
    return done


ASCII_TERMINAL = {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii"},
                                 {"PYTHONIOENCODING": "latin-1"}, ASCII_TERMINAL])
def test_json_output_is_valid_json_on_any_stdout(api, env):
    api.on("GET", "/v1/responses/r1", reply(200, body(rid="r1", output=[message(
        "caf\u00e9 \u20ac \U0001f600 \u4e2d")])))
    done = run_cli(api, ["--json", "poll", "r1"], env=env)
    assert done.returncode == 0
    assert json.loads(done.stdout)["response"]["content"]["parts"][0]["text"] == \
        "caf\u00e9 \u20ac \U0001f600 \u4e2d"


def test_prompts_are_utf8_whatever_the_locale(api):
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    prompt = "Qu'est-ce que le caf\u00e9 \u20ac?"
    done = run_cli(api, ["create", "--model", "m", prompt.encode()], env=ASCII_TERMINAL)
    assert done.returncode == 0, done.stderr
    done = run_cli(api, ["create", "--model", "m", "-"], env=ASCII_TERMINAL,
                   input=b"\xef\xbb\xbf" + prompt.encode())  # a BOM is dropped
    assert done.returncode == 0, done.stderr
    assert [r.json()["input"] for r in api.requests] == [prompt, prompt]


@pytest.mark.parametrize("args,stdin,source", [
    (["create", "--model", "m", b"bad \xff byte"], None, b"argument"),
    (["create", "--model", "m", "-"], b"bad \xff byte", b"stdin")])
def test_invalid_utf8_prompts_are_usage_errors(api, args, stdin, source):
    done = run_cli(api, args, input=stdin)
    assert done.returncode == 2
    assert source in done.stderr
    assert api.requests == []


def big_answer(api):
    api.on("GET", "/v1/responses/r1", reply(200, body(rid="r1", output=[
        message("x\n" * 200000)])))


@pytest.mark.parametrize("reader", ["head -1 >/dev/null", "true"])
@pytest.mark.parametrize("command", ["poll r1", "--json poll r1", "wait r1"])
def test_closed_pipe_gives_one_line_and_the_id(api, tmp_path, command, reader):
    big_answer(api)
    err = tmp_path / "err"
    env = dict(os.environ, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=api.url + "/v1")
    done = subprocess.run(["bash", "-c", '"$0" openai_bg.py %s 2>"$1" | %s; '
                           'echo "${PIPESTATUS[0]}"' % (command, reader), sys.executable,
                           str(err)], cwd=HERE, env=env, capture_output=True, text=True,
                          timeout=60)
    stderr = err.read_text()
    assert "Traceback" not in stderr
    assert "Exception ignored" not in stderr
    if reader == "true" or done.stdout.strip() != "0":  # head may have read it all
        assert done.stdout.strip() == "7"
        (line,) = [line for line in stderr.splitlines() if "stdout" in line]
        assert "r1" in line


@pytest.mark.parametrize("redirect", [">/dev/full", ">&-"])
def test_unwritable_stdout_gives_one_line(api, redirect):
    api.on("GET", "/v1/responses/r1", reply(200, body(rid="r1", output=[message("answer")])))
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    env = dict(os.environ, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=api.url + "/v1")
    for command in ("wait r1", "create --model m q", "run --model m q --no-stream"):
        done = subprocess.run(["bash", "-c", '"$0" openai_bg.py %s %s' % (command, redirect),
                               sys.executable], cwd=HERE, env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 7, (command, done.stderr)
        lines = [line for line in done.stderr.splitlines() if "stdout" in line]
        assert len(lines) == 1
        assert "r1" in lines[0]
        assert "Traceback" not in done.stderr


def test_closed_stdin_is_a_usage_error(api):
    env = dict(os.environ, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=api.url + "/v1")
    done = subprocess.run(["bash", "-c", '"$0" openai_bg.py create --model m - <&-',
                           sys.executable], cwd=HERE, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert "stdin" in done.stderr
    assert "Traceback" not in done.stderr
    assert api.requests == []


def test_server_text_cannot_forge_status_lines(api):
    forged = "boom\n\x1b[1Aopenai-bg: response r1 ended completed\r\x1b]0;title\x07\x9b2J"
    api.on("GET", "/v1/responses/r1", reply(200, body("failed", rid="r1", error={
        "code": "x\x1b[31m", "message": forged})))
    done = run_cli(api, ["wait", "r1"])
    assert done.returncode == 1
    lines = done.stderr.decode().splitlines()
    assert all("\x1b" not in line and "\r" not in line and "\x9b" not in line for line in lines)
    (ended,) = [line for line in lines if "ended" in line]
    assert ended.startswith("openai-bg: response r1 ended failed: boom")


def test_answer_on_stdout_stays_as_sent(api):
    text = "tab\there\nline two\n"
    api.on("GET", "/v1/responses/r1", reply(200, body(rid="r1", output=[message(text)])))
    assert run_cli(api, ["poll", "r1"]).stdout == text.encode()


@pytest.mark.parametrize("args,flag", [
    (["wait", "r1", "--timeout", "-1"], "--timeout"),
    (["wait", "r1", "--timeout", "nan"], "--timeout"),
    (["wait", "r1", "--interval", "0.001"], "--interval"),
    (["run", "--model", " ", "q"], "--model"),
    (["create", "--model", "m", "--param", "model=x", "q"], "--model"),
    (["create", "--model", "m", "--param", "input=x", "q"], "INPUT"),
    (["create", "--model", "m", "--param", "instructions=x", "q"], "--instructions"),
    (["create", "--model", "m", "--param", "stream=true", "q"], "stream"),
    (["create", "--model", "m", "--param", "background=false", "q"], "background"),
    (["poll", "r1", "--base-url", "http:///v1"], "--base-url"),
    (["poll", "r1", "--max-retries", "-1"], "--max-retries"),
])
def test_cli_errors_name_the_flags(api, args, flag):
    done = cli(api, *args)
    assert done.returncode == 2, done.stderr
    assert flag in done.stderr
    assert api.requests == []


def test_cli_names_the_key_variable_for_a_key_http_cannot_carry(api):
    done = run_cli(api, ["poll", "r1"], env={"OPENAI_API_KEY": "sk-\u201cpasted\u201d"})
    assert done.returncode == 2
    assert b"$OPENAI_API_KEY" in done.stderr
    assert "\u201cpasted".encode() not in done.stderr
    assert api.requests == []


def test_cli_errors_name_the_variables(api):
    done = cli(api, "poll", "r1", env={"OPENAI_BASE_URL": "http://h:port/v1"})
    assert done.returncode == 2
    assert "$OPENAI_BASE_URL" in done.stderr
    done = cli(api, "poll", "r1", env={"OPENAI_API_KEY": "  "})
    assert done.returncode == 2
    assert "$OPENAI_API_KEY" in done.stderr
    assert "api_key" not in done.stderr


@pytest.mark.parametrize("cancel", [False, True])
def test_cli_wait_timeout_says_what_happened(api, cancel):
    api.on("GET", "/v1/responses/r1", reply(200, body("queued", rid="r1")))
    api.on("POST", "/v1/responses/r1/cancel", reply(200, body("cancelled", rid="r1")))
    extra = ["--cancel-on-timeout"] if cancel else []
    done = cli(api, "--json", "wait", "r1", "--timeout", "0.3", "--interval", "0.1", *extra)
    assert done.returncode == 5
    assert "still queued after" in done.stderr
    assert ("; cancelled" in done.stderr) is cancel
    out = json.loads(done.stdout)
    assert out["raw"]["status"] == "queued"
    assert ("cancel" in out) is cancel
    if cancel:
        assert out["cancel"]["raw"]["status"] == "cancelled"


def test_heartbeat_off_a_terminal():
    lines = []

    class Log:
        def write(self, text):
            lines.append(text)

        def flush(self):
            pass
    now = [0.0]
    progress = openai_bg._Progress(Log(), lambda: now[0])
    for at in range(0, 600, 20):  # ten minutes of "in_progress", a poll every 20 s
        now[0] = at
        progress.update(convert(body("in_progress", rid="r1")))
    assert 9 <= len(lines) <= 11  # one per minute, not one per poll, not only one
    assert all(line.startswith("r1: in_progress") for line in lines)


class Screen(list):
    """A stderr that is (or is not) a terminal, recording what is written."""

    def __init__(self, tty=True):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty

    def write(self, text):
        self.append(text)

    def flush(self):
        pass


@pytest.mark.parametrize("tty, quiet, lines", [
    # (on a terminal?, seconds with nothing arriving, status lines expected)
    (True, 20, 20),   # the live line is redrawn every second: 1 s, 2 s ... 20 s
    (False, 59, 0),   # off a terminal: nothing before a minute of quiet
    (False, 60, 1),   # then a heartbeat
    (False, 150, 2),  # and one per minute after it
])
def test_progress_moves_on_a_clock_while_nothing_arrives(tty, quiet, lines):
    now = [0.0]
    screen = Screen(tty)
    progress = openai_bg._Progress(screen, lambda: now[0])
    progress.update(convert(body("in_progress", rid="r1")))
    progress.event({"type": "response.output_text.delta", "sequence_number": 1, "delta": "x"})
    del screen[:]
    for second in range(1, quiet + 1):  # what the clock thread does each second
        now[0] = second
        progress.tick()
    drawn = [w for w in screen if "r1: in_progress" in w]
    assert len(drawn) == lines
    if tty:
        assert drawn[-1] == "\r\033[Kr1: in_progress, %d s, 1 event - writing: 1 characters" % quiet
    progress.finish()
    del screen[:]
    progress.tick()
    assert screen == []  # a finished line is never drawn again


def test_progress_clock_thread_redraws_a_quiet_live_line(monkeypatch):
    monkeypatch.setattr(openai_bg, "_TICK_SECONDS", 0.01)
    screen = Screen()
    progress = openai_bg._Progress(screen, time.monotonic)
    progress.update(convert(body("in_progress", rid="r1")))
    drawn = len(screen)
    progress.start_clock()
    deadline = time.monotonic() + 10
    while len(screen) < drawn + 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    progress.finish()
    assert len(screen) >= drawn + 3  # redrawn with nothing arriving
    settled = len(screen)
    time.sleep(0.05)
    assert len(screen) == settled  # the clock stops with the line


def test_progress_ignores_keepalive_and_reads_queries_and_find_in_page():
    now = [0.0]
    screen = Screen(tty=False)
    progress = openai_bg._Progress(screen, lambda: now[0])
    progress.update(convert(body("in_progress", rid="r1")))
    for n in range(5):
        progress.event({"type": "keepalive", "sequence_number": n})
    assert progress.events == 0  # a sign of life, not progress
    searched = {"type": "response.output_item.done", "item": {
        "type": "web_search_call", "action": {
            "type": "search", "query": "old form", "queries": ["fusion 2026", "ITER", "NIF"]}}}
    progress.event(searched)
    assert screen[-1].rstrip("\n").endswith(
        "1 event, 1 search, 0 pages - searched fusion 2026 (+2 more)")
    legacy = {"type": "response.output_item.done", "item": {
        "type": "web_search_call", "action": {"type": "search", "query": "only query"}}}
    progress.event(legacy)
    assert screen[-1].rstrip("\n").endswith("searched only query")
    look = {"type": "response.output_item.done", "item": {
        "type": "web_search_call", "action": {
            "type": "find_in_page", "url": "https://example.org/a", "pattern": "tokamak"}}}
    progress.event(look)
    assert progress.searches == 2  # a look inside a page is not a search
    assert screen[-1].rstrip("\n").endswith(
        "2 searches, 0 pages - looked in https://example.org/a for 'tokamak'")
    # A polled body that lists the same items counts them the same way.
    progress = openai_bg._Progress(Screen(tty=False), lambda: now[0])
    progress.update(convert(body("in_progress", rid="r2",
                                 output=[searched["item"], look["item"]])))
    assert (progress.searches, progress.latest) == (
        1, "looked in https://example.org/a for 'tokamak'")


def test_keepalive_events_reach_on_event_in_order(api, client, clock):
    events, final = job_events()
    numbered = []
    for event in events:  # a keepalive between each event, with its own number
        numbered.append(dict(event, sequence_number=len(numbered)))
        numbered.append({"type": "keepalive", "sequence_number": len(numbered)})
    numbered.pop()
    api.on("GET", "/v1/responses/resp_s", reply(200, SSE([sse_event(e) for e in numbered])))
    seen = []
    assert client.wait_response("resp_s", stream=True, on_event=seen.append).status == \
        "completed"
    assert seen == numbered


@pytest.mark.parametrize("minutes, warned", [(9.9, False), (10, True), (30, True)])
def test_a_job_queued_too_long_is_said_once(api, client, clock, caplog, minutes, warned):
    polls = []

    def answer(rec):
        polls.append(clock.now)
        status = "queued" if clock.now < minutes * 60 + 100 else "completed"
        return reply(200, body(status, rid="r1"))
    api.on("GET", "/v1/responses/r1", answer)
    with caplog.at_level(logging.WARNING, logger="openai_bg"):
        with pytest.raises(openai_bg.WaitTimeoutError):  # queued all along
            client.wait_response("r1", poll_interval=10, timeout=minutes * 60 + 1)
    records = [r for r in caplog.records if "still queued" in r.getMessage()]
    assert len(records) == (1 if warned else 0)
    if warned:
        message = records[0].getMessage()
        assert "r1" in message and "the wait goes on" in message
        assert "cancel_response('r1')" in message
        assert records[0].response_id == "r1"


def test_cli_says_a_queued_job_is_stuck_in_its_own_words(api, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setattr(openai_bg, "QUEUED_WARNING_SECONDS", 0.0)
    api.on("GET", "/v1/responses/r1", reply(200, body("queued", rid="r1")),
           reply(200, body("completed", rid="r1", output=[message("done")])))
    assert openai_bg.main(["wait", "r1", "--interval", "0.05",
                           "--base-url", api.url + "/v1"]) == 0
    out, err = capsys.readouterr()
    assert out == "done\n"
    assert err.count("still queued") == 1
    assert "the wait goes on (to cancel it: openai-bg cancel r1)" in err


def reasoning_refused(rec):
    if "reasoning" in rec.json():
        return reply(400, {"error": {
            "message": "Your organization must be verified to generate reasoning summaries.",
            "type": "invalid_request_error", "param": "reasoning.summary",
            "code": "unsupported_value"}})
    return reply(200, body("completed", rid="r1", output=[message("fine")]))


@pytest.mark.parametrize("args, sent, created", [
    ((), [{"summary": "auto"}], 1),
    (("--no-summaries",), [None], 1),
    (("--param", 'reasoning={"effort": "high"}'), [{"effort": "high"}], 1),
])
def test_run_asks_for_reasoning_summaries(api, args, sent, created):
    api.on("POST", "/v1/responses", reply(200, body("completed", rid="r1",
                                                    output=[message("fine")])))
    done = cli(api, "run", "--model", "o3-deep-research", "--no-stream", *args, "q")
    assert done.returncode == 0, done.stderr
    assert [r.json().get("reasoning") for r in api.requests] == sent


def test_run_sends_again_without_summaries_when_they_are_refused(api):
    api.on("POST", "/v1/responses", reasoning_refused)
    for stream in ((), ("--no-stream",)):
        api.requests.clear()
        done = cli(api, "run", "--model", "gpt-4.1", *stream, "q")
        assert done.returncode == 0, done.stderr
        assert done.stdout == "fine\n"
        assert [r.json().get("reasoning") for r in api.requests] == [{"summary": "auto"}, None]
        assert "without reasoning summaries" in done.stderr
    # Another 400, or one the caller's own reasoning caused, is not retried.
    api.requests.clear()
    done = cli(api, "run", "--model", "gpt-4.1", "--param", 'reasoning={"summary": "auto"}', "q")
    assert done.returncode == 3
    assert len(api.requests) == 1
    api.on("POST", "/v1/responses", reply(400, {"error": {"message": "bad model",
                                                          "param": "model"}}))
    api.requests.clear()
    assert cli(api, "run", "--model", "nope", "q").returncode == 3
    assert len(api.requests) == 1


def test_library_calls_send_only_what_the_caller_gives(api, client, clock):
    api.on("POST", "/v1/responses", reply(200, body("completed", rid="r1")))
    client.create_and_wait(model="o3-deep-research", input="q")
    client.create_and_wait(model="o3-deep-research", input="q", stream=True)
    assert ["reasoning" in r.json() for r in api.requests] == [False, False]


def test_cli_small_things(api):
    assert cli(api, "--version").stdout.startswith("openai-bg ")
    done = cli(api, "poll", "a", "b")
    assert done.returncode == 2
    assert "openai-bg poll" in done.stderr
    api.on("GET", "/v1/responses/r1", reply(200, body(rid="r1", output=[message("ok")])))
    assert cli(api, "poll", " r1\n").stdout == "ok\n"


def test_create_from_a_terminal_says_it_reads_stdin(api):
    import pty
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    master, slave = pty.openpty()
    env = dict(os.environ, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=api.url + "/v1")
    proc = subprocess.Popen([sys.executable, "openai_bg.py", "create", "--model", "m", "-"],
                            cwd=HERE, env=env, stdin=slave, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    os.close(slave)
    os.write(master, b"typed prompt\n\x04")
    out, err = proc.communicate(timeout=30)
    os.close(master)
    assert proc.returncode == 0
    assert out == "r1\n"
    assert "reading the prompt from stdin" in err
    assert api.requests[0].json()["input"] == "typed prompt\n"


def test_sighup_cancels_a_run(api):
    proc = start_run(api)
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert api.paths("POST")[-1] == "/v1/responses/r1/cancel"
    assert "cancelled" in err
    assert "Traceback" not in err


def test_a_signal_ignored_from_the_start_stays_ignored(api):
    proc = start_run(api, ignored=(signal.SIGHUP,))  # nohup openai-bg run ...
    proc.send_signal(signal.SIGHUP)
    polls = len(api.paths("GET"))
    deadline = time.monotonic() + 30
    while len(api.paths("GET")) < polls + 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None  # still waiting on the job
    assert api.paths("POST") == ["/v1/responses"]
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert api.paths("POST")[-1] == "/v1/responses/r1/cancel"


def test_main_in_process_keeps_the_embedders_signal_handlers(api, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    seen = []

    def answer(request):  # what SIGTERM and SIGINT do while main() runs
        seen.append((signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)))
        return reply(200, body(rid="r1", output=[message("hi")]))
    api.on("GET", "/v1/responses/r1", answer)
    mine = lambda signum, frame: None  # noqa: E731
    previous = signal.signal(signal.SIGTERM, mine)
    try:
        assert openai_bg.main(["poll", "r1", "--base-url", api.url + "/v1"]) == 0
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen[0][0] is mine  # the embedder's stays in place
    ctrl_c = signal.getsignal(signal.SIGINT)  # ours meanwhile, unless ignored
    assert seen[0][1] is (openai_bg._interrupt if ctrl_c is signal.default_int_handler
                          else ctrl_c)
    assert capsys.readouterr().out == "hi\n"


def test_main_in_process_restores_what_it_changed(api, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    api.on("GET", "/v1/responses/r1", reply(200, body(rid="r1", output=[message("hi")])))
    handlers = list(openai_bg._logger.handlers)
    level = openai_bg._logger.level
    sigterm = signal.getsignal(signal.SIGTERM)
    assert openai_bg.main(["poll", "r1", "--base-url", api.url + "/v1"]) == 0
    assert capsys.readouterr().out == "hi\n"
    assert openai_bg._logger.handlers == handlers
    assert openai_bg._logger.level == level
    assert signal.getsignal(signal.SIGTERM) is sigterm
    assert openai_bg.main(["poll"]) == 2  # usage errors return, never exit


def test_run_off_a_terminal_shows_searches_and_pages(api):
    job = StreamJob(api, [("full",)])
    job.poll_body = job.final
    done = cli(api, "run", "--model", "m", "q")
    assert done.returncode == 0
    assert done.stdout == "The answer, in full.\n"
    progress = [line for line in done.stderr.splitlines() if line.startswith("resp_s: ")]
    assert any("searched fusion news" in line for line in progress)
    assert any("searched ITER schedule" in line for line in progress)
    assert any("opened https://example.org/fusion" in line for line in progress)
    assert any("thinking: **Planning the search**" in line for line in progress)
    assert any("2 searches, 1 page" in line for line in progress)
    assert sum("writing" in line for line in progress) <= 1  # no line per text delta
    assert "created resp_s" in done.stderr
    assert job.stream_requests == ["/v1/responses"]


def drain_pty(master):
    """Everything a pseudo-terminal's other side wrote, until it closed."""
    screen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        screen += chunk
    os.close(master)
    return screen


def test_run_on_a_terminal_is_one_live_line(api):
    import pty
    job = StreamJob(api, [("drop", 6), ("full",)])
    job.poll_body = job.final
    import fcntl
    import struct
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = dict(os.environ, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=api.url + "/v1")
    proc = subprocess.Popen([sys.executable, "openai_bg.py", "run", "--model", "m", "q"],
                            cwd=HERE, env=env, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    out, _ = proc.communicate(timeout=30)
    screen = drain_pty(master)
    text = screen.decode()
    assert proc.returncode == 0
    assert out == b"The answer, in full.\n"
    assert text.startswith("\r\x1b[Kopenai-bg: created resp_s\r\n")
    assert "2 searches, 0 pages - searched ITER schedule" in text
    assert "1 page - opened https://example.org/fusion" in text
    assert "writing: 20 characters" in text  # the answer's progress, live
    # The warning about the dropped stream clears the live line, then it is redrawn.
    assert "\r\x1b[Kopenai-bg: the stream of resp_s broke" in text
    assert text.endswith("resp_s: completed, 0 s, 12 events, 2 searches, 1 page - writing: "
                         "20 characters\r\n")
    assert KEY.encode() not in screen


def test_run_no_stream_polls_and_wait_stream_streams(api):
    job = StreamJob(api, [("full",)])
    job.poll_body = job.final
    done = cli(api, "run", "--model", "m", "--no-stream", "q")
    assert done.returncode == 0
    assert job.stream_requests == []
    assert "stream" not in api.requests[0].json()
    done = cli(api, "wait", "resp_s", "--stream")
    assert done.returncode == 0
    assert done.stdout == "The answer, in full.\n"
    assert job.stream_requests == ["/v1/responses/resp_s?stream=true"]


###############################################################################
# Many jobs: as_completed, wait_many
###############################################################################

class Jobs:
    """Jobs on a FakeAPI that end after a set number of polls each (status,
    polls), counting the polls and when each arrived."""

    def __init__(self, api, plan):
        self.plan = dict(plan)
        self.polls = {rid: [] for rid in self.plan}
        self.lock = threading.Lock()
        api.fallback = self.answer

    def answer(self, rec):
        rid = rec.path.split("?")[0].rsplit("/", 1)[1]
        if rec.method == "POST" and rec.path.endswith("/cancel"):
            rid = rec.path.split("/")[-2]
            return reply(200, body("cancelled", rid=rid))
        if rid not in self.plan:
            return reply(404, {"error": {"message": "no such response"}})
        with self.lock:
            self.polls[rid].append(time.monotonic())
            count = len(self.polls[rid])
        status, after = self.plan[rid]
        if after is None or count < after:
            return reply(200, body("in_progress", rid=rid))
        return reply(200, body(status, rid=rid, output=[message("answer " + rid)]))


def test_as_completed_yields_each_job_once_as_it_ends(api):
    jobs = Jobs(api, {"r3": ("completed", 9), "r1": ("completed", 3),
                      "r2": ("failed", 6), "gone": ("completed", 1)})
    del jobs.plan["gone"]  # a job the API does not know: its own error, not the batch's
    c = make_client(api.url + "/v1", max_retries=0)
    seen = []
    outcomes = list(c.as_completed(["r3", "r1", "r2", "r1", "gone"], poll_interval=0.05,
                                   on_update=seen.append))
    assert [o.response_id for o in outcomes] == ["gone", "r1", "r2", "r3"]
    gone, r1, r2, r3 = outcomes
    assert isinstance(gone.error, openai_bg.NotFoundError) and gone.response is None
    assert gone.error.response_id == "gone"
    assert (r1.status, r1.completed, r1.response.text) == ("completed", True, "answer r1")
    assert (r2.status, r2.completed, r2.error) == ("failed", False, None)
    assert [len(jobs.polls[rid]) for rid in ("r1", "r2", "r3")] == [3, 6, 9]  # r1 once
    assert len(seen) == 18


def test_as_completed_times_out_naming_the_jobs_still_pending(api):
    Jobs(api, {"done": ("completed", 1), "slow": ("completed", None),
               "slower": ("completed", None)})
    c = make_client(api.url + "/v1")
    ended = []
    with pytest.raises(openai_bg.WaitTimeoutError) as info:
        for outcome in c.as_completed(["slow", "done", "slower"], timeout=0.5,
                                      poll_interval=0.05):
            ended.append(outcome.response_id)
    assert ended == ["done"]
    assert info.value.response_id == "slow"
    assert sorted(info.value.pending) == ["slow", "slower"]
    assert info.value.pending["slow"].status == "in_progress"
    assert "2 of 3 responses still pending" in str(info.value)
    assert "slow, slower" in str(info.value)


def test_as_completed_keeps_threads_and_connections_bounded():
    api = FakeAPI(keep_alive=True)
    ids = ["r%d" % n for n in range(60)]
    Jobs(api, {rid: ("completed", 1 + n % 5) for n, rid in enumerate(ids)})
    c = make_client(api.url + "/v1")
    most = [0]

    def count(response):
        most[0] = max(most[0], sum(1 for t in threading.enumerate()
                                   if t.name == "openai-bg batch"))
    try:
        outcomes = list(c.as_completed(ids, poll_interval=0.05, max_workers=4,
                                       on_update=count, timeout=60))
    finally:
        api.close()
    assert sorted(o.response_id for o in outcomes) == sorted(ids)
    assert 1 <= most[0] <= 4
    assert api.connections <= 4 + 2
    deadline = time.monotonic() + 10  # the workers end once the last outcome is taken
    while [t for t in threading.enumerate() if t.name == "openai-bg batch"] and \
            time.monotonic() < deadline:
        time.sleep(0.01)
    assert not [t for t in threading.enumerate() if t.name == "openai-bg batch"]


def test_a_429_slows_the_whole_batch(api):
    jobs = Jobs(api, {"r%d" % n: ("completed", 6) for n in range(4)})
    limited = []

    def answer(rec):
        if not limited and len(jobs.polls["r0"]) == 2:
            limited.append(time.monotonic())
            return reply(429, {"error": {"message": "slow down"}}, {"retry-after-ms": "1000"})
        return jobs.answer(rec)
    api.fallback = answer
    c = make_client(api.url + "/v1", max_retries=0)
    assert len(list(c.as_completed(sorted(jobs.plan), poll_interval=0.05))) == 4
    every_poll = sorted(t for polls in jobs.polls.values() for t in polls)
    # (Polls already on their way when the 429 was sent may still arrive.)
    during = [t for t in every_poll if limited[0] + 0.3 < t < limited[0] + 0.95]
    assert limited and during == []  # no job was polled during the pause


def test_wait_many_returns_when_asked(api):
    plan = {"a": ("completed", 2), "b": ("failed", 4), "c": ("completed", 6),
            "d": ("completed", None)}
    c = make_client(api.url + "/v1")

    def wait_many(ids, **kwargs):
        Jobs(api, plan)  # every job starts afresh
        return c.wait_many(ids, poll_interval=0.05, **kwargs)
    first = wait_many(["c", "a", "b"], return_when="first")
    assert list(first) == ["a"]
    failure = wait_many(["c", "a", "b"], return_when="first_failure")
    assert list(failure) == ["a", "b"] and failure["b"].status == "failed"
    everything = wait_many(["c", "a", "b"])
    assert list(everything) == ["c", "a", "b"]  # in the order given
    with pytest.raises(openai_bg.WaitTimeoutError) as info:
        wait_many(["a", "d"], timeout=1.5, cancel_on_timeout=True)  # "a" ends well before
    assert info.value.cancelled is True
    assert api.paths("POST") == ["/v1/responses/d/cancel"]


def test_wait_many_cancels_on_interrupt_only_when_asked(api):
    Jobs(api, {"a": ("completed", 1), "b": ("completed", None), "c": ("completed", None)})
    c = make_client(api.url + "/v1")

    def interrupt(response):
        if response.response_id == "b":
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        c.wait_many(["a", "b", "c"], poll_interval=0.05, on_update=interrupt)
    assert api.paths("POST") == []
    with pytest.raises(KeyboardInterrupt):
        c.wait_many(["a", "b", "c"], poll_interval=0.05, on_update=interrupt,
                    cancel_on_interrupt=True)
    assert sorted(api.paths("POST")) in (
        ["/v1/responses/b/cancel", "/v1/responses/c/cancel"],
        ["/v1/responses/a/cancel", "/v1/responses/b/cancel", "/v1/responses/c/cancel"])


@pytest.mark.parametrize("call, error", [
    (lambda c: c.as_completed("resp_1"), TypeError),
    (lambda c: c.as_completed([]), ValueError),
    (lambda c: c.as_completed(["ok", "bad id\n"]), ValueError),
    (lambda c: c.as_completed(["ok"], max_workers=0), ValueError),
    (lambda c: c.as_completed(["ok"], poll_interval=0.001), ValueError),
    (lambda c: c.wait_many(["ok"], return_when="any"), ValueError),
])
def test_many_jobs_arguments_are_checked_before_anything_is_sent(api, call, error):
    c = make_client(api.url + "/v1")
    with pytest.raises(error):
        call(c)
    assert api.requests == []


def test_module_level_many_jobs(api, monkeypatch):
    Jobs(api, {"a": ("completed", 1)})
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", api.url + "/v1")
    assert [o.response_id for o in openai_bg.as_completed(["a"])] == ["a"]
    assert openai_bg.wait_many(["a"])["a"].completed


# -- many jobs from the command line ------------------------------------------

def test_cli_wait_for_several_jobs(api):
    plan = {"a": ("completed", 2), "b": ("failed", 4), "c": ("completed", 6)}

    def wait(*args):
        Jobs(api, plan)  # every job starts afresh
        return cli(api, "wait", *args, "--interval", "0.1")
    done = wait("c", "a", "b")
    assert done.returncode == 1  # not all completed
    assert done.stdout == ("== a: completed ==\nanswer a\n== b: failed ==\nanswer b\n"
                           "== c: completed ==\nanswer c\n")
    assert "openai-bg: a ended completed (1 of 3)" in done.stderr
    lines = [json.loads(x) for x in wait("a", "c", "--json").stdout.splitlines()]
    assert [(x["id"], x["status"], x["text"]) for x in lines] == [
        ("a", "completed", "answer a"), ("c", "completed", "answer c")]
    assert lines[0]["raw"]["id"] == "a" and lines[0]["error"] is None
    first = wait("c", "a", "--any")
    assert (first.returncode, first.stdout) == (0, "== a: completed ==\nanswer a\n")
    fast = wait("c", "b", "--fail-fast")
    assert (fast.returncode, fast.stdout) == (1, "== b: failed ==\nanswer b\n")
    assert wait("a", "c").returncode == 0


def test_json_has_one_shape_with_id_status_and_text_on_top(api):
    Jobs(api, {"a": ("completed", 1), "b": ("failed", 1)})
    single = json.loads(cli(api, "poll", "a", "--json").stdout)
    assert (single["id"], single["status"], single["text"]) == ("a", "completed", "answer a")
    assert single["raw"]["id"] == "a" and single["response"]["turn_complete"] is True
    lines = [json.loads(x) for x in cli(api, "wait", "a", "b", "--json",
                                        "--interval", "0.05").stdout.splitlines()]
    assert [sorted(x) for x in lines] == [sorted(list(single) + ["error"])] * 2
    assert sorted(x["status"] for x in lines) == ["completed", "failed"]


def test_cli_wait_for_several_jobs_times_out_and_cancels(api):
    Jobs(api, {"a": ("completed", 1), "slow": ("completed", None)})
    done = cli(api, "wait", "a", "slow", "--interval", "0.05", "--timeout", "0.5",
               "--cancel-on-timeout")
    assert done.returncode == 5
    assert "1 of 2 still pending after" in done.stderr and "slow; cancelled" in done.stderr
    assert api.paths("POST") == ["/v1/responses/slow/cancel"]
    assert cli(api, "wait", "a", "slow", "--stream").returncode == 2


def test_watch_off_a_terminal_prints_each_change_with_a_time(api, monkeypatch, capsys):
    Jobs(api, {"a": ("completed", 2), "b": ("failed", 3)})
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    code = openai_bg.main(["watch", "a", "b", "--interval", "0.05",
                           "--base-url", api.url + "/v1"])
    out, err = capsys.readouterr()
    assert code == 1  # b failed
    changes = [line.split(" ") for line in out.splitlines()]
    assert sorted((rid, status) for _, rid, status in changes) == [
        ("a", "completed"), ("a", "in_progress"), ("b", "failed"), ("b", "in_progress")]
    assert changes.index([changes[0][0], "a", "in_progress"]) < \
        [c[1:] for c in changes].index(["a", "completed"])
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", stamp)
               for stamp, _, _ in changes)
    code = openai_bg.main(["watch", "a", "--json", "--interval", "0.05",
                           "--base-url", api.url + "/v1"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert [json.loads(x)["status"] for x in out.splitlines()] == ["completed"]


def test_watch_heartbeat_off_a_terminal():
    lines = []

    class Console:
        out = None

        def print_text(self, text):
            lines.append(text)
    board = openai_bg._Board(["a", "b"], None, Console(), False)
    board.update(convert(body("in_progress", rid="a")))
    board.tick()
    assert len(lines) == 1  # the change; no heartbeat within the minute
    board.last_line -= 61
    board.tick()
    assert lines[-1].endswith(" 2 of 2 jobs still running\n")
    board.tick()
    assert len(lines) == 2  # at most one a minute


def test_watch_without_ids_watches_the_journals_unfinished_jobs(api, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    Jobs(api, {"r1": ("completed", 2), "r2": ("completed", 1)})
    journal = openai_bg.Journal()
    journal.track("r1")
    journal.track("r2")
    journal._gone("r2", "expired")
    assert openai_bg.main(["watch", "--interval", "0.05", "--base-url", api.url + "/v1"]) == 0
    out, _ = capsys.readouterr()
    assert " r1 completed" in out and " r2 " not in out
    assert openai_bg.main(["watch", "--base-url", api.url + "/v1"]) == 0
    assert "no unfinished job" in capsys.readouterr()[1]


def test_watch_on_a_narrow_terminal_redraws_in_place(api):
    import fcntl
    import pty
    import struct
    import termios
    Jobs(api, {"resp_first_with_a_long_id": ("completed", 3), "resp_b": ("completed", 6)})
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
    env = dict(os.environ, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=api.url + "/v1")
    proc = subprocess.Popen([sys.executable, "openai_bg.py", "watch", "resp_first_with_a_long_id",
                             "resp_b", "--interval", "0.05"], cwd=HERE, env=env,
                            stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    proc.communicate(timeout=30)
    screen = drain_pty(master)
    text = screen.decode()
    assert proc.returncode == 0
    assert "\x1b[3F" in text  # back up over the three rows drawn: redrawn in place
    rows = [re.sub(r"\x1b\[[0-9]*[A-Za-z]", "", row) for row in text.split("\r\n")]
    assert rows and all(len(row) <= 39 for row in rows)  # fitted to 40 columns
    assert "openai-bg watch: 2 of 2 ended" in text
    assert "[x] resp_b" in text


class Batch:
    """A FakeAPI playing the API for ``run --each``: creates number the jobs
    and record their inputs; a job completes once the test releases it."""

    def __init__(self, api):
        self.inputs = []
        self.released = 0  # the first N jobs created may complete
        self.lock = threading.Lock()
        api.on("POST", "/v1/responses", self.create)
        api.fallback = self.poll

    def create(self, rec):
        with self.lock:
            self.inputs.append(rec.json()["input"])
            rid = "resp_%d" % (len(self.inputs) - 1)
        return reply(200, body("queued", rid=rid))

    def poll(self, rec):
        rid = rec.path.split("?")[0].rsplit("/", 1)[1]
        number = int(rid.split("_")[1])
        if rec.path.endswith("/cancel"):
            return reply(200, body("cancelled", rid=rec.path.split("/")[-2]))
        if number < self.released:
            return reply(200, body("completed", rid=rid, output=[
                message("answer to " + self.inputs[number])]))
        return reply(200, body("in_progress", rid=rid))


def test_run_each_killed_halfway_resumes_without_creating_twice(api, tmp_path):
    batch = Batch(api)
    prompts = ["Question number %d about fusion" % n for n in range(1, 21)]
    questions = tmp_path / "questions.txt"
    questions.write_text("\n".join(prompts[:5] + [""] + prompts[5:]) + "\n")
    out = tmp_path / "answers"
    env = dict(os.environ, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=api.url + "/v1")
    command = [sys.executable, "openai_bg.py", "run", "--model", "o3-deep-research",
               "--each", str(questions), "--parallel", "4", "--out", str(out),
               "--interval", "0.05", "--no-summaries"]
    batch.released = 10
    proc = subprocess.Popen(command, cwd=HERE, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while (len(list(out.glob("*.md"))) < 10 or len(batch.inputs) < 14) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # four more running, none released: it waits
    proc.kill()
    proc.communicate(timeout=30)
    assert len(list(out.glob("*.md"))) == 10 and len(batch.inputs) == 14
    batch.released = 1000
    done = subprocess.run(command, cwd=HERE, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert sorted(batch.inputs) == sorted(prompts)  # each prompt created once
    assert len(list(out.glob("*.md"))) == len(list(out.glob("*.json"))) == 20
    first = out / "1-question-number-1-about-fusion.md"
    assert first.read_text() == "answer to Question number 1 about fusion\n"
    assert (out / "7-question-number-6-about-fusion.md").exists()  # line numbers
    document = json.loads((out / "1-question-number-1-about-fusion.json").read_text())
    assert document["raw"]["status"] == "completed"
    listed = cli(api, "jobs", "--all", "--json")
    statuses = [json.loads(x)["status"] for x in listed.stdout.splitlines()]
    assert statuses == ["completed"] * 20
    again = subprocess.run(command, cwd=HERE, env=env, capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 0 and len(batch.inputs) == 20  # nothing left to do


def test_run_each_lines_resume_rules_and_failures(api, tmp_path):
    batch = Batch(api)
    batch.released = 1000
    questions = tmp_path / "q.txt"
    questions.write_text('plain question\n{"input": "json question", "max_tool_calls": 3}\n')
    env = {"OPENAI_BG_JOURNAL": str(tmp_path / "j.sqlite3")}
    args = ["run", "--model", "m", "--each", str(questions), "--out", str(tmp_path / "o"),
            "--interval", "0.05"]
    assert cli(api, *args, env=env).returncode == 0
    assert [r.json().get("max_tool_calls") for r in api.requests if r.method == "POST"] == [
        None, 3]
    assert all(r.json()["reasoning"] == {"summary": "auto"}
               for r in api.requests if r.method == "POST")
    import sqlite3
    db = sqlite3.connect(str(tmp_path / "j.sqlite3"))  # an earlier job failed,
    db.execute("UPDATE jobs SET status = 'failed' WHERE response_id = 'resp_0'")
    db.execute("UPDATE jobs SET status = 'creating', response_id = NULL "  # one is unnamed
               "WHERE response_id = 'resp_1'")
    db.commit()
    db.close()
    done = cli(api, *args, env=env)
    assert done.returncode == 1  # the unnamed create is never sent twice
    assert "line 2: a create at" in done.stderr and "not created again" in done.stderr
    assert batch.inputs == ["plain question", "json question", "plain question"]
    assert cli(api, "run", "--model", "m", "q", "--each", str(questions)).returncode == 2
    assert cli(api, "run", "--model", "m").returncode == 2
    assert "--parallel" in cli(api, "run", "--model", "m", "--each", str(questions),
                               "--parallel", "0").stderr
    same = tmp_path / "same.txt"  # the same prompt twice is two jobs, each resumed
    same.write_text("twice\ntwice\n")
    twice = ["run", "--model", "m", "--each", str(same), "--out", str(tmp_path / "t"),
             "--interval", "0.05"]
    assert cli(api, *twice, env=env).returncode == 0
    assert cli(api, *twice, env=env).returncode == 0
    assert batch.inputs.count("twice") == 2
    assert sorted(os.listdir(str(tmp_path / "t"))) == [
        "1-twice.json", "1-twice.md", "2-twice.json", "2-twice.md"]
    bad = tmp_path / "bad.txt"
    bad.write_text('{"no_input": 1}\n')
    assert "line 1" in cli(api, "run", "--model", "m", "--each", str(bad)).stderr


###############################################################################
# The journal: every job this library starts, findable from a later process
###############################################################################

def journal_rows(path):
    """The journal's rows as dicts (with their bodies), read with sqlite3."""
    import sqlite3
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in db.execute(
            "SELECT * FROM jobs LEFT JOIN bodies USING (key) ORDER BY key")]
    finally:
        db.close()


def journal_bytes(path):
    """Every byte the journal holds: the file and its WAL and shared memory."""
    data = b""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            with open(path + suffix, "rb") as file:
                data += file.read()
    return data


@pytest.fixture
def journal_path(tmp_path):
    return str(tmp_path / "journal" / "jobs.sqlite3")


def usage_body(status, rid, **extra):
    return body(status, rid=rid, output=[
        {"type": "web_search_call", "id": "ws_1", "status": "completed",
         "action": {"type": "search", "query": "q"}}, message("the answer")],
        usage={"input_tokens": 1200, "output_tokens": 3400, "total_tokens": 4600,
               "output_tokens_details": {"reasoning_tokens": 3000},
               "input_tokens_details": {"cached_tokens": 0}}, **extra)


@pytest.mark.parametrize("env, expected", [
    ({"OPENAI_BG_JOURNAL": "/x/my.sqlite3"}, "/x/my.sqlite3"),
    ({"OPENAI_BG_JOURNAL": "off"}, None), ({"OPENAI_BG_JOURNAL": "0"}, None),
    ({"OPENAI_BG_JOURNAL": "False"}, None), ({"OPENAI_BG_JOURNAL": "no"}, None),
    ({"OPENAI_BG_JOURNAL": ""}, None),
    ({"XDG_STATE_HOME": "/state"}, "/state/openai-bg/jobs.sqlite3"),
    ({"HOME": "/home/u"}, "/home/u/.local/state/openai-bg/jobs.sqlite3"),
])
def test_journal_location(monkeypatch, env, expected):
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert openai_bg.default_journal_path() == expected


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o277])
def test_journal_folder_and_file_are_private_whatever_the_umask(tmp_path, umask):
    path = tmp_path / "new" / "jobs.sqlite3"
    previous = os.umask(umask)
    try:
        openai_bg.Journal(str(path)).close()
    finally:
        os.umask(previous)
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    import sqlite3
    db = sqlite3.connect(str(path))
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == openai_bg.JOURNAL_SCHEMA
    db.close()


def test_a_library_journals_only_when_asked(api, tmp_path, monkeypatch):
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    Client(api_key=KEY, base_url=api.url + "/v1").create_response(model="m", input="q")
    assert not (tmp_path / "state").exists()  # no file written unasked
    monkeypatch.setenv("OPENAI_BG_JOURNAL", "off")
    assert Client(api_key=KEY, base_url=api.url, journal=True).journal is None
    monkeypatch.delenv("OPENAI_BG_JOURNAL")
    c = Client(api_key=KEY, base_url=api.url + "/v1", journal=True)
    c.create_response(model="m", input="q")
    assert [e.response_id for e in openai_bg.Journal().jobs()] == ["r1"]
    with pytest.raises(TypeError, match="journal must be"):
        Client(api_key=KEY, base_url=api.url, journal=3)


def test_the_create_is_journaled_before_it_is_sent_and_named_before_it_returns(
        api, journal_path):
    seen_by_server = []

    def answer(rec):  # what the journal holds while the create is on the wire
        seen_by_server.extend(journal_rows(journal_path))
        return reply(200, body("queued", rid="resp_new"))
    api.on("POST", "/v1/responses", answer)
    c = Client(api_key=KEY, base_url=api.url + "/v1", organization="org-1",
               project="proj-1", journal=journal_path)
    question = "  What changed\nin fusion?  " + "x" * 300
    job = c.create_response(model="o3-deep-research", input=question,
                            tools=[{"type": "web_search_preview"}])
    [row] = seen_by_server
    assert row["status"] == "creating" and row["response_id"] is None
    assert (row["host"], row["organization"], row["project"], row["model"]) == (
        "127.0.0.1", "org-1", "proj-1", "o3-deep-research")
    assert row["title"] == ("What changed in fusion? " + "x" * 300)[:200]
    assert json.loads(row["request"]) == api.requests[0].json()  # for a re-run
    entry = openai_bg.Journal(journal_path).get(job.response_id)
    assert (entry.response_id, entry.status) == ("resp_new", "queued")
    assert entry.created_at <= entry.last_seen_at <= time.time()


def test_a_create_stream_is_named_by_its_first_event(api, journal_path):
    events, final = job_events(rid="resp_st")
    api.on("POST", "/v1/responses", reply(200, SSE([sse_event(e) for e in events])))
    c = Client(api_key=KEY, base_url=api.url + "/v1", journal=journal_path)
    with c.create_response_stream(model="m", input="q") as stream:
        assert [r["response_id"] for r in journal_rows(journal_path)] == ["resp_st"]
        list(stream)


@pytest.mark.parametrize("answer, rows", [
    (reply(500, {"error": {"message": "boom"}}), [("maybe-created", None)]),
    (reply(200, {"id": "resp_odd", "object": "response"}), [("maybe-created", "resp_odd")]),
    (reply(400, {"error": {"message": "bad model", "param": "model"}}), []),  # no job
    (reply(429, {"error": {"message": "slow down"}}), []),
])
def test_a_create_that_may_have_started_a_job_keeps_its_row(api, journal_path, answer, rows):
    api.on("POST", "/v1/responses", answer)
    c = make_client(api.url + "/v1", journal=journal_path, max_retries=0)
    with pytest.raises(openai_bg.APIError):
        c.create_response(model="m", input="q")
    assert [(r["status"], r["response_id"]) for r in journal_rows(journal_path)] == rows


def test_a_create_interrupted_on_the_wire_is_maybe_created(api, journal_path):
    def interrupted(rec):
        raise KeyboardInterrupt  # stands in for Ctrl-C while the answer is awaited
    c = Client(api_key=KEY, base_url=api.url + "/v1", journal=journal_path)
    c._request = lambda *a, **k: interrupted(None)
    with pytest.raises(KeyboardInterrupt):
        c.create_response(model="m", input="q")
    assert [r["status"] for r in journal_rows(journal_path)] == ["maybe-created"]


def test_every_response_seen_updates_the_row_and_the_final_body_is_kept(
        api, journal_path, caplog):
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    api.on("GET", "/v1/responses/r1", reply(200, body("in_progress", rid="r1")),
           reply(200, usage_body("completed", "r1")))
    c = make_client(api.url + "/v1", journal=journal_path)
    c._clock = FakeClock()
    c._sleep = c._clock.sleep
    c.create_and_wait(model="m", input="q")
    entry = openai_bg.Journal(journal_path).get("r1")
    assert entry.status == "completed"
    assert entry.usage == {"input_tokens": 1200, "output_tokens": 3400,
                           "reasoning_tokens": 3000, "web_search_calls": 1}
    assert entry.final == usage_body("completed", "r1")  # survives the 30-day deletion
    assert entry.response.text == "the answer"
    api.on("GET", "/v1/responses/r1", reply(404, {"error": {"message": "gone"}}))
    with pytest.raises(openai_bg.NotFoundError):
        c.poll_response("r1")
    assert openai_bg.Journal(journal_path).get("r1").status == "expired"
    assert openai_bg.Journal(journal_path).get("r1").response.text == "the answer"
    # Ids the journal does not hold are not added by a library client.
    api.on("GET", "/v1/responses/other", reply(200, body("completed", rid="other")))
    c.poll_response("other")
    assert openai_bg.Journal(journal_path).get("other") is None


def test_last_seen_is_written_at_most_once_a_minute_while_unchanged(
        api, journal_path, monkeypatch):
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    api.on("GET", "/v1/responses/r1", reply(200, body("in_progress", rid="r1")))
    c = Client(api_key=KEY, base_url=api.url + "/v1", journal=journal_path)
    c.create_response(model="m", input="q")
    writes = []
    original = c.journal._write
    c.journal._write = lambda *a, **k: writes.append(a) or original(*a, **k)
    now = [time.time()]
    monkeypatch.setattr(openai_bg.time, "time", lambda: now[0])
    for _ in range(10):  # ten polls in 30 s: one status change, one write
        now[0] += 3
        c.poll_response("r1")
    assert len(writes) == 1
    now[0] += 61  # a minute later: "last seen" once more
    c.poll_response("r1")
    c.poll_response("r1")
    assert len(writes) == 2


def test_delete_response_and_the_journal(api, journal_path):
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    api.on("DELETE", "/v1/responses/r1", reply(200, {"id": "r1", "object": "response",
                                                     "deleted": True}))
    c = Client(api_key=KEY, base_url=api.url + "/v1", journal=journal_path)
    c.create_response(model="m", input="q")
    assert c.delete_response("r1") is None
    assert api.requests[-1].method == "DELETE"
    assert openai_bg.Journal(journal_path).get("r1").status == "deleted"
    api.on("DELETE", "/v1/responses/r2", reply(404, {"error": {"message": "no"}}))
    with pytest.raises(openai_bg.NotFoundError):
        c.delete_response("r2")


def test_no_secret_ever_reaches_the_journal_file(api, journal_path):
    token = "sk-token-FROM-A-CALLABLE-987654"
    azure_key = "azure-api-key-value-55555"
    echo = "key %s token %s azure %s" % (KEY, token, azure_key)
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    api.on("GET", "/v1/responses/r1", reply(200, body("failed", rid="r1", error={
        "code": "server_error", "message": echo}, instructions=echo)))
    clients = [Client(api_key=api_key, base_url=api.url + "/v1", journal=journal_path,
                      default_headers={"api-key": azure_key}, webhook_secret=WEBHOOK_SECRET)
               for api_key in (KEY, lambda: token)]
    clients[1].poll_response("r1")  # a token is a secret from the request that sends it
    for c in clients:
        c.create_response(model="m", input="q", metadata={"note": echo})
        c.wait_response("r1")
    data = journal_bytes(journal_path)
    assert b"r1" in data and b"[redacted]" in data  # the rows are there
    for secret in (KEY, token, azure_key, WEBHOOK_SECRET, WEBHOOK_SECRET[6:]):
        assert secret.encode() not in data


def test_journal_refuses_newer_and_corrupt_files_without_touching_them(tmp_path):
    import sqlite3
    newer = tmp_path / "newer.sqlite3"
    db = sqlite3.connect(str(newer))
    db.execute("CREATE TABLE jobs (x)")
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    corrupt = tmp_path / "corrupt.sqlite3"
    corrupt.write_bytes(b"this is not a database, " * 100)
    for path, words in ((newer, r"newer openai_bg \(schema 99"), (corrupt, "not a database")):
        before = path.read_bytes()
        with pytest.raises(openai_bg.JournalError, match=words) as info:
            openai_bg.Journal(str(path))
        assert info.value.path == str(path) and info.value.fix
        assert path.read_bytes() == before
        with pytest.raises(openai_bg.JournalError):
            Client(api_key=KEY, journal=str(path))


def test_a_journal_failing_mid_run_costs_nothing(api, journal_path, caplog):
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    api.on("GET", "/v1/responses/r1", reply(200, body("completed", rid="r1",
                                                      output=[message("fine")])))
    c = make_client(api.url + "/v1", journal=journal_path)
    c.journal._db.close()  # as if the disk went away
    with caplog.at_level(logging.WARNING, logger="openai_bg"):
        assert c.create_and_wait(model="m", input="q", poll_interval=0.05).text == "fine"
    warnings = [r for r in caplog.records if "journal" in r.getMessage()]
    assert len(warnings) == 1  # once, then the journal is off for this client
    assert c.journal is None
    assert journal_path in warnings[0].getMessage()


# -- the journal from the command line ----------------------------------------

def test_cli_journals_by_default_and_not_when_told(api, tmp_path):
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    default = tmp_path / "state" / "openai-bg" / "jobs.sqlite3"
    assert cli(api, "create", "--model", "m", "q", "--no-journal").returncode == 0
    assert cli(api, "create", "--model", "m", "q",
               env={"OPENAI_BG_JOURNAL": "off"}).returncode == 0
    assert not default.exists()
    assert cli(api, "create", "--model", "m", "q").returncode == 0
    assert [r["response_id"] for r in journal_rows(str(default))] == ["r1"]


def test_cli_jobs_lists_and_refreshes(api, tmp_path):
    path = str(tmp_path / "state" / "openai-bg" / "jobs.sqlite3")
    for n in range(3):
        api.on("POST", "/v1/responses", reply(200, body("queued", rid="resp_%d" % n)))
        assert cli(api, "create", "--model", "o3-deep-research", "question %d" % n).returncode == 0
    import sqlite3
    db = sqlite3.connect(path)  # resp_0 ended two days ago
    db.execute("UPDATE jobs SET status='completed', created_at=created_at-172800, "
               "changed_at=created_at-172000 WHERE response_id='resp_0'")
    db.commit()
    db.close()
    done = cli(api, "jobs")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["resp_2", "resp_1"]  # newest first
    assert "o3-deep-research" in lines[0] and "queued" in lines[0]
    assert lines[0].endswith("question 2")
    everything = cli(api, "jobs", "--all", "--json")
    objects = [json.loads(line) for line in everything.stdout.splitlines()]
    assert [o["id"] for o in objects] == ["resp_2", "resp_1", "resp_0"]
    assert sorted(objects[0]) == ["created_at", "id", "last_seen_at", "model", "status",
                                  "title", "usage"]
    assert len(cli(api, "jobs", "--all", "--limit", "1").stdout.splitlines()) == 1
    api.on("GET", "/v1/responses/resp_1", reply(200, usage_body("completed", "resp_1")))
    api.on("GET", "/v1/responses/resp_2", reply(404, {"error": {"message": "gone"}}))
    refreshed = cli(api, "jobs", "--refresh", "--json")
    objects = [json.loads(line) for line in refreshed.stdout.splitlines()]
    status = {o["id"]: o["status"] for o in objects}
    assert status == {"resp_1": "completed", "resp_2": "expired"}
    line = [x for x in cli(api, "jobs").stdout.splitlines() if x.startswith("resp_1")][0]
    assert "1,200 in / 3,400 out tokens (3,000 reasoning), 1 search" in line
    assert sorted(p for p in api.paths("GET")) == ["/v1/responses/resp_1",
                                                   "/v1/responses/resp_2"]


def test_cli_result_comes_from_the_journal_without_a_request(api):
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    api.on("GET", "/v1/responses/r1", reply(200, usage_body("completed", "r1")))
    assert cli(api, "run", "--model", "m", "--no-stream", "q").stdout.startswith(
        "the answer")
    requests = len(api.requests)
    done = cli(api, "result", "r1")
    assert (done.returncode, done.stdout) == (0, "the answer\n")
    assert len(api.requests) == requests  # offline
    assert json.loads(cli(api, "result", "r1", "--json").stdout)["raw"]["id"] == "r1"
    api.on("GET", "/v1/responses/r9", reply(200, body("completed", rid="r9",
                                                      output=[message("polled")])))
    assert cli(api, "result", "r9").stdout == "polled\n"  # not in the journal: polled


def test_cli_cancel_all_running_forget_and_prune(api, tmp_path):
    for rid in ("r1", "r2", "r3"):
        api.on("POST", "/v1/responses", reply(200, body("queued", rid=rid)))
        cli(api, "create", "--model", "m", "q")
    api.on("GET", "/v1/responses/r1", reply(200, body("in_progress", rid="r1")))
    api.on("GET", "/v1/responses/r2", reply(200, body("in_progress", rid="r2")))
    api.on("GET", "/v1/responses/r3", reply(200, body("completed", rid="r3")))
    api.on("POST", "/v1/responses/r1/cancel", reply(200, body("cancelled", rid="r1")))
    api.on("POST", "/v1/responses/r2/cancel", reply(200, body("completed", rid="r2")))
    refused = cli(api, "cancel", "--all-running")  # no terminal: --yes needed
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert not [p for p in api.paths("POST") if p.endswith("/cancel")]
    done = cli(api, "cancel", "--all-running", "--yes")
    assert done.returncode == 1  # r2 had already completed
    assert "r1: cancelled" in done.stderr and "r2: completed" in done.stderr
    assert sorted(p for p in api.paths("POST") if p.endswith("/cancel")) == [
        "/v1/responses/r1/cancel", "/v1/responses/r2/cancel"]
    assert cli(api, "forget", "r1", "nope").returncode == 1
    ids = [json.loads(x)["id"] for x in cli(api, "jobs", "--all", "--json").stdout.splitlines()]
    assert ids == ["r3", "r2"]
    pruned = cli(api, "jobs", "--prune", "0", "--all", "--json")
    assert "removed 2 finished jobs" in pruned.stderr and pruned.stdout == ""


def test_cli_delete_marks_the_job_deleted(api):
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    api.on("DELETE", "/v1/responses/r1", reply(200, {"id": "r1", "deleted": True}))
    cli(api, "create", "--model", "m", "q")
    done = cli(api, "delete", "r1")
    assert done.returncode == 0 and "deleted" in done.stderr
    assert json.loads(cli(api, "jobs", "--json").stdout)["status"] == "deleted"


def test_cli_run_cancelled_says_what_the_job_used(api):
    proc = start_run(api)
    api.on("GET", "/v1/responses/r1", reply(200, usage_body("cancelled", "r1")))
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "response r1 used 1,200 in / 3,400 out tokens (3,000 reasoning), 1 search" in err
    assert json.loads(cli(api, "jobs", "--json").stdout)["usage"]["output_tokens"] == 3400


def test_cli_run_timed_out_and_cancelled_says_what_the_job_used(api):
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    api.on("GET", "/v1/responses/r1", lambda rec: reply(200, usage_body("cancelled", "r1"))
           if "/v1/responses/r1/cancel" in api.paths("POST")
           else reply(200, body("in_progress", rid="r1")))
    api.on("POST", "/v1/responses/r1/cancel", reply(200, body("cancelled", rid="r1")))
    done = cli(api, "run", "--model", "m", "--no-stream", "--interval", "0.05",
               "--timeout", "0.3", "--cancel-on-timeout", "q")
    assert done.returncode == 5
    assert "response r1 used 1,200 in / 3,400 out tokens (3,000 reasoning), 1 search" in \
        done.stderr


def test_cli_jobs_output_is_safe_on_any_stdout(api):
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    cli(api, "create", "--model", "m", "Caf\u00e9 \u2603 \x1b[31mred\x1b[0m\nsecond line")
    done = cli(api, "jobs", env={"LC_ALL": "C", "PYTHONIOENCODING": "ascii"},
               prefix=("openai_bg.py",))
    assert done.returncode == 0
    (line,) = done.stdout.splitlines()
    assert "\x1b" not in line and line.endswith("Caf\\xe9 \\u2603 red second line")


JOURNAL_FAILURES = {
    "corrupt": lambda path: path.write_bytes(b"not a database at all " * 50),
    "newer": lambda path: make_newer_journal(path),
    "folder is a file": None,
    "read-only folder": None,
    "no sqlite3": None,
    "disk full": None,
}


def make_newer_journal(path):
    import sqlite3
    db = sqlite3.connect(str(path))
    db.execute("CREATE TABLE jobs (x)")
    db.execute("PRAGMA user_version = 7")
    db.commit()
    db.close()


@pytest.mark.parametrize("failure", sorted(JOURNAL_FAILURES))
def test_a_broken_journal_never_costs_a_result(api, tmp_path, failure):
    api.on("POST", "/v1/responses", reply(200, body("queued", rid="r1")))
    api.on("GET", "/v1/responses/r1", reply(200, body("completed", rid="r1",
                                                      output=[message("the answer")])))
    path = tmp_path / "j" / "jobs.sqlite3"
    path.parent.mkdir()
    env = {"OPENAI_BG_JOURNAL": str(path)}
    prefix = ("openai_bg.py",)
    if failure in ("corrupt", "newer"):
        JOURNAL_FAILURES[failure](path)
    elif failure == "folder is a file":
        blocker = tmp_path / "file"
        blocker.write_text("x")
        env["OPENAI_BG_JOURNAL"] = str(blocker / "jobs.sqlite3")
    elif failure == "read-only folder":
        if os.geteuid() == 0:  # root writes anywhere but where the kernel says no
            env["OPENAI_BG_JOURNAL"] = "/sys/openai-bg-test-jobs.sqlite3"
        else:
            path.parent.chmod(0o500)
    elif failure == "no sqlite3":
        prefix = ("-c", "import sys; sys.modules['sqlite3'] = None; sys.argv[0] = 'openai-bg'; "
                        "import openai_bg; sys.exit(openai_bg.main())")
    elif failure == "disk full":  # no write past 1 byte: every page write fails
        prefix = ("-c", "import resource, signal, sys; signal.signal(signal.SIGXFSZ, "
                        "signal.SIG_IGN); resource.setrlimit(resource.RLIMIT_FSIZE, (1, 1)); "
                        "import openai_bg; sys.exit(openai_bg.main())")
    before = path.read_bytes() if path.exists() else None
    done = cli(api, "run", "--model", "m", "--no-stream", "--interval", "0.05", "q",
               env=env, prefix=prefix)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "the answer\n"
    warnings = [x for x in done.stderr.splitlines() if "journal" in x]
    assert len(warnings) == 1, done.stderr
    assert "jobs.sqlite3" in warnings[0] or "sqlite3" in warnings[0]
    listed = cli(api, "jobs", env=env, prefix=prefix)
    if failure != "disk full":
        assert listed.returncode == 2 and listed.stderr.count("\n") == 1, listed.stderr
    if before is not None:
        assert path.read_bytes() == before  # never modified


def test_kill_9_at_random_moments_loses_no_named_job(api, tmp_path):
    import random
    import sqlite3
    api.on("POST", "/v1/responses", lambda rec: reply(200, body(
        "queued", rid="resp_%d" % len(api.requests))))
    api.fallback = lambda rec: reply(200, body("in_progress", rid=rec.path.rsplit("/", 1)[1]))
    path = str(tmp_path / "jobs.sqlite3")
    script = ("import sys, openai_bg\n"
              "c = openai_bg.Client(journal=%r)\n"
              "for n in range(1000):\n"
              "    job = c.create_response(model='m', input='q %%d' %% n)\n"
              "    print(job.response_id, flush=True)\n"
              "    c.poll_response(job.response_id)\n" % path)
    env = dict(os.environ, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=api.url + "/v1")
    named = set()
    rng = random.Random(20261206)
    for _ in range(10):
        proc = subprocess.Popen([sys.executable, "-c", script], cwd=HERE, env=env,
                                stdout=subprocess.PIPE, text=True)
        first = proc.stdout.readline()  # it is running: now any moment will do
        time.sleep(rng.random() * 0.25)
        proc.kill()
        out, _ = proc.communicate(timeout=30)
        named.update(line for line in (first + out).split("\n")[:-1])  # whole lines only
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()
    assert len(named) >= 10
    listed = cli(api, "jobs", "--all", "--json", env={"OPENAI_BG_JOURNAL": path})
    ids = {json.loads(line)["id"] for line in listed.stdout.splitlines()}
    assert named <= ids


def test_eight_processes_create_at_once_into_one_new_journal(api, tmp_path):
    counter = iter(range(10 ** 6))
    api.on("POST", "/v1/responses", lambda rec: reply(200, body(
        "queued", rid="resp_%d" % next(counter))))
    path = str(tmp_path / "shared" / "jobs.sqlite3")  # does not exist yet
    script = ("import openai_bg\n"
              "c = openai_bg.Client(journal=%r)\n"
              "for n in range(25):\n"
              "    c.create_response(model='m', input='q')\n" % path)
    env = dict(os.environ, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=api.url + "/v1")
    procs = [subprocess.Popen([sys.executable, "-c", script], cwd=HERE, env=env,
                              stderr=subprocess.PIPE, text=True) for _ in range(8)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    assert not any("locked" in e or "journal" in e for e in errors)
    rows = journal_rows(path)
    assert len(rows) == 200
    assert len({r["response_id"] for r in rows}) == 200


###############################################################################
# Import discipline and layers
###############################################################################

def _module_layers():
    """openai_bg.py's top-level names, each with the layer that defines it
    (the command line from its banner on), and every name each layer reads."""
    import ast
    with open(os.path.join(HERE, "openai_bg.py"), encoding="utf-8") as file:
        source = file.read()
    lines = source.splitlines()
    cli_line = lines.index("# Command-line interface") + 1
    tree = ast.parse(source)
    defined = {}
    for node in tree.body:
        targets = [node] if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else \
            [t for t in getattr(node, "targets", [getattr(node, "target", None)])
             if isinstance(t, ast.Name)]
        for target in targets:
            name = getattr(target, "name", None) or target.id
            defined.setdefault(name, "cli" if node.lineno > cli_line else "library")
    used = {"library": [], "cli": []}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in defined:
            used["cli" if node.lineno > cli_line else "library"].append(
                (node.id, node.lineno))
        elif isinstance(node, ast.Attribute) and node.lineno > cli_line and \
                node.attr.startswith("_") and not node.attr.startswith("__") and \
                not (isinstance(node.value, ast.Name) and node.value.id == "self"):
            used["cli"].append(("." + node.attr, node.lineno))  # another object's private
    return defined, used


def test_setting_errors_carry_data_the_cli_words_itself(api, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cases = [({}, "api_key", "OPENAI_API_KEY", "is not set"),
             ({"api_key": KEY, "base_url": "http://me:pw@h/v1"}, "base_url",
              "OPENAI_BASE_URL", "password"),
             ({"api_key": KEY, "webhook_secret": "whsec_!!"}, "secret",
              "OPENAI_WEBHOOK_SECRET", "not base64"),
             ({"api_key": "sk-\u201cquoted"}, "api_key", "OPENAI_API_KEY", "position 3")]
    for kwargs, setting, variable, problem in cases:
        with pytest.raises(openai_bg.SettingError) as info:
            Client(**kwargs)
        error = info.value
        assert isinstance(error, OpenAIError) and isinstance(error, ValueError)
        assert (error.setting, error.variable) == (setting, variable)
        assert problem in error.problem and str(error).startswith(
            "%s (or $%s) %s" % (setting, variable, error.problem))
    done = cli(api, "poll", "r1", "--base-url", "http://me:pw@h/v1")
    assert done.returncode == 2
    assert done.stderr.startswith("openai-bg: error: --base-url (or $OPENAI_BASE_URL) must not")
    assert "default_headers" not in done.stderr and "pw" not in done.stderr
    done = cli(api, "poll", "r1", env={"OPENAI_API_KEY": ""})
    assert done.stderr == "openai-bg: error: $OPENAI_API_KEY is not set\n"
    done = cli(api, "listen", env={"OPENAI_WEBHOOK_SECRET": "whsec_!!"})
    assert done.returncode == 2
    assert done.stderr == ("openai-bg: error: the webhook secret ($OPENAI_WEBHOOK_SECRET or "
                           "--secret-file) is not valid: the part after 'whsec_' is not base64\n")


def test_module_functions_say_what_their_client_methods_say():
    names = [n for n in openai_bg.__all__ if callable(getattr(Client, n, None))
             and not isinstance(getattr(openai_bg, n), type)]
    assert {"poll_response", "wait_response", "create_and_wait", "wait_many"} <= set(names)
    for name in names:
        method_doc = getattr(Client, name).__doc__
        if name.endswith("webhook"):  # the method points to the function
            assert getattr(openai_bg, name).__doc__ in method_doc or ":func:" in method_doc
        else:
            assert getattr(openai_bg, name).__doc__.startswith(method_doc), name


def test_layers_look_only_down():
    defined, used = _module_layers()
    assert sum(layer == "cli" for layer in defined.values()) > 50  # the banner was found
    # The library never names anything of the command line ...
    up = [(name, line) for name, line in used["library"] if defined[name] == "cli"]
    assert up == []
    # ... and the command line uses only the library's public names.
    private = [(name, line) for name, line in used["cli"]
               if name.startswith(".") or (defined[name] == "library" and name.startswith("_")
                                           and not name.startswith("__"))]
    assert private == []  # names, and private members of another object
    assert {"main"} <= {n for n, layer in defined.items() if layer == "cli"}
    assert set(openai_bg.__all__) <= {n for n, layer in defined.items() if layer == "library"}


def test_import_uses_only_the_standard_library():
    code = r"""
import sys, json
sys.path.insert(0, %r)
before = set(sys.modules)
import openai_bg
new = sorted(set(sys.modules) - before)
print(json.dumps(new))
""" % HERE
    out = subprocess.run([sys.executable, "-I", "-c", code], cwd=HERE, capture_output=True,
                         text=True, check=True, env={"PYTHONPATH": HERE, "PATH": ""})
    new = json.loads(out.stdout)
    stdlib = getattr(sys, "stdlib_module_names", None)
    if stdlib is None:  # Python < 3.10: every module must come from the stdlib dir
        import sysconfig
        stdlib_dir = os.path.realpath(sysconfig.get_paths()["stdlib"])
        check = subprocess.run(
            [sys.executable, "-I", "-c", code.replace(
                "print(json.dumps(new))",
                "print(json.dumps([m for m in new if m != 'openai_bg' and "
                "getattr(sys.modules[m], '__file__', None) and not "
                "__import__('os').path.realpath(sys.modules[m].__file__).startswith(%r)]))"
                % stdlib_dir)],
            cwd=HERE, capture_output=True, text=True, check=True,
            env={"PYTHONPATH": HERE, "PATH": ""})
        assert json.loads(check.stdout) == []
    else:
        outside = [m for m in new if m.split(".")[0] not in stdlib and m != "openai_bg"]
        assert outside == []
    assert "openai_bg" in new
    # Heavy modules are imported on first use, not at import time.
    for heavy in ("urllib.request", "http.client", "ssl", "argparse", "sqlite3", "selectors"):
        assert heavy not in new


def test_all_names_exist():
    for name in openai_bg.__all__:
        assert hasattr(openai_bg, name), name
    assert openai_bg.__version__.count(".") == 2


###############################################################################
# The benchmark still runs (a smoke run: tiny sizes, no timing assertions)
###############################################################################

@pytest.mark.bench
def test_benchmark_smoke():
    # Each part in its own process, all at once: the figures of a smoke run
    # mean nothing, only that every part still runs and reports.
    parts = ["poll", "tls", "stream", "listen", "journal", "many"]
    procs = [subprocess.Popen([sys.executable, "bench_openai_bg.py", "--quick", "--only", part,
                               "--sdk-python", sys.executable], cwd=HERE, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for part in parts]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    stdout = "".join(out for out, _ in outputs)
    rows = ["import (in-process)", "cold start", "warm poll, per call", "peak RSS",
            "big body", "scaling", "target warm poll <= 1.15x floor",
            "stream: 501 small deltas", "stream: one big response.completed",
            "listen: 16 senders, kept-alive", "listen: 64 senders, new connection each",
            "target stream with a big final event <= 1.3x floor",
            "poll, journaled (status unchanged)", "openai-bg jobs, 300-row journal",
            "many jobs: 50 jobs", "sum of the single-job schedules' polls",
            "target as_completed: every job reported exactly once"]
    if shutil.which("openssl"):  # the HTTPS part makes its CA with openssl
        rows += ["warm poll over TLS, per call", "batch sweep: 200 ids x 8 threads",
                 "cold process over TLS", "relay 20 ms: round trips per poll",
                 "target warm poll over TLS <= 1.3x kept-alive floor"]
    else:
        rows += ["HTTPS: skipped (no openssl command"]
    for row in rows:
        assert row in stdout


###############################################################################
# A test-only CA and a certificate for 127.0.0.1 it signed (valid until 2126),
# made with openssl for these tests; they protect nothing.
###############################################################################

TEST_CA_PEM = """\
-----BEGIN CERTIFICATE-----
MIIDCjCCAfKgAwIBAgIUTBarXmaPbjsfnZO907LcfeMBUWUwDQYJKoZIhvcNAQEL
BQAwHDEaMBgGA1UEAwwRb3BlbmFpX2JnIHRlc3QgQ0EwIBcNMjYxMTI3MDYxMDU0
WhgPMjEyNjExMDMwNjEwNTRaMBwxGjAYBgNVBAMMEW9wZW5haV9iZyB0ZXN0IENB
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxGIrnc8WcU5nttReYhVJ
70//dOZ06OiZgX3QHcnL9GH51OF+1fRFE1j02tPply1txQb0rTZGA0nUNtkLUEnY
CCdtw7kvqcchWYcSkJChdfzZQYz6L0tRbL48WZF7bDbnUqtqSqrPPKy/558c7wAA
XNcDzkdd8Uoljghjj1uiTbxiGwjUMxOW1I2RBe76M+22gcewf8Tqge/q4e9OflEd
EZ1efMDCn2/TQTGYOp1ytxqWnZHazrEu9XnZ8zmdqYdBBbBexLAXJ0BVKO4g3QG3
toSNaUBJZMEKRNKq73xJlH0MHGClZChgq4A3bphc6vbQ1PrHMD5xtIQiaV5Dg7q9
1wIDAQABo0IwQDAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBBjAdBgNV
HQ4EFgQUKs8L+eiLtc8OFJALIeNsYeU2aJwwDQYJKoZIhvcNAQELBQADggEBAIvW
1B30pf38kvE7VmYWV+M0gSJytFJzdeyQ2+fqUOXRP8HCmI09Iasa8+PMMyWS3ppG
5VLUz+cSLbgDxBDaX4YTLn2TAQibdvTXdSJlTJnAE2U+kg2DdKGT12iLJp4I+JK7
O1yBVsQFc5RqbbPlJ/L7AxPuK4PWmdxjfhNLBbI5SyfSoALefmo7yi7c6SQ0mAGC
ukkcbeXX+xD2HS8dQ1va2tMyjvQDplMs/j598WZdghq7HMfjIan0G4TWU1LKcwVn
+tGgjHQuCXC84OHMFtRajZY85qBSZnW9rNv7sUkMvhcTcpspmJd8tDz3aY2GelWe
A3050EgglJjImfIFeIw=
-----END CERTIFICATE-----
"""

TEST_LEAF_PEM = """\
-----BEGIN CERTIFICATE-----
MIIDUzCCAjugAwIBAgIUHMtrQ5IEQ7UXu8cz3FU9bc96V1wwDQYJKoZIhvcNAQEL
BQAwHDEaMBgGA1UEAwwRb3BlbmFpX2JnIHRlc3QgQ0EwIBcNMjYxMTI3MDYxMDU0
WhgPMjEyNjExMDMwNjEwNTRaMBQxEjAQBgNVBAMMCTEyNy4wLjAuMTCCASIwDQYJ
KoZIhvcNAQEBBQADggEPADCCAQoCggEBAKgOZ+Opl1bE2jluENcYE4KFgXbsb7u3
7i6mrsueGhiBjActWvOh3JXIgbwL4TkIK8eAd8VXZVIq562vetlYWmiqgiR5lurK
euFCmaMiyKZkWB5OVYrwNToas7GQ+oPBgJj/wOaTo11B/TQxxdZpejZyHkQi+AnL
9SvN3mvLe+ExuTDyqUmkF7EeNJ/AgA6Ro+bxBQLNTiT0I3To9SdDSfpYGruqqQSz
eQzwCLl4mz7KRogxDnLY+B9dZJ6fhdhBIG617dSnxKv2PZPQCs2RMYYd7tnSrvPL
+/aj94wSaJ0O9vWnRKiD0L2DLzZiSUPYthA9bC4/8PUMAyS3/S6W6KECAwEAAaOB
kjCBjzAMBgNVHRMBAf8EAjAAMA4GA1UdDwEB/wQEAwIFoDATBgNVHSUEDDAKBggr
BgEFBQcDATAaBgNVHREEEzARhwR/AAABgglsb2NhbGhvc3QwHQYDVR0OBBYEFLwP
FS/2T+hz04fOrWiaYtvlO4SwMB8GA1UdIwQYMBaAFCrPC/noi7XPDhSQCyHjbGHl
NmicMA0GCSqGSIb3DQEBCwUAA4IBAQC3CDqDc0S/OzmwIQzqax9YKqSxUT9kbbpe
qzWq+W1y44kKcRGoS/VpVoB5Gi6u8cypn9qnLfDj9rU2bJ2yrwMZx3Wa8cuBJDB8
m1B6amoNtGsKnr74dnv8CK6+g4eSLqeFkOsLWOF7w3q400nMNMOBusU5Jt4cQ7hX
T1j83NWjeiie3chw+2fidX4CeKnj22pI4tIbt5XzI3Wja6oYrLCVU2luCNjOtZbb
hf8856UgszknLdQIVSXU6rsWzWrE+u0rJXmBaUpIryNrrdDy6GPlqKCjoukBhjtm
1903ZVHQ1yxO7snaonap68KtXMi7sQmRjd65xsV1ZP0jIsDihi4L
-----END CERTIFICATE-----
"""

TEST_LEAF_KEY = """\
-----BEGIN PRIVATE KEY-----
MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQCoDmfjqZdWxNo5
bhDXGBOChYF27G+7t+4upq7LnhoYgYwHLVrzodyVyIG8C+E5CCvHgHfFV2VSKuet
r3rZWFpoqoIkeZbqynrhQpmjIsimZFgeTlWK8DU6GrOxkPqDwYCY/8Dmk6NdQf00
McXWaXo2ch5EIvgJy/Urzd5ry3vhMbkw8qlJpBexHjSfwIAOkaPm8QUCzU4k9CN0
6PUnQ0n6WBq7qqkEs3kM8Ai5eJs+ykaIMQ5y2PgfXWSen4XYQSBute3Up8Sr9j2T
0ArNkTGGHe7Z0q7zy/v2o/eMEmidDvb1p0Sog9C9gy82YklD2LYQPWwuP/D1DAMk
t/0uluihAgMBAAECggEABsLBmi6N6I81yj6rzcNpsYQGb87WNeKR4e2RtZ5QJXE8
vWMtOATod1wgH/0IW/+Ap197MgSwjkwskteu5QSBapmFb8s2b46iv+IqhR4WnV8H
Dn0PQu4j7gj59qhC8776me0cCQqidVN8yLdB4rzOjlcr8YjImrhKTi9ThdmjS61g
I6tEmMi4ihXn5RMuvv/uXO+16T99AqlU7eX6CoSEvBuBNtmoCG6VmibzOZ4AqAKq
+Q+twCmvLt75Pa0F2vzCi8exfKcrB6iB5L9I2FyX7CnFPCT3LL6WBfv9I4Gl0M3F
HDHm5FUnQt7oiGQLkPsqMQkVJuW5FgZMBI5YY/VQmQKBgQDlwp0v6OTFxJ19AjJn
4a6q9OJK+6MaGVPbIWqOjUplhxBU5l6gQB2DXPeJ5Tio7Gzy/5Io+dZLHG+4GqJK
442X51A6x2OX6BOdsdALj7AKVlQ9mxbmzrJJitzA3XvGpyca5LorIDrHuprsdJiY
e1NZzgBvAnK2Yy3A8WByBozfzQKBgQC7P8jAsRDBEmBip/xRivUxFM/F7TNnDlw1
LOgATw4VeQjSX3sKjj9xE5auQVFZY/TZmrb+u9ILYr/VIwLDCc8bJMVEU3QTPsJ6
3RRIGZIWXR0096NUoD6Rf3B+JZpv0F5s1+EyXeW+MdaASdCvkScDMzW8prEe0vvr
BTvHU/TQJQKBgQDk7QMXYHLJhrzweIbmsJwLpJHw6kc50vCVjvcP8EGnZWrlXN/9
xcRiRfgywlyxG1j2yaTFBSH6luvNwWPhQFetegGbf12BVvBsmGXVjyZ1Nk0bUPMB
qANGeYC4/jW82oGBL1M7cxJ+PTTt0sLUc1S6TyJpeUP47FsDOr3A/zvQJQKBgQCI
iOLuNm48ChVD+q+OGd/dkQpLjUE89QihMYRdrUdcuuuG0l5afQyffCQUHcaegrcn
8JtctUFcUf4FAMljxARDC5XX025BFjMi+Y9vX03Zhr3kQGnVLB9TYnR5Vxv8ShiA
Dw3C9xqti5OX6bsEObgTqkSVsYpXKorMfP1ww7QwDQKBgQDc6ReTaCR7WUyk4q42
hcZd4uJjOYdDa3Og4SLfdB+CBQ+sJWe9LvxZOj6QMwBspSOpTws+7+fgm1o44Qej
wDmi4eVKzp8av781V6jsPfJqoBFYlQ/h5unYWj0z+MXlorfXfN7P6RjmLvlbYMSC
dueZjies/U9vAax/y6+HzJdChQ==
-----END PRIVATE KEY-----
"""


###############################################################################
# The README's examples, run as pasted
###############################################################################

def readme_blocks(language):
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as file:
        text = file.read()
    return re.findall(r"^```%s\n(.*?)^```" % language, text, re.S | re.M)


class WholeAPI:
    """Every job the examples start: created queued, completed on the
    first poll with a cited answer; a create with ``stream`` gets the whole
    job's events."""

    def __init__(self, api):
        self.created = 0
        api.fallback = self.answer

    def answer(self, rec):
        if rec.method == "POST" and rec.path == "/v1/responses":
            self.created += 1
            rid = "resp_%d" % self.created
            if rec.json().get("stream"):
                return reply(200, SSE([sse_event(e) for e in job_events(rid)[0]]))
            return reply(200, body("queued", rid=rid))
        rid = rec.path.split("?")[0].split("/")[3]
        if rec.path.endswith("/cancel"):
            return reply(200, body("cancelled", rid=rid))
        return reply(200, body("completed", rid=rid, output=[message(
            "The answer.", annotations={0: [{
                "type": "url_citation", "url": "https://example.org/a", "title": "A source",
                "start_index": 0, "end_index": 3}]})]))


def test_readme_python_examples_run_as_pasted(api, tmp_path):
    WholeAPI(api)
    blocks = readme_blocks("python")
    assert len(blocks) >= 8
    # A stand-in for the one third-party package an example names.
    (tmp_path / "azure").mkdir()
    (tmp_path / "azure" / "__init__.py").write_text("")
    (tmp_path / "azure" / "identity.py").write_text(
        "def DefaultAzureCredential():\n    return None\n"
        "def get_bearer_token_provider(credential, scope):\n    return lambda: 'entra-token'\n")
    environment = {k: v for k, v in os.environ.items()
                   if not k.upper().startswith("OPENAI_") and not k.upper().endswith("_PROXY")}
    environment.update(OPENAI_API_KEY=KEY, OPENAI_BASE_URL=api.url + "/v1",
                       AZURE_OPENAI_API_KEY="azure-key",
                       PYTHONPATH=os.pathsep.join([HERE, str(tmp_path)]),
                       OPENAI_BG_JOURNAL=str(tmp_path / "jobs.sqlite3"))
    outputs = []
    for number, code in enumerate(blocks, 1):
        done = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=environment,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, "README python block %d:\n%s\n%s" % (number, code, done.stderr)
        assert KEY not in done.stdout + done.stderr
        outputs.append(done.stdout)
    # The first example names the job before anything else, then the answer and its source.
    assert outputs[0].splitlines()[0] == "resp_1 queued"
    assert outputs[0].endswith("The answer.\nA source <https://example.org/a>\n")
    assert api.paths("POST").count("/v1/responses") >= 6


def test_readme_command_lines_run_as_pasted(api, tmp_path, monkeypatch):
    """Every ``openai-bg`` line of the README's shell blocks, in order; a
    pipeline is cut at its first ``|``.  ``listen`` serves until stopped:
    its line is checked by its parser (``--help``)."""
    import shlex
    WholeAPI(api)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "questions.txt").write_text("First question?\nSecond question?\n")
    env = {"OPENAI_BG_JOURNAL": str(tmp_path / "jobs.sqlite3"), "OPENAI_WEBHOOK_SECRET": "whsec_"}
    lines = [line for block in readme_blocks("sh")
             for line in block.replace("\\\n", " ").splitlines()
             if line.startswith("openai-bg ")]
    assert len(lines) >= 10
    for line in lines:
        argv = shlex.split(line.split("|")[0], comments=True)[1:]
        if argv[0] == "listen":
            argv.append("--help")
        done = cli(api, *argv, env=env)
        assert done.returncode == 0, (line, done.stderr)
    assert sorted(os.listdir("answers")) == ["1-first-question.json", "1-first-question.md",
                                             "2-second-question.json", "2-second-question.md"]
