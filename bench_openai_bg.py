#!/usr/bin/env python3
"""Benchmark openai_bg against the raw-urllib floor and the official SDK.

    python bench_openai_bg.py            # the full run (about a minute)
    python bench_openai_bg.py --quick    # a smoke run with tiny sizes
    python bench_openai_bg.py --sdk-python /path/to/venv/bin/python

Standard library only.  It starts its own loopback HTTP server in a separate
process and measures, side by side in the same run so that machine noise
cancels out in the ratios:

1. cold start: a fresh interpreter importing and polling once;
2. warm poll: per-call time over hundreds of sequential polls;
3. big answers: converting a deep-research-sized body against json.loads;
4. memory: peak RSS of a process polling that big body;
5. scaling: conversion time for 1x, 10x and 100x the output items;

and over HTTPS, as the real API is served (TLS 1.3, an ECDSA P-256 chain
made at start-up with the ``openssl`` command; the TLS part is skipped when
there is no ``openssl``), against a server process that counts connections,
handshakes and resumed sessions:

6. warm sequential polls, each contender against one kept-alive
   ``http.client.HTTPSConnection`` (the floor);
7. a batch sweep: 200 ids polled by 8 threads, with the connections opened;
8. a cold process: import, client, one poll, loading the CA file;
9. a round-trip relay (a user-space TCP relay that delays each direction by
   RTT/2, and a connection's first bytes by one more RTT for the TCP
   handshake): each contender's cost per poll in round trips, back to back
   and with polls 6 s apart, at 20 and 50 ms.

The official ``openai`` SDK is measured when the interpreter given by
``--sdk-python`` (default: this one) can import it; otherwise its column is
skipped.  It is never a dependency.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESPONSE_ID = "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b"


# --- bodies ---------------------------------------------------------------

def realistic_body(items=10, rid=RESPONSE_ID):
    """A completed deep-research-shaped Response: per 10 output items, 4 web
    searches (4 sources each), 4 reasoning items (two ~300-character summary
    paragraphs each) and one url_citation in the final message, which has
    ~200 characters of text per citation.  6,000 items make about 3 MB."""
    output = []
    text = ""
    annotations = []
    paragraph = ("The agent compares the reported figures across sources, notes "
                 "where they disagree, and decides which measurements to trust "
                 "before it searches again for the missing details of step %d. ")
    for i in range(items):
        kind = i % 10
        if kind < 4:
            output.append({"type": "web_search_call", "id": "ws_%d" % i,
                           "status": "completed",
                           "action": {"type": "search", "query": "fusion result %d" % i,
                                      "sources": [{"type": "url",
                                                   "url": "https://example.org/%d/%d" % (i, j)}
                                                  for j in range(4)]}})
        elif kind < 8:
            output.append({"type": "reasoning", "id": "rs_%d" % i, "summary": [
                {"type": "summary_text", "text": paragraph % i},
                {"type": "summary_text", "text": paragraph % (i + 1)}]})
        elif kind == 8:
            start = len(text)
            text += "Finding %d is supported by an independent measurement. " % i * 3
            annotations.append({"type": "url_citation", "start_index": start,
                                "end_index": len(text), "title": "Source %d" % i,
                                "url": "https://example.org/source/%d" % i})
        else:
            output.append({"type": "web_search_call", "id": "ws_%d" % i,
                           "status": "completed",
                           "action": {"type": "open_page",
                                      "url": "https://example.org/page/%d" % i}})
    output.append({"type": "message", "id": "msg_1", "status": "completed",
                   "role": "assistant", "content": [{
                       "type": "output_text", "text": text, "annotations": annotations,
                       "logprobs": []}]})
    return {"id": rid, "object": "response", "created_at": 1741476542,
            "status": "completed", "completed_at": 1741476999, "background": True,
            "error": None, "incomplete_details": None, "instructions": None,
            "max_output_tokens": None, "model": "o3-deep-research", "output": output,
            "parallel_tool_calls": True, "previous_response_id": None,
            "reasoning": {"effort": "medium", "summary": "auto"}, "store": True,
            "temperature": 1.0, "text": {"format": {"type": "text"}},
            "tool_choice": "auto", "tools": [{"type": "web_search_preview"}],
            "top_p": 1.0, "truncation": "disabled",
            "usage": {"input_tokens": 5000,
                      "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                      "output_tokens": 9000,
                      "output_tokens_details": {"reasoning_tokens": 6000},
                      "total_tokens": 14000},
            "user": None, "metadata": {}}


# --- the server (a separate process) --------------------------------------

SERVER = r"""
import json, ssl, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
sys.path.insert(0, %(here)r)
import bench_openai_bg as bench
bodies = {
    "/v1/responses/" + bench.RESPONSE_ID: json.dumps(bench.realistic_body()).encode(),
    "/v1/responses/big": json.dumps(bench.realistic_body(%(big)d, "big")).encode(),
}
template = json.dumps(bench.realistic_body(rid="RID")).encode()
stats = {"connections": 0, "handshakes": 0, "resumed": 0}
lock = threading.Lock()
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without this, a keep-alive client waits out delayed ACKs.
    disable_nagle_algorithm = True
    def log_message(self, *a):
        pass
    def do_GET(self):
        if self.path == "/stats":
            with lock:
                data = json.dumps(stats).encode()
        else:
            data = bodies.get(self.path) or template.replace(
                b"RID", self.path.rsplit("/", 1)[1].encode())
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.wfile.write(b"".join(self._headers_buffer) + b"\r\n" + data)
        self._headers_buffer = []
class Server(ThreadingHTTPServer):
    daemon_threads = True
    context = None
    def finish_request(self, request, client_address):
        if self.context is not None:  # TLS 1.3, counted
            try:
                request = self.context.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return
            with lock:
                stats["connections"] += 1
                stats["handshakes"] += 1
                stats["resumed"] += int(request.session_reused)
        self.RequestHandlerClass(request, client_address, self)
httpd = Server(("127.0.0.1", 0), Handler)
if %(leaf)r:
    httpd.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    httpd.context.minimum_version = ssl.TLSVersion.TLSv1_3
    httpd.context.load_cert_chain(%(leaf)r, %(key)r)
