"""Every layer and both networks: gradients against central differences in float64, and the
convolution against a direct loop."""

from __future__ import annotations

import numpy as np
import pytest

from mnistpad import layers
from mnistpad.networks import CNN, MLP, ShapeError, describe, new_model, parameter_shapes

TOLERANCE = 1e-6  # relative error of an analytic gradient against central differences


def numeric_gradient(f, array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + eps
        up = f()
        array[index] = saved - eps
        down = f()
        array[index] = saved
        grad[index] = (up - down) / (2 * eps)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    scale = np.abs(analytic).max() + np.abs(numeric).max()
    return float(np.abs(analytic - numeric).max() / max(scale, 1e-12))


def check(forward, backward, inputs: dict[str, np.ndarray], rng) -> None:
    """backward(dy) must give d(sum(forward() * dy)) / d(each input)."""
    dy = rng.standard_normal(forward().shape)
    analytic = backward(dy)
    for name, array in inputs.items():
        numeric = numeric_gradient(lambda: float((forward() * dy).sum()), array)
        assert relative_error(analytic[name], numeric) < TOLERANCE, name


def test_dense_layer_gradients():
    rng = np.random.default_rng(0)
    x, W, b = rng.standard_normal((4, 6)), rng.standard_normal((3, 6)), rng.standard_normal(3)

    def backward(dy):
        dx, dW, db = layers.dense_backward(dy, x, W)
        return {"x": dx, "W": dW, "b": db}

    check(lambda: layers.dense_forward(x, W, b)[0], backward, {"x": x, "W": W, "b": b}, rng)


def test_relu_gradient_away_from_the_kink():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 7))
    x[np.abs(x) < 0.01] = 0.5  # central differences need no input within eps of 0

    def backward(dy):
        return {"x": layers.relu_backward(dy, layers.relu_forward(x)[1])}

    check(lambda: layers.relu_forward(x)[0], backward, {"x": x}, rng)


