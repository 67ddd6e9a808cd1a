"""Long files in blocks: the streamed samples, log-mel frames and band statistics equal those
of the whole file, computed the plain way (load_audio, LogMel, band_statistics)."""

import numpy as np
import pytest
import soundfile as sf
import torch

from graham.audio import LogMel, MelConfig, load_audio
from graham.audio.bandstats import RunningBandStatistics, band_statistics
from graham.audio.stream import MelStream, file_mel_peak, stream_audio, stream_frames
from graham.errors import AudioError, ParameterError


def _signal(seconds, sr, seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    return (0.2 * rng.normal(size=n) * np.linspace(0.001, 1, n)).astype(np.float32)  # a wide dB range


@pytest.mark.parametrize("sr, fmt", [(22050, "WAV"), (44100, "FLAC"), (16000, "OGG")])
def test_streamed_samples_are_the_whole_files(tmp_path, sr, fmt):
    path = tmp_path / f"x.{fmt.lower()}"
    sf.write(str(path), _signal(20.0, sr), sr, format=fmt)
    whole = load_audio(path, sr=22050)
    blocks = list(stream_audio(path, sr=22050, block_seconds=3.3))
    assert len(blocks) > 5
    np.testing.assert_array_equal(np.concatenate(blocks), whole)


def test_streamed_log_mel_equals_the_whole_files_clip_included(tmp_path):
    """Frames across block boundaries, the zero padding at both ends, and the 80-dB clip
    below the file's loudest value (found by the first pass) as LogMel computes them."""
    path = tmp_path / "x.wav"
    y = _signal(31.0, 44100, seed=1)
    y[5 * 44100:7 * 44100] = 0  # silence: far below the clip
    sf.write(str(path), y, 44100)
    for config in (MelConfig(), MelConfig(n_mels=40, hop_length=300, n_fft=1024, sr=16000)):
        whole = LogMel(config)(torch.from_numpy(load_audio(path, sr=config.sr))).numpy()
        peak, samples = file_mel_peak(path, config, block_seconds=2.1)
        assert samples == len(load_audio(path, sr=config.sr))
        streamed = np.concatenate(list(stream_frames(path, config, peak_db=peak, block_seconds=2.1)), axis=1)
        assert streamed.shape == whole.shape
        np.testing.assert_allclose(streamed, whole, atol=1e-4)
        assert (np.abs(whole - (whole.max() - 80)) < 1e-3).any()  # the clip did bite: the test covers it


def test_mel_stream_refuses_what_it_cannot_reproduce():
    with pytest.raises(ParameterError, match="centred frames"):
        MelStream(MelConfig(pad_mode="reflect"))


def test_running_band_statistics_equal_the_whole_clips():
    m = np.random.default_rng(2).normal(-40, 12, (24, 1000)).astype(np.float32)
    for cuts in ([0, 1000], [0, 1, 2, 500, 1000], [0, 333, 334, 999, 1000]):
        r = RunningBandStatistics()
        for a, b in zip(cuts[:-1], cuts[1:]):
            r.update(m[:, a:b])
        np.testing.assert_allclose(r.result(), band_statistics(m), rtol=1e-5, atol=1e-4)


def test_a_corrupt_block_is_an_audio_error_naming_the_file(tmp_path):
    path = tmp_path / "nan.wav"
    y = _signal(10.0, 22050)
    y[200000] = np.nan
    sf.write(str(path), y, 22050, subtype="FLOAT")
    with pytest.raises(AudioError, match="nan.wav: contains NaN"):
        list(stream_audio(path, sr=22050, block_seconds=2.0))
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError, match="empty file"):
        list(stream_audio(tmp_path / "empty.wav", sr=22050))