print(httpd.server_address[1], flush=True)
httpd.serve_forever()
"""


def start_server(big_items, files=None):
    """The server process and its port; over TLS when given certificate files."""
    files = files or {}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER % {"here": HERE, "big": big_items,
                                         "leaf": files.get("leaf.pem", ""),
                                         "key": files.get("leaf.key", "")}],
        stdout=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline())


# --- measurements in fresh interpreters -----------------------------------

PRELUDE = "import sys, time, json\nsys.path.insert(0, %r)\nBASE = %r\nRID = %r\n"

FLOOR_POLL = """
import urllib.request
def poll(rid):
    req = urllib.request.Request(BASE + "/responses/" + rid, headers={
        "Authorization": "Bearer sk-bench", "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())
"""
LIB_POLL = """
import openai_bg
client = openai_bg.Client(api_key="sk-bench", base_url=BASE)
poll = client.poll_response
"""
SDK_POLL = """
import openai
client = openai.OpenAI(api_key="sk-bench", base_url=BASE)
poll = client.responses.retrieve
"""
IMPORTS = {"floor": "import urllib.request, json", "openai_bg": "import openai_bg",
           "sdk": "import openai"}
POLLS = {"floor": FLOOR_POLL, "openai_bg": LIB_POLL, "sdk": SDK_POLL}


def run_snippet(python, base, code):
    out = subprocess.run([python, "-c", PRELUDE % (HERE, base, RESPONSE_ID) + code],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr else "failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


def import_time(python, who):
    """Seconds ``import ...`` takes in a fresh interpreter."""
    code = ("t = time.perf_counter()\n%s\nprint(json.dumps(time.perf_counter() - t))"
            % IMPORTS[who])
    return run_snippet(python, "", code)


def cold_start(python, base, who):
    """Seconds for a fresh interpreter to import and poll once."""
    started = time.perf_counter()
    run_snippet(python, base, POLLS[who] + "\npoll(RID)\nprint(1)")
    return time.perf_counter() - started


def warm_poll(python, base, who, polls):
    """Per-call seconds over ``polls`` sequential polls after a warm-up."""
    code = POLLS[who] + textwrap.dedent("""
        poll(RID)
        t = time.perf_counter()
        for _ in range(%d):
            poll(RID)
        print(json.dumps((time.perf_counter() - t) / %d))
        """ % (polls, polls))
    return run_snippet(python, base, code)


def interleaved(measure, who, rounds):
    """Median per contender of ``measure(w)``, taking turns round by round so
    that a slow moment of the machine hits every contender alike."""
    results = {w: [] for w in who}
    for _ in range(rounds):
        for w in who:
            results[w].append(measure(w))
    return {w: statistics.median(v) for w, v in results.items()}


def peak_rss(python, base, who):
    code = POLLS[who] + textwrap.dedent("""
        import resource
        result = poll("big")
        print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))
        """)
    return run_snippet(python, base, code)


def convert_times(python, items, repeats, sdk):
    """Median seconds of json.loads of the big body, and of json.loads plus
    openai_bg's conversion (or the SDK's parse) of the decoded value.  The
    conversion is timed on a value decoded outside the timer, so that the
    garbage collector's work on each fresh decode does not blur the sum."""
    code = textwrap.dedent("""
        import statistics, bench_openai_bg as bench, openai_bg
        data = json.dumps(bench.realistic_body(%d, "big")).encode()
        def median_of(fn, fresh):
            times = []
            for _ in range(%d):
                value = fresh()
                t = time.perf_counter(); fn(value); times.append(time.perf_counter() - t)
                del value
            return statistics.median(times)
        loads = median_of(json.loads, lambda: data)
        out = {"bytes": len(data), "loads": loads,
               "openai_bg": loads + median_of(openai_bg._response_from_json,
                                              lambda: json.loads(data))}
        if %r:
            # What the SDK itself does with an API answer: construct_type, the
            # non-validating path (its default, _strict_response_validation=False).
            from openai.types.responses import Response
            from openai._models import construct_type
            out["sdk"] = loads + median_of(
                lambda value: construct_type(type_=Response, value=value),
                lambda: json.loads(data))
        print(json.dumps(out))
        """ % (items, repeats, sdk))
    return run_snippet(python, "", code)


def scaling(items_list, repeats):
    code = textwrap.dedent("""
        import statistics, bench_openai_bg as bench, openai_bg
        out = []
        for items in %r:
            body = bench.realistic_body(items, "big")
            times = []
            for _ in range(%d):
                t = time.perf_counter()
                openai_bg._response_from_json(body)
                times.append(time.perf_counter() - t)
            out.append(min(times))
        print(json.dumps(out))
        """ % (items_list, repeats))
    return run_snippet(sys.executable, "", code)


# --- HTTPS: a TLS 1.3 server, contenders, a round-trip relay ----------------

def make_tls_files(folder):
    """A throwaway CA and an ECDSA P-256 leaf for 127.0.0.1, made with the
    openssl command; None when there is no openssl."""
    if shutil.which("openssl") is None:
        return None

    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    openssl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=bench CA", "-days", "2",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign", "-out", "ca.pem")
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "leaf.key")
    openssl("req", "-new", "-key", "leaf.key", "-subj", "/CN=127.0.0.1", "-out", "leaf.csr")
    with open(os.path.join(folder, "ext.cnf"), "w") as ext:
        ext.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "leaf.pem")
    return {name: os.path.join(folder, name) for name in ("ca.pem", "leaf.pem", "leaf.key")}


STATS_CALLS = []


def tls_stats(port, ca):
    """The server's counts, less the connections these calls made."""
    import http.client
    import ssl
    conn = http.client.HTTPSConnection("127.0.0.1", port,
                                       context=ssl.create_default_context(cafile=ca))
    conn.request("GET", "/stats")
    stats = json.loads(conn.getresponse().read())
    conn.close()
    STATS_CALLS.append(port)
    stats["connections"] -= STATS_CALLS.count(port)
    stats["handshakes"] -= STATS_CALLS.count(port)
    return stats


KEPT_POLL = """
import http.client, ssl, threading, urllib.parse
_url = urllib.parse.urlsplit(BASE)
_context = ssl.create_default_context()
_local = threading.local()
def poll(rid):
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = http.client.HTTPSConnection(_url.hostname, _url.port,
                                                         context=_context)
    conn.request("GET", _url.path + "/responses/" + rid, headers={
        "Authorization": "Bearer sk-bench", "Accept": "application/json"})
    return json.loads(conn.getresponse().read())
"""
TLS_POLLS = dict(POLLS, kept=KEPT_POLL)

