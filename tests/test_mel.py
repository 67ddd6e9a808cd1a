import librosa
import numpy as np
import pytest
import torch

from graham.audio import LogMel, MelConfig, mel_filterbank, power_to_db
from graham.errors import ParameterError
from graham.synth import synthesize_clip


@pytest.mark.parametrize("kw", [{}, {"htk": True}, {"n_mels": 64, "fmin": 30.0, "fmax": 8000.0}, {"norm": None},
                                {"n_fft": 1024, "n_mels": 96}])
def test_filterbank_equals_librosa(kw):
    ours = mel_filterbank(sr=22050, n_fft=kw.get("n_fft", 2048), **{k: v for k, v in kw.items() if k != "n_fft"})
    ref = librosa.filters.mel(sr=22050, n_fft=kw.get("n_fft", 2048), **{k: v for k, v in kw.items() if k != "n_fft"})
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-8)
    assert not ours.flags.writeable


def _librosa_db(y, **kw):
    cfg = MelConfig(**kw)
    S = librosa.feature.melspectrogram(y=y, sr=cfg.sr, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=cfg.n_mels,
                                       fmin=cfg.fmin, fmax=cfg.fmax, htk=cfg.htk, norm=cfg.norm, power=cfg.power,
                                       center=cfg.center, pad_mode=cfg.pad_mode)
    return librosa.power_to_db(S, ref=cfg.ref, amin=cfg.amin, top_db=cfg.top_db)


@pytest.mark.parametrize("genre", ["metal", "classical", "hiphop"])
def test_logmel_matches_librosa_within_001_db_on_music(genre):
    _, y = synthesize_clip(genre, 0, seconds=4.0)
    ref = _librosa_db(y)
    out = LogMel()(torch.from_numpy(y)).numpy()
    assert out.shape == ref.shape == (128, 1 + y.shape[0] // 512)
    assert np.abs(out - ref).max() < 0.01


@pytest.mark.parametrize("kw", [{"pad_mode": "reflect"}, {"center": False}, {"top_db": None}, {"power": 1.0},
                                {"htk": True, "n_mels": 40, "fmax": 8000.0}, {"sr": 16000, "n_fft": 512, "hop_length": 160}])
def test_logmel_matches_librosa_for_other_settings(kw):
    y = librosa.chirp(fmin=60, fmax=6000, sr=kw.get("sr", 22050), duration=2.0).astype(np.float32)
    y += 0.01 * np.random.default_rng(0).standard_normal(y.shape[0]).astype(np.float32)
    out = LogMel(MelConfig(**kw))(torch.from_numpy(y)).numpy()
    assert np.abs(out - _librosa_db(y, **kw)).max() < 0.01


def test_batch_equals_one_by_one_and_top_db_is_per_clip():
    rng = np.random.default_rng(1)
    ys = np.stack([rng.standard_normal(22050).astype(np.float32) * s for s in (1.0, 1e-3)])
    lm = LogMel()
    batch = lm(torch.from_numpy(ys))
    for i in range(2):
        torch.testing.assert_close(batch[i], lm(torch.from_numpy(ys[i])), atol=1e-4, rtol=0)
    assert batch.shape == (2, 128, 44)
    nested = lm(torch.from_numpy(ys).reshape(1, 2, -1))
    assert nested.shape == (1, 2, 128, 44)


def test_silence_gives_the_floor():
    out = LogMel()(torch.zeros(4096))
    assert torch.all(out == -100.0)


def test_power_to_db_matches_librosa():
    S = np.abs(np.random.default_rng(0).standard_normal((3, 5))).astype(np.float32) ** 4
    np.testing.assert_allclose(power_to_db(torch.from_numpy(S), ref=2.0, top_db=10.0).numpy(),
                               librosa.power_to_db(S, ref=2.0, top_db=10.0), atol=1e-4)


def test_config_validation_and_key():
    with pytest.raises(ParameterError):
        MelConfig(fmax=20000)
    with pytest.raises(ParameterError):
        MelConfig(pad_mode="wrap")
    with pytest.raises(ParameterError):
        MelConfig.from_dict({"n_mel": 3})
    assert MelConfig().key() == MelConfig.from_dict(MelConfig().to_dict()).key() != MelConfig(n_mels=64).key()
    assert MelConfig().n_frames(22050 * 30) == 1292
    with pytest.raises(ParameterError):
        LogMel(MelConfig(center=False))(torch.zeros(100))


def test_logmel_accepts_float64_and_int16_samples():
    import torch

    from graham.audio.mel import LogMel, MelConfig

    y = np.random.default_rng(0).normal(0, 0.1, 22050)
    m = LogMel(MelConfig())
    ref = m(torch.from_numpy(y.astype(np.float32)))
    torch.testing.assert_close(m(torch.from_numpy(y)), ref)
    pcm = (y * 32767).astype(np.int16)
    assert m(torch.from_numpy(pcm)).shape == ref.shape
    assert m.double()(torch.from_numpy(y)).dtype == torch.float64


def test_blocked_cpu_path_matches_librosa_across_block_boundaries(monkeypatch):
    """Blocks of 23 frames (173 frames: seven full blocks and a partial one), on a batch of two
    clips of different loudness, against librosa; and the autograd route (the whole clip at
    once) against librosa too."""
    monkeypatch.setattr(LogMel, "FRAME_BLOCK", 23)
    _, y = synthesize_clip("jazz", 3, seconds=4.0)
    ys = np.stack([y, 0.01 * y[::-1].copy()])
    out = LogMel()(torch.from_numpy(ys)).numpy()
    for i in range(2):
        assert np.abs(out[i] - _librosa_db(ys[i])).max() < 0.01
    x = torch.from_numpy(y).requires_grad_(True)
    with_grad = LogMel()(x)
    assert with_grad.requires_grad and np.abs(with_grad.detach().numpy() - _librosa_db(y)).max() < 0.01
