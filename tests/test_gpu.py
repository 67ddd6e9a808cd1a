"""CUDA against CPU: the same inputs and weights give the same outputs on both devices.
Marked ``gpu`` and skipped where torch sees no CUDA device (CI and the 2-core machines)."""

import numpy as np
import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


@pytest.fixture(autouse=True)
def _full_precision_on_cuda():
    """TF32 (cuDNN's default for convolutions on Ampere and later) keeps 10 mantissa bits, so it
    changes results at the 1e-3 level; parity is checked in full float32."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_logmel_on_cuda_matches_cpu():
    from graham.audio.mel import LogMel, MelConfig

    y = torch.from_numpy(np.random.default_rng(0).normal(0, 0.1, 22050 * 5).astype(np.float32))
    m = LogMel(MelConfig())
    torch.testing.assert_close(m.cuda()(y.cuda()).cpu(), LogMel(MelConfig())(y), atol=2e-3, rtol=0)


@pytest.mark.parametrize("graph", ["complete", "knn", "similarity"])
def test_gnn_on_cuda_matches_cpu(graph):
    from graham.nn import GNNConfig, GrahamGNN, PairHead
    from graham.nn.graphs import build_graph

    torch.manual_seed(0)
    x = torch.randn(200, 32)
    head = PairHead(32, 16).eval()
    model = GrahamGNN(32, 5, GNNConfig(hidden=16, graph=graph, k=5)).eval()
    g = build_graph(graph, x, k=5, head=head)
    with torch.no_grad():
        want = model(x, g)
        got = model.cuda()(x.cuda(), g.to("cuda")).cpu()
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_one_siamese_step_on_cuda_matches_cpu():
    from graham.nn.siamese import SiameseNet

    from tiny import TINY

    torch.manual_seed(0)
    x = torch.randn(12, 32, 48) * 10 - 40
    i, j = torch.triu_indices(12, 12, 1)
    y = (i % 3 == j % 3).float()
    grads = []
    for dev in ("cpu", "cuda"):
        torch.manual_seed(1)
        net = SiameseNet(TINY, head_hidden=8, head_dropout=0.0).to(dev)  # no dropout: its masks differ by device
        emb = net.embed(x.to(dev))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net.pair_logits(emb, i.to(dev), j.to(dev)), y.to(dev))
        loss.backward()
        grads.append([p.grad.detach().cpu() for p in net.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("label_input", [False, True])
def test_gnn_training_on_cuda_matches_cpu(label_input):
    """train_gnn end to end on the GPU (the label inputs and validation on the device): the
    `paper` preset's GNN step died on CUDA when label indices were made tensors on the device
    before numpy read them. The losses of the first epochs agree with the CPU's."""
    from graham.nn.gnn import GNNConfig
    from graham.presets import GNNTrainConfig
    from graham.train.gnn import train_gnn

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 16)).astype(np.float32)
    y = rng.integers(0, 3, 120)
    labelled = np.arange(0, 120, 2)
    cfg = GNNConfig(hidden=16, dropout=0.0, graph="complete", band_statistics=False, smooth=False,
                    label_input=label_input)
    train = GNNTrainConfig(epochs=20, val_fraction=0.2, patience=None, refit=False, seed=0)
    cpu = train_gnn(x, y, labelled, 3, config=cfg, train=train, device="cpu")
    gpu = train_gnn(x, y, labelled, 3, config=cfg, train=train, device="cuda")
    a = [r["loss"] for r in cpu.history[:3]]
    b = [r["loss"] for r in gpu.history[:3]]
    np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-4)


def test_gradcam_on_cuda_matches_cpu(trained):
    """Grad-CAM++ through a bundle loaded on the GPU: the report's explain step (it returned a
    CUDA tensor to numpy and died on the H200). The map agrees with the CPU's."""
    import graham
    from graham.explain.gradcam import explain_clip
    from graham.workflows.features import extract_features
    from graham.workflows.requests import DataSource

    mels = extract_features(DataSource("synthetic:4x3", cache=trained.out / "features"), progress=False).features.mels
    mel = np.asarray(mels[int(trained.test_idx[0])])
    cpu_map, cpu_target = explain_clip(graham.load(trained.out / "bundle", device="cpu"), mel)
    gpu_map, gpu_target = explain_clip(graham.load(trained.out / "bundle", device="cuda"), mel)
    assert gpu_target == cpu_target
    np.testing.assert_allclose(gpu_map, cpu_map, atol=2e-3)
