import base64
import concurrent.futures
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from graham.cli import app
from graham.errors import AudioError, BundleError, ParameterError
from graham.inference.bundle import load_bundle
from graham.inference.predict import load
from graham.synth import synthesize_clip

from tiny import free_port

runner = CliRunner()


@pytest.fixture(scope="session")
def songs(tmp_path_factory):
    """wav, flac, ogg and mp3 files of 3 s, 30 s and 5 min."""
    d = tmp_path_factory.mktemp("songs")
    _, y = synthesize_clip("rock", 0, seconds=30.0, seed=11)
    files = {}
    for seconds in (3, 30, 300):
        sig = np.tile(y, int(np.ceil(seconds / 30)))[: seconds * 22050]
        for ext, kw in (("wav", {}), ("flac", {"format": "FLAC"}), ("ogg", {"format": "OGG", "subtype": "VORBIS"}),
                        ("mp3", {"format": "MP3", "subtype": "MPEG_LAYER_III"})):
            p = d / f"song_{seconds}s.{ext}"
            # in blocks: libsndfile 1.2 crashes when given minutes of Vorbis in one call
            with sf.SoundFile(str(p), "w", 22050, 1, **kw) as f:
                for k in range(0, len(sig), 22050):
                    f.write(sig[k:k + 22050])
            files[(seconds, ext)] = p
    return files


def test_train_writes_metrics_and_a_bundle(trained):
    m = json.loads((trained.out / "metrics.json").read_text())
    assert set(m["results"]) == {"GrahAM (GNN)", "Random Forest", "2-layer NN", "Label spreading", "Supervised CNN",
                                 "Log-mel stats + LR", "GrahAM bundle (inductive, windowed)"}
    assert m["protocol"]["split"].startswith("random stratified 70%:30%")
    assert m["protocol"]["test_clips"] == 12 and 0 <= m["results"]["GrahAM (GNN)"]["accuracy"] <= 1
    b = load_bundle(trained.out / "bundle")
    assert b.classes == trained.classes and b.reference.shape == (28, 16)


def test_the_shipped_model_is_scored_as_graham_predict_scores_files(trained):
    """The bundle's figure in metrics.json is what predicting the test clips' files gives."""
    model = load(trained.out / "bundle")
    truth = [trained.corpus[i].label for i in trained.test_idx]
    pred = [model.predict(trained.corpus[i].path, top_k=1).label for i in trained.test_idx]
    acc = float(np.mean([p == t for p, t in zip(pred, truth)]))
    m = json.loads((trained.out / "metrics.json").read_text())
    assert m["results"]["GrahAM bundle (inductive, windowed)"]["accuracy"] == pytest.approx(acc)
    assert "graham predict" in m["results_note"]


def test_bundle_round_trip_gives_the_same_predictions(trained, songs):
    """The bundle read from disk predicts what the trained networks in memory predict (the
    same reference clips, statistics and standardisation), window by window."""
    from graham.audio.bandstats import mel_band_statistics
    from graham.data.features import take
    from graham.inference.bundle import Bundle
    from graham.inference.predict import GenreClassifier
    from graham.workflows.features import extract_features
    from graham.workflows.requests import DataSource

    g = trained.models["grahams_gnn"]
    mels = extract_features(DataSource(trained.dataset, cache=trained.out / "features"), progress=False).features.mels
    ref_labels = np.full(len(trained.labels), -1)
    ref_labels[trained.labelled_idx] = trained.labels[trained.labelled_idx]
    in_memory = Bundle(trained.mel, trained.siamese_config, trained.gnn_config, trained.classes,
                       trained.models["siamese"].model.cpu().eval(), g.model.cpu().eval(), g.mean, g.scale,
                       trained.embeddings[trained.train_idx], ref_labels[trained.train_idx], {},
                       mel_band_statistics(take(mels, trained.train_idx)))
    a = load(trained.out / "bundle").predict(songs[(3, "wav")], per_window=True)
    b = GenreClassifier(in_memory).predict(songs[(3, "wav")], per_window=True)
    assert [g.label for g in a.top] == [g.label for g in b.top] and len(a.windows) == len(b.windows)
    for k in a.probabilities:
        assert abs(a.probabilities[k] - b.probabilities[k]) < 1e-5, k
    assert abs(sum(a.probabilities.values()) - 1) < 1e-5 and len(a.top) == 3


