"""``affectlens serve`` against a REAL uvicorn process on 127.0.0.1 (started here on a free port): every endpoint with
real media, the bad inputs of issue 12 (non-image, truncated video, zero bytes, oversize, malformed multipart,
unknown and path-traversal ids, WebSocket garbage and disconnects), auth on and off, 429 with Retry-After, and jobs
surviving a SIGKILL of the server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest

from helpers import REPO, shared_path

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
ws_client = pytest.importorskip("websockets.sync.client")
ws_exceptions = pytest.importorskip("websockets.exceptions")

KEY = "s3cret-key"
START_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``python -m affectlens.cli serve`` in a subprocess; ``url``, ``client`` (httpx), :meth:`kill`."""

    def __init__(self, store: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.store = store
        cmd = [sys.executable, "-m", "affectlens.cli", "serve", "--port", str(self.port), "--store", str(store), *args]
        self.log = store.parent / f"server-{self.port}.log"
        environment = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO / "src")}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=environment)
        self.client = httpx.Client(base_url=self.url, timeout=60)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited {self.process.returncode}: {self.log.read_text()}")
            try:
                if self.client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"server not up in {START_TIMEOUT_S} s: {self.log.read_text()}"
            time.sleep(0.2)

    def wait_job(self, job_id: str, *, headers: dict[str, str] | None = None, until: Any = None) -> dict[str, Any]:
        """Poll the job until it is done/failed (or ``until(status)`` holds); its status."""
        deadline = time.monotonic() + 120
        while True:
            status = self.client.get(f"/v1/jobs/{job_id}", headers=headers).json()
            if (until(status) if until else status["status"] in ("done", "failed")) or time.monotonic() > deadline:
                return dict(status)
            time.sleep(0.1)

    def kill(self, sig: int = signal.SIGTERM) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """No API key, one worker, uploads up to 1 MB, videos up to 5 s."""
    root = tmp_path_factory.mktemp("server")
    srv = Server(root / "store", "--workers", "1", "--max-upload-mb", "1", "--max-video-s", "5")
    yield srv
    srv.kill()


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """API key from the environment, one worker and a queue of one (429 after one waiting job)."""
    root = tmp_path_factory.mktemp("keyed")
    srv = Server(root / "store", "--workers", "1", "--queue-size", "1", env={"AFFECTLENS_API_KEY": KEY})
    yield srv
    srv.kill()


def image_bytes() -> bytes:
    return shared_path("images", "multi_face.jpg").read_bytes()


def video_path() -> Path:
    return shared_path("videos", "single_face.mp4")


def jpeg_frames(path: Path, count: int) -> list[bytes]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, image = capture.read()
        assert ok
        frames.append(cv2.imencode(".jpg", image)[1].tobytes())
    capture.release()
    return frames


def without_timings(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in record.items() if k != "timings_ms"} for record in records]


def peak_rss_mb(srv: Server) -> float:
    """The server process's peak resident memory (VmHWM) in MB."""
    for line in Path(f"/proc/{srv.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no /proc/PID/status on this system")


def assert_serving(srv: Server) -> None:
    assert srv.client.get("/healthz").json()["status"] == "ok"


# -- endpoints -----------------------------------------------------------------------------------------------------
def test_analyze_multipart_and_raw_body_give_the_frame_record(server: Server) -> None:
    data = image_bytes()
    multipart = server.client.post("/v1/analyze", files={"file": ("x.jpg", data, "image/jpeg")})
    raw = server.client.post("/v1/analyze", content=data, headers={"Content-Type": "image/jpeg"})
    assert multipart.status_code == raw.status_code == 200, multipart.text
    record = multipart.json()
    assert {"schema", "frame", "timestamp_ms", "scene_cut", "faces", "outputs", "timings_ms"} <= set(record)
    assert len(record["faces"]) >= 2  # multi_face.jpg
    face = record["faces"][0]
    assert {"bbox", "score", "emotion", "confidence", "probs", "valence", "arousal"} <= set(face)
    assert "track_id" not in face  # a still image: no tracks (unset fields are not sent as null)
    assert without_timings([raw.json()]) == without_timings([record])


