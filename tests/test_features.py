import numpy as np
import pytest
import torch

from graham.audio import LogMel, MelConfig, load_audio
from graham.data import FeatureStore, read_gtzan
from graham.utils.files import write_json

from tiny import tone, write


def test_extract_caches_and_skips_bad_files_by_name(gtzan_dir, tmp_path, caplog):
    caplog.set_level("INFO", logger="graham")  # at INFO: the commands print the skipped files themselves
    corpus = read_gtzan(gtzan_dir, check_headers=False)  # let the broken file reach the extractor
    store = FeatureStore(tmp_path / "feat", shard_size=3)
    fs = store.extract(corpus, progress=False)
    assert len(fs) == 6 and len(fs.corpus) == 6
    assert [s.path.endswith("jazz.00054.wav") for s in fs.failed] == [True]
    assert any(s.path.endswith("jazz.00054.wav") for s in fs.corpus.skipped)
    assert "jazz.00054.wav" in caplog.text
    for i in (0, 5):
        expected = LogMel()(torch.from_numpy(load_audio(fs.corpus.clips[i].path))).numpy()
        np.testing.assert_allclose(fs[i], expected, atol=1e-4)
    shards = sorted(fs.dir.glob("shard-*"))
    assert len(shards) == 2 * 3  # 7 clips in shards of 3: an array and an index each
    mtimes = [p.stat().st_mtime_ns for p in shards]
    again = store.extract(corpus, progress=False)
    assert [p.stat().st_mtime_ns for p in shards] == mtimes  # cache hit: nothing rewritten
    assert [c.clip_id for c in again.corpus] == [c.clip_id for c in fs.corpus]


def _extract(root, corpus, **kw):
    return FeatureStore(root, shard_size=2, **kw).extract(corpus, progress=False)


def test_corrupt_shard_is_redone(tmp_path):
    for k in range(4):
        write(tmp_path / "g" / "rock" / f"rock.{k:05d}.wav", tone(1.0, freq=200.0 + 50 * k))
    corpus = read_gtzan(tmp_path / "g")
    fs = _extract(tmp_path / "feat", corpus)
    good = [fs[i] for i in range(4)]
    array, index = fs.dir / "shard-000001.npy", fs.dir / "shard-000001.json"
    for damage in (lambda: array.write_bytes(array.read_bytes()[:200]),  # truncated array
                   lambda: index.write_text("{not json"),                # garbage index
                   lambda: index.unlink()):                              # killed before the index was written
        untouched = (fs.dir / "shard-000000.npy").stat().st_mtime_ns
        damage()
        again = _extract(tmp_path / "feat", corpus)
        for i in range(4):
            np.testing.assert_array_equal(again[i], good[i])
        assert (fs.dir / "shard-000000.npy").stat().st_mtime_ns == untouched  # the sound shard is kept


def test_store_follows_content_and_settings(tmp_path):
    wavs = [write(tmp_path / "g" / "rock" / f"rock.{k:05d}.wav", tone(1.0, freq=200.0 + 50 * k)) for k in range(4)]
    corpus = read_gtzan(tmp_path / "g")
    fs = _extract(tmp_path / "feat", corpus)
    before = fs[3]
    other = (fs.dir / "shard-000000.npy").stat().st_mtime_ns
    write(wavs[3], tone(1.5, freq=880.0))  # a new version of one file: its shard is redone, the other kept
    again = _extract(tmp_path / "feat", corpus)
    assert again.dir == fs.dir and (fs.dir / "shard-000000.npy").stat().st_mtime_ns == other
    assert again[3].shape[1] > before.shape[1]
    expected = LogMel()(torch.from_numpy(load_audio(wavs[3]))).numpy()
    np.testing.assert_allclose(again[3], expected, atol=1e-4)
    other_settings = _extract(tmp_path / "feat", corpus, config=MelConfig(n_mels=64))
    assert other_settings.dir.parent != fs.dir.parent and other_settings[0].shape[0] == 64
    subset = _extract(tmp_path / "feat", corpus.subset([0, 1]))  # another clip list: its own store
    assert subset.dir != fs.dir and len(subset) == 2


def test_too_short_audio_is_reported(tmp_path):
    wav = write(tmp_path / "short.wav", tone(0.01))
    from graham.errors import AudioError
    with pytest.raises(AudioError, match="too short"):
        FeatureStore(tmp_path / "feat").compute(wav)


