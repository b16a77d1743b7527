"""Load on ``rnnkit serve``: 32 concurrent clients against a classifier and a translate run,
requests per second and p50/p99 latency with dynamic batching and without (one at a time).

The server runs in its own process on a free loopback port (``rnnkit serve RUN RUN --port P``,
``--no-batching`` for the second pass). Each client holds one keep-alive HTTP/1.1 connection
(a raw asyncio client: it costs the shared CPUs far less than httpx), sends one input per
request, drawn from the run's own training file, and waits for the answer before sending the
next. Every answer is checked against the row ``rnnkit predict`` gives that input alone (its
code path, in this process): the same label (probabilities within 1e-4) or the same
translation (log-probability within 1e-3); a dropped request, an error or a wrong answer is
counted and fails the run. Each pass also reports where the CPU went, per request: the
server's process (its model's thread apart) and the clients'.

    .venv/bin/python bench/serve_load.py                          # trains two runs first
    .venv/bin/python bench/serve_load.py --tiny --requests 400    # smaller runs, quicker
    .venv/bin/python bench/serve_load.py --classify runs/rev --translate runs/de

Without run folders it trains a classifier and a translate run at their task's default model
size for a few steps on the tests' data (quality is beside the point: the model's size sets
its cost); ``--tiny`` trains them at hidden size 128 with word tokens instead.
Bounded in count and time: each pass stops after ``--requests`` answers or ``--seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(runs: list[Path], batching: bool) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "rnnkit.cli.main", "serve", *map(str, runs), "--port", str(port)]
    if not batching:
        cmd.append("--no-batching")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start within 120 s")


def inputs_of(run: Path, n: int) -> list[str]:
    """Up to ``n`` distinct inputs from the file the run was trained on."""
    from rnnkit.runs.driver import load_run

    loaded = load_run(run)
    data = loaded.config["data"].get("data")
    if not data:
        raise SystemExit(f"{run}: trained on a named dataset; give a run trained on a file")
    examples = loaded.task.read_examples(data)
    texts = examples[0] if loaded.task.name == "classify" else [src for src, _ in examples]
    out: list[str] = []
    for t in texts:
        try:
            loaded.task.parse_input(t)
        except Exception:
            continue
        if t not in out:
            out.append(t)
        if len(out) == n:
            break
    return out


def model_alone(run: Path, texts: list[str], n: int = 32) -> dict:
    """Milliseconds an input of the model's predict, in-process: one input a call, and one
    call on ``n`` inputs (what batching can gain at most, without HTTP)."""
    from rnnkit.runs.driver import load_run

    loaded = load_run(run)
    parsed = [loaded.task.parse_input(t) for t in texts[:n]]
    loaded.predict(parsed[:1])  # warm up
    t0 = time.perf_counter()
    for x in parsed:
        loaded.predict([x])
    t1 = time.perf_counter()
    loaded.predict(parsed)
    t2 = time.perf_counter()
    one, batch = (t1 - t0) / len(parsed) * 1000, (t2 - t1) / len(parsed) * 1000
    return {"one_ms": round(one, 2), "batch_ms": round(batch, 2), "n": len(parsed)}


def same(task: str, got: dict, want: dict) -> bool:
    if task == "classify":
        return got["label"] == want["label"] and all(
            abs(got["probabilities"][k] - v) <= 1e-4 for k, v in want["probabilities"].items()
        )
    return got["output"] == want["output"] and abs(got["logprob"] - want["logprob"]) <= 1e-3


class Connection:
    """One keep-alive HTTP/1.1 connection to the server: a POST, then its answer (the server
    always sends a Content-Length). A few lines of asyncio instead of an HTTP library, so
    the clients take little of the CPUs they share with the server."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: "
                f"application/json\r\nContent-Length: {len(body)}\r\n\r\n")  # fmt: skip
        try:
            self.writer.write(head.encode() + body)
            answer = await self.reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":", 1)[1]) for line in answer.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))  # fmt: skip
            return int(answer[9:12]), await self.reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, StopIteration, ValueError):
            self.close()  # the next request opens a new connection
            raise ConnectionError("the server dropped the request") from None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def cpu_seconds(pid: int | None = None) -> float:
    """CPU seconds (user and system) of this process, or of process ``pid`` (Linux)."""
    if pid is None:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(url: str, name: str, task: str, texts: list[str], expected: dict[str, dict],
               clients: int, requests: int, seconds: float) -> dict:  # fmt: skip
    latencies: list[float] = []
    errors, wrong = 0, 0
    sent = 0
    stop = time.monotonic() + seconds
    host, port = url.split("//")[1].split(":")
    path = f"/v1/runs/{name}/predict"
    bodies = {t: json.dumps({"inputs": [t]}).encode() for t in texts}
    connections = [Connection(host, int(port)) for _ in range(clients)]

    async def one_client(k: int) -> None:
        nonlocal errors, wrong, sent
        i = k
        while sent < requests and time.monotonic() < stop:
            sent += 1
            text = texts[i % len(texts)]
            i += clients
            t0 = time.perf_counter()
            try:
                status, body = await connections[k].post(path, bodies[text])
            except ConnectionError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                errors += 1
            elif not same(task, json.loads(body)["rows"][0], expected[text]):
                wrong += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(one_client(k) for k in range(clients)))
    wall = time.perf_counter() - t0
    for c in connections:
        c.close()
    lat = np.array(latencies) * 1000
    return {
        "run": name, "requests": sent, "answered": len(latencies), "errors": errors,
        "wrong": wrong, "seconds": round(wall, 2), "req_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 1) if len(lat) else None,
        "p99_ms": round(float(np.percentile(lat, 99)), 1) if len(lat) else None,
    }  # fmt: skip


