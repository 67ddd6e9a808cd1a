"""HTTP service (FastAPI): ``POST /predict`` an audio upload (``?neighbours=K``: also the K
nearest training clips), ``GET /health``, ``GET /`` a page; ``POST /extend`` when allowed.

The model is loaded once. Uploads are limited in size, checked by decoding them (never by
their extension), and bad ones get a 4xx with a message. At most ``max_in_flight`` uploads are
read and classified at once (each holds up to the size limit in decoded audio); the next ones
wait up to ``queue_timeout_s`` for a slot, then get 503 with ``Retry-After``, so memory stays
bounded however many clients send at once. An upload is copied to a temporary file in chunks,
and a long one is classified in blocks. Predictions hold no shared state, so concurrent
requests never mix; Grad-CAM++ (hooks on the shared backbone) is serialised.
Needs the ``serve`` extra (fastapi, uvicorn, python-multipart).
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import os
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from typing import Iterator

import numpy as np
from fastapi import APIRouter, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse

from ..errors import AudioError, ParameterError
from .predict import GenreClassifier

__all__ = ["create_app"]

#: The page ``GET /`` serves; ``__CLASSES__`` becomes the model's classes, escaped.
PAGE = resources.files(__package__).joinpath("templates/serve.html").read_text(encoding="utf-8")

router = APIRouter()
extend_router = APIRouter()


@dataclass
class _Service:
    """What every request reads: the model (``/extend`` swaps in a new one whole), the limits,
    and the locks that bound memory and serialise Grad-CAM++ and extensions."""

    classifier: GenreClassifier
    max_upload_bytes: int
    top_k: int
    max_in_flight: int
    queue_timeout_s: float
    slots: threading.BoundedSemaphore
    cam_lock: threading.Lock = field(default_factory=threading.Lock)
    extend_lock: threading.Lock = field(default_factory=threading.Lock)


def create_app(classifier: GenreClassifier, *, max_upload_bytes: int = 50 * 1024 * 1024, top_k: int = 3,
               max_in_flight: int = 2, queue_timeout_s: float = 30.0, allow_extend: bool = False) -> FastAPI:
    """The FastAPI application serving ``classifier``.

    Parameters
    ----------
    classifier : GenreClassifier
        The loaded model (:func:`graham.load`).
    max_upload_bytes : int
        Largest accepted upload; a larger one gets 413.
    top_k : int
        Genres in a result unless the request asks otherwise.
    max_in_flight : int >= 1
        Uploads handled at once; the others wait ``queue_timeout_s`` [s] for a slot, then get 503.
    queue_timeout_s : float >= 0
        How long an upload waits for a slot.
    allow_extend : bool
        Offer ``POST /extend`` (a label and audio files), which adds reference clips to the
        served model (:meth:`GenreClassifier.extend`; the bundle on disk untouched). Off by
        default: it lets any client change what everyone is served.

    Returns
    -------
    fastapi.FastAPI
    """
    if max_in_flight < 1 or queue_timeout_s < 0:
        raise ParameterError("need max_in_flight >= 1 and queue_timeout_s >= 0")
    app = FastAPI(title="graham", description="music genre classification (GrahAM)")
    app.state.service = _Service(classifier, max_upload_bytes, top_k, max_in_flight, queue_timeout_s,
                                 threading.BoundedSemaphore(max_in_flight))
    app.include_router(router)
    if allow_extend:
        app.include_router(extend_router)
    return app


def _service(request: Request) -> _Service:
    return request.app.state.service


@contextmanager
def _upload(file: UploadFile, limit: int, *, say: str = "") -> Iterator[tuple[str, int]]:
    """The upload copied in chunks to a temporary file (the upload is never whole in memory):
    its path and size; 413 past ``limit`` bytes (the message after ``say``). The file is
    removed afterwards."""
    fd, tmp = tempfile.mkstemp(prefix="graham-upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            shutil.copyfileobj(file.file, f, 1024 * 1024)
            size = f.tell()
        if size > limit:
            raise HTTPException(413, f"{say}upload larger than {limit} bytes")
        yield tmp, size
    finally:
        os.unlink(tmp)


@router.get("/health")
def health(request: Request) -> dict:
    classifier = _service(request).classifier
    return {"status": "ok", "classes": classifier.classes, "reference_nodes": int(classifier.graph.reference.shape[0])}


@router.get("/", response_class=HTMLResponse)
def page(request: Request) -> str:
    return PAGE.replace("__CLASSES__", html.escape(", ".join(_service(request).classifier.classes)))  # data, never markup


@router.post("/predict")
def predict(file: UploadFile, request: Request, top_k: int | None = None, per_window: bool = False,
            explain: bool = False, neighbours: int = 0) -> dict:
    s = _service(request)
    classifier = s.classifier
    top_k = s.top_k if top_k is None else top_k
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > s.max_upload_bytes + 64 * 1024:
        raise HTTPException(413, f"upload larger than {s.max_upload_bytes} bytes")
    if not 1 <= top_k <= len(classifier.classes):
        raise HTTPException(422, f"top_k must be between 1 and {len(classifier.classes)}")
    if not 0 <= neighbours <= 100:
        raise HTTPException(422, "neighbours must be between 0 and 100")
    if not s.slots.acquire(timeout=s.queue_timeout_s):
        raise HTTPException(503, f"busy: {s.max_in_flight} uploads are being classified; retry shortly",
                            headers={"Retry-After": "5"})
    name = file.filename or "upload"
    try:
        with _upload(file, s.max_upload_bytes) as (tmp, size):
            if size == 0:
                raise HTTPException(400, "empty upload")
            try:
                mel = classifier.mel(tmp) if explain else None
                result = (classifier.predict_mel(mel, top_k=top_k, per_window=per_window, source=name,
                                                 neighbours=neighbours) if mel is not None else
                          dataclasses.replace(classifier.predict(tmp, top_k=top_k, per_window=per_window,
                                                                 neighbours=neighbours), source=name))
            except AudioError as exc:
                raise HTTPException(415, f"{name}: {exc.reason}") from exc
        body = result.to_dict()
        if mel is not None:
            with s.cam_lock:
                body["gradcam_png"] = _overlay_png(classifier, mel)
        return body
    finally:
        s.slots.release()


@extend_router.post("/extend")
def extend(request: Request, label: str = Form(...), files: list[UploadFile] = File(...)) -> dict:
    s = _service(request)
    label = label.strip()
    if not label:
        raise HTTPException(422, "a label is needed")
    if not s.extend_lock.acquire(timeout=s.queue_timeout_s):
        raise HTTPException(503, "another extension is running; retry shortly", headers={"Retry-After": "5"})
    try:
        classifier = s.classifier
        mels, names, skipped = [], [], []
        for up in files:
            name = up.filename or "upload"
            with _upload(up, s.max_upload_bytes, say=f"{name}: ") as (tmp, _):
                try:
                    mels.append(classifier.mel(tmp))
                    names.append(name)
                except AudioError as exc:
                    skipped.append(f"{name}: {exc.reason}")
        if not mels:
            raise HTTPException(415, f"no readable audio for {label!r}: {'; '.join(skipped)}")
        t0 = time.perf_counter()
        s.classifier = classifier.extend({label: mels}, ids={label: names})
        return {"classes": s.classifier.classes, "added": len(mels), "skipped": skipped,
                "seconds": round(time.perf_counter() - t0, 2)}
    finally:
        s.extend_lock.release()


def _overlay_png(classifier: GenreClassifier, mel: np.ndarray) -> str:
    """Grad-CAM++ of the predicted genre over the clip's log-mel, a base64 PNG."""
    from ..explain.gradcam import explain_clip
    from ..utils.figures import new_figure

    cam, target = explain_clip(classifier, mel)
    cfg = classifier.bundle.mel
    seconds = mel.shape[-1] * cfg.hop_length / cfg.sr
    fig, ax = new_figure(figsize=(8, 3))
    ax.imshow(mel, origin="lower", aspect="auto", cmap="gray", extent=[0, seconds, 0, cfg.n_mels])
    ax.imshow(cam, origin="lower", aspect="auto", cmap="jet", alpha=0.45, vmin=0, vmax=1, extent=[0, seconds, 0, cfg.n_mels])
    ax.set_xlabel("time [s]")
    ax.set_ylabel("mel band")
    ax.set_title(f"Grad-CAM++ overlay: {classifier.classes[target]}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")