SWEEP = """
from concurrent.futures import ThreadPoolExecutor
ids = ["resp_%d" % i for i in range(200)]
poll(RID)
t = time.perf_counter()
with ThreadPoolExecutor(8) as pool:
    list(pool.map(poll, ids))
print(json.dumps(time.perf_counter() - t))
"""

SPACED = """
poll(RID)
times = []
for _ in range(%(polls)d):
    time.sleep(%(gap)r)
    t = time.perf_counter()
    poll(RID)
    times.append(time.perf_counter() - t)
print(json.dumps(sorted(times)[len(times) // 2]))
"""


def run_tls_snippet(python, base, code, ca):
    env = dict(os.environ, SSL_CERT_FILE=ca, REQUESTS_CA_BUNDLE=ca, CURL_CA_BUNDLE=ca)
    env.pop("SSL_CERT_DIR", None)
    out = subprocess.run([python, "-c", PRELUDE % (HERE, base, RESPONSE_ID) + code],
                         capture_output=True, text=True, timeout=600, env=env)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr else "failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


class Relay:
    """A TCP relay that delays each direction by rtt/2, and the first bytes of
    a connection by one more rtt (the TCP handshake a real link costs)."""

    def __init__(self, target_port, rtt):
        self.target_port, self.rtt = target_port, rtt
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._pipe(client, upstream, self.rtt)
            self._pipe(upstream, client, 0.0)

    def _pipe(self, source, sink, first_extra):
        import queue
        chunks = queue.Queue()

        def read():
            extra = first_extra
            while True:
                try:
                    data = source.recv(65536)
                except OSError:
                    data = b""
                chunks.put((time.monotonic() + self.rtt / 2 + extra, data))
                extra = 0.0
                if not data:
                    return

        def write():
            while True:
                due, data = chunks.get()
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                try:
                    if not data:
                        sink.shutdown(socket.SHUT_WR)
                        return
                    sink.sendall(data)
                except OSError:
                    return
        threading.Thread(target=read, daemon=True).start()
        threading.Thread(target=write, daemon=True).start()

    def close(self):
        self.sock.close()


def measure_tls(python, who, files, quick):
    """All the HTTPS measurements; None when there is no openssl."""
    server, port = start_server(10, files)
    ca = files["ca.pem"]
    base = "https://127.0.0.1:%d/v1" % port
    polls, rounds = (5, 1) if quick else (300, 7)
    try:
        loop = textwrap.dedent("""
            poll(RID)
            t = time.perf_counter()
            for _ in range(%d):
                poll(RID)
            print(json.dumps((time.perf_counter() - t) / %d))
            """ % (polls, polls))
        warm = interleaved(lambda w: run_tls_snippet(python[w], base, TLS_POLLS[w] + loop, ca),
                           who, rounds)
        sweep, opened = {}, {}
        for w in who:
            before = tls_stats(port, ca)
            sweep[w] = statistics.median(
                run_tls_snippet(python[w], base, TLS_POLLS[w] + SWEEP, ca)
                for _ in range(1 if quick else 3))
            after = tls_stats(port, ca)
            opened[w] = (after["connections"] - before["connections"]) / (1 if quick else 3)
        cold = interleaved(lambda w: timed(lambda: run_tls_snippet(
            python[w], base, TLS_POLLS[w] + "\npoll(RID)\nprint(1)", ca)), who,
            2 if quick else 9)
        before = tls_stats(port, ca)
        run_tls_snippet(python["openai_bg"], base, TLS_POLLS["openai_bg"] + textwrap.dedent("""
            poll(RID)
            client.close()
            poll(RID)
            client.close()
            poll(RID)
            print(1)
            """), ca)
        after = tls_stats(port, ca)
        resumed = (after["resumed"] - before["resumed"], after["handshakes"] - before["handshakes"])
        relay = {}
        for rtt in ((0.02,) if quick else (0.02, 0.05)):
            proxy = Relay(port, rtt)
            relay_base = "https://127.0.0.1:%d/v1" % proxy.port
            for w in who:
                back = run_tls_snippet(python[w], relay_base, TLS_POLLS[w] + SPACED % {
                    "polls": 3 if quick else 9, "gap": 0.0}, ca)
                spaced = run_tls_snippet(python[w], relay_base, TLS_POLLS[w] + SPACED % {
                    "polls": 1 if quick else 3, "gap": 0.3 if quick else 6.0}, ca)
                relay[(rtt, w)] = (back / rtt, spaced / rtt)
            proxy.close()
    finally:
        server.terminate()
        server.wait()
    return {"warm": warm, "sweep": sweep, "opened": opened, "cold": cold,
            "resumed": resumed, "relay": relay}


def timed(fn):
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def report_tls(tls, who):
    names = {"floor": "urllib (new conn)", "kept": "kept-alive floor", "openai_bg": "openai_bg",
             "sdk": "SDK"}
    print("\nHTTPS (TLS 1.3, ECDSA P-256 chain from the openssl command)")
    header = "%-36s" % "measure" + "".join("%19s" % names[w] for w in who)
    print(header)
    print("-" * len(header))
    for key, label in (("warm", "warm poll over TLS, per call"),
                       ("sweep", "batch sweep: 200 ids x 8 threads"),
                       ("cold", "cold process over TLS")):
        print("%-36s" % label + "".join("%19s" % fmt_time(tls[key][w]) for w in who))
    print("%-36s" % "  connections opened by the sweep" +
          "".join("%19.0f" % tls["opened"][w] for w in who))
    rtts = sorted({rtt for rtt, _ in tls["relay"]})
    for rtt in rtts:
        print("%-36s" % ("relay %.0f ms: round trips per poll" % (rtt * 1e3)) +
              "".join("%19s" % ("%.2f / %.2f" % tls["relay"][(rtt, w)]) for w in who))
    print("  (relay columns: back to back / polls 6 s apart)")
    print("openai_bg TLS sessions resumed: %d of %d new connections (client.close() between "
          "3 polls)" % tls["resumed"])