@pytest.mark.parametrize("height, width", [(8, 6), (7, 9)])  # an odd side is cut, as in PyTorch
def test_maxpool_values_and_gradient(height, width):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, height, width, 3))
    y, _ = layers.maxpool_forward(x)
    assert y.shape == (2, height // 2, width // 2, 3)
    for i, j in np.ndindex(height // 2, width // 2):
        np.testing.assert_array_equal(
            y[:, i, j], x[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].max(axis=(1, 2))
        )

    def backward(dy):
        return {"x": layers.maxpool_backward(dy, layers.maxpool_forward(x)[1])}

    check(lambda: layers.maxpool_forward(x)[0], backward, {"x": x}, rng)
    # ties (blank paper under a convolution gives its bias everywhere): one winner per window
    flat = np.ones((1, height, width, 1))
    dx = layers.maxpool_backward(
        np.ones((1, height // 2, width // 2, 1)), layers.maxpool_forward(flat)[1]
    )
    assert dx.sum() == (height // 2) * (width // 2) and dx[0, 0, 0, 0] == 1


def test_convolution_matches_a_direct_loop_and_its_gradients_check():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 7, 6, 3))
    W, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    y, _ = layers.conv_forward(x, W, b)
    assert y.shape == (2, 5, 4, 4)
    for n, i, j, f in np.ndindex(*y.shape):
        direct = (x[n, i : i + 3, j : j + 3, :] * W[f].transpose(1, 2, 0)).sum() + b[f]
        assert y[n, i, j, f] == pytest.approx(direct, abs=1e-12)

    def backward(dy):
        dx, dW, db = layers.conv_backward(dy, layers.conv_forward(x, W, b)[1], W)
        return {"x": dx, "W": dW, "b": db}

    check(lambda: layers.conv_forward(x, W, b)[0], backward, {"x": x, "W": W, "b": b}, rng)
    _, cache = layers.conv_forward(x, W, b)
    dx, dW, _ = layers.conv_backward(np.ones(y.shape), cache, W, need_dx=False)
    assert dx is None and dW.shape == W.shape  # the first layer needs no input gradient


def test_softmax_cross_entropy_gradient_and_stability():
    rng = np.random.default_rng(4)
    logits, labels = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    loss, grad = layers.softmax_cross_entropy(logits, labels)
    numeric = numeric_gradient(lambda: layers.softmax_cross_entropy(logits, labels)[0], logits)
    assert relative_error(grad, numeric) < TOLERANCE
    huge = np.array([[1000.0, 0.0], [0.0, -1000.0]])
    loss, grad = layers.softmax_cross_entropy(huge, np.array([1, 0]))
    assert loss == pytest.approx(500.0) and np.isfinite(grad).all()


def float64_network(kind: str, shape: dict, rng) -> MLP | CNN:
    model = new_model(kind, rng, 4, shape)
    for name, value in model.params.items():  # nonzero biases, so that they are checked too
        model.params[name] = value.astype(np.float64) + 0.1 * rng.standard_normal(value.shape)
    return model


@pytest.mark.parametrize(
    "kind, shape",
    [("mlp", {"hidden": 7}), ("cnn", {"filters": [2, 3], "kernel": 5, "hidden": 6})],
)
def test_network_gradients_wrt_every_parameter_and_the_input(kind, shape):
    rng = np.random.default_rng(5)
    model = float64_network(kind, shape, rng)
    images, labels = rng.uniform(0, 1, (3, 784)), np.array([0, 3, 1])
    _, grads = model.loss_and_gradients(images, labels)
    assert sorted(grads) == sorted(model.params)
    for name, param in model.params.items():
        numeric = numeric_gradient(lambda: model.loss_and_gradients(images, labels)[0], param)
        assert relative_error(grads[name], numeric) < TOLERANCE, name
    # the evidence map's gradient: d logit_2 / d pixels
    image = images[0].copy()
    numeric = numeric_gradient(lambda: float(model.logits(image)[2]), image)
    assert relative_error(model.input_gradient(image, 2), numeric) < TOLERANCE


def test_train_gradients_fill_the_logits_and_match_the_loss_gradients():
    rng = np.random.default_rng(6)
    model = new_model("cnn", rng, 10)
    images, labels = rng.uniform(0, 1, (5, 784)).astype(np.float32), rng.integers(0, 10, 5)
    logits = np.empty((5, 10), dtype=np.float32)
    grads = model.train_gradients(images, labels, logits)
    np.testing.assert_allclose(logits, model.logits(images), rtol=1e-5, atol=1e-6)
    _, expected = model.loss_and_gradients(images, labels)
    for name in grads:
        assert grads[name].dtype == np.float32
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-5, atol=1e-7)


def test_networks_start_with_he_initialised_float32_weights_and_zero_biases():
    rng = np.random.default_rng(7)
    mlp, cnn = new_model("mlp", rng, 10), new_model("cnn", rng, 10)
    assert describe(mlp) == "MLP 784-256-10" and describe(cnn) == "CNN 5x5x16-5x5x32-128-10"
    assert mlp.params["dense1.W"].shape == (256, 784)
    assert cnn.params["dense1.W"].shape == (128, 4 * 4 * 32)
    for model in (mlp, cnn):
        for name, value in model.params.items():
            assert value.dtype == np.float32
            if name.endswith(".b"):
                assert not value.any()
            else:
                fan_in = np.prod(value.shape[1:])
                assert value.std() == pytest.approx(np.sqrt(2 / fan_in), rel=0.1), name
    # the batched forward pass agrees with one image at a time, in chunks or not
    images = rng.uniform(0, 1, (1003, 784)).astype(np.float32)
    batched = cnn.logits(images)
    np.testing.assert_allclose(batched[1001], cnn.logits(images[1001]), rtol=1e-4, atol=1e-5)


def test_shapes_that_cannot_be_built_are_refused_with_the_reason():
    with pytest.raises(ShapeError, match="hidden must be a whole number"):
        parameter_shapes("mlp", {"hidden": 0}, 10)
    with pytest.raises(ShapeError, match="hidden"):
        parameter_shapes("mlp", {"hidden": True}, 10)
    with pytest.raises(ShapeError, match="kernel must be a whole number from 1 to 9"):
        parameter_shapes("cnn", {"filters": [2, 2], "kernel": 10, "hidden": 4}, 10)
    with pytest.raises(ShapeError, match="two filter counts"):
        parameter_shapes("cnn", {"filters": [2], "kernel": 5, "hidden": 4}, 10)
    with pytest.raises(ShapeError, match="unknown"):
        parameter_shapes("rnn", {}, 10)
    # an odd map side is pooled as PyTorch's floor mode does: a 3x3 kernel works too
    small = new_model("cnn", np.random.default_rng(0), 3, {"kernel": 3, "filters": [2, 2]})
    assert small.params["dense1.W"].shape == (128, 5 * 5 * 2)
    assert small.logits(np.zeros(784, dtype=np.float32)).shape == (3,)