def test_video_job_records_equal_the_cli_and_every_job_endpoint(server: Server, tmp_path: Path) -> None:
    video = video_path()
    created = server.client.post("/v1/jobs?video=true", content=video.read_bytes())
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    assert created.headers["location"] == f"/v1/jobs/{job_id}"
    status = server.wait_job(job_id)
    assert status["status"] == "done", status
    assert status["progress"] == {"frames": 72, "total_frames": 72, "fraction": 1.0}

    jsonl = server.client.get(f"/v1/jobs/{job_id}/records")
    assert jsonl.status_code == 200 and jsonl.headers["content-type"].startswith("application/x-ndjson")
    served = [json.loads(line) for line in jsonl.text.splitlines()]
    cli_jsonl = tmp_path / "cli.jsonl"
    subprocess.run(
        [sys.executable, "-m", "affectlens.cli", "analyze", str(video), "--jsonl", str(cli_jsonl), "--no-progress"],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    cli = [json.loads(line) for line in cli_jsonl.read_text().splitlines()]
    assert len(served) == 72
    assert without_timings(served) == without_timings(cli)

    csv = server.client.get(f"/v1/jobs/{job_id}/records", headers={"Accept": "text/csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("frame,timestamp_ms")
    report = server.client.get(f"/v1/jobs/{job_id}/report")
    assert report.status_code == 200 and report.json()["frames"] == 72
    mp4 = server.client.get(f"/v1/jobs/{job_id}/video")
    assert mp4.status_code == 200 and mp4.headers["content-type"] == "video/mp4"
    clip = tmp_path / "annotated.mp4"
    clip.write_bytes(mp4.content)
    assert cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FRAME_COUNT) == 72

    assert server.client.delete(f"/v1/jobs/{job_id}").status_code == 204
    assert server.client.get(f"/v1/jobs/{job_id}").status_code == 404
    assert server.client.get(f"/v1/jobs/{job_id}/records").status_code == 404
    assert not (server.store / job_id).exists()
    assert server.client.delete(f"/v1/jobs/{job_id}").status_code == 404


def test_video_is_404_unless_asked_for_and_multipart_jobs_work(server: Server) -> None:
    video = video_path()
    created = server.client.post("/v1/jobs", files={"file": ("clip.mp4", video.read_bytes(), "video/mp4")})
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    assert server.wait_job(job_id)["status"] == "done"
    response = server.client.get(f"/v1/jobs/{job_id}/video")
    assert response.status_code == 404 and "video=true" in response.json()["error"]


def test_deleting_a_running_job_stops_it_and_the_server_goes_on(server: Server) -> None:
    clip = shared_path("videos", "no_face.mp4").read_bytes()  # 98 frames of 960x540: a few seconds of work
    job_id = server.client.post("/v1/jobs", content=clip).json()["id"]
    status = server.wait_job(job_id, until=lambda s: s["progress"]["frames"] > 0 or s["status"] != "running")
    assert status["status"] == "running", status
    assert server.client.delete(f"/v1/jobs/{job_id}").status_code == 204
    assert server.client.get(f"/v1/jobs/{job_id}").status_code == 404
    assert not (server.store / job_id).exists()
    again = server.client.post("/v1/jobs", content=video_path().read_bytes()).json()["id"]  # the worker is free
    assert server.wait_job(again)["status"] == "done"
    assert not [p.name for p in server.store.iterdir() if p.name.startswith(".deleted")]


def test_websocket_stream_answers_every_frame_in_order_and_survives_garbage(server: Server) -> None:
    frames = jpeg_frames(video_path(), 6)
    url = f"ws://127.0.0.1:{server.port}/v1/stream"
    with ws_client.connect(url) as ws:
        messages = []
        for i, frame in enumerate(frames):
            ws.send(frame)
            if i == 1:
                ws.send(b"\x00garbage, not a jpeg")
        for _ in range(len(frames) + 1):
            messages.append(json.loads(ws.recv(timeout=60)))
    records = [m for m in messages if "error" not in m]
    errors = [m for m in messages if "error" in m]
    assert [m.get("frame") for m in messages] == [0, 1, None, 2, 3, 4, 5]  # in order, the error in its place
    assert len(errors) == 1 and "JPEG" in errors[0]["error"]
    assert len(records[-1]["faces"]) == 1  # a track is confirmed after a few frames (LIVE mode: tracked)
    assert records[-1]["faces"][0]["track_id"] >= 0 and "engagement" in records[-1]["faces"][0]

    # a client that sends frames and goes away without reading: the server keeps serving
    with ws_client.connect(url) as ws:
        for frame in frames:
            ws.send(frame)
    assert_serving(server)
    with ws_client.connect(url) as ws:
        ws.send(frames[0])
        assert json.loads(ws.recv(timeout=60))["frame"] == 0


def test_healthz_metrics_and_openapi(server: Server) -> None:
    assert server.client.post("/v1/analyze", content=image_bytes()).status_code == 200
    health = server.client.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok", "workers": 1, "queue_depth": 0}
    text = server.client.get("/metrics").text
    assert 'affectlens_http_requests_total{method="POST",route="/v1/analyze",status="200"}' in text
    assert 'affectlens_http_request_seconds_count{route="/v1/analyze"}' in text
    assert "affectlens_queue_depth 0" in text
    frames = [line for line in text.splitlines() if line.startswith('affectlens_frames_analyzed_total{kind="image"}')]
    assert frames and int(frames[0].split()[-1]) >= 1
    schema = server.client.get("/openapi.json").json()
    assert {"/v1/analyze", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/records", "/healthz"} <= set(
        schema["paths"]
    )
    assert "FaceRecord" in schema["components"]["schemas"]  # the record schema is documented
    assert server.client.get("/docs").status_code == 200


# -- bad input ---------------------------------------------------------------------------------------------------------
def test_non_images_and_non_videos_are_415(server: Server) -> None:
    text = b"hello, this is not a picture\n" * 20
    for path in ("/v1/analyze", "/v1/jobs"):
        response = server.client.post(path, content=text)
        assert response.status_code == 415 and response.json()["error"], response.text
    wrong = server.client.post("/v1/analyze", content=video_path().read_bytes())
    assert wrong.status_code == 415 and "/v1/jobs" in wrong.json()["error"]
    wrong = server.client.post("/v1/jobs", content=image_bytes())
    assert wrong.status_code == 415 and "/v1/analyze" in wrong.json()["error"]
    assert len(os.listdir(server.store / ".uploads")) == 0  # nothing left behind


def test_truncated_media_zero_bytes_and_malformed_multipart(server: Server) -> None:
    video = video_path().read_bytes()
    truncated = server.client.post("/v1/jobs", content=video[: len(video) // 2])
    assert truncated.status_code == 422 and "truncated" in truncated.json()["error"]
    image = server.client.post("/v1/analyze", content=image_bytes()[:2000])
    assert image.status_code == 422 and "corrupt" in image.json()["error"]
    for path in ("/v1/analyze", "/v1/jobs"):
        empty = server.client.post(path, content=b"")
        assert empty.status_code == 400 and "empty" in empty.json()["error"]
    malformed = server.client.post(
        "/v1/analyze", content=b"--xyz\r\ngarbage", headers={"Content-Type": "multipart/form-data; boundary=xyz"}
    )
    assert malformed.status_code == 400 and "multipart" in malformed.json()["error"]
    no_field = server.client.post("/v1/analyze", files={"other": ("x.jpg", image_bytes(), "image/jpeg")})
    assert no_field.status_code == 400 and "`file`" in no_field.json()["error"]
    assert_serving(server)


def test_oversize_uploads_and_long_videos_are_413(server: Server, tiny_video: Any) -> None:
    big = b"\xff\xd8\xff" + b"\x00" * (2 * 1024 * 1024)
    declared = server.client.post("/v1/analyze", content=big)  # Content-Length says so: refused at once
    assert declared.status_code == 413 and "limit" in declared.json()["error"]

    sent = 0

    def chunks() -> Iterator[bytes]:  # no Content-Length (chunked): counted as it arrives, 2 GB never sent
        nonlocal sent
        while sent < 2 * 1024**3:
            sent += 256 * 1024
            yield b"\xff" * (256 * 1024)

    peak_before = peak_rss_mb(server)
    try:
        streamed = server.client.post("/v1/analyze", content=chunks())
        assert streamed.status_code == 413 and "limit" in streamed.json()["error"]
    except httpx.TransportError:  # the server answered and closed while the client was still sending
        pass
    assert peak_rss_mb(server) - peak_before < 256  # the body was counted and dropped, never held in memory
    assert not [p for p in (server.store / ".uploads").iterdir()]  # nor left on disk
    long = tiny_video(frames=80, fps=10.0)  # 8 s > --max-video-s 5
    response = server.client.post("/v1/jobs", content=long.read_bytes())
    assert response.status_code == 413 and "5 s" in response.json()["error"]
    assert_serving(server)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/jobs/..%2F..%2Fetc%2Fpasswd",
        "/v1/jobs/..%2F..%2Fetc%2Fpasswd/records",
        "/v1/jobs/%2e%2e/report",
        "/v1/jobs/0123456789abcdef0123456789abcdef",
        "/v1/jobs/.uploads/records",
        "/v1/jobs/.uploads",
        "/v1/jobs/..%2Fvictim",
        "/v1/jobs/..",
    ],
)
def test_unknown_and_traversal_job_ids_are_404(server: Server, path: str) -> None:
    victim = server.store.parent / "victim"  # what a traversal id would address: store/../victim
    victim.mkdir(exist_ok=True)
    (victim / "status.json").write_text("{}")
    methods = ("GET",) if path.endswith(("/records", "/report")) else ("GET", "DELETE")
    for method in methods:
        response = server.client.request(method, path)
        assert response.status_code in (404, 422), response.text
        assert response.json()["error"]
    assert (server.store / ".uploads").is_dir()  # DELETE of a non-id never reaches the file system
    assert (victim / "status.json").read_text() == "{}"
    assert_serving(server)


# -- auth and 429 ------------------------------------------------------------------------------------------------------
def test_api_key_is_required_when_set(keyed: Server) -> None:
    assert keyed.client.get("/healthz").status_code == 200  # liveness stays open
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
        response = keyed.client.post("/v1/analyze", content=image_bytes(), headers=headers)
        assert response.status_code == 401 and "API key" in response.json()["error"]
        assert keyed.client.get("/metrics", headers=headers).status_code == 401
        assert keyed.client.get("/v1/jobs/0123456789abcdef0123456789abcdef", headers=headers).status_code == 401
    assert keyed.client.post("/v1/analyze", content=image_bytes(), headers={"X-API-Key": KEY}).status_code == 200
    bearer = {"Authorization": f"Bearer {KEY}"}
    assert keyed.client.post("/v1/analyze", content=image_bytes(), headers=bearer).status_code == 200
    url = f"ws://127.0.0.1:{keyed.port}/v1/stream"
    with pytest.raises(ws_exceptions.WebSocketException), ws_client.connect(url) as ws:  # refused before accept
        ws.send(image_bytes())
        ws.recv(timeout=30)
    with ws_client.connect(f"{url}?api_key={KEY}") as ws:
        ws.send(image_bytes())
        assert "faces" in json.loads(ws.recv(timeout=60))


@pytest.mark.slow
def test_a_full_queue_answers_429_with_retry_after(keyed: Server) -> None:
    headers = {"X-API-Key": KEY}
    clip = shared_path("videos", "short_hamilton_clip.mp4").read_bytes()  # 275 frames: seconds of work each
    responses = [keyed.client.post("/v1/jobs", content=clip, headers=headers) for _ in range(4)]
    codes = [r.status_code for r in responses]
    assert codes.count(429) >= 2 and set(codes) == {202, 429}, codes  # one running + one queued at most
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.headers["retry-after"].isdigit() and "retry" in refused.json()["error"]
    accepted = [r.json()["id"] for r in responses if r.status_code == 202]
    assert sorted(accepted) == sorted(p.name for p in keyed.store.iterdir() if not p.name.startswith("."))
    for job_id in accepted:
        assert keyed.wait_job(job_id, headers=headers)["status"] == "done"


# -- restart -----------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_jobs_survive_a_sigkill_of_the_server(tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = Server(store, "--workers", "1")
    try:
        finished = first.client.post("/v1/jobs?video=true", content=video_path().read_bytes()).json()["id"]
        assert first.wait_job(finished)["status"] == "done"
        records = first.client.get(f"/v1/jobs/{finished}/records").content
        long = shared_path("videos", "WolfgangLanger_Pexels.mp4").read_bytes()
        running = first.client.post("/v1/jobs", content=long).json()["id"]
        queued = first.client.post("/v1/jobs", content=long).json()["id"]
        status = first.wait_job(running, until=lambda s: s["progress"]["frames"] > 0 or s["status"] != "running")
        assert status["status"] == "running", status
    finally:
        first.kill(signal.SIGKILL)
    second = Server(store, "--workers", "1")
    try:
        assert second.client.get(f"/v1/jobs/{finished}").json()["status"] == "done"
        assert second.client.get(f"/v1/jobs/{finished}/records").content == records
        assert second.client.get(f"/v1/jobs/{finished}/video").status_code == 200
        for job_id in (running, queued):
            status = second.client.get(f"/v1/jobs/{job_id}").json()
            assert status["status"] == "failed" and status["error"] == "server restarted while the job ran"
            assert sorted(os.listdir(store / job_id)) == ["status.json"]  # partial outputs and input removed
            assert second.client.get(f"/v1/jobs/{job_id}/records").status_code == 409
        assert f"job {running} was unfinished" in second.log.read_text()
    finally:
        second.kill()


# -- the command line --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "0"], "--port must be in 1..65535"),
        (["--workers", "0"], "--workers and --queue-size must be >= 1"),
        (["--max-upload-mb", "0"], "must be > 0"),
        (["--model", "missing.onnx"], "missing.onnx"),
    ],
)
def test_serve_bad_options_fail_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "affectlens.cli", "serve", "--store", str(tmp_path / "store"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("affectlens: error: ") and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_serve_without_the_server_extra_names_the_install_command() -> None:
    code = "import sys; sys.modules['fastapi'] = None; from affectlens.cli import main; sys.exit(main(['serve']))"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "affectlens: error: serve needs the [server] extra (fastapi missing): pip install 'affectlens[server]'"
    )


