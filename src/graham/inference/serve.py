"""HTTP service (FastAPI): ``POST /predict`` an audio upload (``?neighbours=K``: also the K
nearest training clips), ``GET /health``, ``GET /`` a page.

The model is loaded once. Uploads are limited in size, checked by decoding them (never by
their extension), and bad ones get a 4xx with a message. At most ``max_in_flight`` uploads are
read and classified at once (each holds up to the size limit in decoded audio); the next ones
wait up to ``queue_timeout_s`` for a slot, then get 503 with ``Retry-After``, so memory stays
bounded however many clients send at once. An upload is copied to a temporary file in chunks,
and a long one is classified in blocks (:meth:`GenreClassifier.predict_streamed`). Predictions
hold no shared state, so concurrent requests never mix; Grad-CAM++ (hooks on the shared
backbone) is serialised.
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

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse

from ..errors import AudioError, ParameterError
from .predict import GenreClassifier

__all__ = ["create_app"]

_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>graham</title>
<style>body{font-family:system-ui,sans-serif;max-width:900px;margin:2em auto;padding:0 1em}
.bar{height:1.2em;background:#4a7fd4;display:inline-block;vertical-align:middle}
td{padding:.15em .5em}#err{color:#b00}img{max-width:100%}</style></head><body>
<h1>graham: music genre</h1><p>Classes: __CLASSES__</p>
<form id="f"><input type="file" id="file" name="file" accept="audio/*">
<button type="submit" id="go">Classify</button> <span id="busy" hidden>classifying&hellip;</span></form><p id="err"></p>
<table id="out"></table><div id="near"></div><div id="cam"></div>
<script>
// Every value from the server goes in as text (textContent), never as HTML: a class named
// <img src=x onerror=...> shows as those characters.
function cell(tr, text) { const td = document.createElement('td'); td.textContent = text; tr.appendChild(td); return td; }
document.getElementById('f').addEventListener('submit', async (e) => {
  e.preventDefault();
  const file = document.getElementById('file').files[0];
  const err = document.getElementById('err'), out = document.getElementById('out'), cam = document.getElementById('cam');
  const go = document.getElementById('go'), busy = document.getElementById('busy');
  const near = document.getElementById('near');
  err.textContent = ''; out.replaceChildren(); cam.replaceChildren(); near.replaceChildren();
  if (!file) { err.textContent = 'choose an audio file'; return; }
  const fd = new FormData(); fd.append('file', file);
  go.disabled = true; busy.hidden = false;
  try {
    const r = await fetch('predict?explain=true&neighbours=5', {method: 'POST', body: fd});
    const j = await r.json();
    if (!r.ok) { err.textContent = j.detail || r.statusText; return; }
    for (const [k, v] of Object.entries(j.probabilities).sort((a, b) => b[1] - a[1])) {
      const tr = document.createElement('tr');
      cell(tr, k);
      const td = cell(tr, ' ' + (100 * v).toFixed(1) + ' %');
      const bar = document.createElement('span'); bar.className = 'bar'; bar.style.width = Math.round(400 * v) + 'px';
      td.prepend(bar);
      out.appendChild(tr);
    }
    if (j.neighbours && j.neighbours.length) {
      const h = document.createElement('h2'); h.textContent = 'Nearest training clips';
      const t = document.createElement('table');
      for (const n of j.neighbours) {
        const tr = document.createElement('tr');
        cell(tr, n.clip_id); cell(tr, n.label === null ? '(unlabelled)' : n.label); cell(tr, n.similarity.toFixed(3));
        t.appendChild(tr);
      }
      near.append(h, t);
    }
    if (j.gradcam_png) {
      const h = document.createElement('h2'); h.textContent = 'Grad-CAM++ for ' + j.label;
      const img = document.createElement('img'); img.id = 'camimg'; img.alt = 'Grad-CAM++ overlay';
      img.src = 'data:image/png;base64,' + j.gradcam_png;
      cam.append(h, img);
    }
  } catch (x) { err.textContent = 'request failed: ' + x; }
  finally { go.disabled = false; busy.hidden = true; }
});
</script></body></html>"""


