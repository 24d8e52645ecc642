"""Models beyond the linear one, from scratch in numpy: an MLP with one hidden ReLU layer, and a
small convolutional network (two convolution + max-pool layers, two dense layers).

Every model, the linear one included (model.LinearModel), offers the same few things, so training,
saving, the CLI and the window treat them alike:
    kind, shape              what it is: "linear" | "mlp" | "cnn", and its sizes as a JSON dict
    params                   name -> float32 array, the live parameters (optimisers update them)
    logits(images)           (N, 784) -> (N, classes); one image (784,) -> (classes,)
    features(images)         (N, 784) -> (N, F): the layer before the output (the Map tab's);
                             output(features) gives the logits from them
    train_gradients(x, y, z) the batch's mean-loss gradients by name; z receives the logits
    input_gradient(image, c) d logit_c / d pixels (784,): times the input, the evidence map
Parameters are float32 (training runs in float32); the gradient checks run the same code in
float64.
"""

from __future__ import annotations

import math

import numpy as np

from .layers import (
    conv_backward,
    conv_forward,
    dense_backward,
    dense_forward,
    maxpool_backward,
    maxpool_forward,
    relu_backward,
    relu_forward,
    softmax_cross_entropy,
)
from .model import N_PIXELS, Classifier, LinearModel

SIDE = 28  # images are SIDE x SIDE
EVAL_CHUNK = 500  # images per forward pass when only logits are wanted (bounds the memory)
EVAL_FLOATS = 32 << 20  # ...and fewer when their activations would pass 128 MB
MAX_HIDDEN = 4096
MAX_FILTERS = 256


class ShapeError(ValueError):
    """A model shape that cannot be built; the message says which size is wrong."""


