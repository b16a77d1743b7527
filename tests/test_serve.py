"""``rnnkit serve``: a live server on a free loopback port over one tiny run of every task.
Every endpoint is called; a prediction equals the row ``rnnkit predict --output x.jsonl``
writes for the same input; each kind of bad request is a 4xx JSON error and the server stays
up; 1,000 fuzzed requests give no server error; the batcher joins concurrent requests and
keeps errors and sampled requests apart; no pickle is loaded."""

from __future__ import annotations

import asyncio
import io
import json
import pickle
import random
import wave
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install rnnkit[serve]")
httpx = pytest.importorskip("httpx", reason="httpx is not installed: pip install rnnkit[test]")

import torch  # noqa: E402

from rnnkit.cli.main import main  # noqa: E402
from rnnkit.serve.app import create_app  # noqa: E402
from rnnkit.serve.batching import Batcher  # noqa: E402
from rnnkit.serve.limits import Limits  # noqa: E402
from rnnkit.serve.served import ServedRun  # noqa: E402
from tests.serve_helpers import live_server  # noqa: E402
from tests.test_cli_lm import cli  # noqa: E402

TASKS = ["caption", "chat", "classify", "forecast", "lm", "music", "reorder", "speech",
         "summarize", "tag", "translate"]  # fmt: skip
# per task: the inputs sent as JSON (or the file uploaded, relative to the run's data folder)
TEXTS = {
    "classify": ["a great film", "awful plot"],
    "tag": ["Alice met Jordan in New York"],
    "forecast": [" ".join(str(float(v % 7)) for v in range(40))],
    "lm": ["ROMEO:", "To be, or not"],
    "reorder": ["king the of denmark"],
    "translate": ["the big cat sees a dog.", "a small bird."],
    "summarize": ["the big cat sees a dog."],
    "chat": ["a small bird."],
    "music": ["M:6/8 K:Cmaj"],
}
FILES = {"caption": "train/000.png", "speech": "train/audio/000.wav"}
LIMITS = Limits(max_body_bytes=2 * 2**20, max_audio_seconds=30.0, timeout_s=60.0)


def no_pickle(*args, **kwargs):
    raise AssertionError("the server loaded a pickle")


@pytest.fixture(scope="module")
def served(tiny_run):
    """(base URL, {task: run folder}) of a live server over one tiny run of every task,
    loaded and served with pickle.load(s) and torch.load made to fail."""
    folders = {task: tiny_run(task) for task in TASKS}
    mp = pytest.MonkeyPatch()
    for target, name in ((pickle, "load"), (pickle, "loads"), (torch, "load")):
        mp.setattr(target, name, no_pickle)
    try:
        runs = [ServedRun.load(folders[t], LIMITS) for t in TASKS]
        with live_server(create_app(runs, LIMITS)) as url:
            yield url, folders
    finally:
        mp.undo()


def cli_rows(folder: Path, args: list[str], tmp_path: Path, cwd: Path, monkeypatch) -> list:
    """The rows ``rnnkit predict RUN ARGS --output x.jsonl`` writes (run from ``cwd``)."""
    out = tmp_path / "x.jsonl"
    out.unlink(missing_ok=True)
    monkeypatch.chdir(cwd)
    assert main(["predict", str(folder), *args, "--output", str(out)]) == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def post_files(url: str, name: str, files: list[tuple[str, bytes]], **fields) -> httpx.Response:
    return httpx.post(f"{url}/v1/runs/{name}/predict", timeout=60,
                      files=[("files", f) for f in files],
                      data={k: str(v) for k, v in fields.items()})  # fmt: skip


def assert_json_error(r: httpx.Response, status: int | tuple[int, ...], words: str = "") -> None:
    statuses = (status,) if isinstance(status, int) else status
    assert r.status_code in statuses, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["status"] == r.status_code and "Traceback" not in body["error"]
    assert words.lower() in body["error"].lower(), body["error"]