def tls_targets(tls, has_sdk):
    warm, sweep = tls["warm"], tls["sweep"]
    worst_rtt = max(rtt for rtt, _ in tls["relay"])
    targets = [
        ("warm poll over TLS <= 1.3x kept-alive floor", warm["openai_bg"] / warm["kept"] <= 1.3),
        ("sweep opens <= threads + 2 connections", tls["opened"]["openai_bg"] <= 10),
        ("relay, 6 s apart: <= 1.2 round trips a poll",
         tls["relay"][(worst_rtt, "openai_bg")][1] <= 1.2),
    ]
    if has_sdk:
        targets += [
            ("warm poll over TLS >= 3x faster than SDK", warm["sdk"] / warm["openai_bg"] >= 3),
            ("TLS sweep >= 3x faster than SDK", sweep["sdk"] / sweep["openai_bg"] >= 3),
            ("relay back to back <= 1.1x SDK's time",
             tls["relay"][(worst_rtt, "openai_bg")][0]
             <= 1.1 * tls["relay"][(worst_rtt, "sdk")][0]),
            ("cold process over TLS >= 6x faster than SDK",
             tls["cold"]["sdk"] / tls["cold"]["openai_bg"] >= 6),
        ]
    return targets


# --- streams: many small events, and one big final event ---------------------

STREAM_SERVER = r"""
import json, socket, sys, threading
sys.path.insert(0, %(here)r)
import bench_openai_bg as bench
bodies = {"small": bench.small_events_stream(%(small)d), "big": bench.big_final_stream(%(big)d)}
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(64)
print(listener.getsockname()[1], json.dumps({k: len(v) for k, v in bodies.items()}), flush=True)
def serve(conn):
    try:
        answer(conn)
    except OSError:  # a client that hangs up first
        pass
def answer(conn):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with conn:
        while True:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(65536)
                if not data:
                    return
                head += data
            name = head.split(b" ")[1].split(b"?")[0].rsplit(b"/", 1)[1].decode()
            body = bodies.get(name, bodies["small"])
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            for start in range(0, len(body), 16384):  # one 16 KiB chunk a write
                piece = body[start:start + 16384]
                conn.sendall(b"%%x\r\n%%s\r\n" %% (len(piece), piece))
            conn.sendall(b"0\r\n\r\n")
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


def sse(event):
    """An event as the API frames it (compact JSON)."""
    return ("event: %s\ndata: %s\n\n" % (event["type"], json.dumps(
        event, separators=(",", ":")))).encode()


def small_events_stream(count):
    """A job that writes its answer in ``count`` small deltas (~170 bytes
    each on the wire), then a small response.completed."""
    words = "the quick brown fox jumps over "
    events = [sse({"type": "response.output_text.delta", "sequence_number": n,
                   "item_id": "msg_67ccd3acc8d4",
                   "output_index": 0, "content_index": 0, "delta": words[n % 7:n % 7 + 9]})
              for n in range(count)]
    final = realistic_body(1, "small")
    events.append(sse({"type": "response.completed", "sequence_number": count,
                       "response": final}))
    return b"".join(events)


def big_final_stream(items):
    """A deep-research job's stream end: two small events, then one
    response.completed that carries the whole ``items``-item response."""
    events = [sse({"type": "response.in_progress", "sequence_number": 0,
                   "response": realistic_body(1, "big")})]
    events.append(sse({"type": "response.output_text.done", "sequence_number": 1,
                       "item_id": "msg_1", "output_index": 0, "content_index": 0,
                       "text": "done"}))
    events.append(sse({"type": "response.completed", "sequence_number": 2,
                       "response": realistic_body(items, "big")}))
    return b"".join(events)


FLOOR_STREAM = """
import http.client, urllib.parse
_url = urllib.parse.urlsplit(BASE)
def stream(rid):
    conn = http.client.HTTPConnection(_url.hostname, _url.port)
    conn.request("GET", _url.path + "/responses/" + rid + "?stream=true",
                 headers={"Authorization": "Bearer sk-bench", "Accept": "text/event-stream"})
    data = conn.getresponse().read()
    conn.close()
    events = []
    for block in data.split(b"\\n\\n"):
        for line in block.split(b"\\n"):
            if line.startswith(b"data: "):
                events.append(json.loads(line[6:]))
    return len(events)
"""
LIB_STREAM = """
import openai_bg
client = openai_bg.Client(api_key="sk-bench", base_url=BASE)
def stream(rid):
    return sum(1 for _ in client.stream_response(rid))
"""
SDK_STREAM = """
import openai
client = openai.OpenAI(api_key="sk-bench", base_url=BASE)
def stream(rid):
    return sum(1 for _ in client.responses.retrieve(rid, stream=True))
"""
STREAMS = {"floor": FLOOR_STREAM, "openai_bg": LIB_STREAM, "sdk": SDK_STREAM}


def measure_streams(python, who, quick):
    """Seconds to read every event of each workload, per contender (median
    of warm repeats, contenders taking turns)."""
    small, big = (500, 200) if quick else (20000, 11900)
    proc = subprocess.Popen([sys.executable, "-c", STREAM_SERVER % {
        "here": HERE, "small": small, "big": big}], stdout=subprocess.PIPE, text=True)
    port, sizes = proc.stdout.readline().split(" ", 1)
    base = "http://127.0.0.1:%s/v1" % port
    repeats = 1 if quick else 5
    code = textwrap.dedent("""
        import statistics
        out = {}
        for rid in ("small", "big"):
            count = stream(rid)
            times = []
            for _ in range(%d):
                t = time.perf_counter(); stream(rid); times.append(time.perf_counter() - t)
            out[rid] = [statistics.median(times), count]
        print(json.dumps(out))
        """ % repeats)
    try:
        rounds = {w: [] for w in who}
        for _ in range(1 if quick else 3):
            for w in who:
                rounds[w].append(run_snippet(python[w], base, STREAMS[w] + code))
    finally:
        proc.terminate()
        proc.wait()
    result = {"sizes": json.loads(sizes)}
    for w in who:
        result[w] = {rid: statistics.median(r[rid][0] for r in rounds[w]) for rid in
                     ("small", "big")}
        result[w + " events"] = rounds[w][0]["small"][1], rounds[w][0]["big"][1]
    return result


def report_streams(streams, who):
    names = {"floor": "floor", "openai_bg": "openai_bg", "sdk": "SDK"}
    print("\nstreams: 16 KiB chunked writes; floor = one http.client read, split on blank "
          "lines, json.loads per event")
    header = "%-44s" % "measure" + "".join("%12s" % names[w] for w in who) + \
        "%11s%10s" % ("lib/floor", "SDK/lib")
    print(header)
    print("-" * len(header))
    labels = {"small": "stream: %d small deltas (%.1f MB)" % (
                  streams["floor events"][0], streams["sizes"]["small"] / 1e6),
              "big": "stream: one big response.completed (%.1f MB)" % (
                  streams["sizes"]["big"] / 1e6)}
    for rid in ("small", "big"):
        lib = streams["openai_bg"][rid]
        sdk = streams["sdk"][rid] if "sdk" in who else None
        print("%-44s" % labels[rid] + "".join("%12s" % fmt_time(streams[w][rid]) for w in who)
              + "%11s%10s" % (fmt_ratio(lib, streams["floor"][rid]), fmt_ratio(sdk, lib)))


def stream_targets(streams):
    return [("stream of small events <= 1.3x floor",
             streams["openai_bg"]["small"] / streams["floor"]["small"] <= 1.3),
            ("stream with a big final event <= 1.3x floor",
             streams["openai_bg"]["big"] / streams["floor"]["big"] <= 1.3)]


# --- listen under load: openai_bg listen against a ThreadingHTTPServer
# receiver around the SDK's webhooks.unwrap ---------------------------------

WEBHOOK_KEY = b"bench-webhook-key-0123456789abcd"
WEBHOOK_SECRET = "whsec_" + __import__("base64").b64encode(WEBHOOK_KEY).decode()

ANCHOR = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import openai
client = openai.OpenAI(api_key="sk-bench", webhook_secret=%(secret)r)
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # a fair anchor: no delayed-ACK stalls
    def log_message(self, *args):
        pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            event = client.webhooks.unwrap(body, dict(self.headers))
            sys.stdout.write(event.to_json(indent=None) + "\n")
            sys.stdout.flush()
            status = 200
        except Exception:
            status = 400
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
sys.stderr.write("listening on http://127.0.0.1:%%d/\n" %% server.server_address[1])
sys.stderr.flush()
server.serve_forever()
"""

