"""The FastAPI app: ``create_app(settings)`` wires the job store, the worker pool, limits and metrics to the routes.

Routes (every error is ``{"error": "<one line>"}``):

    POST   /v1/analyze             an image (multipart field ``file`` or raw body) -> its frame record
    POST   /v1/jobs[?video=true]   a video -> 202 + the job's status (``id``)
    GET    /v1/jobs/{id}           status and progress
    GET    /v1/jobs/{id}/records   JSONL (``Accept: text/csv``: CSV), once done
    GET    /v1/jobs/{id}/report    the per-person report (JSON), once done
    GET    /v1/jobs/{id}/video     the annotated MP4 (asked for with ?video=true), once done
    DELETE /v1/jobs/{id}           remove the job (a running one stops)
    WS     /v1/stream              JPEG frames in (binary messages), one record (or error) out per frame, in order
    GET    /healthz, /metrics      liveness and Prometheus metrics; /docs: the OpenAPI document

With an API key set, every route but ``/healthz`` and the docs needs it, as ``X-API-Key: KEY`` or
``Authorization: Bearer KEY`` (WebSocket: also ``?api_key=KEY``).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Query, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.websockets import WebSocketDisconnect

from affectlens.pipeline import AnalyzerConfig
from affectlens.server import jobs as J
from affectlens.server.jobs import JobStore, UnknownJob
from affectlens.server.limits import SNIFF_BYTES, image_suffix, key_matches, video_suffix
from affectlens.server.metrics import Metrics
from affectlens.server.schemas import ErrorBody, FrameRecord, Health, JobStatus
from affectlens.server.tasks import StreamSession, analyze_image, run_video_job
from affectlens.server.uploads import UploadError, receive_upload
from affectlens.server.workers import QueueFull, WorkerPool

RETRY_AFTER_S = 2
STREAM_BACKLOG = 64
"""Frames a WebSocket client may have in flight; beyond, a frame is answered with an error instead of a record."""
UPLOADS = ".uploads"


@dataclass
class ServerSettings:
    """What ``affectlens serve`` configures.

    Attributes:
        store: the job store folder (created).
        workers: analyzer threads; queue_size: tasks waiting beyond the running ones (more: 429).
        api_key: required on every route but /healthz and the docs (None: no authentication).
        max_upload_bytes: largest accepted upload (more: 413); max_video_s: longest accepted video (more: 413).
        config: the analyzers' settings.
    """

    store: Path
    workers: int = 1
    queue_size: int = 8
    api_key: str | None = None
    max_upload_bytes: int = 200 * 1024 * 1024
    max_video_s: float = 600.0
    config: AnalyzerConfig = field(default_factory=AnalyzerConfig)


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (400, 401, 404, 413, 415, 422, 429)}


def create_app(settings: ServerSettings) -> FastAPI:
    """The app; its worker threads start building their analyzers at once (``app.state.pool.wait_ready()``)."""
    store = JobStore(settings.store)
    uploads = store.root / UPLOADS
    shutil.rmtree(uploads, ignore_errors=True)
    uploads.mkdir()
    metrics = Metrics()
    pool = WorkerPool(settings.config, settings.workers, settings.queue_size)
    metrics.gauges["affectlens_queue_depth"] = lambda: pool.depth
    metrics.gauges["affectlens_workers_busy"] = lambda: pool.busy
    metrics.gauges["affectlens_workers"] = lambda: len(pool.threads)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        pool.close()

    app = FastAPI(
        title="affectlens",
        version="1",
        description="Faces, emotions, valence and arousal from images, videos and live frames.",
        lifespan=lifespan,
    )
    app.state.store, app.state.pool, app.state.metrics = store, pool, metrics

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse({"error": error.message}, status_code=error.status, headers=error.headers)

    @app.exception_handler(UploadError)
    async def upload_error(request: Request, error: UploadError) -> JSONResponse:
        return JSONResponse({"error": error.message}, status_code=error.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return JSONResponse({"error": f"invalid request: {where}: {first.get('msg', 'invalid')}"}, status_code=422)

    @app.middleware("http")
    async def count(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        metrics.request(request.method, route, response.status_code, time.perf_counter() - started)
        return response

    def authorized(request: Request) -> None:
        if settings.api_key is None:
            return
        given = request.headers.get("x-api-key")
        bearer = request.headers.get("authorization", "")
        if given is None and bearer.lower().startswith("bearer "):
            given = bearer[7:].strip()
        if not key_matches(given, settings.api_key):
            raise ApiError(401, "missing or wrong API key: send it as `X-API-Key: KEY`", {"WWW-Authenticate": "Bearer"})

    def job_folder(job_id: str) -> Path:
        try:
            return store.folder(job_id)
        except UnknownJob:
            raise ApiError(404, f"no job {job_id[:40]!r}: ids are the `id` that POST /v1/jobs returned") from None

    def job_status(job_id: str) -> dict[str, Any]:
        job_folder(job_id)
        try:
            return store.status(job_id)
        except UnknownJob:
            raise ApiError(404, f"no job {job_id[:40]!r}") from None

    def finished(job_id: str) -> Path:
        status = job_status(job_id)
        if status["status"] == "failed":
            raise ApiError(409, f"job {job_id} failed: {status.get('error')}")
        if status["status"] != "done":
            raise ApiError(409, f"job {job_id} is {status['status']}: wait until GET /v1/jobs/{job_id} says done")
        return store.root / job_id

    def submit(task: Any) -> Any:
        try:
            return pool.submit(task)
        except QueueFull:
            raise ApiError(
                429, "every worker is busy and the queue is full: retry later", {"Retry-After": str(RETRY_AFTER_S)}
            ) from None

    auth = [Depends(authorized)]
    body_doc = {
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
                },
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
            "required": True,
        }
    }

    @app.get("/healthz", response_model=Health, responses={503: {"model": Health}})
    async def healthz() -> JSONResponse:
        ready = pool.ready.is_set()
        body = {"status": "ok" if ready else "starting", "workers": len(pool.threads), "queue_depth": pool.depth}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", dependencies=auth, response_class=PlainTextResponse)
    async def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.post(
        "/v1/analyze",
        dependencies=auth,
        response_model=FrameRecord,
        response_model_exclude_unset=True,
        responses=ERRORS,
        openapi_extra=body_doc,
    )
    async def analyze(request: Request) -> Any:
        """Analyse one image (JPEG, PNG, GIF, BMP, TIFF, WebP) as a still picture: its frame record."""
        path = await receive_upload(request, uploads, settings.max_upload_bytes)
        try:
            data = await anyio.to_thread.run_sync(path.read_bytes)
        finally:
            path.unlink(missing_ok=True)
        if image_suffix(data[:SNIFF_BYTES]) is None:
            hint = "this is a video: POST it to /v1/jobs" if video_suffix(data[:SNIFF_BYTES]) else "send a JPEG or PNG"
            raise ApiError(415, f"the upload is not an image: {hint}")
        try:
            return await asyncio.wrap_future(submit(analyze_image(data, metrics)))
        except ValueError as error:
            raise ApiError(422, f"{error}: send a complete image file") from None

    @app.post(
        "/v1/jobs",
        dependencies=auth,
        status_code=202,
        response_model=JobStatus,
        responses=ERRORS,
        openapi_extra=body_doc,
    )
    async def create_job(
        request: Request, video: bool = Query(False, description="also render the annotated video")
    ) -> JSONResponse:
        """Queue a video (MP4/MOV, MKV/WebM, AVI, FLV, MPEG, MPEG-TS) for analysis: 202 and the job's status."""
        path = await receive_upload(request, uploads, settings.max_upload_bytes)
        try:
            with path.open("rb") as file:
                head = file.read(SNIFF_BYTES)
            suffix = video_suffix(head)
            if suffix is None:
                hint = "this is an image: POST it to /v1/analyze" if image_suffix(head) else "send an MP4, MOV or AVI"
                raise ApiError(415, f"the upload is not a video: {hint}")
            duration = await anyio.to_thread.run_sync(_probe, path)
            if duration > settings.max_video_s:
                raise ApiError(413, f"the video is {duration:.0f} s long, over the limit of {settings.max_video_s:g} s")
            job_id, input_path = store.create(video=video, suffix=suffix)
            path.replace(input_path)
        finally:
            path.unlink(missing_ok=True)
        try:
            submit(run_video_job(store, job_id, input_path, metrics, settings.max_video_s))
        except ApiError:
            store.delete(job_id)
            raise
        return JSONResponse(store.status(job_id), status_code=202, headers={"Location": f"/v1/jobs/{job_id}"})

    @app.get("/v1/jobs/{job_id}", dependencies=auth, response_model=JobStatus, responses=ERRORS)
    async def get_job(job_id: str) -> dict[str, Any]:
        """The job's status and progress."""
        return job_status(job_id)

    @app.get(
        "/v1/jobs/{job_id}/records",
        dependencies=auth,
        responses={**ERRORS, 200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}},
    )
    async def get_records(job_id: str, request: Request) -> FileResponse:
        """The job's records: JSONL (one FrameRecord per line), or CSV with ``Accept: text/csv``."""
        folder = finished(job_id)
        if "text/csv" in request.headers.get("accept", ""):
            return FileResponse(folder / J.RECORDS_CSV, media_type="text/csv", filename=f"{job_id}.csv")
        return FileResponse(folder / J.RECORDS_JSONL, media_type="application/x-ndjson", filename=f"{job_id}.jsonl")

    @app.get("/v1/jobs/{job_id}/report", dependencies=auth, responses=ERRORS)
    async def get_report(job_id: str) -> FileResponse:
        """The per-person session report (as ``affectlens report`` writes it)."""
        return FileResponse(finished(job_id) / J.REPORT_JSON, media_type="application/json")

    @app.get("/v1/jobs/{job_id}/video", dependencies=auth, responses={**ERRORS, 200: {"content": {"video/mp4": {}}}})
    async def get_video(job_id: str) -> FileResponse:
        """The annotated video; 404 unless the job was submitted with ``?video=true``."""
        folder = finished(job_id)
        if not (folder / J.ANNOTATED_MP4).is_file():
            raise ApiError(404, f"job {job_id} has no annotated video: submit with POST /v1/jobs?video=true")
        return FileResponse(folder / J.ANNOTATED_MP4, media_type="video/mp4", filename=f"{job_id}.mp4")

    @app.delete("/v1/jobs/{job_id}", dependencies=auth, status_code=204, responses=ERRORS)
    async def delete_job(job_id: str) -> Response:
        """Remove the job and its files; a queued or running job stops."""
        job_folder(job_id)
        try:
            await anyio.to_thread.run_sync(store.delete, job_id)
        except UnknownJob:
            raise ApiError(404, f"no job {job_id[:40]!r}") from None
        return Response(status_code=204)

    @app.websocket("/v1/stream")
    async def stream(websocket: WebSocket) -> None:
        """JPEG/PNG frames in (one per binary message), one record per frame out (JSON text), in order; a frame
        that cannot be decoded gets ``{"error": ...}`` and the session goes on."""
        if settings.api_key is not None:
            given = websocket.headers.get("x-api-key") or websocket.query_params.get("api_key")
            if not key_matches(given, settings.api_key):
                await websocket.close(code=1008, reason="missing or wrong API key")
                return
        await websocket.accept()
        loop = asyncio.get_running_loop()
        outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        session = StreamSession(lambda message: loop.call_soon_threadsafe(outbox.put_nowait, message), metrics)
        try:
            pool.submit(session)
        except QueueFull:
            await websocket.send_json({"error": "every worker is busy and the queue is full: retry later"})
            await websocket.close(code=1013)
            return

        async def send() -> None:
            try:
                while True:
                    await websocket.send_json(await outbox.get())
            except Exception:  # the client went away: the receiving side ends the session
                return

        sender = asyncio.create_task(send())
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                data = message.get("bytes") or (message.get("text") or "").encode()
                in_flight = session.inbox.qsize()
                if in_flight >= STREAM_BACKLOG:
                    await outbox.put({"error": f"{in_flight} frames already waiting: send slower"})
                    continue
                session.put(data)
        except WebSocketDisconnect:
            pass
        finally:
            session.end()
            sender.cancel()

    return app


def _probe(path: Path) -> float:
    """The video's duration in seconds (0 when its container does not say).

    Raises:
        ApiError: 422 when OpenCV/FFmpeg cannot open it (truncated, corrupt).
    """
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened() or not capture.grab():
            raise ApiError(422, "cannot decode the video: truncated or corrupt (its index or first frame is missing)")
        frames, fps = capture.get(cv2.CAP_PROP_FRAME_COUNT), capture.get(cv2.CAP_PROP_FPS)
        return float(frames / fps) if frames > 0 and fps > 0 else 0.0
    finally:
        capture.release()
