"""ei_zoo.network.responses: streamed moments and the measures of known neurons."""

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from ei_zoo.analysis import (
    RunningMoments,
)
from ei_zoo.network.responses import OPTIONS, all_responses


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.lists(st.integers(1, 40), min_size=1, max_size=6),
       st.sampled_from(["normal", "exponential", "sparse"]))
def test_streamed_skewness_equals_scipy(seed, batch_sizes, kind):
    rng = np.random.default_rng(seed)
    total = sum(batch_sizes)
    draws = {"normal": lambda: rng.normal(3.0, 2.0, (total, 5)),
             "exponential": lambda: rng.exponential(1.0, (total, 5)) + 100.0,
             "sparse": lambda: rng.exponential(1.0, (total, 5)) * (rng.random((total, 5)) < 0.2)}
    responses = draws[kind]().astype(np.float32)
    moments = RunningMoments(5)
    for chunk in np.split(responses, np.cumsum(batch_sizes)[:-1]):
        moments.update(chunk)
    r = responses.astype(np.float64)
    live = ~moments.silent
    expected_skew = scipy.stats.skew(r, axis=0, bias=True)
    finite = np.isfinite(expected_skew) & live
    np.testing.assert_allclose(moments.skewness()[finite], expected_skew[finite], rtol=1e-6,
                               atol=1e-6)
    expected_kurtosis = scipy.stats.kurtosis(r, axis=0, bias=True)
    finite = np.isfinite(expected_kurtosis) & live
    np.testing.assert_allclose(moments.kurtosis()[finite], expected_kurtosis[finite],
                               rtol=1e-6, atol=1e-6)
    with np.errstate(invalid="ignore", divide="ignore"):
        sparseness = (1 - r.mean(0) ** 2 / (r**2).mean(0)) / (1 - 1 / total)
    np.testing.assert_allclose(moments.lifetime_sparseness()[live], sparseness[live],
                               rtol=1e-6, atol=1e-9)
    assert moments.positive.tolist() == (r > 0).sum(axis=0).tolist()


N_IMAGES = 10_000


def _moments(*columns) -> RunningMoments:
    """Streamed statistics of hand-made response columns, in batches of 250 images."""
    responses = np.stack(columns, axis=1)
    moments = RunningMoments(responses.shape[1])
    for batch in np.split(responses, len(responses) // 250):
        moments.update(batch)
    return moments


def test_measures_of_known_neurons():
    """A one-hot neuron, a uniform one and a Gaussian one, against their closed forms."""
    n = N_IMAGES
    one_hot = np.zeros(n)
    one_hot[1234] = 3.0
    uniform = np.linspace(0.0, 1.0, n)
    gaussian = np.random.default_rng(0).normal(5.0, 1.0, n)
    moments = _moments(one_hot, uniform, gaussian)
    skewness, kurtosis = moments.skewness(), moments.kurtosis()
    sparseness = moments.lifetime_sparseness()
    # One image in N: Bernoulli(1/N) moments, whatever the height of the response.
    p = 1 / n
    assert skewness[0] == pytest.approx((1 - 2 * p) / np.sqrt(p * (1 - p)), rel=1e-9)
    assert kurtosis[0] == pytest.approx((1 - 6 * p * (1 - p)) / (p * (1 - p)), rel=1e-9)
    assert sparseness[0] == pytest.approx(1.0)
    # Uniform on [0, 1]: no skew, excess kurtosis -6/5, mean r^2 = 1/3, so S = 1/4.
    assert skewness[1] == pytest.approx(0.0, abs=1e-9)
    assert kurtosis[1] == pytest.approx(-1.2, abs=1e-3)
    assert sparseness[1] == pytest.approx(0.25, abs=1e-3)
    # Gaussian N(5, 1): skew and excess kurtosis near 0, S = 1 - 25/26.
    assert abs(skewness[2]) < 0.1 and abs(kurtosis[2]) < 0.2
    assert sparseness[2] == pytest.approx(1 / 26, rel=0.05)
    for measured, direct in ((skewness, scipy.stats.skew), (kurtosis, scipy.stats.kurtosis)):
        expected = direct(np.stack([one_hot, uniform, gaussian], axis=1), axis=0, bias=True)
        np.testing.assert_allclose(measured, expected, rtol=1e-7, atol=1e-9)


def test_near_silent_rule():
    """Fewer than 1% of the images with a rate > 0 is near-silent; exactly 1% is not; a
    silent (constant) neuron is counted as silent only."""
    n = N_IMAGES
    columns = []
    for responding in (1, n // 100 - 1, n // 100, n):
        column = np.zeros(n)
        column[:responding] = np.linspace(1.0, 2.0, responding)
        columns.append(column)
    columns += [np.zeros(n), np.full(n, 0.25)]
    moments = _moments(*columns)
    assert moments.near_silent.tolist() == [True, True, False, False, False, False]
    assert moments.silent.tolist() == [False] * 4 + [True, True]
    assert moments.positive.tolist() == [1, 99, 100, n, 0, n]
    assert np.isnan(moments.kurtosis()[4:]).all()
    assert np.isnan(moments.lifetime_sparseness()[4:]).all()


def test_all_responses_are_the_four_options():
    rates = np.random.default_rng(1).uniform(size=(5, 3, 4, 4, 2))
    options = all_responses(rates)
    assert set(options) == set(OPTIONS)
    np.testing.assert_allclose(options[("last", "mean")], rates[:, -1].mean(axis=(1, 2)))
    np.testing.assert_allclose(options[("mean", "centre")], rates.mean(axis=1)[:, 2, 2])


def test_moments_columns_are_independent_statistics():
    responses = np.random.default_rng(2).exponential(size=(500, 6))
    together = _moments(*responses.T)
    part = together.columns(2, 5)
    alone = RunningMoments(3)
    alone.update(responses[:, 2:5])
    for name in ("mean", "m2", "m3", "m4", "positive"):
        np.testing.assert_allclose(getattr(part, name), getattr(alone, name), rtol=1e-12)
    assert part.count == alone.count == 500


def test_zero_variance_neuron_is_silent():
    moments = RunningMoments(3)
    for _ in range(4):
        batch = np.random.default_rng(0).normal(size=(10, 3))
        batch[:, 1] = 0.0
        batch[:, 2] = 0.25
        moments.update(batch)
    assert moments.silent.tolist() == [False, True, True]
    assert np.isnan(moments.skewness()[1:]).all()
