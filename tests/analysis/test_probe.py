"""Linear probes with label-shuffled controls, on synthetic data whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, special

from alignlab._errors import AlignlabError
from alignlab.analysis import (
    binomial_interval,
    fit_linear_probe,
    probe_accuracy,
    probe_with_control,
    shuffled_labels,
)

WIDTH = 300
"""Wider than the training set, as a residual stream is: any labelling can be fitted."""


def _data(n: int, signal: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian features with large random offsets per feature; class shifts 5 features."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    features = rng.normal(size=(n, WIDTH)) * 3.0 + np.linspace(-50, 50, WIDTH)
    features[:, :5] += np.where(labels[:, None] == 1, signal, -signal)
    return features, labels


def test_separable_data_is_found_and_the_controls_stay_at_chance() -> None:
    train_x, train_y = _data(80, 4.0, seed=1)
    test_x, test_y = _data(80, 4.0, seed=2)
    result = probe_with_control(train_x, train_y, test_x, test_y)
    assert result.train_accuracy == 1.0
    assert result.heldout.value >= 0.9
    assert result.heldout.ci_low > 0.8 and result.heldout.n == 80
    # the controls memorise their random labels as well as the probe fits the true ones ...
    assert result.control_train_accuracy == 1.0
    # ... and know nothing on held-out data
    assert 0.4 <= result.control_heldout.mean <= 0.6
    assert result.control_heldout.high < result.heldout.value
    assert result.control_heldout.n_controls == 10
    assert result.chance == 0.5


def test_features_without_signal_give_chance_even_though_training_is_perfect() -> None:
    train_x, train_y = _data(80, 0.0, seed=3)
    test_x, test_y = _data(80, 0.0, seed=4)
    result = probe_with_control(train_x, train_y, test_x, test_y)
    assert result.train_accuracy == 1.0  # memorised
    assert result.heldout.ci_low <= 0.5 <= result.heldout.ci_high
    assert 0.35 <= result.control_heldout.mean <= 0.65


def test_the_fit_is_the_full_dimensional_optimum() -> None:
    """The row-space shortcut finds the same weights as optimising all WIDTH weights."""
    x, y = _data(40, 1.0, seed=5)
    probe = fit_linear_probe(x, y, l2=1.0)
    standard = (x - probe.center) / probe.scale

    def loss_and_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = params[:WIDTH], params[WIDTH]
        logits = standard @ w + b
        loss = float(np.sum(np.logaddexp(0, logits) - y * logits) + 0.5 * w @ w)
        residual = special.expit(logits) - y
        return loss, np.concatenate([standard.T @ residual + w, [residual.sum()]])

    full = optimize.minimize(
        loss_and_grad, np.zeros(WIDTH + 1), jac=True, method="L-BFGS-B", options={"maxiter": 5000}
    )
    ours = loss_and_grad(np.concatenate([probe.weights, [probe.bias]]))[0]
    assert ours == pytest.approx(full.fun, rel=1e-6)
    np.testing.assert_allclose(probe.weights, full.x[:WIDTH], atol=1e-4)


def test_shuffled_labels_carry_nothing_about_the_true_ones() -> None:
    labels = np.array([0] * 10 + [1] * 10)
    for seed in range(5):
        control = shuffled_labels(labels, seed)
        assert control.sum() == 10
        assert (control == labels).sum() == 10  # agrees on exactly half
    assert not np.array_equal(shuffled_labels(labels, 0), shuffled_labels(labels, 1))
    odd = shuffled_labels(np.array([0, 0, 0, 1, 1, 1, 1]), 0)
    assert odd.sum() in (3, 4)


def test_binomial_interval_is_clopper_pearson() -> None:
    none = binomial_interval(0, 10)
    assert none.value == 0.0 and none.ci_low == 0.0
    assert none.ci_high == pytest.approx(1 - 0.025 ** (1 / 10))
    half = binomial_interval(40, 80)
    assert half.ci_low < 0.5 < half.ci_high and half.n == 80
    with pytest.raises(AlignlabError):
        binomial_interval(11, 10)


def test_probe_accuracy_counts_correct_predictions() -> None:
    x, y = _data(40, 3.0, seed=6)
    probe = fit_linear_probe(x, y)
    flipped = probe_accuracy(probe, x, 1 - y)
    assert flipped.value == 1.0 - probe_accuracy(probe, x, y).value


def test_bad_input_is_one_line() -> None:
    x, y = _data(10, 1.0, seed=7)
    with pytest.raises(AlignlabError, match="both classes"):
        fit_linear_probe(x, np.zeros(10))
    with pytest.raises(AlignlabError, match="0 or 1"):
        fit_linear_probe(x, y + 1)
    with pytest.raises(AlignlabError, match="9 labels for 10"):
        fit_linear_probe(x, y[:9])
    x[0, 0] = np.nan
    with pytest.raises(AlignlabError, match="NaN"):
        fit_linear_probe(x, y)
    with pytest.raises(AlignlabError, match="at least one control"):
        probe_with_control(x, y, x, y, n_controls=0)
