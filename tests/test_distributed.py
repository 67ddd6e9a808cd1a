import socket
import subprocess
import sys
from pathlib import Path

import torch

from graham.utils.tensorfile import load_checkpoint

sys.path.insert(0, str(Path(__file__).parent))

_SCRIPT = """
import sys, torch
sys.path.insert(0, {tests!r})
torch.set_num_threads(1)
import dataclasses
from tiny import TINY, tiny_siamese, toy_mels
from graham.train.siamese import train_siamese
mels, labels = toy_mels()
# Unit-variance inputs keep float32 rounding at ~1e-6, so the bound below tests DDP, not conditioning.
backbone = dataclasses.replace(TINY, input_norm="standardise")
train_siamese(mels, labels, tiny_siamese(epochs=2, seed=3, lr=1e-3, backbone=backbone), out=sys.argv[1], progress=False)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_matches_one_process(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(_SCRIPT.format(tests=str(Path(__file__).parent)))
    single = subprocess.run([sys.executable, str(script), str(tmp_path / "one")], capture_output=True, text=True,
                            timeout=300)
    assert single.returncode == 0, single.stderr[-2000:]
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
                          f"--master_port={_free_port()}", str(script), str(tmp_path / "two")],
                         capture_output=True, text=True, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    a, meta_a = load_checkpoint(tmp_path / "one" / "last.safetensors")
    b, meta_b = load_checkpoint(tmp_path / "two" / "last.safetensors")
    assert meta_a["epoch"] == meta_b["epoch"] == 1
    diffs = torch.cat([(a[k] - b[k]).abs().flatten() for k in a if k.startswith("model/") and a[k].is_floating_point()])
    # Same trajectory up to summation order. Biases right before a BatchNorm have a true
    # gradient of exactly zero, so Adam turns rounding noise into steps of up to lr each:
    # those may differ by a few lr (3 steps here); everything else agrees to ~1e-6.
    assert diffs.max() < 3 * 1e-3 and diffs.median() < 1e-6 and (diffs < 1e-4).float().mean() > 0.99
    for ra, rb in zip(meta_a["history"], meta_b["history"]):
        assert abs(ra["loss"] - rb["loss"]) < 1e-5 and ra["pairs"] == rb["pairs"]
    from graham.nn import SiameseNet

    from tiny import TINY, toy_mels

    x = torch.from_numpy(__import__("numpy").stack([m[:, :32] for m in toy_mels(seed=9)[0][:8]]))
    outs = []
    for t in (a, b):
        net = SiameseNet(TINY, head_hidden=16).eval()
        net.load_state_dict({k[6:]: v for k, v in t.items() if k.startswith("model/")})
        with torch.no_grad():
            outs.append(net.embed(x))
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-3, atol=1e-3)
