import base64
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from graham.explain.gradcam import GradCAMPlusPlus, conv_layer_names, gradcam_plus_plus_weights
from graham.explain.tsne import silhouette, tsne_2d
from graham.report import Section, write_report
from graham.report.figures import confusion_figure, tsne_figure


def test_weights_match_the_formula_by_hand():
    a = torch.tensor([[[[1.0, 2.0], [0.0, 1.0]]]])  # one channel, sum(A) = 4
    g = torch.tensor([[[[0.5, -1.0], [0.0, 2.0]]]])
    # alpha = g^2 / (2 g^2 + 4 g^3), zero where g = 0; w = sum alpha * relu(g)
    alpha = [0.25 / (0.5 + 4 * 0.125), 1.0 / (2 - 4), 0.0, 4.0 / (8 + 32)]
    expected = alpha[0] * 0.5 + alpha[3] * 2.0
    assert gradcam_plus_plus_weights(a, g).item() == pytest.approx(expected)


def _patch_data(n, rng):
    x = rng.normal(0, 1, (n, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, 2, n)
    x[y == 1, :, 20:26, 8:14] += 3.0  # class 1 = a bright patch at a known time-frequency place
    return torch.from_numpy(x), torch.from_numpy(y)


def test_heatmap_peak_lands_in_the_deciding_patch():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(150):
        x, y = _patch_data(64, rng)
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = _patch_data(64, rng)
    assert (net(x).argmax(1) == y).float().mean() > 0.9
    assert conv_layer_names(net) == ["0", "2"]
    cam = GradCAMPlusPlus(net)(x[y == 1][:8], lambda out: out[:, 1])
    assert cam.shape == (8, 32, 32) and cam.max() == pytest.approx(1.0)
    for m in cam:
        r, c = np.unravel_index(m.argmax(), m.shape)
        assert 18 <= r <= 27 and 6 <= c <= 15
    with pytest.raises(Exception, match="no layer"):
        GradCAMPlusPlus(net, "nope")


def test_tsne_and_silhouette(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    tight = rng.normal(0, 1, (3, 8))[y] * 5 + rng.normal(0, 0.3, (60, 8))
    loose = rng.normal(0, 1, (3, 8))[y] * 0.5 + rng.normal(0, 1, (60, 8))
    assert silhouette(tight, y) > silhouette(loose, y) and silhouette(tight, y) > 0.5
    assert np.isnan(silhouette(tight, np.zeros(60)))
    pts = tsne_2d(tight)
    assert pts.shape == (60, 2)
    png = tsne_figure([("tight", pts, silhouette(tight, y)), ("loose", tsne_2d(loose), silhouette(loose, y))], y,
                      ["a", "b", "c"], tmp_path / "t.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _report(tmp_path):
    cm = [[5, 1], [2, 4]]
    fig = confusion_figure(cm, ["jazz", "rock"], "GrahAM", tmp_path / "cm.png")
    return write_report(tmp_path / "report.html", "test report", [
        Section("Results", ["accuracy <b>0.75</b>"], tables=[[{"method": "GrahAM", "accuracy": 0.75}]],
                figures=[(fig, "confusion")]),
        Section("Settings", pre=['{"a": 1}'])])


def test_report_is_one_self_contained_page(tmp_path):
    path = _report(tmp_path)
    html = path.read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count("<section>") == 2
    assert "accuracy &lt;b&gt;0.75&lt;/b&gt;" in html  # text is escaped
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(imgs) == 1 and base64.b64decode(imgs[0])[:4] == b"\x89PNG"
    assert "<td>0.75</td>" in html


def test_report_images_load_in_headless_chromium(tmp_path, chromium):
    path = _report(tmp_path)
    probe = path.read_text().replace(
        "</body>", "<script>window.onload=()=>{document.title=[...document.images].every(i=>i.complete&&i.naturalWidth>0)"
        "?'IMAGES-OK':'IMAGES-BROKEN'}</script></body>")
    path.write_text(probe)
    assert "<title>IMAGES-OK</title>" in chromium.dump_dom(path.as_uri(), budget_ms=3000)


def test_run_report_has_every_figure(trained):
    import json

    from graham.workflows.train import report_run

    path = report_run(trained, explain_per_genre=1, progress=False)
    html = path.read_text()
    for title in ("Per-genre scores and confusion matrices", "t-SNE: Siamese vs GrahAM features", "Grad-CAM++",
                  "Training", "Settings and skipped files"):
        assert title in html
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    n_test_genres = len(set(trained.labels[trained.test_idx]))
    # one grid of confusion matrices (every method and the shipped bundle), t-SNE, mean map, clips, curves
    assert len(imgs) == 1 + 1 + 1 + n_test_genres + 1
    assert "GrahAM bundle (inductive, windowed)" in html and "scored as it predicts" in html
    assert "accuracy %" in html and "&quot;gnn_training&quot;" in html and "patience" in html  # % like Table 1; GNN settings
    # per-genre F1 in % like every other table; timings say what includes what; captions add, never repeat
    assert "F1 %" in html and not re.search(r"<td>0\.\d{3,}</td>", html)
    assert "training and scoring every method" in html and "of which the Siamese network" in html
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", html)
    assert len(captions) == len(set(captions)) and "training curves" not in captions
    assert not re.search(r"Grad-CAM\+\+ for|: true ", " ".join(captions))  # the clip figures' titles are in the images
    settings = re.search(r"<pre>(.*?)</pre>", html, re.S).group(1)
    assert not re.search(r"^\s*-?\d+(\.\d+)?,?$", settings, re.M)  # no line holding one number
    assert all(base64.b64decode(i)[:4] == b"\x89PNG" for i in imgs)
    doc = json.loads((trained.out / "metrics.json").read_text())
    assert set(doc["silhouette"]) == {"siamese", "gnn", "clips"} and "report_s" in doc["timings"]


def test_importing_graham_leaves_matplotlib_alone():
    import sys

    code = ("import matplotlib; matplotlib.use('svg'); import graham.report.figures, graham.report.run_report, "
            "graham.inference.serve; assert matplotlib.get_backend() == 'svg', matplotlib.get_backend(); "
            "import sys; assert 'matplotlib.pyplot' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


def test_mean_heatmaps_are_drawn_on_relative_time(tmp_path, monkeypatch):
    import numpy as np

    import graham.report.figures as figures
    from graham.audio.mel import MelConfig
    from graham.explain.gradcam import mean_maps

    drawn = []
    monkeypatch.setattr(figures, "save", lambda fig, path, **kw: drawn.append(fig) or path)
    maps = mean_maps({"rock": [np.random.rand(128, 431), np.random.rand(128, 200)]})
    figures.mean_heatmap_figure(maps, MelConfig(), tmp_path / "m.png")
    ax = drawn[0].axes[0]
    assert ax.get_xlim() == (0.0, 1.0) and "position" in ax.get_xlabel()


def test_a_tiny_test_set_gets_a_report_without_t_sne(tmp_path):
    from graham.workflows.requests import DataSource
    from graham.workflows.train import report_run, train_model

    from tiny import settings, tiny_siamese

    o = train_model(DataSource("synthetic:3x1", cache=tmp_path / "feat"), tmp_path,
                    settings(tiny_siamese(epochs=1), gnn_epochs=5), progress=False, methods=("grahams_gnn",))
    html = report_run(o, explain_per_genre=0, progress=False).read_text()
    assert "Not drawn" in html and "too few" in html


def test_hook_free_grad_cam_is_the_hooked_one_and_leaves_the_model_unhooked():
    from graham.nn.xception import Xception

    from tiny import TINY

    torch.manual_seed(0)
    net = Xception(TINY).eval()
    x = torch.randn(3, 32, 40)
    fn = lambda emb: emb[:, 2]  # noqa: E731
    free = GradCAMPlusPlus(net)(x, fn)
    last_relu = f"exit.{len(net.exit) - 1}"  # the module whose output features() returns
    hooked = GradCAMPlusPlus(net, last_relu)(x, fn)
    np.testing.assert_allclose(free, hooked, atol=1e-5)
    assert not any(m._forward_hooks for m in net.modules())  # the shared model was never hooked


def test_window_maps_are_blended_without_seams(trained, monkeypatch):
    """Windows whose maps are flat at 0, 1, 2, ... stitch into a ramp, not a staircase."""
    import graham.explain.gradcam as gradcam
    from graham.inference.predict import load

    model = load(trained.out / "bundle")
    mel = np.zeros((model.bundle.mel.n_mels, 4 * model.crop_frames), np.float32)

    def flat(self, x, score_fn, normalise=True):
        return np.stack([np.full(x.shape[-2:], float(k + 1)) for k in range(x.shape[0])])

    monkeypatch.setattr(gradcam.GradCAMPlusPlus, "__call__", flat)
    cam, _ = gradcam.explain_clip(model, mel, target=0)
    steps = np.abs(np.diff(cam[0]))
    from graham.audio.windows import window_starts

    n_windows = len(window_starts(mel.shape[-1], model.crop_frames, model.crop_frames // 2))
    # Plain averaging jumps by half a window's step (~1/(2 n)) at every window edge; a taper spreads it.
    assert steps.max() < 0.25 / n_windows


def test_the_report_says_whether_the_graph_helps():
    from graham.report.run_report import _judge, _verdict

    # Balanced accuracy decides, not plain accuracy: here plain accuracy says the opposite at 30 %.
    table = [{"fraction": 0.3, "method": "GrahAM (GNN)", "balanced_accuracy_mean": 0.70, "balanced_accuracy_std": 0.02,
              "accuracy_mean": 0.95, "accuracy_std": 0.0},
             {"fraction": 0.3, "method": "Random Forest", "balanced_accuracy_mean": 0.80, "balanced_accuracy_std": 0.03,
              "accuracy_mean": 0.60, "accuracy_std": 0.0},
             {"fraction": 1.0, "method": "GrahAM (GNN)", "balanced_accuracy_mean": 0.90, "balanced_accuracy_std": 0.02,
              "accuracy_mean": 0.90, "accuracy_std": 0.02},
             {"fraction": 1.0, "method": "Random Forest", "balanced_accuracy_mean": 0.89,
              "balanced_accuracy_std": 0.03, "accuracy_mean": 0.89, "accuracy_std": 0.03}]
    judged = {j.fraction: j for j in _judge(table)}
    assert judged[0.3].word == "behind" and judged[0.3].best_other["method"] == "Random Forest"
    assert judged[0.3].advised == "Random Forest" and judged[0.3].tied == ()
    assert judged[1.0].word == "level with"  # 1 point apart, spreads of 2 and 3
    assert judged[1.0].advised == "GrahAM (GNN)" and judged[1.0].tied == ("Random Forest",)
    text = _verdict(table)  # the words carry each decision
    assert all(j.word in text and j.advised in text for j in judged.values())
    assert _judge(table[1:2] + table[3:]) == [] and _verdict(table[1:2]) == ""  # no GrahAM row: no verdict


def test_figures_have_their_axes_and_scales(monkeypatch, tmp_path):
    """Training curves: three panels, each with its own labelled y-axis; Grad-CAM++: colour
    bars for the heatmap (0-1) and the spectrogram (dB); confusion matrices: one grid."""
    import graham.report.figures as figures
    from graham.audio import MelConfig

    drawn = {}
    real_save = figures.save
    monkeypatch.setattr(figures, "save", lambda fig, path, **kw: drawn.setdefault(Path(path).stem, fig)
                        and real_save(fig, path, **kw))
    hist = [{"epoch": e, "loss": 1.0 / (e + 1), "pair_acc": 0.5 + e / 10, "val_auc": 0.6 + e / 10} for e in range(3)]
    figures.curves_figure(hist, [{"epoch": e, "loss": 2.0 - e / 2} for e in range(3)], tmp_path / "curves.png")
    axes = drawn["curves"].axes
    assert len(axes) == 3 and all(ax.get_ylabel() for ax in axes)
    assert axes[1].get_ylim() == (0, 1.02) and "loss" in axes[0].get_ylabel()
    rng = np.random.default_rng(0)
    figures.gradcam_figure(rng.normal(-40, 10, (128, 200)), rng.random((128, 200)), MelConfig(), "clip",
                           tmp_path / "cam.png")
    labels = sorted(ax.get_ylabel() for ax in drawn["cam"].axes)
    assert "level [dB]" in labels and labels.count("relevance (0-1)") == 2
    # Table 1 bars: no error bars for single runs (zero-height ones meant nothing), the legend off the bars
    table = [{"fraction": f, "method": m, "runs": 1, "balanced_accuracy_mean": 0.5 + 0.1 * k, "balanced_accuracy_std": 0.0}
             for f in (0.3, 1.0) for k, m in enumerate(("GrahAM (GNN)", "Random Forest", "2-layer NN"))]
    figures.table_figure(table, tmp_path / "table.png", title="t")
    ax = drawn["table"].axes[0]
    assert not [c for c in ax.containers if type(c).__name__ == "ErrorbarContainer"]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(drawn["table"]).get_renderer()
    drawn["table"].draw(renderer)
    legend_box, axes_box = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
    assert legend_box.x0 >= axes_box.x1  # beside the axes, covering no bar
    several = [dict(r, runs=3, balanced_accuracy_std=0.05) for r in table]
    figures.table_figure(several, tmp_path / "table3.png", title="t")
    assert [c for c in drawn["table3"].axes[0].containers if type(c).__name__ == "ErrorbarContainer"]
    cms = {f"method {k}": rng.integers(0, 5, (4, 4)) for k in range(7)}
    figures.confusion_grid(cms, ["a", "b", "c", "d"], tmp_path / "conf.png")
    titled = [ax for ax in drawn["conf"].axes if ax.get_title()]
    assert len(titled) == 7 and len({round(ax.get_position().x0, 2) for ax in titled}) == 3  # 3 columns, not one


def test_class_names_the_font_cannot_draw_fall_back_to_numbers(tmp_path):
    """A class name in a script the plotting font lacks (CJK here) would be drawn as empty
    boxes; figures show "class K" instead and the report's text gives the key."""
    import warnings

    from graham.report.figures import class_labels, confusion_grid, drawable
    from graham.report.run_report import _class_key

    names = ["\u7235\u58eb\u4e50", "rock"]  # "jazz" in Chinese
    if drawable(names[0]):
        pytest.skip("the plotting font here draws CJK: nothing to fall back from")
    assert class_labels(names) == ["class 1", "rock"]
    assert _class_key(names) == ["The plotting font cannot draw some class names; figures show them by number: "
                                 "class 1 = \u7235\u58eb\u4e50."]
    cm = np.array([[3, 1], [0, 4]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        confusion_grid({"GrahAM": cm}, names, tmp_path / "c.png")
    assert not [w for w in caught if "missing from font" in str(w.message)]
