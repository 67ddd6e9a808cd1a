"""The optimised inference copy of the backbone computes what the module computes."""

import dataclasses

import pytest
import torch

from graham.nn import PRESETS
from graham.nn.frozen import FrozenBackbone, frozen
from graham.nn.xception import Xception


def _trained_like(config, seed=0) -> Xception:
    """A backbone whose BatchNorms have non-trivial statistics and affine parameters, so that
    folding them into the convolutions is actually exercised."""
    torch.manual_seed(seed)
    net = Xception(config)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net.eval()


@pytest.mark.parametrize("input_norm", ["centre", "standardise"])
def test_same_embeddings_as_the_module(input_norm):
    net = _trained_like(dataclasses.replace(PRESETS["cpu"], input_norm=input_norm))
    fast = FrozenBackbone(net)
    with torch.no_grad():
        for batch, frames in ((1, 130), (5, 130), (33, 130), (4, 97)):
            x = torch.randn(batch, 128, frames) * 20 - 40
            ref = net(x)
            out = fast(x)
            assert out.shape == ref.shape == (batch, 128)
            torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5 * ref.abs().max().item())
    assert len(fast._copies) == 2  # one copy per window shape, shared by every batch size


def test_new_weights_are_seen():
    """An optimiser step or load_state_dict changes the weights in place: a stale copy would
    keep the old ones."""
    net = _trained_like(PRESETS["cpu"])
    fast = frozen(net)
    assert frozen(net) is fast
    x = torch.randn(3, 128, 64) * 20 - 40
    with torch.no_grad():
        before = fast(x)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    net(x).sum().backward()
    opt.step()
    net.eval()
    with torch.no_grad():
        after, ref = fast(x), net(x)
    assert not torch.allclose(after, before)
    torch.testing.assert_close(after, ref, rtol=1e-4, atol=1e-5 * ref.abs().max().item())
    other = _trained_like(PRESETS["cpu"], seed=1)
    net.load_state_dict(other.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(fast(x), other(x), rtol=1e-4, atol=1e-5 * other(x).abs().max().item())


def test_gradients_go_through_the_module():
    net = _trained_like(PRESETS["cpu"])
    x = (torch.randn(2, 128, 64) * 20).requires_grad_()
    FrozenBackbone(net)(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