def test_bundle_refuses_pickles_and_missing_files(trained, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(trained.out / "bundle", bad)
    torch.save({"x": torch.zeros(2)}, bad / "gnn.safetensors")  # a pickle in disguise
    with pytest.raises(BundleError, match="not a readable safetensors"):
        load_bundle(bad)
    (bad / "reference.safetensors").unlink()
    with pytest.raises(BundleError, match="missing reference.safetensors"):
        load_bundle(bad)
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "nope")
    cfg = json.loads((bad / "config.json").read_text())
    cfg["embedding_dim"] = 99
    shutil.copy(trained.out / "bundle" / "reference.safetensors", bad / "reference.safetensors")
    shutil.copy(trained.out / "bundle" / "gnn.safetensors", bad / "gnn.safetensors")
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BundleError, match="do not fit"):
        load_bundle(bad)


def test_predict_every_format_and_length(trained, songs):
    model = load(trained.out / "bundle")
    for (seconds, _ext), path in songs.items():
        pred = model.predict(path, per_window=True)
        assert abs(pred.duration - seconds) < 0.2, (path, pred.duration)
        assert pred.label in model.classes and len(pred.windows) >= 1
        assert pred.windows[-1].end == pytest.approx(pred.duration, abs=0.05)
    emb = model.embed(songs[(3, "flac")])
    assert emb.shape == (16,) and np.isfinite(emb).all()