LOAD = r"""
import base64, hashlib, hmac, json, selectors, socket, sys, time
port, concurrency, keep, seconds, key = %(port)d, %(concurrency)d, %(keep)r, %(seconds)r, %(key)r
def request(n):
    body = json.dumps({"id": "evt_%%d" %% n, "object": "event", "created_at": int(time.time()),
                       "type": "response.completed",
                       "data": {"id": "resp_67ccd2bed1ec8190b14f964abc05426"}}).encode()
    wid, ts = "wh_%%d_%%d" %% (port, n), str(int(time.time()))
    sig = base64.b64encode(hmac.new(key, b"%%s.%%s.%%s" %% (wid.encode(), ts.encode(), body),
                                    hashlib.sha256).digest()).decode()
    head = ("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "webhook-id: %%s\r\nwebhook-timestamp: %%s\r\nwebhook-signature: v1,%%s\r\n"
            "Content-Length: %%d\r\n%%s\r\n" %% (wid, ts, sig, len(body),
                                            "" if keep else "Connection: close\r\n"))
    return head.encode() + body
pending = [request(n) for n in range(200000 if seconds > 1 else 5000)]
sel = selectors.DefaultSelector()
class Conn:
    def __init__(self):
        self.sock = None
    def start(self, now):
        if self.sock is None:
            self.sock = socket.socket()
            self.sock.setblocking(False)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock.connect_ex(("127.0.0.1", port))
            sel.register(self.sock, selectors.EVENT_WRITE, self)
        else:
            sel.modify(self.sock, selectors.EVENT_WRITE, self)
        self.out, self.data, self.t0 = pending.pop(), b"", now
    def writable(self):
        try:
            sent = self.sock.send(self.out)
        except (BlockingIOError, InterruptedError):
            return
        self.out = self.out[sent:]
        if not self.out:
            sel.modify(self.sock, selectors.EVENT_READ, self)
    def readable(self, now):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the answer")
        self.data += chunk
        head, sep, rest = self.data.partition(b"\r\n\r\n")
        if not sep:
            return False
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        if len(rest) < length:
            return False
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head[:40])
        if not keep:
            sel.unregister(self.sock)
            self.sock.close()
            self.sock = None
        return True
conns = [Conn() for _ in range(concurrency)]
start = time.perf_counter()
for c in conns:
    c.start(start)
latencies, end = [], start + seconds
while True:
    now = time.perf_counter()
    if now >= end and latencies:  # a loaded machine still gives a figure
        break
    if now >= end + 60:
        raise RuntimeError("no delivery was answered in %%.0f s" %% (now - start))
    for key_, mask in sel.select(0.5):
        conn = key_.data
        if mask & selectors.EVENT_WRITE:
            conn.writable()
        elif conn.readable(time.perf_counter()):
            t = time.perf_counter()
            latencies.append(t - conn.t0)
            conn.start(t)
elapsed = time.perf_counter() - start
latencies.sort()
print(json.dumps({"rate": len(latencies) / elapsed,
                  "p50": latencies[len(latencies) // 2],
                  "p99": latencies[int(len(latencies) * 0.99)]}))
"""