class Network(Classifier):
    """Parameters by name and a shape; subclasses write out forward and backward."""

    kind = ""

    def __init__(self, params: dict[str, np.ndarray], shape: dict) -> None:
        self.params, self.shape = params, shape

    @property
    def n_classes(self) -> int:
        return self.params[self.output_bias].shape[0]

    def copy(self):
        return type(self)({name: value.copy() for name, value in self.params.items()}, self.shape)

    def logits(self, images: np.ndarray) -> np.ndarray:
        return self._in_chunks(images, lambda x: self._forward(x)[0])

    def features(self, images: np.ndarray) -> np.ndarray:
        """The last hidden layer's activations, (N, hidden): what the output layer reads."""
        return self._in_chunks(images, lambda x: self._features(x)[0])

    def output(self, features: np.ndarray) -> np.ndarray:
        """The logits (N, classes) from `features` (N, hidden)."""
        return dense_forward(features, self.params["dense2.W"], self.params["dense2.b"])[0]

    def _in_chunks(self, images: np.ndarray, compute) -> np.ndarray:
        """compute(x) over (N, 784) images a chunk at a time; one image (784,) gives one row."""
        images = np.asarray(images)
        if images.ndim == 1:
            return self._in_chunks(images[None], compute)[0]
        chunk = max(1, min(EVAL_CHUNK, EVAL_FLOATS // self.activation_floats()))
        if len(images) <= chunk:
            return compute(images.astype(self.dtype, copy=False))
        return np.concatenate(
            [self._in_chunks(images[i : i + chunk], compute) for i in range(0, len(images), chunk)]
        )

    def activation_floats(self) -> int:
        """About how many numbers one image's forward pass keeps (patches, maps, activations)."""
        raise NotImplementedError

    @property
    def dtype(self) -> np.dtype:
        return self.params[self.output_bias].dtype

    def train_gradients(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> dict:
        logits, caches = self._forward(x)
        z[...] = logits
        _, dlogits = softmax_cross_entropy(logits, y)
        return self._backward(dlogits, caches, need_dx=False)[0]

    def loss_and_gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
        logits, caches = self._forward(x)
        loss, dlogits = softmax_cross_entropy(logits, y)
        return loss, self._backward(dlogits, caches, need_dx=False)[0]

    def input_gradient(self, image: np.ndarray, cls: int) -> np.ndarray:
        x = np.asarray(image, dtype=self.dtype).reshape(1, N_PIXELS)
        logits, caches = self._forward(x)
        dlogits = np.zeros_like(logits)
        dlogits[0, cls] = 1
        return self._backward(dlogits, caches, need_dx=True)[1].reshape(N_PIXELS)

    @classmethod
    def parameter_shapes(cls, shape: dict, n_classes: int) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    def _forward(self, x):
        """(logits, caches): the features, then the output layer."""
        h, caches = self._features(x)
        logits, cache = dense_forward(h, self.params["dense2.W"], self.params["dense2.b"])
        return logits, (*caches, cache)

    def _features(self, x):
        """(last hidden activations, the caches _backward needs for them)."""
        raise NotImplementedError

    def _backward(self, dlogits, caches, need_dx):
        raise NotImplementedError


def he_normal(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    """N(0, 2 / fan_in) (He et al., 2015): keeps the variance of ReLU activations layer to layer."""
    return (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(np.float32)


def _initial(cls, rng: np.random.Generator, shape: dict, n_classes: int) -> dict:
    """He-normal weights (fan in: everything but the first axis), zero biases."""
    params = {}
    for name, size in cls.parameter_shapes(shape, n_classes).items():
        if name.endswith(".b"):
            params[name] = np.zeros(size, dtype=np.float32)
        else:
            params[name] = he_normal(rng, size, math.prod(size[1:]))
    return params


class MLP(Network):
    """784 -> hidden (ReLU) -> classes."""

    kind = "mlp"
    output_bias = "dense2.b"

    @classmethod
    def parameter_shapes(cls, shape: dict, n_classes: int) -> dict[str, tuple[int, ...]]:
        hidden = _size(shape, "hidden", MAX_HIDDEN)
        return {
            "dense1.W": (hidden, N_PIXELS),
            "dense1.b": (hidden,),
            "dense2.W": (n_classes, hidden),
            "dense2.b": (n_classes,),
        }

    def activation_floats(self) -> int:
        return 2 * self.shape["hidden"] + N_PIXELS

    def _features(self, x):
        a, c1 = dense_forward(x, self.params["dense1.W"], self.params["dense1.b"])  # (N, H)
        h, c2 = relu_forward(a)
        return h, (c1, c2)

    def _backward(self, dlogits, caches, need_dx):
        p, (c1, c2, c3) = self.params, caches
        dh, dW2, db2 = dense_backward(dlogits, c3, p["dense2.W"])
        da = relu_backward(dh, c2)
        dx, dW1, db1 = dense_backward(da, c1, p["dense1.W"], need_dx)
        grads = {"dense1.W": dW1, "dense1.b": db1, "dense2.W": dW2, "dense2.b": db2}
        return grads, dx


class CNN(Network):
    """28x28x1 -> conv k x k, F1 filters -> 2x2 max-pool -> ReLU -> conv k x k, F2 -> max-pool ->
    ReLU -> dense `hidden` (ReLU) -> classes. Pooling before the ReLU gives the same result (max
    and ReLU commute) on a quarter of the values."""

    kind = "cnn"
    output_bias = "dense2.b"

    @classmethod
    def parameter_shapes(cls, shape: dict, n_classes: int) -> dict[str, tuple[int, ...]]:
        filters = shape.get("filters")
        if not (isinstance(filters, list) and len(filters) == 2):
            raise ShapeError("filters must be a list of two filter counts")
        f1, f2 = (_size({"filters": f}, "filters", MAX_FILTERS) for f in filters)
        k = _size(shape, "kernel", 9)
        hidden = _size(shape, "hidden", MAX_HIDDEN)
        side = cls.feature_sides(k)[-1]  # at least 1 for every kernel up to 9
        return {
            "conv1.W": (f1, 1, k, k),
            "conv1.b": (f1,),
            "conv2.W": (f2, f1, k, k),
            "conv2.b": (f2,),
            "dense1.W": (hidden, side * side * f2),
            "dense1.b": (hidden,),
            "dense2.W": (n_classes, hidden),
            "dense2.b": (n_classes,),
        }

    @staticmethod
    def feature_sides(k: int) -> tuple[int, int, int, int]:
        """Side of the maps after conv1, pool1, conv2, pool2."""
        conv1 = SIDE - k + 1
        conv2 = conv1 // 2 - k + 1
        return conv1, conv1 // 2, conv2, max(conv2, 0) // 2

    def activation_floats(self) -> int:
        (f1, f2), k = self.shape["filters"], self.shape["kernel"]
        conv1, _, conv2, _ = self.feature_sides(k)
        # patches and maps of each convolution (the pooled maps and dense layers are smaller)
        return conv1 * conv1 * (k * k + 2 * f1) + conv2 * conv2 * (k * k * f1 + 2 * f2)

    def _features(self, x):
        p = self.params
        images = x.reshape(len(x), SIDE, SIDE, 1)
        a1, c1 = conv_forward(images, p["conv1.W"], p["conv1.b"])  # (N, 24, 24, F1)
        m1, c2 = maxpool_forward(a1)  # (N, 12, 12, F1)
        h1, c3 = relu_forward(m1)
        a2, c4 = conv_forward(h1, p["conv2.W"], p["conv2.b"])  # (N, 8, 8, F2)
        m2, c5 = maxpool_forward(a2)  # (N, 4, 4, F2)
        h2, c6 = relu_forward(m2)
        flat = h2.reshape(len(x), -1)  # (N, 4*4*F2), in height, width, channel order
        a3, c7 = dense_forward(flat, p["dense1.W"], p["dense1.b"])  # (N, hidden)
        h3, c8 = relu_forward(a3)
        return h3, (c1, c2, c3, c4, c5, c6, c7, c8, h2.shape)

    def _backward(self, dlogits, caches, need_dx):
        p = self.params
        c1, c2, c3, c4, c5, c6, c7, c8, h2_shape, c9 = caches
        dh3, dW4, db4 = dense_backward(dlogits, c9, p["dense2.W"])
        dflat, dW3, db3 = dense_backward(relu_backward(dh3, c8), c7, p["dense1.W"])
        dm2 = relu_backward(dflat.reshape(h2_shape), c6)
        dh1, dW2, db2 = conv_backward(maxpool_backward(dm2, c5), c4, p["conv2.W"])
        dm1 = relu_backward(dh1, c3)
        dx, dW1, db1 = conv_backward(maxpool_backward(dm1, c2), c1, p["conv1.W"], need_dx)
        grads = {
            "conv1.W": dW1,
            "conv1.b": db1,
            "conv2.W": dW2,
            "conv2.b": db2,
            "dense1.W": dW3,
            "dense1.b": db3,
            "dense2.W": dW4,
            "dense2.b": db4,
        }
        return grads, dx

    def feature_maps(self, image: np.ndarray) -> np.ndarray:
        """The first layer's maps for one image (784,): (F1, 24, 24), after its ReLU, before
        pooling: what each filter finds where."""
        x = np.asarray(image, dtype=self.dtype).reshape(1, SIDE, SIDE, 1)
        a1, _ = conv_forward(x, self.params["conv1.W"], self.params["conv1.b"])
        return np.maximum(a1[0], 0).transpose(2, 0, 1)


def _size(shape: dict, name: str, limit: int) -> int:
    value = shape.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise ShapeError(f"{name} must be a whole number from 1 to {limit}, not {_shown(value)}")
    return value


def _shown(value) -> str:
    """A value from a file, short enough for a message (JSON allows 10**4000 and long strings)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**12:
        return "a huge number"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


Model = LinearModel | Network  # what training, weight files and the window accept
KINDS = {"linear": LinearModel, "mlp": MLP, "cnn": CNN}
DEFAULT_SHAPES = {
    "linear": {},
    "mlp": {"hidden": 256},
    "cnn": {"filters": [16, 32], "kernel": 5, "hidden": 128},
}
KIND_NAMES = {"linear": "Linear", "mlp": "MLP", "cnn": "CNN"}


def new_model(kind: str, rng: np.random.Generator, n_classes: int, shape: dict | None = None):
    """A freshly initialised model: Glorot for the linear one (the report's), He for the rest."""
    if kind not in KINDS:
        raise ShapeError(f"unknown model {kind!r} (choose from {', '.join(KINDS)})")
    if kind == "linear":
        return LinearModel.glorot(rng, n_out=n_classes)
    shape = dict(DEFAULT_SHAPES[kind], **(shape or {}))
    cls = KINDS[kind]
    return cls(_initial(cls, rng, shape, n_classes), shape)


def parameter_shapes(kind: str, shape: dict, n_classes: int) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every parameter of a model of this kind and shape (ShapeError if none)."""
    if kind not in KINDS:
        raise ShapeError(f"unknown model kind {_shown(kind)}")
    if kind == "linear":
        return {"W": (n_classes, N_PIXELS), "b": (n_classes,)}
    if not isinstance(shape, dict):
        raise ShapeError("the model's shape must be a JSON object")
    unknown = sorted(set(shape) - set(DEFAULT_SHAPES[kind]))
    if unknown:  # a size this mnistpad does not know would change what the model computes
        raise ShapeError(
            f"unknown size {_shown(unknown[0])} (a {kind} has {', '.join(DEFAULT_SHAPES[kind])})"
        )
    return KINDS[kind].parameter_shapes(shape, n_classes)


def from_params(kind: str, shape: dict, params: dict[str, np.ndarray]):
    """A model from checked parameters (see parameter_shapes)."""
    if kind == "linear":
        return LinearModel(W=params["W"], b=params["b"])
    return KINDS[kind](params, shape)


def parameter_count(model) -> int:
    return sum(value.size for value in model.params.values())


def in_words(model) -> str:
    """The model in plain words, for the first words a person reads (`describe` in tooltips)."""
    kind, shape = model.kind, model.shape
    if kind == "mlp":
        return f"network with one hidden layer of {shape['hidden']} units"
    if kind == "cnn":
        (f1, f2), k = shape["filters"], shape["kernel"]
        return f"convolutional network ({f1} then {f2} {k}x{k} filters, {shape['hidden']} units)"
    return "linear model (one weight per pixel and class)"


def describe(model) -> str:
    """'Linear 784-10', 'MLP 784-256-10', 'CNN 5x5x16-5x5x32-128-10'."""
    kind, shape, classes = model.kind, model.shape, model.n_classes
    if kind == "mlp":
        return f"MLP {N_PIXELS}-{shape['hidden']}-{classes}"
    if kind == "cnn":
        k, (f1, f2) = shape["kernel"], shape["filters"]
        return f"CNN {k}x{k}x{f1}-{k}x{k}x{f2}-{shape['hidden']}-{classes}"
    return f"Linear {N_PIXELS}-{classes}"