def test_runs_lists_each_served_run_with_what_it_takes(served):
    url, folders = served
    r = httpx.get(f"{url}/v1/runs")
    assert r.status_code == 200
    runs = {x["name"]: x for x in r.json()["runs"]}
    assert {x["task"] for x in runs.values()} == set(TASKS)
    assert runs["caption"]["takes"] == "image" and runs["speech"]["takes"] == "audio"
    assert runs["translate"]["takes"] == "text" and runs["forecast"]["takes"] == "series"
    assert set(runs["translate"]["decoding"]) == {"beam", "temperature", "top_p", "seed"}
    assert runs["classify"]["decoding"] == {}
    one = httpx.get(f"{url}/v1/runs/translate").json()
    assert one == runs["translate"]
    health = httpx.get(f"{url}/healthz").json()
    assert health == {"ok": True, "runs": len(TASKS), "threads": torch.get_num_threads()}


def test_openapi_schema_and_page(served):
    url, _ = served
    schema = httpx.get(f"{url}/openapi.json").json()
    assert {"/v1/runs", "/v1/runs/{name}", "/v1/runs/{name}/predict"} <= set(schema["paths"])
    body = schema["paths"]["/v1/runs/{name}/predict"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(body)
    page = httpx.get(f"{url}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/v1/runs" in page.text


@pytest.mark.parametrize("task", TASKS)
def test_prediction_equals_rnnkit_predict(served, task, tmp_path, monkeypatch):
    url, folders = served
    folder = folders[task]
    if task in FILES:
        data = folder.parent / FILES[task]
        r = post_files(url, task, [(data.name, data.read_bytes())])
        expected = cli_rows(folder, [data.name], tmp_path, data.parent, monkeypatch)
    else:
        r = httpx.post(f"{url}/v1/runs/{task}/predict", json={"inputs": TEXTS[task]}, timeout=60)
        expected = cli_rows(folder, TEXTS[task], tmp_path, tmp_path, monkeypatch)
    assert r.status_code == 200, r.text
    assert r.json() == {"run": task, "rows": expected}


def test_decoding_options_reach_the_task_as_on_the_command_line(served, tmp_path, monkeypatch):
    url, folders = served
    text = TEXTS["translate"]
    sampled = ["--temperature", "0.7", "--seed", "3"]
    for options, flags in (({"beam": 1}, ["--beam", "1"]),
                           ({"temperature": 0.7, "seed": 3}, sampled)):  # fmt: skip
        r = httpx.post(f"{url}/v1/runs/translate/predict", json={"inputs": text, **options})
        assert r.status_code == 200, r.text
        assert r.json()["rows"] == cli_rows(folders["translate"], [*text, *flags], tmp_path,
                                            tmp_path, monkeypatch)  # fmt: skip
    png = folders["caption"].parent / FILES["caption"]
    r = post_files(url, "caption", [(png.name, png.read_bytes())], beam=2)
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == cli_rows(folders["caption"], [png.name, "--beam", "2"], tmp_path,
                                        png.parent, monkeypatch)  # fmt: skip
    # a series as a list of numbers is the same series as its text
    numbers = [float(v % 7) for v in range(40)]
    a = httpx.post(f"{url}/v1/runs/forecast/predict", json={"inputs": [numbers]}).json()
    b = httpx.post(f"{url}/v1/runs/forecast/predict", json={"inputs": TEXTS["forecast"]}).json()
    assert a == b


def wav_bytes(samples: int, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * samples)
    return buf.getvalue()


FORM_WITHOUT_FILE = b'--b\r\nContent-Disposition: form-data; name="beam"\r\n\r\n2\r\n--b--\r\n'


def test_bad_requests_are_4xx_json_errors_and_the_server_stays_up(served):
    url, folders = served
    predict = f"{url}/v1/runs/translate/predict"
    hdr = {"content-type": "application/json"}
    cases = [
        (httpx.post(predict, content=b"{not json", headers=hdr), 422, "json"),
        (httpx.post(predict, json={"inputs": "a cat"}), 422, "inputs"),
        (httpx.post(predict, json={"inputs": [3]}), 422, "inputs"),
        (httpx.post(predict, json={"inputs": ["a cat."], "beam": "4"}), 422, "beam"),
        (httpx.post(predict, json={"inputs": ["a cat."], "beam": 0}), 400, "beam 0"),
        (httpx.post(predict, json={"inputs": ["a cat."], "colour": 1}), 422, "colour"),
        (httpx.post(predict, json={"inputs": []}), 422, "inputs"),
        (httpx.post(predict, json={"inputs": [""]}), 400, "empty"),
        (httpx.post(predict, json={"inputs": ["a"] * 100}), 413, "at most"),
        (httpx.post(predict, json={"inputs": ["x" * 30000]}), 400, "characters"),
        (httpx.post(predict, content=b"a" * (3 * 2**20), headers=hdr), 413, "over"),
        (httpx.post(predict, content=b"inputs", headers={"content-type": "text/plain"}), 415, ""),
        (httpx.post(f"{url}/v1/runs/classify/predict", json={"inputs": ["a"], "beam": 2}), 400,
         "takes no beam"),
        (httpx.post(f"{url}/v1/runs/nosuch/predict", json={"inputs": ["a"]}), 404, "no served"),
        (httpx.get(f"{url}/v1/runs/nosuch"), 404, "no served"),
        (httpx.post(f"{url}/v1/runs/..%2F..%2Fetc/predict", json={"inputs": ["a"]}), 404, ""),
        (httpx.post(f"{url}/v1/runs/%2Fetc%2Fpasswd/predict", json={"inputs": ["a"]}), 404, ""),
        (httpx.post(f"{url}/v1/runs/../translate/predict", json={"inputs": ["a"]}), 404, ""),
        (httpx.get(f"{url}/v1/nothing"), 404, ""),
        (httpx.delete(f"{url}/v1/runs"), 405, ""),
        (post_files(url, "caption", [("x.png", b"this is not an image")]), 400, "not an image"),
        (post_files(url, "caption", [("../../etc/passwd", b"GIF89a")]), 400, "passwd"),
        (post_files(url, "speech", [("empty.wav", wav_bytes(0))]), 400, "0 s"),
        (post_files(url, "speech", [("long.wav", wav_bytes(16000 * 31))]), (400, 413), "s"),
        (post_files(url, "speech", [("noise.wav", b"RIFF....WAVE")]), 400, "audio"),
        (httpx.post(f"{url}/v1/runs/caption/predict", content=FORM_WITHOUT_FILE,
                    headers={"content-type": "multipart/form-data; boundary=b"}), 422, "no file"),
        (httpx.post(f"{url}/v1/runs/caption/predict", files=[("image", ("a.png", b"x"))]), 422,
         "unexpected form field"),
        (httpx.post(f"{url}/v1/runs/caption/predict", json={"inputs": ["/etc/passwd"]}), 400,
         "multipart"),
        (post_files(url, "translate", [("a.txt", b"a cat.")]), 400, "json"),
        (post_files(url, "caption", [("a.png", b"x")], beam="many"), 400, "beam"),
        (httpx.post(f"{url}/v1/runs/caption/predict", content=b"--x\r\nbroken",
                    headers={"content-type": "multipart/form-data; boundary=x"}), (400, 422), ""),
    ]  # fmt: skip
    for r, status, words in cases:
        assert_json_error(r, status, words)
        assert "/tmp" not in r.text and "rnnkit-serve-" not in r.text  # no path of the server
    assert httpx.get(f"{url}/healthz").status_code == 200


def test_a_large_image_is_refused(tmp_path):
    from PIL import Image

    big = tmp_path / "big.png"
    Image.new("RGB", (300, 300), "white").save(big)
    run = ServedRun.__new__(ServedRun)
    run.limits = Limits(max_image_pixels=200 * 200)
    with pytest.raises(Exception, match="300x300 pixels"):
        run.check_image(big)


def fuzzed(rng: random.Random, names: list[str]) -> tuple[str, str, dict]:
    """A random request: method, path, httpx keyword arguments."""
    odd = ["nosuch", "..", "%00", "a" * 300, "translate%2F..", ""]
    name = rng.choice(names) if rng.random() < 0.8 else rng.choice(odd)
    path = f"/v1/runs/{name}/predict"
    if rng.random() < 0.2:
        path = rng.choice([f"/v1/runs/{name}", "/v1/runs", "/", f"/v1/{name}", "/openapi.json"])
    junk = [None, True, -1, 2**70, 1e308, float("nan"), "", "x" * rng.randint(0, 50), [], {},
            [1, "a"], {"inputs": 1}, "\x00\ud7ff", "é" * 5]  # fmt: skip
    body: dict = {"inputs": rng.choice([["a small bird."], ["x"] * rng.randint(0, 3),
                                        rng.choice(junk), [rng.choice(junk)]])}  # fmt: skip
    for key in rng.sample(["beam", "temperature", "top_p", "seed", "other"], rng.randint(0, 3)):
        body[key] = rng.choice([*junk, 0, 1, 2, 0.5, 300])
    kind = rng.random()
    if kind < 0.5:
        return "POST", path, {"content": json.dumps(body).encode(),
                              "headers": {"content-type": "application/json"}}  # fmt: skip
    if kind < 0.7:
        raw = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
        ctype = rng.choice(["application/json", "multipart/form-data; boundary=b",
                            "multipart/form-data", "text/plain", "image/png"])  # fmt: skip
        return "POST", path, {"content": raw, "headers": {"content-type": ctype}}
    if kind < 0.9:
        data = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
        if rng.random() < 0.3:
            data = b"\x89PNG\r\n\x1a\n" + data
        fields = {k: str(rng.choice(junk)) for k in rng.sample(["beam", "seed", "x"], 1)}
        return "POST", path, {"files": [("files", ("f.png", data))], "data": fields}
    return rng.choice(["GET", "GET", "PUT", "DELETE"]), path, {}


def test_a_thousand_fuzzed_requests_give_no_server_error(served):
    url, _ = served
    names = ["translate", "classify", "caption", "speech", "forecast", "tag"]
    rng = random.Random(0)
    statuses: dict[int, int] = {}

    async def go() -> None:
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
            sem = asyncio.Semaphore(16)

            async def one(method: str, path: str, kw: dict) -> None:
                async with sem:
                    r = await client.request(method, path, **kw)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                assert r.status_code < 500, (method, path, kw, r.status_code, r.text[:300])
                if r.status_code >= 400:
                    assert "error" in r.json() and "Traceback" not in r.text

            await asyncio.gather(*(one(*fuzzed(rng, names)) for _ in range(1000)))

    asyncio.run(go())
    print("statuses of the fuzzed requests:", dict(sorted(statuses.items())))
    assert sum(statuses.values()) == 1000
    assert statuses.get(200, 0) >= 10  # some valid requests among them
    assert statuses.get(400, 0) > 100 and statuses.get(422, 0) > 100
    assert httpx.get(f"{url}/healthz").status_code == 200


def test_bearer_token(served):
    _, folders = served
    runs = [ServedRun.load(folders["classify"], LIMITS)]
    with live_server(create_app(runs, LIMITS, token="s3cret")) as url:
        body = {"inputs": ["a great film"]}
        assert_json_error(httpx.get(f"{url}/v1/runs"), 401, "bearer")
        wrong = {"authorization": "Bearer nope"}
        assert_json_error(httpx.post(f"{url}/v1/runs/classify/predict", json=body, headers=wrong),
                          401)  # fmt: skip
        ok = {"authorization": "Bearer s3cret"}
        assert (
            httpx.post(f"{url}/v1/runs/classify/predict", json=body, headers=ok).status_code == 200
        )
        assert httpx.get(f"{url}/").status_code == 200  # the page asks for the token itself


# -- the batcher alone ---------------------------------------------------------------------------


def test_batcher_joins_concurrent_requests_and_keeps_errors_apart():
    calls: list[list] = []

    def predict(inputs, options):
        calls.append(list(inputs))
        if "bad" in inputs:
            raise ValueError("bad input")
        return [{"x": x, **options} for x in inputs]

    async def go(enabled: bool):
        b = Batcher(predict, enabled=enabled, max_batch=8, max_wait=0.05)
        reqs = [b.submit([i], {}) for i in range(6)]
        reqs += [b.submit(["bad"], {}), b.submit([9], {"beam": 2})]
        reqs += [b.submit([10], {"temperature": 0.5}), b.submit([11], {"temperature": 0.5})]
        out = await asyncio.gather(*reqs, return_exceptions=True)
        b.close()
        return out

    calls.clear()
    out = asyncio.run(go(True))
    assert out[:6] == [[{"x": i}] for i in range(6)]
    assert isinstance(out[6], ValueError)
    assert out[7] == [{"x": 9, "beam": 2}] and out[8] == [{"x": 10, "temperature": 0.5}]
    assert calls[0] == [0, 1, 2, 3, 4, 5, "bad"]  # joined, then failed: each answered alone
    assert [9] in calls and [10] in calls and [11] in calls  # other options, sampled: alone
    assert max(len(c) for c in calls) <= 8
    calls.clear()
    out = asyncio.run(go(False))
    assert out[:6] == [[{"x": i}] for i in range(6)] and all(len(c) == 1 for c in calls)


def test_a_batch_goes_once_full_and_waits_no_longer_than_max_wait():
    import time

    calls: list[list] = []

    def predict(inputs, options):
        calls.append(list(inputs))
        return [{"x": x, **options} for x in inputs]

    async def go(n: int, max_wait: float):
        b = Batcher(predict, max_batch=4, max_wait=max_wait)
        t0 = time.perf_counter()
        first = b.submit([0], {})
        await asyncio.sleep(0.05)  # the batch is being gathered: the rest arrive late,
        other = b.submit([9], {"beam": 2})  # one that cannot join it among them
        out = await asyncio.gather(first, *(b.submit([i], {}) for i in range(1, n)))
        took = time.perf_counter() - t0
        other.cancel()  # it would wait out max_wait for company of its own
        b.close()
        return out, took

    calls.clear()
    out, took = asyncio.run(go(4, max_wait=30.0))
    assert out == [[{"x": i}] for i in range(4)]
    assert calls == [[0, 1, 2, 3]] and took < 10  # full: sent without waiting out the 30 s
    calls.clear()
    out, took = asyncio.run(go(2, max_wait=0.3))
    assert calls == [[0, 1]] and 0.25 < took < 10  # not full: sent when its time is up


def test_serving_leaves_the_event_loop_a_core(monkeypatch):
    from rnnkit.serve.app import serving_threads

    for cores, threads in ((1, 1), (2, 1), (16, 15)):
        monkeypatch.setattr(torch, "get_num_threads", lambda c=cores: c)
        assert serving_threads() == threads


def test_a_request_over_its_time_is_a_504(served):
    import time

    _, folders = served
    run = ServedRun.load(folders["classify"], LIMITS)
    slow = Limits(timeout_s=0.2)
    real = run.predict
    run.predict = lambda inputs, options: (time.sleep(0.5), real(inputs, options))[1]
    with live_server(create_app([run], slow)) as url:
        r = httpx.post(f"{url}/v1/runs/classify/predict", json={"inputs": ["a great film"]})
        assert_json_error(r, 504, "within")
        assert httpx.get(f"{url}/healthz").status_code == 200


def test_concurrent_requests_are_batched_and_answered_as_alone(served):
    url, _ = served
    # of one length: an output that never ends (a tiny model's) is cut at a length that
    # depends on the longest input of its batch, as in `rnnkit predict --input FILE`
    texts = ["the big cat sees a small dog.", "a small bird eats the big fish.",
             "the small dog likes a big cat.", "a big fish sees the small bird."]  # fmt: skip
    alone = {}
    for t in texts:
        r = httpx.post(f"{url}/v1/runs/translate/predict", json={"inputs": [t]})
        assert r.status_code == 200, r.text
        alone[t] = r.json()["rows"][0]
    before = httpx.get(f"{url}/v1/stats").json()["translate"]

    async def go() -> list:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            sent = [texts[i % len(texts)] for i in range(24)]
            path = "/v1/runs/translate/predict"
            rs = await asyncio.gather(*(client.post(path, json={"inputs": [t]}) for t in sent))
            return list(zip(sent, rs, strict=True))

    for text, r in asyncio.run(go()):
        assert r.status_code == 200, r.text
        row = r.json()["rows"][0]
        assert row["output"] == alone[text]["output"]
        assert row["logprob"] == pytest.approx(alone[text]["logprob"], abs=1e-3)
    after = httpx.get(f"{url}/v1/stats").json()["translate"]
    assert after["inputs"] - before["inputs"] == 24
    assert after["calls"] - before["calls"] < 24  # some requests shared a call
    # the time inside the model, which bench/serve_load.py sets apart from the HTTP work
    assert after["model_s"] > before["model_s"] and after["model_cpu_s"] > before["model_cpu_s"]


def test_the_load_bench_checks_every_answer(served):
    """bench/serve_load.py's clients (raw keep-alive HTTP/1.1) against the live server: each
    answer compared with ``rnnkit predict``'s row; a wrong expectation is counted."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "bench" / "serve_load.py"
    spec = importlib.util.spec_from_file_location("serve_load", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    url, folders = served
    texts = TEXTS["classify"]
    expected = bench.expected_rows(folders["classify"], texts)
    r = asyncio.run(bench.load(url, "classify", "classify", texts, expected, 3, 12, 60))
    assert (r["requests"], r["answered"], r["errors"], r["wrong"]) == (12, 12, 0, 0)
    wrong = {t: {**row, "label": "no such label"} for t, row in expected.items()}
    r = asyncio.run(bench.load(url, "classify", "classify", texts, wrong, 2, 4, 60))
    assert (r["answered"], r["wrong"]) == (4, 4)
    assert bench.cpu_seconds() > 0


def test_the_serve_command(served, tmp_path, capsys):
    import os
    import socket
    import subprocess
    import sys
    import time

    _, folders = served
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SERVE_TOKEN": "t0ken"}
    cmd = [sys.executable, "-m", "rnnkit.cli.main", "serve", str(folders["classify"]),
           "--port", str(port), "--token-env", "SERVE_TOKEN", "--no-batching",
           "--threads", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "rnnkit serve did not start"
            time.sleep(0.2)
        assert httpx.get(f"{url}/healthz").json()["threads"] == 1
        auth = {"authorization": "Bearer t0ken"}
        r = httpx.post(f"{url}/v1/runs/classify/predict", json={"inputs": ["a great film"]},
                       headers=auth, timeout=60)  # fmt: skip
        assert r.status_code == 200 and r.json()["rows"][0]["label"]
        assert httpx.get(f"{url}/v1/stats", headers=auth).json()["classify"]["batching"] is False
        assert httpx.get(f"{url}/v1/runs").status_code == 401
    finally:
        proc.terminate()
        proc.wait(20)
    # bad use: one line, exit code 2 (in this process: a new one costs seconds of imports)
    for argv, words in (
        (["serve", str(tmp_path / "nothing")], "nothing"),
        (["serve", str(folders["classify"]), "--token-env", "RNNKIT_NO_SUCH_VAR"], "unset"),
        (["serve", str(folders["classify"]), str(folders["classify"])], "two served runs"),
    ):
        code, _, err = cli(capsys, *argv)
        assert code == 2 and words in err and err.count("\n") == 1, err


def test_a_tune_verovio_cannot_read_is_still_answered(served, monkeypatch):
    """A model's tune can be ABC the engraver refuses: the answer keeps the tune, its notes
    and MIDI, with no notation and the reason, and the server stays up."""
    import rnnkit.serve.notation as notation
    from rnnkit.errors import RnnkitError

    url, _ = served
    asked = {"meter": "6/8", "key": "Dmaj", "seed": 7}
    fine = httpx.post(f"{url}/v1/runs/music/compose", json=asked, timeout=60).json()["tunes"][0]

    def refuse(abc: str) -> str:
        raise RnnkitError("the tune could not be engraved (Verovio did not read its ABC)")

    monkeypatch.setattr(notation, "abc_svg", refuse)
    r = httpx.post(f"{url}/v1/runs/music/compose", json=asked, timeout=60)
    assert r.status_code == 200, r.text
    (tune,) = r.json()["tunes"]
    assert tune["svg"] is None and "could not be engraved" in tune["notation_error"]
    assert (tune["abc"], tune["midi"], tune["notes"]) == (fine["abc"], fine["midi"], fine["notes"])
    assert httpx.get(f"{url}/healthz").status_code == 200


def test_compose_answers_the_tunes_rnnkit_compose_writes(served, tmp_path):
    import base64

    import mido

    url, folders = served
    settings = {"meter": "6/8", "key": "Dmaj", "seed": 5, "temperature": 1.0}
    r = httpx.post(f"{url}/v1/runs/music/compose", json={**settings, "n": 2}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["run"] == "music" and body["seed"] == 5 and len(body["tunes"]) == 2
    out = tmp_path / "tunes"
    argv = ["compose", folders["music"], "--n", "2", "--out", out, "--no-png"]
    argv += [x for k, v in settings.items() for x in (f"--{k}", str(v))]
    assert main([str(a) for a in argv]) == 0
    for i, tune in enumerate(body["tunes"], 1):
        written = (out / f"tune-{i:02d}.abc").read_text()
        # the same tune; only the N: line names the run differently (its name, not its folder)
        assert [x for x in tune["abc"].splitlines() if not x.startswith("N:")] == [
            x for x in written.splitlines() if not x.startswith("N:")]  # fmt: skip
        assert "sampled from music " in tune["abc"] and str(folders["music"]) not in r.text
        midi = base64.b64decode(tune["midi"])
        assert midi == (out / f"tune-{i:02d}.mid").read_bytes()
        # the notes the page plays are the MIDI file's notes: onsets and lengths in ticks
        ticks, on, heard = 0, {}, []
        for m in mido.MidiFile(file=io.BytesIO(midi)).tracks[0]:
            ticks += m.time
            if m.type == "note_on" and m.velocity > 0:
                on[m.note] = ticks
            elif m.type in ("note_on", "note_off"):
                start = on.pop(m.note)
                heard.append((start, ticks - start, m.note))
        tick = 240  # an eighth
        notes = sorted((round(a * tick), round(a * tick) + round(b * tick), p)
                       for a, b, p in tune["notes"])  # fmt: skip
        assert sorted((a, a + n, p) for a, n, p in heard) == notes
        assert tune["seconds_per_eighth"] == 0.25 and tune["meter"] == "6/8"
        assert tune["key"] == "D"
        svg = tune["svg"]
        assert svg.startswith("<svg") and svg.count('class="note"') == len(tune["notes"])
    # a drawn seed is answered, and gives the same tunes again
    first = httpx.post(f"{url}/v1/runs/music/compose", json={}, timeout=60).json()
    again = httpx.post(f"{url}/v1/runs/music/compose", json={"seed": first["seed"]}).json()
    assert again["tunes"][0]["abc"] == first["tunes"][0]["abc"]
    music = httpx.get(f"{url}/v1/runs/music").json()
    assert music["compose"] == "/v1/runs/music/compose"
    assert "compose" not in httpx.get(f"{url}/v1/runs/translate").json()


def test_bad_compose_requests_are_4xx_json_errors(served):
    url, _ = served
    compose = f"{url}/v1/runs/music/compose"
    cases = [
        (httpx.post(compose, json={"meter": "5/4"}), 400, "never occurs"),
        (httpx.post(compose, json={"meter": "6/8", "key": "Dlyd"}), 400, ""),
        (httpx.post(compose, json={"n": 0}), 422, "n"),
        (httpx.post(compose, json={"n": 1000}), 422, "n"),
        (httpx.post(compose, json={"temperature": -1}), 422, "temperature"),
        (httpx.post(compose, json={"seed": "1"}), 422, "seed"),
        (httpx.post(compose, json={"tempo": 90}), 422, "tempo"),
        (httpx.post(compose, content=b"{", headers={"content-type": "application/json"}), 422, ""),
        (httpx.post(f"{url}/v1/runs/translate/compose", json={}), 404, "only a music run"),
        (httpx.post(f"{url}/v1/runs/nosuch/compose", json={}), 404, "no served"),
        (httpx.get(compose), 405, ""),
    ]  # fmt: skip
    for r, status, words in cases:
        assert_json_error(r, status, words)
    rng = random.Random(1)
    junk = [None, True, -1, 0, 2**70, 1e308, "", "6/8", "Dmaj", "x" * 40, [], {}, 0.5, 17]
    for _ in range(200):
        body = {k: rng.choice(junk) for k in rng.sample(["n", "meter", "key", "temperature",
                                                          "seed", "rules", "x"], 3)}  # fmt: skip
        r = httpx.post(compose, json=body, timeout=60)
        assert r.status_code < 500, (body, r.text[:300])
    assert httpx.get(f"{url}/healthz").status_code == 200
