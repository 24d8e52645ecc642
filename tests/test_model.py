"""The linear softmax model: loss, gradient and initialisation, checked against direct formulas."""

from __future__ import annotations

import numpy as np
import pytest

from mnistpad.model import LinearModel, confusion_matrix, cross_entropy, log_softmax, softmax


def random_model(rng, n_in=784, n_out=10, dtype=np.float64) -> LinearModel:
    return LinearModel(
        W=rng.normal(0, 0.1, size=(n_out, n_in)).astype(dtype),
        b=rng.normal(0, 0.1, n_out).astype(dtype),
    )


def test_loss_matches_the_direct_formula_on_small_logits():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, size=(7, 10))
    labels = rng.integers(0, 10, size=7)
    direct = -np.log(np.exp(logits[np.arange(7), labels]) / np.exp(logits).sum(axis=1))
    np.testing.assert_allclose(cross_entropy(logits, labels), direct, rtol=1e-12)


def test_huge_logits_give_finite_exact_losses_and_probabilities():
    logits = np.array([[1000.0, 0.0, -1000.0], [-5e4, -5e4 + 3, -5e4], [3e38, 3e38, 0.0]])
    labels = np.array([0, 0, 2])
    losses = cross_entropy(logits, labels)
    assert np.isfinite(losses).all()
    np.testing.assert_allclose(losses[:2], [0.0, np.log(2 + np.exp(3))], rtol=1e-12, atol=1e-300)
    assert losses[2] > 1e38  # the gold class is hopeless, and the loss says so without overflowing
    probabilities = softmax(logits)
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(log_softmax(logits)), probabilities, atol=1e-300)


def test_float32_logits_past_exp_range_do_not_overflow():
    logits = np.array([[200.0, 100.0, 0.0]], dtype=np.float32)  # exp(200) overflows float32
    assert np.isfinite(cross_entropy(logits, np.array([1]))).all()
    np.testing.assert_allclose(softmax(logits)[0, 0], 1.0)


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    model = random_model(rng, n_in=12, n_out=4)
    images = rng.uniform(0, 1, size=(5, 12))
    labels = rng.integers(0, 4, size=5)
    _, dW, db = model.gradients(images, labels)
    eps = 1e-6
    for array, grad in ((model.W, dW), (model.b, db)):
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            saved = array[index]
            array[index] = saved + eps
            up = model.loss(images, labels)
            array[index] = saved - eps
            down = model.loss(images, labels)
            array[index] = saved
            numeric[index] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_gradient_is_softmax_minus_onehot_times_input():
    rng = np.random.default_rng(3)
    model = random_model(rng)
    x = rng.uniform(0, 1, size=(1, 784))
    loss, dW, db = model.gradients(x, np.array([4]))
    g = softmax(model.logits(x))[0]
    g[4] -= 1
    np.testing.assert_allclose(db, g)
    np.testing.assert_allclose(dW, np.outer(g, x[0]))
    assert loss == pytest.approx(-np.log(softmax(model.logits(x))[0, 4]))


def test_glorot_init_has_the_reports_range_zero_bias_and_is_seeded():
    model = LinearModel.glorot(np.random.default_rng(0))
    limit = np.sqrt(6 / (784 + 10))
    assert model.W.shape == (10, 784) and model.W.dtype == np.float32
    assert model.b.shape == (10,) and not model.b.any()
    assert -limit <= model.W.min() < -0.95 * limit and 0.95 * limit < model.W.max() <= limit
    assert abs(model.W.mean()) < 0.002  # uniform around zero
    again = LinearModel.glorot(np.random.default_rng(0))
    other = LinearModel.glorot(np.random.default_rng(1))
    assert np.array_equal(model.W, again.W) and not np.array_equal(model.W, other.W)


def test_prediction_and_accuracy():
    model = LinearModel(W=np.eye(3, 784, dtype=np.float32), b=np.zeros(3, np.float32))
    images = np.zeros((3, 784), np.float32)
    images[0, 2] = images[1, 0] = images[2, 1] = 1
    assert model.predict(images).tolist() == [2, 0, 1]
    assert model.predict(images[0]) == 2
    assert model.accuracy(images, np.array([2, 0, 0])) == pytest.approx(2 / 3)
    np.testing.assert_allclose(model.probabilities(images).sum(axis=1), 1.0, rtol=1e-6)


def test_confusion_matrix_counts_true_classes_by_prediction():
    labels = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 0, 2])
    counts = confusion_matrix(labels, predicted, 3)
    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert counts.sum() == 6 and np.trace(counts) == 4
