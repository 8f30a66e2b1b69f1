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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and few repeats (a smoke test, not a measurement)")
    parser.add_argument("--sdk-python", default=sys.executable,
                        help="an interpreter that can import the openai SDK")
    args = parser.parse_args(argv)
    quick = args.quick
    big_items = 60 if quick else 6000
    cold_repeats = 2 if quick else 15
    polls, rounds = (5, 1) if quick else (300, 7)

    # Installed code has its bytecode cached; make sure ours does too, even
    # under PYTHONDONTWRITEBYTECODE, so the import is timed as users get it.
    import py_compile
    py_compile.compile(os.path.join(HERE, "openai_bg.py"))
    sdk_python = args.sdk_python
    has_sdk = subprocess.run([sdk_python, "-c", "import openai"],
                             capture_output=True).returncode == 0
    who = ["floor", "openai_bg"] + (["sdk"] if has_sdk else [])
    python = {"floor": sys.executable, "openai_bg": sys.executable, "sdk": sdk_python}

    server, port = start_server(big_items)
    base = "http://127.0.0.1:%d/v1" % port
    try:
        started = time.perf_counter()
        imports = interleaved(lambda w: import_time(python[w], w), who, cold_repeats)
        cold = interleaved(lambda w: cold_start(python[w], base, w), who, cold_repeats)
        warm = interleaved(lambda w: warm_poll(python[w], base, w, polls), who, rounds)
        rss = {w: peak_rss(python[w], base, w) for w in who}
    finally:
        server.terminate()
        server.wait()
    with tempfile.TemporaryDirectory() as folder:
        files = make_tls_files(folder)
        tls_who = ["kept", "floor", "openai_bg"] + (["sdk"] if has_sdk else [])
        tls_python = dict(python, kept=sys.executable)
        tls = measure_tls(tls_python, tls_who, files, quick) if files else None
    big = convert_times(sys.executable, big_items, 3 if quick else 15, False)
    if has_sdk:
        big["sdk"] = convert_times(sdk_python, big_items, 3 if quick else 5, True)["sdk"]
    sizes = [10, 100, 1000] if quick else [60, 600, 6000]
    scale = scaling(sizes, 3 if quick else 15)
    elapsed = time.perf_counter() - started

    sdk_note = "" if has_sdk else " (openai SDK not importable by %s: column skipped)" % (
        sdk_python)
    print("openai_bg %s benchmark, Python %s, %s%s" % (
        __import__("openai_bg").__version__, sys.version.split()[0],
        "QUICK SMOKE RUN" if quick else "full run", sdk_note))
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
                        + "   100x items cost %.0fx the time" % (scale[-1] / scale[0])))
    if tls is not None:
        report_tls(tls, tls_who)
    else:
        print("\nHTTPS: skipped (no openssl command to make a throwaway CA)")
    print()
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
            ("cold start >= 8x faster than SDK",
             (cold["sdk"] - 0) / cold["openai_bg"] >= 8),
        ]
    if tls is not None:
        targets += tls_targets(tls, has_sdk)
    for name, met in targets:
        print("target %-42s %s" % (name, "met" if met else "MISSED"))
    print("finished in %.0f s" % elapsed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