def expected_rows(run: Path, texts: list[str]) -> dict[str, dict]:
    """Each input's row as ``rnnkit predict`` gives it (its code path: the input parsed by
    the task, then the loaded run's ``predict``), asked alone."""
    from rnnkit.runs.driver import load_run
    from rnnkit.runs.predict import parse_inputs

    loaded = load_run(run)
    return {t: loaded.predict(parse_inputs(loaded.task, [t]))[0] for t in texts}


def measured(url: str, pid: int, name: str, task: str, texts: list[str],
             expected: dict[str, dict], args: argparse.Namespace) -> dict:  # fmt: skip
    """One timed pass of load on run ``name``, after an untimed warm-up, with the batching
    and the CPU seconds it took: the server's, its model's thread's, the clients'."""
    warm = asyncio.run(load(url, name, task, texts, expected, args.clients, 2 * args.clients, 60))
    if warm["errors"] or warm["wrong"]:
        raise SystemExit(f"the warm-up failed: {warm}")
    before = httpx.get(f"{url}/v1/stats").json()[name]
    server0, client0 = cpu_seconds(pid), cpu_seconds()
    r = asyncio.run(load(url, name, task, texts, expected, args.clients, args.requests,
                         args.seconds))  # fmt: skip
    server, client = cpu_seconds(pid) - server0, cpu_seconds() - client0
    after = httpx.get(f"{url}/v1/stats").json()[name]
    calls = max(after["calls"] - before["calls"], 1)
    n = max(r["answered"], 1)
    model = after["model_cpu_s"] - before["model_cpu_s"]
    r["mean_batch"] = round((after["inputs"] - before["inputs"]) / calls, 1)
    r["cpu_ms"] = {  # CPU milliseconds a request
        "server": round(server / n * 1000, 2),
        "model": round(model / n * 1000, 2),
        "http": round((server - model) / n * 1000, 2),  # the server's work beside the model
        "clients": round(client / n * 1000, 2),
    }
    r["client_cpu_share"] = round(client / max(server + client, 1e-9), 2)
    return r