def test_atomic_write_leaves_old_content_on_failure(tmp_path):
    target = tmp_path / "x.json"
    write_json(target, {"a": 1})

    class Boom:
        pass

    with pytest.raises(TypeError):
        write_json(target, {"a": Boom()})
    assert target.read_text().strip().startswith("{") and '"a": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def _mappings_under(root) -> int:
    with open("/proc/self/maps") as f:
        return sum(str(root) in line for line in f)


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/maps"), reason="needs Linux /proc")
def test_lazy_features_hold_no_mapping_per_clip(tmp_path):
    """Embedding a corpus from the cache maps each clip only while it is read: a list of
    memory-mapped arrays would keep one mapping per clip (Linux allows 65,530 per process)."""
    from graham.audio.windows import window_starts
    from graham.data.features import take
    from graham.data.store import ShardedArrays
    from graham.nn import PRESETS, SiameseNet
    from graham.train.embed import embed_clips

    for k in range(12):
        genre = "rock" if k % 2 else "jazz"
        write(tmp_path / "g" / genre / f"{genre}.{k:05d}.wav", tone(2.0, freq=150.0 + 40 * k))
    fs = FeatureStore(tmp_path / "feat", shard_size=5).extract(read_gtzan(tmp_path / "g"), progress=False)
    mels = fs.mels
    assert isinstance(mels, ShardedArrays) and len(mels) == 12
    torch.manual_seed(0)
    model = SiameseNet(PRESETS["cpu"])
    emb = embed_clips(model, mels, crop_frames=43, batch_size=8)
    assert emb.shape == (12, 128) and np.isfinite(emb).all()
    sub = take(mels, [3, 5])
    assert isinstance(sub, ShardedArrays) and np.array_equal(sub[1], fs[5])
    assert _mappings_under(tmp_path / "feat") == 0
    held = [mels[i] for i in range(12)]  # arrays kept alive keep their mappings: the count is real
    assert _mappings_under(tmp_path / "feat") == 12
    del held
    # the lazy sequence embeds exactly as arrays in memory would
    np.testing.assert_allclose(emb, embed_clips(model, [fs[i] for i in range(12)], crop_frames=43, batch_size=8),
                               rtol=1e-5, atol=1e-6)
    assert len(window_starts(fs[0].shape[-1], 43, 21)) > 1  # sanity: each clip has several windows


def test_a_feature_folder_keeps_its_settings_through_train_and_predict(tmp_path):
    """``graham features --n-mels 40 --hop-length 256 --sr 16000 --out F`` then ``train --features F``:
    training reads F's settings (no second store of default log-mels appears in F), the bundle
    records them and prediction computes its log-mels with them. A setting that disagrees with
    F's is a one-line error, exit 2."""
    from typer.testing import CliRunner

    from graham.cli import app
    from graham.data.features import folder_settings
    from graham.inference.predict import load
    from graham.workflows.requests import DataSource
    from graham.workflows.train import train_model

    from tiny import settings as tiny_settings
    from tiny import tiny_siamese

    runner = CliRunner()
    feat = tmp_path / "feat"
    res = runner.invoke(app, ["features", "synthetic:4x3", "--out", str(feat), "--sr", "16000", "--n-mels", "40",
                              "--hop-length", "256"])
    assert res.exit_code == 0, res.output
    settings = folder_settings(feat)
    assert (settings.sr, settings.n_mels, settings.hop_length, settings.n_fft) == (16000, 40, 256, 2048)
    stores = sorted(p.name for p in feat.glob("mel-*"))
    assert len(stores) == 1

    o = train_model(DataSource("synthetic:4x3", cache=feat), tmp_path / "run",
                    tiny_settings(tiny_siamese(epochs=1), gnn_epochs=5), progress=False, methods=("grahams_gnn",))
    assert sorted(p.name for p in feat.glob("mel-*")) == stores  # nothing recomputed with other settings
    assert o.mel == settings and folder_settings(feat) == settings
    clf = load(tmp_path / "run" / "bundle")
    assert clf.bundle.mel == settings
    y = np.random.default_rng(0).normal(0, 0.1, 16000 * 2).astype(np.float32)
    mel = clf.mel(y, sr=16000)
    assert mel.shape == (40, 1 + 2 * 16000 // 256)
    assert len(clf.predict(y, sr=16000).probabilities) == len(o.classes)

    # a rerun with the folder's own settings is fine; another setting is refused before any work
    res = runner.invoke(app, ["features", "synthetic:4x3", "--out", str(feat), "--n-mels", "40"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["features", "synthetic:4x3", "--out", str(feat), "--n-mels", "64"])
    assert res.exit_code == 2
    assert "n_mels=64 (the folder has 40)" in res.output and "Traceback" not in res.output
    assert sorted(p.name for p in feat.glob("mel-*")) == stores
