"""One prediction, step by step, through the model's last layer.

The last layer weighs what it receives, the features f (a linear model's 784 pixels, a network's
last hidden layer), with one row of weights per class and adds its bias: z_c = sum_i W[c, i] f_i +
b[c], the ten logits. Softmax turns them into probabilities: subtract the largest logit (the
probabilities do not change, and exp cannot overflow), exponentiate, and divide each exponential
by their sum. Every step is kept, so each can be shown and checked by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import N_PIXELS


@dataclass(frozen=True)
class Steps:
    """The numbers of one prediction (float64, as a calculator would work them out)."""

    features: np.ndarray  # (D,) what the last layer receives
    weights: np.ndarray  # (C, D) its weights
    bias: np.ndarray  # (C,)
    products: np.ndarray  # (C,) sum_i weights[c, i] * features[i]
    logits: np.ndarray  # (C,) products + bias
    largest: float  # the largest logit, subtracted before exp
    exponentials: np.ndarray  # (C,) exp(logits - largest)
    total: float  # their sum
    probabilities: np.ndarray  # (C,) exponentials / total


def last_layer(model, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features (D,), weights (C, D), bias (C,)) of `model`'s last layer for one image (784,):
    the pixels and W, b of a linear model; a network's last hidden activations and its output
    layer."""
    x = np.asarray(image, dtype=np.float32).reshape(1, N_PIXELS)
    if model.kind == "linear":
        return x[0], model.W, model.b
    _, caches = model._forward(x.astype(model.dtype, copy=False))
    # The output layer is "dense2" in every network, and a dense layer's cache is its input: the
    # last such cache of the forward pass (a CNN keeps a shape after it).
    features = next(cache for cache in reversed(caches) if isinstance(cache, np.ndarray))
    return features[0], model.params["dense2.W"], model.params["dense2.b"]


def prediction_steps(model, image: np.ndarray) -> Steps:
    """Every number between `model`'s last layer's input and its probabilities for `image`."""
    features, weights, bias = (np.asarray(a, dtype=np.float64) for a in last_layer(model, image))
    products = weights @ features
    logits = products + bias
    largest = float(logits.max())
    exponentials = np.exp(logits - largest)
    total = float(exponentials.sum())
    return Steps(
        features,
        weights,
        bias,
        products,
        logits,
        largest,
        exponentials,
        total,
        exponentials / total,
    )