def create_app(classifier: GenreClassifier, *, max_upload_bytes: int = 50 * 1024 * 1024, top_k: int = 3,
               max_in_flight: int = 2, queue_timeout_s: float = 30.0, allow_extend: bool = False):
    """The FastAPI application serving ``classifier``; at most ``max_in_flight`` uploads are
    handled at once, the others wait ``queue_timeout_s`` for a slot, then get 503.
    ``allow_extend``: ``POST /extend`` (a label and audio files) adds reference clips to the
    served model (:meth:`GenreClassifier.extend`; the graph refit, the bundle on disk untouched);
    off by default, since it lets any client change what everyone is served."""
    if max_in_flight < 1 or queue_timeout_s < 0:
        raise ParameterError("need max_in_flight >= 1 and queue_timeout_s >= 0")
    app = FastAPI(title="graham", description="music genre classification (GrahAM)")
    cam_lock = threading.Lock()
    slots = threading.BoundedSemaphore(max_in_flight)
    served = [classifier]  # the model every request reads; /extend swaps in a new one whole
    extend_lock = threading.Lock()

    @app.get("/health")
    def health() -> dict:
        classifier = served[0]
        return {"status": "ok", "classes": classifier.classes, "reference_nodes": int(classifier.graph.reference.shape[0])}

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return _PAGE.replace("__CLASSES__", html.escape(", ".join(served[0].classes)))  # data, never markup

    if allow_extend:
        @app.post("/extend")
        def extend(label: str = Form(...), files: list[UploadFile] = File(...)) -> dict:
            label = label.strip()
            if not label:
                raise HTTPException(422, "a label is needed")
            if not extend_lock.acquire(timeout=queue_timeout_s):
                raise HTTPException(503, "another extension is running; retry shortly", headers={"Retry-After": "5"})
            try:
                classifier = served[0]
                mels, names, skipped = [], [], []
                for up in files:
                    name = up.filename or "upload"
                    fd, tmp = tempfile.mkstemp(prefix="graham-extend-")
                    try:
                        with os.fdopen(fd, "wb") as f:
                            shutil.copyfileobj(up.file, f, 1024 * 1024)
                            size = f.tell()
                        if size > max_upload_bytes:
                            raise HTTPException(413, f"{name}: upload larger than {max_upload_bytes} bytes")
                        try:
                            mels.append(classifier.mel(tmp))
                            names.append(name)
                        except AudioError as exc:
                            skipped.append(f"{name}: {exc.reason}")
                    finally:
                        os.unlink(tmp)
                if not mels:
                    raise HTTPException(415, f"no readable audio for {label!r}: {'; '.join(skipped)}")
                t0 = time.perf_counter()
                served[0] = classifier.extend({label: mels}, ids={label: names})
                return {"classes": served[0].classes, "added": len(mels), "skipped": skipped,
                        "seconds": round(time.perf_counter() - t0, 2)}
            finally:
                extend_lock.release()

    @app.post("/predict")
    def predict(file: UploadFile, request: Request, top_k: int = top_k, per_window: bool = False,
                explain: bool = False, neighbours: int = 0) -> dict:
        classifier = served[0]
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_upload_bytes + 64 * 1024:
            raise HTTPException(413, f"upload larger than {max_upload_bytes} bytes")
        if not 1 <= top_k <= len(classifier.classes):
            raise HTTPException(422, f"top_k must be between 1 and {len(classifier.classes)}")
        if not 0 <= neighbours <= 100:
            raise HTTPException(422, "neighbours must be between 0 and 100")
        if not slots.acquire(timeout=queue_timeout_s):
            raise HTTPException(503, f"busy: {max_in_flight} uploads are being classified; retry shortly",
                                headers={"Retry-After": "5"})
        name = file.filename or "upload"
        fd, tmp = tempfile.mkstemp(prefix="graham-upload-")
        try:
            with os.fdopen(fd, "wb") as f:  # in chunks: the upload is never whole in memory
                shutil.copyfileobj(file.file, f, 1024 * 1024)
                size = f.tell()
            if size > max_upload_bytes:
                raise HTTPException(413, f"upload larger than {max_upload_bytes} bytes")
            if size == 0:
                raise HTTPException(400, "empty upload")
            try:
                if explain:
                    mel = classifier.mel(tmp)
                    result = classifier.predict_mel(mel, top_k=top_k, per_window=per_window, source=name,
                                                    neighbours=neighbours)
                else:
                    result = dataclasses.replace(classifier.predict(tmp, top_k=top_k, per_window=per_window,
                                                                    neighbours=neighbours), source=name)
            except AudioError as exc:
                raise HTTPException(415, f"{name}: {exc.reason}") from exc
            body = result.to_dict()
            if explain:
                with cam_lock:
                    body["gradcam_png"] = _overlay_png(classifier, mel)
            return body
        finally:
            os.unlink(tmp)
            slots.release()

    return app


def _overlay_png(classifier: GenreClassifier, mel) -> str:
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
