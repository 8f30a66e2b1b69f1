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
5. scaling: conversion time for 1x, 10x and 100x the output items.

The official ``openai`` SDK is measured when the interpreter given by
``--sdk-python`` (default: this one) can import it; otherwise its column is
skipped.  It is never a dependency.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
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
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
sys.path.insert(0, %(here)r)
import bench_openai_bg as bench
bodies = {
    "/v1/responses/" + bench.RESPONSE_ID: json.dumps(bench.realistic_body()).encode(),
    "/v1/responses/big": json.dumps(bench.realistic_body(%(big)d, "big")).encode(),
}
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without this, a keep-alive client (the SDK) waits out delayed ACKs.
    disable_nagle_algorithm = True
    def log_message(self, *a):
        pass
    def do_GET(self):
        data = bodies.get(self.path)
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.wfile.write(b"".join(self._headers_buffer) + b"\r\n" + data)
        self._headers_buffer = []
httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
httpd.daemon_threads = True
print(httpd.server_address[1], flush=True)
httpd.serve_forever()
"""


def start_server(big_items):
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER % {"here": HERE, "big": big_items}],
        stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    return proc, "http://127.0.0.1:%d/v1" % port


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

    server, base = start_server(big_items)
    try:
        started = time.perf_counter()
        imports = interleaved(lambda w: import_time(python[w], w), who, cold_repeats)
        cold = interleaved(lambda w: cold_start(python[w], base, w), who, cold_repeats)
        warm = interleaved(lambda w: warm_poll(python[w], base, w, polls), who, rounds)
        rss = {w: peak_rss(python[w], base, w) for w in who}
    finally:
        server.terminate()
        server.wait()
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
    print()
    targets = [
        ("import <= 1.2x floor", imports["openai_bg"] / imports["floor"] <= 1.2),
        ("warm poll <= 1.15x floor", warm["openai_bg"] / warm["floor"] <= 1.15),
        ("big-body conversion <= 1.3x json.loads", big["openai_bg"] / big["loads"] <= 1.3),
        ("peak RSS <= 1.5x floor", rss["openai_bg"] / rss["floor"] <= 1.5),
        ("100x items <= 110x time", scale[-1] / scale[0] <= 110),
    ]
    if has_sdk:
        targets += [
            ("warm poll >= 1.7x faster than SDK", warm["sdk"] / warm["openai_bg"] >= 1.7),
            ("cold start >= 8x faster than SDK",
             (cold["sdk"] - 0) / cold["openai_bg"] >= 8),
        ]
    for name, met in targets:
        print("target %-42s %s" % (name, "met" if met else "MISSED"))
    print("finished in %.0f s" % elapsed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
