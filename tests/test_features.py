import numpy as np
import pytest
import torch

from graham.audio import LogMel, MelConfig, load_audio
from graham.data import FeatureStore, read_gtzan
from graham.io import save_npy, write_json

from conftest import tone, write


def test_extract_caches_and_skips_bad_files_by_name(gtzan_dir, tmp_path, caplog):
    corpus = read_gtzan(gtzan_dir, check_headers=False)  # let the broken file reach the extractor
    store = FeatureStore(tmp_path / "feat")
    fs = store.extract(corpus, progress=False)
    assert len(fs) == 6 and len(fs.corpus) == 6
    assert [s.path.endswith("jazz.00054.wav") for s in fs.failed] == [True]
    assert any(s.path.endswith("jazz.00054.wav") for s in fs.corpus.skipped)
    assert "jazz.00054.wav" in caplog.text
    mel = fs[0]
    expected = LogMel()(torch.from_numpy(load_audio(fs.corpus.clips[0].path))).numpy()
    np.testing.assert_allclose(mel, expected, atol=1e-4)
    mtimes = [p.stat().st_mtime_ns for p in fs.paths]
    again = store.extract(corpus, progress=False)
    assert [p.stat().st_mtime_ns for p in again.paths] == mtimes  # cache hit: nothing rewritten


def test_corrupt_entry_is_recomputed(tmp_path):
    wav = write(tmp_path / "a.wav", tone(1.0))
    store = FeatureStore(tmp_path / "feat")
    entry = store.get(wav)
    good = np.load(entry)
    entry.write_bytes(entry.read_bytes()[:100])  # truncated
    assert store.get(wav) == entry
    np.testing.assert_array_equal(np.load(entry), good)
    save_npy(entry, np.full((3, 3), np.nan, np.float32))  # wrong shape and NaN
    store.get(wav)
    np.testing.assert_array_equal(np.load(entry), good)


def test_key_follows_content_and_settings(tmp_path):
    wav = write(tmp_path / "a.wav", tone(1.0))
    store = FeatureStore(tmp_path / "feat")
    e1 = store.get(wav)
    write(wav, tone(1.0, freq=880))
    e2 = store.get(wav)
    assert e1 != e2 and e1.exists()
    e3 = FeatureStore(tmp_path / "feat", MelConfig(n_mels=64)).get(wav)
    assert e3.parent.parent != e2.parent.parent and np.load(e3).shape[0] == 64


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
    from graham.data.features import MelSequence, take
    from graham.nn import PRESETS, SiameseNet
    from graham.pipeline import load_features
    from graham.train.siamese import embed_clips

    for k in range(12):
        genre = "rock" if k % 2 else "jazz"
        write(tmp_path / "g" / genre / f"{genre}.{k:05d}.wav", tone(2.0, freq=150.0 + 40 * k))
    fs = FeatureStore(tmp_path / "feat").extract(read_gtzan(tmp_path / "g"), progress=False)
    mels = load_features(fs)
    assert isinstance(mels, MelSequence) and len(mels) == 12
    torch.manual_seed(0)
    model = SiameseNet(PRESETS["cpu"])
    emb = embed_clips(model, mels, crop_frames=43, batch_size=8)
    assert emb.shape == (12, 128) and np.isfinite(emb).all()
    sub = take(mels, [3, 5])
    assert isinstance(sub, MelSequence) and np.array_equal(sub[1], fs[5])
    assert _mappings_under(tmp_path / "feat") == 0
    held = [np.load(p, mmap_mode="r") for p in fs.paths]  # the old way: one mapping per clip, for as long as held
    assert _mappings_under(tmp_path / "feat") == 12
    del held
    # the lazy sequence embeds exactly as arrays in memory would
    np.testing.assert_allclose(emb, embed_clips(model, [fs[i] for i in range(12)], crop_frames=43, batch_size=8),
                               rtol=1e-5, atol=1e-6)
    assert len(window_starts(fs[0].shape[-1], 43, 21)) > 1  # sanity: each clip has several windows
