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
