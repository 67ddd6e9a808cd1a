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


@pytest.mark.parametrize("kw", [{"pad_mode": "reflect"}, {"center": False}, {"top_db": None}, {"power": 1.0}, {"ref": 2.0},
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
    blocked = LogMel()
    blocked.use_fft_kernel = False  # MKL's FFT in blocks, not the fused kernel (which has no blocks)
    out = blocked(torch.from_numpy(ys)).numpy()
    for i in range(2):
        assert np.abs(out[i] - _librosa_db(ys[i])).max() < 0.01
    x = torch.from_numpy(y).requires_grad_(True)
    with_grad = LogMel()(x)
    assert with_grad.requires_grad and np.abs(with_grad.detach().numpy() - _librosa_db(y)).max() < 0.01


def _dense_mel_power_f64(y, cfg):
    """The mel power from the formula, in float64: zero-padded centred frames, periodic Hann,
    |rfft|^power, times the filterbank (librosa's filterbank, not ours)."""
    half = cfg.n_fft // 2
    yp = np.pad(y.astype(np.float64), (half, half)) if cfg.center else y.astype(np.float64)
    n = 1 + (yp.shape[0] - cfg.n_fft) // cfg.hop_length
    frames = np.stack([yp[i * cfg.hop_length:i * cfg.hop_length + cfg.n_fft] for i in range(n)])
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(cfg.n_fft) / cfg.n_fft)
    spec = np.abs(np.fft.rfft(frames * window, axis=-1)) ** cfg.power
    fb = librosa.filters.mel(sr=cfg.sr, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax, htk=cfg.htk,
                             norm=cfg.norm, dtype=np.float64)
    return (spec @ fb.T).T


@pytest.mark.parametrize("kw", [{}, {"power": 1.0}, {"n_fft": 2047, "hop_length": 500}, {"n_fft": 512, "hop_length": 128,
                                                                                        "n_mels": 40, "htk": True}])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cpu_kernel_equals_the_formula_in_float64(kw, dtype):
    """The compiled kernel (Hann applied in frequency, runs of bins, tiles of frames) against a
    dense float64 computation from the definitions: catches a wrong window tap, a wrong mirror
    bin at either end (odd n_fft included), a dropped or doubled band weight, a tile edge.
    (MKL's FFT feeds it here: the fused kernel, which would take float32, is switched off.)"""
    from graham.audio import melkernel

    cfg = MelConfig(**kw)
    _, y = synthesize_clip("rock", 1, seconds=3.0)
    m = LogMel(cfg) if dtype == torch.float32 else LogMel(cfg).double()
    m.use_fft_kernel = False
    assert m._runs is not None  # the kernel applies to every triangular filterbank here
    got = m.mel_power(torch.from_numpy(y).to(dtype)).numpy()
    ref = _dense_mel_power_f64(y, cfg)
    tol = 2e-5 if dtype == torch.float32 else 1e-6  # float64: the filterbank itself is float32
    assert got.shape == ref.shape and np.abs(got - ref).max() <= tol * ref.max()
    assert melkernel.TILE < got.shape[1]  # more than one tile, the last one partial


@pytest.mark.parametrize("kw", [{}, {"power": 1.0, "hop_length": 1024}, {"n_fft": 1024, "hop_length": 256},
                                {"n_fft": 512, "hop_length": 128, "n_mels": 40, "htk": True},
                                {"n_fft": 1024, "hop_length": 300}, {"n_fft": 256, "hop_length": 400, "n_mels": 20},
                                {"center": False}, {"n_fft": 65536, "hop_length": 8192}])
def test_fft_kernel_equals_the_formula_in_float64(kw):
    """The fused kernel (its own FFT with the frames in SIMD lanes, the real-spectrum split, the
    window applied to the samples) against a dense float64 computation from the definitions.
    The sizes cover a last radix-2 stage (n_fft 1024: 512 = 4^4 x 2), radix 4 only (2048,
    512), every stage written out (65536), a hop that does not divide n_fft, a hop longer than
    n_fft and uncentred frames; 3.1 s gives a partial last tile. Catches a wrong twiddle, stage order or bin of the split, a lane
    that reads the wrong frame, a tile edge."""
    from graham.audio import stftkernel

    cfg = MelConfig(**kw)
    assert stftkernel.applies(cfg.n_fft, cfg.hop_length)
    _, y = synthesize_clip("rock", 1, seconds=3.1)
    m = LogMel(cfg)
    calls = []
    real = stftkernel.stft_mel_power
    with pytest.MonkeyPatch.context() as mp:  # the fused kernel, not a fallback, is under test
        mp.setattr(stftkernel, "stft_mel_power", lambda *a, **k: calls.append(1) or real(*a, **k))
        got = m.mel_power(torch.from_numpy(y)).numpy()
    assert calls
    ref = _dense_mel_power_f64(y, cfg)
    assert got.shape == ref.shape and np.abs(got - ref).max() <= 2e-5 * ref.max()
    if not kw:
        assert got.shape[1] % stftkernel.LANES and got.shape[1] > stftkernel.LANES


def test_fft_kernel_threads_agree_and_pads_centred_frames_itself():
    """One thread, two and four Python threads at once give the same bits (the parallel build
    runs in all three); the serial build, for forked children, agrees to rounding. A negative
    ``start`` (centred frames, zeros outside the signal) equals the kernel on the zero-padded
    signal, bit for bit. A strided signal is copied, not misread."""
    from concurrent.futures import ThreadPoolExecutor

    from graham.audio import melkernel, stftkernel

    _, y = synthesize_clip("disco", 2, seconds=6.0)
    lm = LogMel()
    frames = 1 + y.shape[0] // 512

    def run(threads, signal=y, start=-1024):
        out = np.zeros((128, frames), np.float32)
        peak = stftkernel.stft_mel_power(signal, lm._runs, n_fft=2048, hop=512, power=2.0, out=out, threads=threads,
                                         start=start)
        return out, peak

    serial, peak = run(1)
    assert peak == serial.max()
    np.testing.assert_array_equal(run(2, np.pad(y, 1024), 0)[0], serial)
    np.testing.assert_array_equal(run(2)[0], serial)
    with ThreadPoolExecutor(4) as pool:
        for out, _ in pool.map(run, [2, 2, 1, 2]):
            np.testing.assert_array_equal(out, serial)
    with pytest.MonkeyPatch.context() as mp:  # as in a forked child: the serial build, same to rounding
        mp.setattr(melkernel, "_pid", -1)
        np.testing.assert_allclose(run(2)[0], serial, rtol=1e-5, atol=1e-7 * serial.max())
    with pytest.raises(ValueError, match="contiguous"):
        run(1, np.repeat(y, 2)[::2])

    doubled = torch.from_numpy(np.repeat(y, 2))[::2]  # the same samples, stride 2
    for cfg in (MelConfig(), MelConfig(center=False)):
        m = LogMel(cfg)
        np.testing.assert_array_equal(m.mel_power(doubled).numpy(), m.mel_power(torch.from_numpy(y)).numpy())


def test_kernel_threads_and_python_threads_give_identical_output():
    """One thread (the serial build), two threads (the parallel build) and four Python threads
    calling at once must agree bit for bit: each tile is computed the same way wherever it runs."""
    from concurrent.futures import ThreadPoolExecutor

    from graham.audio import melkernel

    _, y = synthesize_clip("disco", 2, seconds=6.0)
    lm = LogMel()
    frames = lm._frames(torch.from_numpy(y)[None])[0]
    spec = torch.view_as_real(torch.fft.rfft(frames)).numpy().reshape(frames.shape[0], -1)

    def run(threads):
        out = np.zeros((128, frames.shape[0]), np.float32)
        peak = melkernel.hann_mel_power(spec, lm._runs, n_fft=2048, power=2.0, out=out, start=0, threads=threads)
        return out, peak

    serial, peak = run(1)
    assert peak == serial.max()
    np.testing.assert_array_equal(run(2)[0], serial)
    with ThreadPoolExecutor(4) as pool:
        for out, _ in pool.map(run, [2, 2, 1, 2]):
            np.testing.assert_array_equal(out, serial)


def test_filterbank_without_two_neighbour_structure_falls_back_to_torch():
    """``band_runs`` must refuse a bank where a bin feeds three bands (the kernel would drop
    one); such a LogMel then runs the torch path and still matches the dense formula."""
    from graham.audio.melkernel import band_runs

    fb = np.zeros((3, 6), np.float32)
    fb[0, 1:4] = fb[1, 2:5] = fb[2, 3:6] = 1.0  # bin 3 feeds all three
    assert band_runs(fb) is None
    good = band_runs(mel_filterbank(sr=22050, n_fft=2048))
    assert good is not None and good.starts.shape == good.ends.shape == good.bands.shape
    assert np.all(good.ends > good.starts) and np.all(np.diff(good.bands) > 0)

    m = LogMel()
    m._runs = None
    _, y = synthesize_clip("jazz", 0, seconds=2.0)
    out = m.mel_power(torch.from_numpy(y)).numpy()
    ref = _dense_mel_power_f64(y, MelConfig())
    assert np.abs(out - ref).max() <= 2e-5 * ref.max()


def test_serial_kernel_when_numba_threads_are_unsafe(monkeypatch):
    """numba's fallback threading layer (workqueue) aborts the process on concurrent calls, and
    GNU OpenMP is not fork-safe: then the kernel must run on one thread."""
    import numba

    from graham.audio import melkernel

    monkeypatch.setattr(melkernel, "_layer_ok", None)
    monkeypatch.setattr(numba.config, "THREADING_LAYER", "workqueue")
    assert melkernel._threads(2) == 1
    monkeypatch.setattr(melkernel, "_layer_ok", True)
    monkeypatch.setattr(melkernel, "_pid", -1)  # as in a forked child
    assert melkernel._threads(2) == 1