def start_receiver(python, code_or_args):
    env = dict(os.environ, OPENAI_WEBHOOK_SECRET=WEBHOOK_SECRET)
    env.pop("OPENAI_LOG", None)
    proc = subprocess.Popen([python] + code_or_args, cwd=HERE, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    port = int(line.rsplit(":", 1)[1].strip().rstrip("/"))
    return proc, port


def measure_listen(python, has_sdk, quick):
    """Deliveries a second and answer times, per receiver and load."""
    receivers = {"openai_bg": (python["openai_bg"], ["openai_bg.py", "listen", "--port", "0"])}
    if has_sdk:
        receivers["sdk"] = (python["sdk"], ["-c", ANCHOR % {"secret": WEBHOOK_SECRET}])
    seconds = 0.3 if quick else 3.0
    cells = {}
    for concurrency in (16, 64):
        for keep in (True, False):
            for name, (interpreter, argv) in receivers.items():
                proc, port = start_receiver(interpreter, argv)
                try:
                    cells[(concurrency, keep, name)] = run_snippet(
                        sys.executable, "", LOAD % {
                            "port": port, "concurrency": concurrency, "keep": keep,
                            "seconds": seconds, "key": WEBHOOK_KEY})
                finally:
                    proc.terminate()
                    proc.wait()
    return cells


def report_listen(cells, has_sdk):
    print("\nlisten under load: signed deliveries from one selector-driven sender process")
    names = ["openai_bg"] + (["sdk"] if has_sdk else [])
    header = "%-40s" % "senders" + "".join("%36s" % ("openai_bg listen" if n == "openai_bg" else
                                                     "SDK unwrap + ThreadingHTTPServer")
                                           for n in names)
    print(header)
    print("-" * len(header))
    for concurrency in (16, 64):
        for keep in (True, False):
            label = "listen: %d senders, %s" % (concurrency, "kept-alive" if keep else
                                                "new connection each")
            print("%-40s" % label + "".join("%36s" % ("%.0f/s p50 %s p99 %s" % (
                cells[(concurrency, keep, n)]["rate"],
                fmt_time(cells[(concurrency, keep, n)]["p50"]),
                fmt_time(cells[(concurrency, keep, n)]["p99"])))
                for n in names))


def listen_targets(cells, has_sdk):
    if not has_sdk:
        return []
    return [("listen >= anchor's deliveries/s in every cell",
             all(cells[(c, k, "openai_bg")]["rate"] >= cells[(c, k, "sdk")]["rate"]
                 for c in (16, 64) for k in (True, False)))]


# --- the journal: what it costs a poll, and listing a big one ----------------

JOURNAL_POLLS = """
import os, statistics, tempfile, openai_bg
folder = tempfile.mkdtemp()
plain = openai_bg.Client(api_key="sk-bench", base_url=BASE)
journaled = openai_bg.Client(api_key="sk-bench", base_url=BASE,
                             journal=os.path.join(folder, "jobs.sqlite3"))
journaled.journal.track(RID)
def cpu_per_poll(client, polls):
    started = time.process_time()
    for _ in range(polls):
        client.poll_response(RID)
    return (time.process_time() - started) / polls
plain.poll_response(RID); journaled.poll_response(RID)
rounds = {"plain": [], "journaled": []}
for _ in range(%(rounds)d):
    rounds["plain"].append(cpu_per_poll(plain, %(polls)d))
    rounds["journaled"].append(cpu_per_poll(journaled, %(polls)d))
# A status change is a write: what the first poll of a new status costs.
writes = []
for n in range(%(polls)d):
    entry = {"status": "queued" if n %% 2 else "in_progress"}
    started = time.process_time()
    journaled.journal._seen_response(openai_bg.LlmResponse(provider_metadata={
        "openai": dict(entry, response_id=RID)}))
    writes.append(time.process_time() - started)
print(json.dumps(dict({k: statistics.median(v) for k, v in rounds.items()},
                      write=statistics.median(writes))))
"""


# What the installed ``openai-bg`` command runs (the module from its cached
# bytecode, as pip installs it; ``python openai_bg.py`` compiles it each time).
ENTRY_POINT = "import sys, openai_bg; sys.argv[0] = 'openai-bg'; sys.exit(openai_bg.main())"


def fill_journal(path, rows):
    """A journal of ``rows`` jobs over the last 60 days; one in twenty still
    running."""
    import random
    import sqlite3
    import openai_bg
    openai_bg.Journal(path).close()
    rng = random.Random(7)
    now = time.time()
    db = sqlite3.connect(path)
    with db:
        for n in range(rows):
            created = now - rng.random() * 60 * 86400
            status = "in_progress" if n % 20 == 0 else "completed"
            cursor = db.execute(
                "INSERT INTO jobs (response_id, status, created_at, last_seen_at, "
                "changed_at, host, model, title, usage) VALUES "
                "(?, ?, ?, ?, ?, 'api.openai.com', 'o3-deep-research', ?, ?)",
                ("resp_%040d" % n, status, created, created + 600, created + 600,
                 "Question number %d about something worth a deep research job" % n,
                 json.dumps({"input_tokens": 1234, "output_tokens": 5678,
                             "reasoning_tokens": 4000, "web_search_calls": 12})))
            db.execute("INSERT INTO bodies (key, request, final) VALUES (?, ?, ?)", (
                cursor.lastrowid, json.dumps({"model": "o3-deep-research", "input": "q"}),
                json.dumps(realistic_body(10, "resp_%d" % n)) if status == "completed"
                else None))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # as SQLite does every 1,000 pages
    db.close()


def measure_journal(quick):
    server, port = start_server(10)
    base = "http://127.0.0.1:%d/v1" % port
    try:
        polls = run_snippet(sys.executable, base, JOURNAL_POLLS % {
            "rounds": 1 if quick else 7, "polls": 20 if quick else 300})
    finally:
        server.terminate()
        server.wait()
    rows = 300 if quick else 10000
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "jobs.sqlite3")
        fill_journal(path, rows)
        env = dict(os.environ, OPENAI_BG_JOURNAL=path)
        listing = {}
        for name, args in (("jobs", []), ("jobs --all", ["--all"])):
            times = []
            for _ in range(2 if quick else 9):
                started = time.perf_counter()
                subprocess.run([sys.executable, "-c", ENTRY_POINT, "jobs", *args], cwd=HERE,
                               env=env, stdout=subprocess.DEVNULL, check=True)
                times.append(time.perf_counter() - started)
            listing[name] = statistics.median(times)
    return {"polls": polls, "listing": listing, "rows": rows}


def report_journal(journal):
    polls, listing = journal["polls"], journal["listing"]
    print("\njournal: CPU time per poll (median), and `openai-bg jobs` as a fresh process "
          "(the installed command)")
    print("%-52s %s" % ("poll, not journaled", fmt_time(polls["plain"])))
    print("%-52s %s  (+%s)" % ("poll, journaled (status unchanged)",
                               fmt_time(polls["journaled"]),
                               fmt_time(polls["journaled"] - polls["plain"])))
    print("%-52s %s" % ("journal write on a status change", fmt_time(polls["write"])))
    print("%-52s %s" % ("openai-bg jobs, %d-row journal" % journal["rows"],
                        fmt_time(listing["jobs"])))
    print("%-52s %s" % ("openai-bg jobs --all, %d-row journal" % journal["rows"],
                        fmt_time(listing["jobs --all"])))


def journal_targets(journal):
    polls = journal["polls"]
    return [("journaled poll <= 0.5 ms more CPU", polls["journaled"] - polls["plain"] <= 5e-4),
            ("openai-bg jobs on the big journal < 150 ms", journal["listing"]["jobs"] < 0.15)]


# --- many jobs: one as_completed against a thread per job --------------------

