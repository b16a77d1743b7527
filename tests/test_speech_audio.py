"""Audio reading, resampling, log-mel features, SpecAugment and noise, each against an
independent computation; every bad input is one clear error. Files are written in the test."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from rnnkit.data import audio
from rnnkit.data.transcripts import Clip, normalise_text, read_transcript
from rnnkit.errors import RnnkitError
from tests.speech_data import write_tone_corpus


def sine(freq: float, rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
@pytest.mark.parametrize("freq", [440.0, 3000.0])
def test_resampling_a_sine_keeps_its_frequency_and_duration(rate, freq):
    y = audio.resample(sine(freq, rate), rate, 16000)
    assert abs(len(y) - 16000) <= 1  # one second stays one second
    assert abs(peak_hz(y, 16000) - freq) <= 1.0  # FFT bins are 1 Hz wide here
    core = y[2000:-2000]  # away from the filter's edge transients
    assert np.sqrt(np.mean(core**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_resampling_removes_what_16_khz_cannot_hold():
    y = audio.resample(sine(11000.0, 44100), 44100, 16000)  # above the new Nyquist (8 kHz)
    assert np.sqrt(np.mean(y[2000:-2000] ** 2)) < 0.01  # would alias to 5 kHz if not filtered


def numpy_log_mel(x: np.ndarray, n_mels: int, rate: int = 16000) -> np.ndarray:
    """The module docstring's formulas written out independently (loops, numpy's FFT)."""
    win, hop, n_fft = 400, 160, 512
    n = np.arange(win)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * n / win)  # periodic Hann
    frames = 1 + (max(len(x), win) - win) // hop
    x = np.concatenate([x, np.zeros(win + hop * frames)])
    power = np.stack(
        [np.abs(np.fft.rfft(x[t * hop : t * hop + win] * w, n_fft)) ** 2 for t in range(frames)]
    )  # (T, 257)

    def mel(f):
        return 2595 * np.log10(1 + f / 700)

    def hz(m):
        return 700 * (10 ** (m / 2595) - 1)

    edges = hz(np.linspace(mel(20.0), mel(rate / 2), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1) * rate / n_fft
    bank = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        for k, f in enumerate(freqs):
            if lo < f <= mid:
                bank[m, k] = (f - lo) / (mid - lo)
            elif mid < f < hi:
                bank[m, k] = (hi - f) / (hi - mid)
    return np.log(power @ bank.T + 1e-6)  # (T, n_mels)


@pytest.mark.parametrize("n_mels", [40, 80])
def test_log_mel_matches_an_independent_numpy_computation(n_mels):
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(7777) + sine(700.0, 16000)[:7777]).astype(np.float32)
    ours = audio.log_mel(x, n_mels).numpy()
    ref = numpy_log_mel(x.astype(np.float64), n_mels)
    assert ours.shape == ref.shape == (audio.num_frames(7777), n_mels)
    np.testing.assert_allclose(ours, ref, atol=2e-3, rtol=1e-4)  # float32 vs float64


def test_log_mel_frame_count_and_a_tone_lands_in_its_band():
    assert audio.num_frames(100) == 1 and audio.num_frames(400) == 1
    assert audio.num_frames(16000) == 98  # 1 + (16000 - 400) // 160
    feats = audio.log_mel(sine(1000.0, 16000), 40)
    centres = audio.mel_matrix(40).argmax(1) * 16000 / 512  # (40,) each band's peak in Hz
    assert abs(float(centres[int(feats.mean(0).argmax())]) - 1000) < 120


def test_features_are_normalised_per_utterance():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(16000) * np.linspace(0.01, 1, 16000)  # loudness changes over time
    feats = audio.features(x.astype(np.float32))
    assert feats.mean(0).abs().max() < 1e-4
    assert torch.allclose(feats.std(0, unbiased=False), torch.ones(40), atol=1e-3)
    for steady in (sine(500.0, 16000), np.zeros(16000, dtype=np.float32)):
        flat = audio.features(steady)  # constant bands: centred, not blown up
        assert flat.abs().max() < 0.1


def test_spec_augment_masks_inside_each_row_and_draws_from_the_generator():
    x = torch.ones(4, 50, 40)
    lengths = torch.tensor([50, 30, 10, 5])
    out = audio.spec_augment(x, lengths, generator=torch.Generator().manual_seed(1))
    again = audio.spec_augment(x, lengths, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, again) and out.shape == x.shape
    masked_bands = (out == 0).all(1)  # (B, F): bands masked over the whole row
    assert int(masked_bands.sum(1).max()) <= 2 * 8
    masked_frames = (out == 0).all(2)  # (B, T)
    for r, n in enumerate(lengths.tolist()):  # time masks: at most 2 x 20% of the row
        assert int(masked_frames[r].sum()) <= 2 * int(0.2 * n)
    assert (out == 0).any()  # some mask was drawn
    assert torch.equal(x, torch.ones(4, 50, 40))  # the input is not changed in place


@pytest.mark.parametrize("kind", audio.NOISES)
def test_noise_is_mixed_at_the_asked_snr(kind):
    rng = np.random.default_rng(3)
    signal = sine(300.0, 16000) * 0.3
    noise = audio.make_noise(kind, len(signal), rng)
    assert noise.std() == pytest.approx(1.0, rel=1e-3)
    mixed = audio.mix_at_snr(signal, noise, 10.0)
    residual = mixed - signal
    snr = 10 * np.log10(np.mean(signal**2) / np.mean(residual**2))
    assert snr == pytest.approx(10.0, abs=0.01)
    power = np.abs(np.fft.rfft(noise)) ** 2  # (8001,), 1 Hz bins
    octaves = [power[lo : 2 * lo].mean() for lo in (16, 32, 64, 128, 256, 512, 1024, 2048)]
    slope = np.polyfit(np.log2([16, 32, 64, 128, 256, 512, 1024, 2048]), np.log2(octaves), 1)[0]
    expected = {"white": 0.0, "pink": -1.0, "brown": -2.0}[kind]  # power ~ f^slope
    assert slope == pytest.approx(expected, abs=0.15)


# -- reading files, and every bad input one clear error ------------------------------------------


def test_stereo_is_mixed_down_and_8_khz_is_resampled(tmp_path):
    left, right = sine(440.0, 8000), sine(1200.0, 8000)
    sf.write(tmp_path / "s.wav", np.stack([left, right], 1), 8000)
    x = audio.read_audio(tmp_path / "s.wav")
    assert x.dtype == np.float32 and x.ndim == 1 and abs(len(x) - 16000) <= 1
    expected = audio.resample((left + right) / 2, 8000)
    np.testing.assert_allclose(x, expected, atol=1e-4)  # the mean of the channels (16-bit file)


@pytest.mark.parametrize("suffix,fmt", [(".flac", "FLAC"), (".ogg", "OGG")])
def test_flac_and_ogg_are_read(tmp_path, suffix, fmt):
    sf.write(tmp_path / f"a{suffix}", sine(440.0, 22050), 22050, format=fmt)
    x = audio.read_audio(tmp_path / f"a{suffix}")
    assert abs(len(x) - 16000) <= 2 and abs(peak_hz(x, 16000) - 440) <= 1.5


def test_bad_audio_files_are_one_line_errors(tmp_path):
    (tmp_path / "text.wav").write_text("this is not audio\n")
    with pytest.raises(RnnkitError, match="not an audio file soundfile can read"):
        audio.read_audio(tmp_path / "text.wav")
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(RnnkitError, match=r"holds no audio \(0 s\)"):
        audio.read_audio(tmp_path / "empty.wav")
    with pytest.raises(RnnkitError, match="no such audio file"):
        audio.read_audio(tmp_path / "missing.wav")
    bad = sine(440.0, 16000)
    bad[10] = np.nan
    sf.write(tmp_path / "nan.wav", bad, 16000, subtype="FLOAT")
    with pytest.raises(RnnkitError, match="NaN"):
        audio.read_audio(tmp_path / "nan.wav")


def test_a_ten_minute_file_is_refused_over_the_limit_and_cut_at_pauses(tmp_path):
    rng = np.random.default_rng(0)
    speechy = [
        np.concatenate([sine(300.0, 16000, rng.uniform(1, 3)), np.zeros(4000)]) for _ in range(320)
    ]  # fmt: skip  tones with pauses between
    x = np.concatenate(speechy)[: 600 * 16000].astype(np.float32)
    sf.write(tmp_path / "long.wav", x, 16000, subtype="PCM_16")
    with pytest.raises(RnnkitError, match="600 s long; at most 60 s"):
        audio.read_audio(tmp_path / "long.wav", max_seconds=60)
    y = audio.read_audio(tmp_path / "long.wav")
    pieces = audio.chunk(y, 20.0)
    assert sum(len(p) for p in pieces) == len(y) and len(pieces) >= 30
    assert max(len(p) for p in pieces) <= 20 * 16000
    cuts = np.cumsum([len(p) for p in pieces])[:-1]
    assert all(np.abs(y[c - 40 : c + 40]).max() < 0.01 for c in cuts)  # each cut in a pause


def test_transcript_tables_and_text_normalisation(tmp_path):
    for table in ("transcript.tsv", "t.csv", "t.jsonl"):
        d = tmp_path / table.replace(".", "_")
        path = write_tone_corpus(d, n=3, table=table)
        clips, skipped = read_transcript(path)
        assert len(clips) == 3 and skipped == 0 and isinstance(clips[0], Clip)
        assert all(clip.path.startswith(str(d)) for clip in clips)
    clips, _ = read_transcript(tmp_path / "transcript_tsv")  # a folder holding the table
    assert len(clips) == 3
    (tmp_path / "bad.tsv").write_text("path\ttext\nnowhere.wav\thello\n")
    with pytest.raises(RnnkitError, match="'nowhere.wav' is not there"):
        read_transcript(tmp_path / "bad.tsv")
    assert normalise_text("  Una moneda de 1 centavo ($0,01), «peñique»! It’s ") == (
        "una moneda de 1 centavo 0 01 peñique it's"
    )