# -- in-process units --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "job_id", ["../../etc/passwd", "..", "", ".uploads", "0123456789ABCDEF0123456789ABCDEF", "a" * 33, "/etc/passwd"]
)
def test_job_store_never_builds_a_path_from_a_bad_id(tmp_path: Path, job_id: str) -> None:
    from affectlens.server.jobs import JobStore, UnknownJob

    store = JobStore(tmp_path / "store")
    (tmp_path / "store" / ".uploads").mkdir()
    for call in (store.folder, store.status, store.delete):
        with pytest.raises(UnknownJob):
            call(job_id)
    assert store.update(job_id, status="done") is None
    assert sorted(os.listdir(tmp_path / "store")) == [".uploads"]


def test_a_video_running_past_the_duration_limit_fails(tmp_path: Path) -> None:
    import numpy as np

    from affectlens.core import Faces, Frame, FrameResult
    from affectlens.server.jobs import JobStore
    from affectlens.server.metrics import Metrics
    from affectlens.server.tasks import _Progress

    store = JobStore(tmp_path)
    job_id, _ = store.create(video=False, suffix=".mp4")
    progress = _Progress(store, job_id, None, Metrics(), max_video_s=1.0)
    image = np.zeros((8, 8, 3), np.uint8)
    progress.write(FrameResult(frame=Frame(image, 0, 1000.0), faces=Faces.empty()))
    with pytest.raises(ValueError, match="longer than the limit of 1 s"):
        progress.write(FrameResult(frame=Frame(image, 1, 1000.1), faces=Faces.empty()))
