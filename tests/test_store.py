"""The sharded store: round trip, resume after a kill, and torchrun's processes filling it."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from graham.data.store import ShardedArrays, ShardStore, my_shards, source_stamp
from graham.errors import DatasetError

from tiny import free_port, tone, write


def _items(rng, n):
    """Arrays of different lengths, and a few failures given as reasons."""
    return [f"clip {i} is broken" if i % 5 == 3 else rng.standard_normal((4, 3 + i)).astype(np.float32)
            for i in range(n)]


def test_round_trip_keeps_order_shapes_values_and_failures(tmp_path):
    rng = np.random.default_rng(0)
    items = _items(rng, 11)
    stamps = [f"s{i}" for i in range(11)]
    store = ShardStore(tmp_path / "st", kind="test", settings={"a": 1}, shard_size=4)
    store.open(11)
    assert store.n_shards(11) == 3 and list(store.items_of(2, 11)) == [8, 9, 10]
    for k in range(3):
        rg = store.items_of(k, 11)
        assert not store.done(k, stamps[rg.start:rg.stop])
        store.write(k, stamps[rg.start:rg.stop], items[rg.start:rg.stop])
    view, kept, errors = store.read(stamps)
    assert list(kept) == [i for i in range(11) if i % 5 != 3]
    assert errors == {3: "clip 3 is broken", 8: "clip 8 is broken"}
    for j, i in enumerate(kept):
        assert view[j].shape == items[i].shape and view[j].dtype == np.float32
        np.testing.assert_array_equal(view[j], items[i])
    np.testing.assert_array_equal(view[-1], items[10])
    sub = view.subset([4, 0])
    assert isinstance(sub, ShardedArrays)
    np.testing.assert_array_equal(sub[0], items[kept[4]])
    np.testing.assert_array_equal(view[1:3][1], items[kept[2]])
    assert len(view.subset([])) == 0 and len(view.subset(np.empty(0, np.int64))) == 0  # no clip: an empty view
    with pytest.raises(IndexError):
        view[len(view)]
    # the files are plain .npy: numpy reads a shard without graham
    flat = np.load(tmp_path / "st" / "shard-000000.npy")
    np.testing.assert_array_equal(flat[: items[0].size], items[0].ravel())


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs Linux /proc")
def test_stack_reads_many_items_with_few_open_files(tmp_path):
    """Stacking AudioSet's embeddings must not hold a file (a memory map) per item: the
    benchmark at 50,000 clips died with 'Too many open files'."""
    import os
    import resource

    rng = np.random.default_rng(1)
    items = [rng.standard_normal(8).astype(np.float32) for _ in range(300)]
    stamps = [str(i) for i in range(300)]
    store = ShardStore(tmp_path / "st", kind="test", settings={}, shard_size=100)
    store.open(300)
    for k in range(3):
        store.write(k, stamps[100 * k:100 * k + 100], items[100 * k:100 * k + 100])
    view, _, _ = store.read(stamps)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 20, hard))
    try:
        stacked = view.subset(list(range(299, -1, -1))).stack()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    np.testing.assert_array_equal(stacked, np.stack(items[::-1]))


def test_changed_stamp_or_settings_are_not_reused(tmp_path):
    store = ShardStore(tmp_path / "st", kind="test", settings={"a": 1}, shard_size=2)
    store.open(2)
    store.write(0, ["x", "y"], [np.ones((2, 2), np.float32), np.zeros((2, 1), np.float32)])
    assert store.done(0, ["x", "y"]) and not store.done(0, ["x", "y2"])
    with pytest.raises(DatasetError, match="incomplete"):
        store.read(["x", "y2"])
    with pytest.raises(DatasetError, match="other settings"):
        ShardStore(tmp_path / "st", kind="test", settings={"a": 2}, shard_size=2).open(2)
    with pytest.raises(DatasetError, match="other settings"):
        ShardStore(tmp_path / "st", kind="test", settings={"a": 1}, shard_size=3).open(2)


def test_source_stamp_follows_size_and_time(tmp_path):
    f = tmp_path / "a.wav"
    f.write_bytes(b"1234")
    s1 = source_stamp(f)
    f.write_bytes(b"12345")
    assert source_stamp(f) != s1
    assert source_stamp(tmp_path / "gone.wav").endswith("|missing")


def test_shards_are_dealt_round_robin():
    assert [list(my_shards(7, r, 3)) for r in range(3)] == [[0, 3, 6], [1, 4], [2, 5]]
    assert sorted(k for r in range(4) for k in my_shards(10, r, 4)) == list(range(10))


# -- a real kill, a real resume --------------------------------------------------------------
def _corpus(root: Path, n: int, seconds: float) -> Path:
    for k in range(n):
        genre = ("rock", "jazz")[k % 2]
        write(root / genre / f"{genre}.{k:05d}.wav", tone(seconds, freq=150.0 + 13 * k))
    return root


def _graham(*args, **kw):
    return [sys.executable, "-m", "graham.cli", "--threads", "1", *args]


def test_extraction_killed_mid_run_resumes_without_redoing_shards(tmp_path):
    """``kill -9`` while shards are being written: the rerun keeps every finished shard as it
    is, redoes the rest, and ends with the store an uninterrupted run makes."""
    data = _corpus(tmp_path / "g", 40, 30.0)
    out = tmp_path / "feat"
    cmd = _graham("features", f"gtzan:{data}", "--out", str(out), "--shard-size", "2", "--workers", "1")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        done = list(out.glob("mel-*/*/shard-*.json"))
        if len(done) >= 3:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed: make it longer"
    store = next(out.glob("mel-*/*/"))
    finished = {p.name: p.stat().st_mtime_ns for p in store.glob("shard-*.json")}
    assert 3 <= len(finished) < 20  # killed part way
    arrays = {p.name: p.stat().st_mtime_ns for p in store.glob("shard-*.npy") if p.with_suffix(".json").name in finished}

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert len(list(store.glob("shard-*.json"))) == 20
    assert {n: (store / n).stat().st_mtime_ns for n in finished} == finished  # finished shards kept as they were
    assert {n: (store / n).stat().st_mtime_ns for n in arrays} == arrays
    assert not list(store.glob(".*.tmp"))  # a half-written file of the killed run is gone

    whole = tmp_path / "whole"
    ref = subprocess.run(_graham("features", f"gtzan:{data}", "--out", str(whole), "--shard-size", "2"),
                         capture_output=True, text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr[-2000:]
    ref_store = next(whole.glob("mel-*/*/"))
    for k in range(20):
        assert (store / f"shard-{k:06d}.npy").read_bytes() == (ref_store / f"shard-{k:06d}.npy").read_bytes()


# -- torchrun -------------------------------------------------------------------------------
def _torchrun(n: int, *args):
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={n}", "--master_addr=127.0.0.1",
            f"--master_port={free_port()}", "-m", "graham.cli", "--threads", "1", *args]


def test_two_processes_fill_the_same_store_as_one(tmp_path):
    """``torchrun --nproc_per_node=2 -m graham.cli features|embed``: the same shards, byte for
    byte, and the same embeddings as one process."""
    from graham.nn import SiameseNet
    from graham.presets import SiameseConfig
    from graham.utils.tensorfile import load_checkpoint, save_checkpoint

    from tiny import TINY

    data = _corpus(tmp_path / "g", 10, 3.0)
    config = SiameseConfig(backbone=TINY, head_hidden=16, crop_frames=32)
    torch.manual_seed(0)
    net = SiameseNet(config.backbone, head_hidden=config.head_hidden)
    ckpt = tmp_path / "sia.safetensors"
    save_checkpoint(ckpt, {f"model/{k}": v for k, v in net.state_dict().items()}, {"config": config.to_dict()})

    outs = {}
    for n, launch in ((1, lambda *a: [sys.executable, "-m", "graham.cli", "--threads", "1", *a]),
                      (2, lambda *a: _torchrun(2, *a))):
        feat, emb = tmp_path / f"feat{n}", tmp_path / f"emb{n}.safetensors"
        r = subprocess.run(launch("features", f"gtzan:{data}", "--out", str(feat), "--shard-size", "3"),
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        r = subprocess.run(launch("embed", f"gtzan:{data}", "--model", str(ckpt), "--features", str(feat),
                                  "--out", str(emb), "--device", "cpu"), capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        outs[n] = (next(feat.glob("mel-*/*/")), emb)
    (one, e1), (two, e2) = outs[1], outs[2]
    names = sorted(p.name for p in one.glob("shard-*"))
    assert len(names) == 2 * 4 and names == sorted(p.name for p in two.glob("shard-*"))
    for name in names:
        assert (one / name).read_bytes() == (two / name).read_bytes()
    assert json.loads((one / "store.json").read_text()) == json.loads((two / "store.json").read_text())
    a, meta_a = load_checkpoint(e1)
    b, meta_b = load_checkpoint(e2)
    assert meta_a["clip_ids"] == meta_b["clip_ids"] and len(meta_a["clip_ids"]) == 10
    assert torch.equal(a["labels"], b["labels"])
    torch.testing.assert_close(a["embeddings"], b["embeddings"], rtol=0, atol=0)
    assert len(list(one.glob("emb-*/shard-*.npy"))) == 4  # embeddings kept in shards beside the log-mels


# -- two runs that do not know of each other -------------------------------------------------
def test_a_live_temporary_file_is_never_taken_for_a_stale_one(tmp_path):
    """Two processes on one store: only the holder of a shard's lock writes it and removes its
    temporary files, so a second run never deletes the first one's file in progress; once the
    holder is gone (lock released, as the kernel does when a process dies) its leftover is."""
    a = ShardStore(tmp_path / "st", kind="test", settings={}, shard_size=2)
    b = ShardStore(tmp_path / "st", kind="test", settings={}, shard_size=2)
    held = a.lock(0)
    live = tmp_path / "st" / ".shard-000000.npy.abc123.npy.tmp"  # a's file in progress
    live.write_bytes(b"half")
    assert b.lock(0, wait=False) is None and live.exists()
    other = b.lock(1, wait=False)  # other shards stay free
    assert other is not None
    other.release()
    held.release()  # a "dies"
    with b.lock(0, wait=False) as lock:
        assert lock is not None and not live.exists()


def test_two_runs_extracting_into_one_folder_at_once_both_succeed(tmp_path):
    """Two extractions of one corpus into one folder at the same time (two ``graham features``,
    or two trainings sharing the cache): both finish, read the same log-mels, and leave no
    temporary file behind."""
    import threading

    from graham.data import FeatureStore, read_gtzan

    data = _corpus(tmp_path / "g", 16, 1.0)
    results, errors = {}, []

    def run(name):
        try:
            fs = FeatureStore(tmp_path / "feat", shard_size=1).extract(read_gtzan(data), workers=1, progress=False)
            results[name] = [fs[i] for i in range(len(fs))]
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert len(results["a"]) == len(results["b"]) == 16
    for x, y in zip(results["a"], results["b"]):
        assert np.array_equal(x, y)
    store = next((tmp_path / "feat").glob("mel-*/*/"))
    assert len(list(store.glob("shard-*.json"))) == 16 and not list(store.glob(".*.tmp"))