def trained_runs(root: Path, tiny: bool) -> tuple[Path, Path]:
    """A classifier and a translate run trained for a few seconds on the tests' data, at
    their task's default model size (or small, ``tiny``); runs already in ``root`` are kept."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from rnnkit.cli.main import main as cli
    from tests.test_classify import write_reviews
    from tests.test_translate import write_pairs

    root.mkdir(parents=True, exist_ok=True)
    common = ["--max-steps", "20", "--quiet", "--json"]
    if tiny:
        common += ["--hidden-size", "128", "--num-layers", "1"]
    write_reviews(root / "reviews.csv", n=400)
    write_pairs(root / "pairs.tsv", 400)
    todo = {
        "classify": ["--data", root / "reviews.csv"],
        "translate": ["--data", root / "pairs.tsv", *(["--tokens", "word"] if tiny else [])],
    }
    for task, flags in todo.items():
        if (root / task / "config.json").is_file():
            continue
        argv = ["train", task, *flags, *common, "--out", root / task]
        if cli([str(a) for a in argv]) != 0:
            raise SystemExit(f"training the {task} run failed")
    return root / "classify", root / "translate"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classify", type=Path, help="a classify run folder")
    p.add_argument("--translate", type=Path, help="a translate run folder")
    p.add_argument("--tiny", action="store_true",
                   help="train the two runs small (hidden size 128, word tokens), not at "
                        "their task's default size")  # fmt: skip
    p.add_argument("--runs-dir", type=Path,
                   help="train the two runs into this folder, or use those there")  # fmt: skip
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--requests", type=int, default=2000, help="answers per pass, at most")
    p.add_argument("--seconds", type=float, default=60.0, help="time per pass, at most")
    p.add_argument("--inputs", type=int, default=200, help="distinct inputs per run")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    args = p.parse_args()
    if bool(args.classify) != bool(args.translate):
        p.error("give both --classify RUN and --translate RUN, or neither (to train them)")
    if not args.classify:
        root = args.runs_dir or Path(tempfile.mkdtemp(prefix="rnnkit-serve-load-"))
        args.classify, args.translate = trained_runs(root, args.tiny)
    runs = {"classify": args.classify, "translate": args.translate}
    texts = {task: inputs_of(run, args.inputs) for task, run in runs.items()}
    expected = {task: expected_rows(run, texts[task]) for task, run in runs.items()}
    figures = []
    for batching in (True, False):
        proc, url = start_server(list(runs.values()), batching)
        try:
            for task, run in runs.items():
                r = measured(url, proc.pid, run.resolve().name, task, texts[task],
                             expected[task], args)  # fmt: skip
                r.update(task=task, batching=batching, clients=args.clients)
                figures.append(r)
                print(json.dumps(r), flush=True)
        finally:
            proc.terminate()
            proc.wait(30)
    load1 = os.getloadavg()[0]
    print(f"\n{args.clients} concurrent clients, one input a request, {os.cpu_count()} cpus, "
          f"load average {load1:.1f} at the end")  # fmt: skip
    print(f"{'run':10s} {'batching':>8s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} "
          f"{'answered':>8s} {'errors':>6s} {'wrong':>6s} {'batch':>6s}")  # fmt: skip
    for r in figures:
        print(f"{r['task']:10s} {'on' if r['batching'] else 'off':>8s} {r['req_per_s']:8.1f} "
              f"{r['p50_ms']:8.1f} {r['p99_ms']:8.1f} {r['answered']:8d} {r['errors']:6d} "
              f"{r['wrong']:6d} {r['mean_batch']:6.1f}")  # fmt: skip
    print("\nCPU milliseconds a request: the server (its HTTP work, its model's thread), "
          "the clients")  # fmt: skip
    for r in figures:
        c = r["cpu_ms"]
        print(f"{r['task']:10s} {'on' if r['batching'] else 'off':>8s} server {c['server']:6.2f} "
              f"(http {c['http']:5.2f}, model {c['model']:5.2f})  clients {c['clients']:5.2f} "
              f"({r['client_cpu_share']:.0%} of the CPU used)")  # fmt: skip
    for task, run in runs.items():
        m = model_alone(run, texts[task])
        print(f"{task}: the model alone, {m['one_ms']} ms an input one at a time, "
              f"{m['batch_ms']} ms an input in one call on {m['n']} "
              f"({m['one_ms'] / m['batch_ms']:.1f}x)")  # fmt: skip
    ok = True
    for task in runs:
        on, off = (next(r for r in figures if r["task"] == task and r["batching"] is b)
                   for b in (True, False))  # fmt: skip
        ratio = on["req_per_s"] / max(off["req_per_s"], 1e-9)
        print(f"{task}: batching gives {ratio:.2f}x the requests per second")
        ok = ok and all(r["errors"] == 0 and r["wrong"] == 0 for r in (on, off))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    if not ok:
        raise SystemExit("some requests failed or were answered wrong")


if __name__ == "__main__":
    main()
