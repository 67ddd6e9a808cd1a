"""Thread budget: affinity and cgroup quota, OpenMP settings applied before torch loads, no
process-wide thread changes inside the library, one meaning of --device everywhere."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from graham.data import FeatureStore, read_gtzan
from graham.utils.threads import cgroup_cpu_quota, configure_threads, cpu_budget

from tiny import tone, write


def _cgroup(tmp_path, *, v2=None, v1=None):
    root = tmp_path / "cg"
    root.mkdir(parents=True)
    if v2 is not None:
        (root / "cpu.max").write_text(v2 + "\n")
    if v1 is not None:
        (root / "cpu").mkdir()
        (root / "cpu" / "cpu.cfs_quota_us").write_text(f"{v1[0]}\n")
        (root / "cpu" / "cpu.cfs_period_us").write_text(f"{v1[1]}\n")
    return root


def test_cgroup_quota_v2_v1_and_none(tmp_path):
    assert cgroup_cpu_quota(_cgroup(tmp_path / "a", v2="max 100000")) is None
    assert cgroup_cpu_quota(_cgroup(tmp_path / "b", v2="150000 100000")) == pytest.approx(1.5)
    assert cgroup_cpu_quota(_cgroup(tmp_path / "c", v1=(50000, 100000))) == pytest.approx(0.5)
    assert cgroup_cpu_quota(_cgroup(tmp_path / "d", v1=(-1, 100000))) is None
    assert cgroup_cpu_quota(tmp_path / "nowhere") is None


def test_budget_is_capped_by_the_quota_rounded_up(tmp_path):
    mask = len(os.sched_getaffinity(0))
    assert cpu_budget(cgroup_root=_cgroup(tmp_path / "a", v2="50000 100000")) == 1  # half a core: one thread
    assert cpu_budget(cgroup_root=_cgroup(tmp_path / "b", v2="max 100000")) == mask
    assert cpu_budget(cgroup_root=_cgroup(tmp_path / "c", v2=f"{100000 * (mask + 8)} 100000")) == mask  # quota above the mask


def _fresh_python(code: str, env_extra: dict | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                           "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY")}
    env.update(env_extra or {})
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_budget_follows_the_affinity_mask_not_the_core_count():
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no affinity control on this platform")
    got = _fresh_python("import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}); "
                        "from graham.utils.threads import cpu_budget; print(cpu_budget())")
    assert got == "1"


def test_configure_threads_before_torch_sizes_torch_and_sleeps_waiting_threads():
    got = _fresh_python("import os; from graham.utils.threads import configure_threads; n = configure_threads(1); "
                        "import torch; print(n, torch.get_num_threads(), os.environ['OMP_WAIT_POLICY'], "
                        "os.environ['MKL_NUM_THREADS'])")
    assert got == "1 1 PASSIVE 1"


def test_configure_threads_keeps_what_the_user_set():
    got = _fresh_python("from graham.utils.threads import configure_threads; n = configure_threads(); import torch, os; "
                        "print(n, torch.get_num_threads(), os.environ['OMP_WAIT_POLICY'])",
                        {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "ACTIVE"})
    assert got == "1 1 ACTIVE"


def test_the_command_line_configures_threads_before_torch_loads():
    got = _fresh_python("import sys, os\nfrom graham.cli import run\nsys.argv = ['graham', '--threads', '1', 'version']\n"
                        "try:\n    run()\nexcept SystemExit:\n    pass\n"
                        "assert 'torch' not in sys.modules, 'the CLI imported torch before sizing its threads'\n"
                        "import torch\nprint(torch.get_num_threads(), os.environ['OMP_WAIT_POLICY'])")
    assert got.splitlines()[-1] == "1 PASSIVE"


def test_configure_threads_rejects_nonsense():
    from graham.errors import ParameterError

    with pytest.raises(ParameterError):
        configure_threads(0)
    with pytest.raises(ParameterError):
        configure_threads(2, wait_policy="spin")


def test_extraction_leaves_torch_threads_alone_and_decodes_a_bounded_window_ahead(tmp_path, monkeypatch):
    for gi, g in enumerate(("rock", "jazz")):
        for k in range(6):  # distinct content: the cache is keyed by it
            write(tmp_path / "g" / g / f"{g}.{k:05d}.wav", tone(1.0, freq=200.0 + 50 * k + 25 * gi))
    corpus = read_gtzan(tmp_path / "g")
    store = FeatureStore(tmp_path / "feat")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    seen_threads, in_flight, lock = [], [0, 0], threading.Lock()  # decoded not yet consumed, its maximum
    decode, mel = store._decode, store._mel

    def counting_decode(path):
        y = decode(path)
        with lock:
            in_flight[0] += 1
            in_flight[1] = max(in_flight[1], in_flight[0])
        return y

    def observing_mel(y):
        seen_threads.append(torch.get_num_threads())
        with lock:
            in_flight[0] -= 1
        threading.Event().wait(0.02)  # a slow consumer: decoding must not run away from it
        return mel(y)

    monkeypatch.setattr(store, "_decode", counting_decode)
    monkeypatch.setattr(store, "_mel", observing_mel)
    try:
        fs = store.extract(corpus, workers=2, progress=False)
        assert len(fs) == 12 and len(seen_threads) == 12
        assert set(seen_threads) == {2}, "extraction changed torch's process-wide thread count"
        assert in_flight[1] <= 2 * 2 + 1, f"{in_flight[1]} decoded clips waited at once"
        np.testing.assert_allclose(fs[3], mel(decode(corpus.clips[3].path)), atol=1e-5)
    finally:
        torch.set_num_threads(before)


def test_every_command_with_a_device_defaults_to_auto():
    import typer.main

    from graham.cli import app

    group = typer.main.get_command(app)
    defaults = {name: p.default for name, cmd in group.commands.items() for p in cmd.params if p.name == "device"}
    assert {"predict", "serve", "explain", "train", "experiment", "train-siamese", "embed"} <= set(defaults)
    assert set(defaults.values()) == {"auto"}, defaults