MANY_SERVER = r"""
import json, random, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
count, spread = %(count)d, %(spread)r
ends = [random.Random(n).random() * spread for n in range(count)]
state = {"start": None, "polls": 0, "open": 0, "most_open": 0, "connections": 0}
noticed = {}
lock = threading.Lock()
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def log_message(self, *args):
        pass
    def setup(self):
        super().setup()
        with lock:
            state["open"] += 1
            state["connections"] += 1
            state["most_open"] = max(state["most_open"], state["open"])
    def finish(self):
        super().finish()
        with lock:
            state["open"] -= 1
    def do_GET(self):
        now = time.monotonic()
        if self.path == "/start":
            with lock:
                state.update(start=now, polls=0, connections=state["open"],
                             most_open=state["open"])
                noticed.clear()
            return self.answer({"ok": True})
        if self.path == "/stats":
            with lock:
                late = [[ends[n], noticed[n] - state["start"] - ends[n]] for n in noticed]
                return self.answer(dict(state, late=late, ends=ends))
        n = int(self.path.rsplit("_", 1)[1])
        with lock:
            state["polls"] += 1
            done = now - state["start"] >= ends[n]
            if done and n not in noticed:
                noticed[n] = now
        self.answer({"id": "job_%%d" %% n, "object": "response",
                     "status": "completed" if done else "in_progress",
                     "output": [], "background": True})
    def answer(self, value):
        data = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
httpd = Server(("127.0.0.1", 0), Handler)
print(httpd.server_address[1], flush=True)
httpd.serve_forever()
"""

MANY_CLIENT = """
import threading, urllib.request, openai_bg
count = %(count)d
ids = ["job_%%d" %% n for n in range(count)]
client = openai_bg.Client(api_key="sk-bench", base_url=BASE)
most = [0]
stop = threading.Event()
def sample():
    while not stop.wait(0.02):
        most[0] = max(most[0], threading.active_count() - 2)  # less main and sampler
threading.Thread(target=sample, daemon=True).start()
urllib.request.urlopen(BASE.rsplit("/v1", 1)[0] + "/start").read()
started, cpu = time.monotonic(), time.process_time()
seen = []
if %(batch)r:
    for outcome in client.as_completed(ids):
        seen.append(outcome.response_id)
else:
    def wait(rid):
        client.wait_response(rid)
        seen.append(rid)
    threads = [threading.Thread(target=wait, args=(rid,)) for rid in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
cpu, elapsed = time.process_time() - cpu, time.monotonic() - started
stop.set()
stats = json.loads(urllib.request.urlopen(BASE.rsplit("/v1", 1)[0] + "/stats").read())
print(json.dumps({"cpu": cpu, "elapsed": elapsed, "threads": most[0], "reported": len(seen),
                  "unique": len(set(seen)), "stats": stats}))
"""


def single_schedule_polls(end):
    """Polls one wait_response makes for a job that ends ``end`` s in."""
    t, polls = 0.0, 1
    while t < end:
        t += min(30.0, max(1.0, 0.1 * t))
        polls += 1
    return polls


def measure_many(quick):
    count, spread = (50, 3.0) if quick else (1000, 60.0)
    results = {}
    for way in ("batch", "threads"):
        proc = subprocess.Popen([sys.executable, "-c", MANY_SERVER % {
            "count": count, "spread": spread}], stdout=subprocess.PIPE, text=True)
        port = int(proc.stdout.readline())
        try:
            results[way] = run_snippet(sys.executable, "http://127.0.0.1:%d/v1" % port,
                                       MANY_CLIENT % {"count": count,
                                                      "batch": way == "batch"})
        finally:
            proc.terminate()
            proc.wait()
    ends = results["batch"]["stats"]["ends"]
    results["schedule_polls"] = sum(single_schedule_polls(end) for end in ends)
    results["count"] = count
    return results


def report_many(many):
    print("\nmany jobs: %d jobs ending at random within %s, one as_completed (defaults) "
          "against one wait_response thread per job" % (
              many["count"], "60 s" if many["count"] == 1000 else "3 s"))
    print("%-44s %16s %16s" % ("", "as_completed", "thread per job"))
    for label, key in (("CPU time", "cpu"), ("wall time", "elapsed")):
        print("%-44s %16s %16s" % (label, fmt_time(many["batch"][key]),
                                   fmt_time(many["threads"][key])))
    for label, pick in (("threads at most", lambda r: r["threads"]),
                        ("connections open at most", lambda r: r["stats"]["most_open"]),
                        ("connections opened", lambda r: r["stats"]["connections"]),
                        ("polls", lambda r: r["stats"]["polls"]),
                        ("jobs reported (unique)", lambda r: "%d (%d)" % (
                            r["reported"], r["unique"]))):
        print("%-44s %16s %16s" % (label, pick(many["batch"]), pick(many["threads"])))
    late = many["batch"]["stats"]["late"]
    worst = max((lateness / max(1.5, 0.12 * end), lateness) for end, lateness in late)
    print("%-44s %16d" % ("sum of the single-job schedules' polls", many["schedule_polls"]))
    print("%-44s %16s" % ("worst lateness / max(1.5 s, 12 % of age)", "%.2f (%.2f s)" % worst))


def many_targets(many):
    batch, threads = many["batch"], many["threads"]
    late = batch["stats"]["late"]
    return [
        ("as_completed: every job reported exactly once",
         batch["reported"] == batch["unique"] == many["count"]),
        ("as_completed: each noticed within max(1.5 s, 12 % of age)",
         all(lateness <= max(1.5, 0.12 * end) for end, lateness in late)),
        ("as_completed: threads and connections <= 8 + 2",
         batch["threads"] <= 10 and batch["stats"]["most_open"] <= 10),
        ("as_completed: polls within 5 % of the single schedules",
         abs(batch["stats"]["polls"] / many["schedule_polls"] - 1) <= 0.05),
        ("as_completed: CPU <= 1.2x a thread per job", batch["cpu"] <= 1.2 * threads["cpu"]),
    ]


# --- the report -------------------------------------------------------------

def fmt_time(seconds):
    if seconds is None:
        return "-"
    if seconds >= 1:
        return "%.2f s" % seconds
    if seconds >= 1e-3:
        return "%.2f ms" % (seconds * 1e3)
    return "%.1f us" % (seconds * 1e6)


def fmt_ratio(value, floor):
    return "-" if value is None else "%.2fx" % (value / floor)