def test_predict_cli_formats_and_bad_files(trained, songs, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....garbage")
    res = runner.invoke(app, ["predict", str(trained.out / "bundle"), str(songs[(3, "wav")]), str(bad),
                              str(songs[(3, "mp3")].parent / "*_3s.ogg"), "--format", "json"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    assert len(lines) == 2 and all(len(x["top"]) == 3 for x in lines)
    assert "broken.wav" in res.output
    res = runner.invoke(app, ["predict", str(trained.out / "bundle"), str(songs[(3, "wav")]), "--format", "csv",
                              "--per-window", "--top-k", "2"])
    rows = list(__import__("csv").DictReader(res.stdout.splitlines()))
    assert res.exit_code == 0 and list(rows[0]) == ["file", "scope", "rank", "label", "score", "window_start", "window_end"]
    assert [r["rank"] for r in rows if r["scope"] == "clip"] == ["1", "2"]
    windows = [r for r in rows if r["scope"] == "window"]
    assert windows and {r["rank"] for r in windows} == {"1", "2"} and all(r["window_end"] for r in windows)
    res = runner.invoke(app, ["predict", str(trained.out / "bundle"), str(bad)])
    assert res.exit_code == 1 and "no input could be read" in res.output


def _healthy(url: str, seconds: float) -> bool:
    """Whether the service at ``url`` answers /health within ``seconds``."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            time.sleep(0.1)
    return False


@contextlib.contextmanager
def _serving(bundle):
    """``graham serve BUNDLE`` in its own process on a free 127.0.0.1 port; yields its URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "graham.cli", "serve", str(bundle), "--port", str(port),
                             "--max-upload-mb", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        if not _healthy(url, 60):
            proc.kill()
            pytest.fail("server did not start: " + proc.stdout.read().decode()[-2000:])
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(trained):
    with _serving(trained.out / "bundle") as url:
        yield url


def test_service_endpoints_and_bad_uploads(server, songs, trained):
    health = httpx.get(server + "/health").json()
    assert health["status"] == "ok" and health["classes"] == trained.classes
    page = httpx.get(server + "/")
    assert page.status_code == 200 and "<form" in page.text
    with open(songs[(3, "flac")], "rb") as f:
        r = httpx.post(server + "/predict?per_window=true&explain=true", files={"file": ("x.mp3", f)}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["label"] in trained.classes and body["windows"] and body["gradcam_png"]
    r = httpx.post(server + "/predict", files={"file": ("song.wav", b"definitely not audio" * 10)})
    assert r.status_code == 415 and "not decodable" in r.json()["detail"]
    r = httpx.post(server + "/predict", files={"file": ("empty.wav", b"")})
    assert r.status_code == 400
    r = httpx.post(server + "/predict", files={"file": ("big.wav", b"\0" * (2 * 1024 * 1024))})
    assert r.status_code == 413
    r = httpx.post(server + "/predict")
    assert r.status_code == 422


def test_service_serves_20_parallel_requests_without_mixing(server, songs, trained):
    model = load(trained.out / "bundle")
    paths = [songs[(3, "wav")], songs[(3, "flac")], songs[(3, "ogg")], songs[(30, "mp3")]]  # all under the 1 MB limit
    expected = {p.name: model.predict(p).probabilities for p in paths}

    def call(k):
        p = paths[k % 4]
        explain = "true" if k % 3 == 0 else "false"  # predictions and explanations mixed, at the same time
        with open(p, "rb") as f:
            return p.name, explain, httpx.post(server + f"/predict?explain={explain}", files={"file": (p.name, f)},
                                               timeout=120).json()

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(call, range(20)))
    for name, explain, body in results:
        assert body.get("source") == name, body
        if explain == "true":
            assert body.get("gradcam_png"), "an explanation was asked for"
        for genre, p in expected[name].items():
            assert body["probabilities"][genre] == pytest.approx(p, abs=1e-4)


def test_service_page_renders_in_headless_chromium(server, trained, chromium):
    dom = chromium.dump_dom(server + "/")
    assert '<form id="f">' in dom and 'type="file"' in dom and "Classify" in dom
    assert ", ".join(trained.classes) in dom


def test_prediction_is_the_gnns_own_inductive_forward(trained, songs):
    """The service's classifier attaches windows through GrahamGNN.forward_inductive, nothing else;
    each window node holds its embedding and, when the GNN reads them, its clip's band statistics
    (the reference nodes, their clips' statistics and their labels)."""
    import torch

    from graham.audio.bandstats import band_statistics
    from graham.nn.graphs import attach_graph, build_graph
    from graham.train.gnn import known_labels

    model = load(trained.out / "bundle")
    mel = model.mel(songs[(3, "wav")])
    emb, _ = model.window_embeddings(mel)
    emb_t = torch.from_numpy(emb)
    b, cfg = model.bundle, model.gnn.config
    ref = torch.as_tensor(b.reference, dtype=torch.float32)
    ref_x, new_x = ref, emb_t
    if cfg.band_statistics:
        from graham.workflows.features import extract_features
        from graham.workflows.requests import DataSource

        mels = extract_features(DataSource("synthetic:4x3", cache=trained.out / "features"), progress=False).features.mels
        stats = [band_statistics(mels[i]) for i in trained.train_idx]
        np.testing.assert_allclose(b.reference_stats, np.stack(stats), rtol=1e-6)
        ref_x = torch.cat([ref, torch.as_tensor(b.reference_stats)], 1)
        new_x = torch.cat([emb_t, torch.from_numpy(band_statistics(mel)).expand(len(emb_t), -1)], 1)
        with pytest.raises(ParameterError, match="band statistics"):
            model.node_logits(emb_t)
    std = lambda e: (e - torch.as_tensor(b.mean, dtype=torch.float32)) / torch.as_tensor(b.scale, dtype=torch.float32)  # noqa: E731
    labelled = np.flatnonzero(b.reference_labels >= 0)
    states = b.gnn.reference_states(std(ref_x), build_graph(cfg.graph, ref, k=cfg.k, head=b.siamese.head),
                                    labels=known_labels(b.reference_labels, labelled, len(ref)))
    with torch.no_grad():
        want = b.gnn.forward_inductive(None, std(new_x), ref_states=states,
                                       attach=attach_graph(cfg.graph, ref, emb_t, k=cfg.k, head=b.siamese.head))
        torch.testing.assert_close(model.node_logits(emb_t, model.clip_statistics(mel)), want)
    assert cfg.smooth  # the cpu preset's; then the probabilities are the GNN's after correct & smooth:
    from graham.nn.propagate import SmoothConfig, attach_smoothed, normalise_scores, smooth_reference

    d = ref.shape[1]
    g = lambda e: (e - torch.as_tensor(b.mean[:d])) / torch.as_tensor(b.scale[:d])  # noqa: E731
    graph = build_graph(cfg.graph, ref, k=cfg.k, head=b.siamese.head)
    with torch.no_grad():
        ref_p = torch.softmax(b.gnn(std(ref_x), graph, labels=known_labels(b.reference_labels, labelled, len(ref))), 1)
    sm = smooth_reference(ref_p, g(ref), b.reference_labels[labelled], labelled, SmoothConfig(k=cfg.k))
    want_p = normalise_scores(attach_smoothed(sm, torch.softmax(want, 1), g(emb_t)))
    got_p = model.node_probabilities(emb_t, model.clip_statistics(mel))
    torch.testing.assert_close(got_p, want_p)
    torch.testing.assert_close(got_p.sum(1), torch.ones(len(got_p)))
    assert not torch.allclose(got_p, torch.softmax(want, 1))  # smoothing changed something


def test_explain_keeps_files_of_the_same_name_apart(trained, songs, tmp_path):
    import shutil

    a, b = tmp_path / "a" / "x.wav", tmp_path / "b" / "x.wav"
    for p in (a, b):
        p.parent.mkdir()
        shutil.copy(songs[(3, "wav")], p)
    res = runner.invoke(app, ["explain", str(trained.out / "bundle"), str(a), str(b), "--out", str(tmp_path / "cam")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "cam" / "gradcam_x.png").exists() and (tmp_path / "cam" / "gradcam_x-2.png").exists()


def test_service_page_shows_class_names_as_text(trained):
    from fastapi.testclient import TestClient

    from graham.inference.serve import create_app

    model = load(trained.out / "bundle")
    evil = "<img src=x onerror=alert(1)>"
    model.bundle.classes[0] = evil
    page = TestClient(create_app(model)).get("/").text
    assert evil not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "innerHTML" not in page and "textContent" in page  # results are inserted as text
    assert 'id="busy"' in page  # a busy indicator while the request runs


def test_device_auto_means_the_same_in_prediction(trained, songs):
    from graham.utils.devices import resolve_device

    assert load(trained.out / "bundle", device="auto").device == resolve_device("auto")
    assert load(trained.out / "bundle").device == resolve_device("auto")  # the Python default is auto too
    res = runner.invoke(app, ["predict", str(trained.out / "bundle"), str(songs[(3, "wav")]), "--device", "auto"])
    assert res.exit_code == 0, res.output


def test_class_names_and_results_stay_text_in_a_real_browser(trained, songs, tmp_path, chromium):
    """A class named like markup that runs script: upload a file in headless Chromium, let the
    page render the result, and check that no element was made from it and no script ran."""
    evil = '<img src=x onerror="window.__pwned=1">'
    bundle = tmp_path / "bundle"
    shutil.copytree(trained.out / "bundle", bundle)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["classes"] = [evil] + cfg["classes"][1:]
    (bundle / "config.json").write_text(json.dumps(cfg))
    wav = base64.b64encode(songs[(3, "wav")].read_bytes()).decode()
    with _serving(bundle) as url, chromium.page(url + "/", ready="document.readyState === 'complete' && "
                                                "!!document.getElementById('file')") as page:
        page.evaluate(f"""(() => {{
            const bytes = Uint8Array.from(atob('{wav}'), c => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], 'song.wav', {{type: 'audio/wav'}}));
            document.getElementById('file').files = dt.files;
            document.getElementById('f').requestSubmit();
            return 1; }})()""")
        rows = page.evaluate("""new Promise((resolve) => { const t0 = Date.now(); (function poll() {
            const n = document.querySelectorAll('#out tr').length;
            if (n > 0 || Date.now() - t0 > 60000) resolve(n); else setTimeout(poll, 100); })(); })""")
        assert rows == len(cfg["classes"]), "the page did not show the result"
        seen = page.evaluate("""({
            pwned: window.__pwned === 1,
            imgs_outside_cam: Array.from(document.querySelectorAll('img')).filter(i => i.id !== 'camimg').length,
            handlers: document.querySelectorAll('[onerror]').length,
            table: document.getElementById('out').textContent,
            classes: document.body.firstElementChild.nextElementSibling.textContent,
            busy_hidden: document.getElementById('busy').hidden })""")
    assert not seen["pwned"], "a class name ran script"
    assert seen["imgs_outside_cam"] == 0 and seen["handlers"] == 0, "a class name became markup"
    assert evil in seen["table"] and evil in seen["classes"], "the class name is not shown as text"
    assert seen["busy_hidden"], "the busy indicator stayed on"


def test_predict_many_equals_file_by_file_and_keeps_the_order(trained, songs, tmp_path):
    model = load(trained.out / "bundle")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt nothing here")
    paths = [songs[(3, "wav")], songs[(300, "flac")], broken, songs[(30, "mp3")], songs[(30, "ogg")], songs[(3, "flac")]]
    got = list(model.predict_many(paths, per_window=True, workers=2, windows_per_batch=16))
    assert [s for s, _ in got] == [str(p) for p in paths]
    assert isinstance(got[2][1], AudioError) and "broken.wav" in str(got[2][1])
    for p, (_, pred) in zip(paths, got):
        if p == broken:
            continue
        want = model.predict(p, per_window=True)
        assert pred.duration == want.duration and len(pred.windows) == len(want.windows)
        for genre, prob in want.probabilities.items():
            assert pred.probabilities[genre] == pytest.approx(prob, abs=1e-5)
        assert [g.label for g in pred.top] == [g.label for g in want.top]


def test_predict_command_reads_many_files_with_workers(trained, songs):
    res = runner.invoke(app, ["predict", str(trained.out / "bundle"), str(songs[(3, "wav")]), str(songs[(30, "mp3")]),
                              "--workers", "2", "--format", "json"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    assert [d["source"] for d in lines] == [str(songs[(3, "wav")]), str(songs[(30, "mp3")])]


def test_serve_on_a_port_in_use_fails_at_once(trained, monkeypatch):
    """A port another server holds: exit 2 with one line naming it, before the model loads."""
    import graham.inference.predict

    def no_load(*a, **kw):
        raise AssertionError("the model was loaded before the port was checked")

    monkeypatch.setattr(graham.inference.predict, "load", no_load)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        res = runner.invoke(app, ["serve", str(trained.out / "bundle"), "--port", str(port)])
    assert res.exit_code == 2, res.output
    assert f"cannot listen on 127.0.0.1:{port}" in res.output


def test_a_long_file_streamed_in_blocks_predicts_as_the_whole_file(trained, songs, tmp_path, monkeypatch):
    """A file read in blocks (decoded, resampled, log-mel, band statistics and windows block
    by block) gets the prediction of the same file read whole, window by window; files longer
    than ``stream_seconds`` take that path, in predict and in predict_many."""
    from graham.inference.predict import GenreClassifier

    whole = GenreClassifier(trained_bundle(trained), stream_seconds=1e9)
    streamed = GenreClassifier(trained_bundle(trained), stream_seconds=60.0)
    y, sr = sf.read(str(songs[(300, "wav")]), dtype="float32")
    at44 = tmp_path / "song_44k.flac"
    sf.write(str(at44), np.repeat(y[: 100 * sr], 2), 44100, format="FLAC")  # resampled on the way in
    for path in (songs[(300, "wav")], at44):
        a = whole.predict(path, per_window=True)
        b = streamed.predict_streamed(path, per_window=True, block_seconds=7.0)
        assert a.duration == b.duration and len(a.windows) == len(b.windows) > 50
        assert [(w.start, w.end) for w in a.windows] == [(w.start, w.end) for w in b.windows]
        pa = np.array([[g.score for g in w.scores] for w in a.windows])
        pb = np.array([[g.score for g in w.scores] for w in b.windows])
        np.testing.assert_allclose(pb, pa, atol=1e-3)  # band statistics summed in another order: float rounding
        assert [g.label for g in a.top] == [g.label for g in b.top]
    # routing: the 300-s file is long for `streamed`, the 30-s one is not
    from graham.inference import drivers

    calls = []
    real = drivers.predict_streamed
    monkeypatch.setattr(drivers, "predict_streamed", lambda front, graph, p, **kw: calls.append(str(p)) or
                        real(front, graph, p, **kw))
    files = [songs[(30, "wav")], songs[(300, "wav")], songs[(3, "wav")]]
    got = [(s, p) for s, p in streamed.predict_many(files)]
    assert [s for s, _ in got] == [str(f) for f in files] and calls == [str(songs[(300, "wav")])]
    streamed.predict(songs[(300, "flac")])
    assert calls[-1] == str(songs[(300, "flac")])


def trained_bundle(trained):
    return load_bundle(trained.out / "bundle")


def test_memory_of_a_prediction_does_not_grow_with_the_files_length(trained, tmp_path):
    """Peak memory (resident set, in a fresh process) predicting a 25-min file is within 60 MB
    of predicting a 2.5-min one; read whole, 22.5 minutes more would take about 250 MB more."""
    _, y = synthesize_clip("jazz", 0, seconds=30.0, seed=3)
    for minutes in (2.5, 25):
        with sf.SoundFile(str(tmp_path / f"{minutes}.wav"), "w", 22050, 1, subtype="PCM_16") as f:
            for _ in range(int(minutes * 2)):
                f.write(y)
    script = ("import resource, sys\n"
              "from graham.inference.predict import load\n"
              "clf = load(sys.argv[1], device='cpu')\n"
              "clf.predict(sys.argv[2])\n"
              "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    peak = {}
    for minutes in (2.5, 25):
        res = subprocess.run([sys.executable, "-c", script, str(trained.out / "bundle"), str(tmp_path / f"{minutes}.wav")],
                             capture_output=True, text=True, timeout=600,
                             env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
        assert res.returncode == 0, res.stderr[-2000:]
        peak[minutes] = int(res.stdout.strip().splitlines()[-1]) / 1024  # MB
    assert peak[25] - peak[2.5] < 60, peak


def test_service_bounds_the_uploads_in_flight(trained, songs):
    """With one slot and a short queue, uploads sent while one is being classified wait, then
    get 503 with Retry-After; the service answers again once the slot is free."""
    import threading

    import uvicorn

    from graham.inference.serve import create_app

    clf = load(trained.out / "bundle")
    real = clf.predict

    def slow(*a, **kw):
        time.sleep(2.0)
        return real(*a, **kw)

    clf.predict = slow
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(clf, max_in_flight=1, queue_timeout_s=0.3), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        assert _healthy(url, 30), "the service did not start"
        data = songs[(3, "wav")].read_bytes()

        def post(_):
            return httpx.post(url + "/predict", files={"file": ("a.wav", data)}, timeout=60)

        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            codes = sorted((r.status_code, r.headers.get("retry-after")) for r in pool.map(post, range(3)))
        assert codes == [(200, None), (503, "5"), (503, "5")], codes
        assert post(0).status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_predict_on_a_folder_names_what_it_leaves_out(trained, songs, tmp_path):
    """A folder holding a song, a folder named like audio and a dangling link: the song is
    classified, the other two are named as skipped (before, they vanished silently)."""
    folder = tmp_path / "music"
    folder.mkdir()
    shutil.copy(songs[(3, "wav")], folder / "song.wav")
    (folder / "not-a-song.wav").mkdir()
    (folder / "gone.mp3").symlink_to(tmp_path / "deleted.mp3")
    res = runner.invoke(app, ["predict", str(trained.out / "bundle"), str(folder), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert sum(x.startswith("{") for x in res.stdout.splitlines()) == 1
    assert "not-a-song.wav: named like audio, but not a file" in res.output
    assert "gone.mp3: a link to a file that does not exist" in res.output


def _python_block(path, after: str) -> str:
    from pathlib import Path

    text = (Path(__file__).parent.parent / path).read_text()
    section = text[text.index(after):]
    code = section[section.index("```python") + len("```python"):]
    return code[:code.index("```")]


def test_the_readmes_python_snippet_runs(trained, songs, gtzan_dir, tmp_path):
    """The README's Python block and the guide's, run as written, with their paths pointed at
    test data."""
    code = (_python_block("README.md", "## Your own music")
            .replace('"runs/mine/bundle"', repr(str(trained.out / "bundle")))
            .replace('"song.mp3"', repr(str(songs[(3, "mp3")]))))
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - our own README's snippet
    assert scope["pred"].label in trained.classes and scope["vector"].shape == (trained.embeddings.shape[1],)
    assert len(scope["pred"].neighbours) == 5 and len(scope["pred"].top) == 3

    code = (_python_block("docs/guide.md", "## Python")
            .replace('"runs/demo/bundle"', repr(str(trained.out / "bundle")))
            .replace('"song.mp3"', repr(str(songs[(3, "mp3")])))
            .replace('"gtzan:~/data/gtzan"', repr(f"gtzan:{gtzan_dir}"))
            .replace('"~/.cache/graham/features"', repr(str(tmp_path / "features"))))
    scope = {}
    exec(compile(code, "docs/guide.md", "exec"), scope)  # noqa: S102 - our own guide's snippet
    assert scope["pred"].label in trained.classes and scope["vector"].shape == (trained.embeddings.shape[1],)
    assert scope["mel"].shape[0] == 128 and scope["mel0"].shape[0] == 128


def test_neighbours_behind_a_prediction_are_the_brute_force_nearest(trained, songs):
    """predict(neighbours=K), predict_many, the streamed path and the CLI name the K training
    clips whose embeddings are nearest the song's windows: the same as a plain loop over every
    training clip computing the mean cosine similarity to the windows (issue 22). The tiny
    test network embeds every clip in nearly one direction, so the reference clips get random
    embeddings here, spread enough for a ranking to mean something."""
    import dataclasses

    from graham.inference.predict import GenreClassifier

    bundle = load_bundle(trained.out / "bundle")
    assert bundle.reference_ids == [trained.corpus.clip_ids[i] for i in trained.train_idx]
    rng = np.random.default_rng(0)
    spread = dataclasses.replace(bundle, reference=rng.normal(size=bundle.reference.shape).astype(np.float32))
    clf = GenreClassifier(spread)
    path = songs[(30, "wav")]
    pred = clf.predict(path, neighbours=4)
    emb, _ = clf.window_embeddings(clf.mel(path))
    sims = []
    for r in spread.reference.astype(np.float64):  # the formula, one training clip at a time
        cos = [float(w @ r / (np.linalg.norm(w) * np.linalg.norm(r))) for w in emb.astype(np.float64)]
        sims.append(sum(cos) / len(cos))
    order = np.argsort(sims)[::-1][:4]
    assert [n.clip_id for n in pred.neighbours] == [bundle.reference_ids[i] for i in order]
    np.testing.assert_allclose([n.similarity for n in pred.neighbours], [sims[i] for i in order], atol=1e-5)
    assert [n.label for n in pred.neighbours] == [trained.classes[bundle.reference_labels[i]] for i in order]
    assert clf.predict(path).neighbours == () and "neighbours" not in clf.predict(path).to_dict()
    (_, many), = list(clf.predict_many([path], neighbours=4))
    assert [n.clip_id for n in many.neighbours] == [n.clip_id for n in pred.neighbours]
    streamed = clf.predict_streamed(path, neighbours=4)
    assert [n.clip_id for n in streamed.neighbours] == [n.clip_id for n in pred.neighbours]

    # the command: the bundle's own neighbours, in every format
    own = load(trained.out / "bundle").predict(path, neighbours=4)
    train_ids = {trained.corpus.clip_ids[i] for i in trained.train_idx}
    assert len(own.neighbours) == 4 and {n.clip_id for n in own.neighbours} <= train_ids
    res = runner.invoke(app, ["predict", str(trained.out / "bundle"), str(path), "--format", "json", "--neighbours", "4"])
    assert res.exit_code == 0, res.output
    doc = json.loads([x for x in res.stdout.splitlines() if x.startswith("{")][0])
    assert len(doc["neighbours"]) == 4 and {n["clip_id"] for n in doc["neighbours"]} <= train_ids
    res = runner.invoke(app, ["predict", str(trained.out / "bundle"), str(path), "--format", "csv", "--neighbours", "2"])
    near = [r for r in __import__("csv").DictReader(res.stdout.splitlines()) if r["scope"] == "neighbour"]
    assert len(near) == 2 and all(r["clip_id"] in train_ids for r in near)
    res = runner.invoke(app, ["predict", str(trained.out / "bundle"), str(path), "--neighbours", "2"])
    assert "nearest training clips: " in res.output


def test_the_service_returns_neighbours(server, songs, trained):
    with open(songs[(3, "wav")], "rb") as f:
        r = httpx.post(server + "/predict?neighbours=3", files={"file": ("a.wav", f)}, timeout=60)
    assert r.status_code == 200, r.text
    near = r.json()["neighbours"]
    train_ids = {trained.corpus.clip_ids[i] for i in trained.train_idx}
    assert len(near) == 3 and all(n["clip_id"] in train_ids for n in near)
    assert near == sorted(near, key=lambda n: -n["similarity"])
    assert httpx.post(server + "/predict?neighbours=-1", files={"file": ("a.wav", b"x")}).status_code == 422


def test_the_bundle_holds_each_training_clip_as_the_run_read_it(trained):
    """Issue 28, one node-feature recipe: the bundle's reference node of a training clip is the
    run's node (the clip's embedding, then per mel band the mean, standard deviation and mean
    absolute frame-to-frame change of its log-mel, written out here from that definition), and
    prediction reads a clip's statistics the same way. Catches a bundle whose statistics come
    from other clips, another order or another formula than the GNN trained on."""
    from graham.workflows.features import extract_features
    from graham.workflows.requests import DataSource

    mels = extract_features(DataSource("synthetic:4x3", cache=trained.out / "features"), progress=False).features.mels
    bundle = load_bundle(trained.out / "bundle")
    assert bundle.reference_ids == [trained.corpus.clip_ids[i] for i in trained.train_idx]
    ref = bundle.reference_features()
    clf = load(trained.out / "bundle", device="cpu")
    for row, k in enumerate(trained.train_idx):
        m = np.asarray(mels[int(k)], dtype=np.float64)
        stats = np.concatenate([m.mean(1), m.std(1), np.abs(np.diff(m, axis=1)).mean(1)])
        np.testing.assert_allclose(ref[row], np.concatenate([trained.embeddings[k], stats]), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(clf.clip_statistics(np.asarray(mels[int(k)])).numpy(), stats, rtol=1e-5, atol=1e-4)