PARTS = ("poll", "tls", "stream", "listen", "journal", "many")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and few repeats (a smoke test, not a measurement)")
    parser.add_argument("--sdk-python", default=sys.executable,
                        help="an interpreter that can import the openai SDK")
    parser.add_argument("--only", default=",".join(PARTS),
                        help="comma-separated parts to run, of: %s" % ", ".join(PARTS))
    args = parser.parse_args(argv)
    parts = set(args.only.split(","))
    quick = args.quick

    # Installed code has its bytecode cached; make sure ours does too, even
    # under PYTHONDONTWRITEBYTECODE, so the import is timed as users get it.
    import py_compile
    py_compile.compile(os.path.join(HERE, "openai_bg.py"))
    sdk_python = args.sdk_python
    has_sdk = subprocess.run([sdk_python, "-c", "import openai"],
                             capture_output=True).returncode == 0
    who = ["floor", "openai_bg"] + (["sdk"] if has_sdk else [])
    python = {"floor": sys.executable, "openai_bg": sys.executable, "sdk": sdk_python}
    sdk_note = "" if has_sdk else " (openai SDK not importable by %s: column skipped)" % (
        sdk_python)
    print("openai_bg %s benchmark, Python %s, %s%s" % (
        __import__("openai_bg").__version__, sys.version.split()[0],
        "QUICK SMOKE RUN" if quick else "full run", sdk_note), flush=True)
    started = time.perf_counter()
    targets = []
    if "poll" in parts:
        targets += run_plain(python, who, has_sdk, quick)
    if "tls" in parts:
        with tempfile.TemporaryDirectory() as folder:
            files = make_tls_files(folder)
            tls_who = ["kept", "floor", "openai_bg"] + (["sdk"] if has_sdk else [])
            tls_python = dict(python, kept=sys.executable)
            tls = measure_tls(tls_python, tls_who, files, quick) if files else None
        if tls is not None:
            report_tls(tls, tls_who)
            targets += tls_targets(tls, has_sdk)
        else:
            print("\nHTTPS: skipped (no openssl command to make a throwaway CA)")
    if "stream" in parts:
        streams = measure_streams(python, who, quick)
        report_streams(streams, who)
        targets += stream_targets(streams)
    if "listen" in parts:
        cells = measure_listen(python, has_sdk, quick)
        report_listen(cells, has_sdk)
        targets += listen_targets(cells, has_sdk)
    if "journal" in parts:
        journal = measure_journal(quick)
        report_journal(journal)
        targets += journal_targets(journal)
    if "many" in parts:
        many = measure_many(quick)
        report_many(many)
        targets += many_targets(many)
    print()
    for name, met in targets:
        print("target %-48s %s" % (name, "met" if met else "MISSED"))
    print("finished in %.0f s" % (time.perf_counter() - started))
    return 0


def run_plain(python, who, has_sdk, quick):
    """Plain HTTP: import, cold start, warm poll, memory, big bodies, scaling."""
    big_items = 60 if quick else 6000
    cold_repeats = 2 if quick else 15
    polls, rounds = (5, 1) if quick else (300, 7)
    server, port = start_server(big_items)
    base = "http://127.0.0.1:%d/v1" % port
    try:
        imports = interleaved(lambda w: import_time(python[w], w), who, cold_repeats)
        cold = interleaved(lambda w: cold_start(python[w], base, w), who, cold_repeats)
        warm = interleaved(lambda w: warm_poll(python[w], base, w, polls), who, rounds)
        rss = {w: peak_rss(python[w], base, w) for w in who}
    finally:
        server.terminate()
        server.wait()
    big = convert_times(sys.executable, big_items, 3 if quick else 15, False)
    if has_sdk:
        big["sdk"] = convert_times(python["sdk"], big_items, 3 if quick else 5, True)["sdk"]
    sizes = [10, 100, 1000] if quick else [60, 600, 6000]
    scale = scaling(sizes, 3 if quick else 15)
    rows = [
        ("import (in-process)", imports, "floor = import urllib.request, json"),
        ("cold start: import + 1 poll (process)", cold, "fresh interpreter each"),
        ("warm poll, per call", warm, "%d sequential polls, median of %d rounds" % (polls, rounds)),
        ("peak RSS polling the big body", rss, "%.1f MB body" % (big["bytes"] / 1e6)),
    ]
    header = "%-40s %11s %11s %11s %9s %9s" % ("measure", "floor", "openai_bg", "SDK",
                                            "lib/floor", "SDK/lib")
    print(header)
    print("-" * len(header))
    for name, values, note in rows:
        fmt = (lambda v: "%.1f MB" % (v / 1e6)) if "RSS" in name else fmt_time
        sdk = values.get("sdk")
        print("%-40s %11s %11s %11s %9s %9s   %s" % (
            name, fmt(values["floor"]), fmt(values["openai_bg"]),
            fmt(sdk) if sdk is not None else "-", fmt_ratio(values["openai_bg"], values["floor"]),
            fmt_ratio(sdk, values["openai_bg"]), note))
    print("%-40s %11s %11s %11s %9s %9s   %s" % (
        "big body: json.loads (+ conversion)", fmt_time(big["loads"]),
        fmt_time(big["openai_bg"]), fmt_time(big.get("sdk")),
        fmt_ratio(big["openai_bg"], big["loads"]), fmt_ratio(big.get("sdk"), big["openai_bg"]),
        "%d items, %.1f MB" % (big_items, big["bytes"] / 1e6)))
    print("%-40s %s" % ("scaling: conversion of %s items" % "/".join(map(str, sizes)),
                        "  ".join(fmt_time(t) for t in scale)
                        + "   100x items cost %.0fx the time" % (scale[-1] / scale[0])),
          flush=True)
    targets = [
        ("import <= 1.2x floor", imports["openai_bg"] / imports["floor"] <= 1.2),
        ("warm poll <= 1.15x floor", warm["openai_bg"] / warm["floor"] <= 1.15),
        ("big-body decode + conversion <= 1.6x json.loads",
         big["openai_bg"] / big["loads"] <= 1.6),
        ("peak RSS <= 1.5x floor", rss["openai_bg"] / rss["floor"] <= 1.5),
        ("100x items <= 110x time", scale[-1] / scale[0] <= 110),
    ]
    if has_sdk:
        targets += [
            ("warm poll >= 1.7x faster than SDK", warm["sdk"] / warm["openai_bg"] >= 1.7),
            ("cold start >= 8x faster than SDK", cold["sdk"] / cold["openai_bg"] >= 8),
        ]
    return targets


if __name__ == "__main__":
    sys.exit(main())
