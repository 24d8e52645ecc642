"""Layers as pairs of functions, forward and backward, in numpy alone (CS231n's layers.py style).

`X_forward(...)` returns the output and a cache; `X_backward(dy, cache, ...)` returns the gradient
wrt the input and the parameters. Shapes are in the docstrings: N examples, D inputs, M outputs;
images are NHWC (N, height, width, channels), so that a convolution is one matrix product over
rows of patches (im2col) and every reshape is free. Parameters follow PyTorch's layouts: a dense
layer's W is (out, in), a convolution's W is (filters, channels, k, k). Each function is checked
against central differences in tests/test_layers.py.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def dense_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """y = x W^T + b: x (N, D), W (M, D), b (M,) -> y (N, M); the cache is x."""
    return x @ W.T + b, x


def dense_backward(
    dy: np.ndarray, x: np.ndarray, W: np.ndarray, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """dy (N, M) -> dx (N, D) (None unless needed), dW (M, D), db (M,)."""
    return (dy @ W if need_dx else None), dy.T @ x, dy.sum(axis=0)


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """max(x, 0), any shape; the cache is the output (its positive entries pass the gradient)."""
    y = np.maximum(x, 0)
    return y, y


def relu_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    return dy * (y > 0)


def conv_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Valid convolution (cross-correlation, stride 1): x (N, H, W, C), W (F, C, k, k), b (F,)
    -> y (N, H-k+1, W-k+1, F). The patches under every output position are gathered into rows
    (N*H'*W', k*k*C) by one copy of a strided view, and the convolution is one matrix product."""
    n, height, width, channels = x.shape
    filters, _, k, _ = W.shape
    out_h, out_w = height - k + 1, width - k + 1
    # (N, H', W', C, k, k) view, made (N, H', W', k, k, C) so each row's channels are adjacent
    patches = sliding_window_view(x, (k, k), axis=(1, 2)).transpose(0, 1, 2, 4, 5, 3)
    cols = patches.reshape(n * out_h * out_w, k * k * channels)  # the copy: im2col
    kernel = _kernel_matrix(W)  # (k*k*C, F)
    y = (cols @ kernel).reshape(n, out_h, out_w, filters)
    y += b
    return y, (cols, x.shape)


def conv_backward(
    dy: np.ndarray, cache: tuple, W: np.ndarray, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """dy (N, H', W', F) -> dx (N, H, W, C) (None unless needed), dW (F, C, k, k), db (F,).

    dW is the patches' product with dy; dx adds each patch's gradient back at the patch's own
    place (col2im): k*k strided additions, one per kernel offset."""
    cols, x_shape = cache
    n, out_h, out_w, filters = dy.shape
    _, channels, k, _ = W.shape
    flat = dy.reshape(-1, filters)  # (N*H'*W', F)
    dW = (cols.T @ flat).reshape(k, k, channels, filters).transpose(3, 2, 0, 1)
    db = flat.sum(axis=0)
    if not need_dx:
        return None, dW, db
    # col2im: the gradient of the patch at each offset (i, j) is dy times that offset's (F, C)
    # slice of W; one small product per offset, added where the patches came from (measured:
    # half the time of one product for all offsets followed by strided additions).
    dx = np.zeros(x_shape, dtype=dy.dtype)
    for i in range(k):
        for j in range(k):
            dx[:, i : i + out_h, j : j + out_w, :] += (flat @ W[:, :, i, j]).reshape(
                n, out_h, out_w, channels
            )
    return dx, dW, db


def _kernel_matrix(W: np.ndarray) -> np.ndarray:
    """(F, C, k, k) -> (k*k*C, F), ordered as conv_forward's patch rows."""
    return W.transpose(2, 3, 1, 0).reshape(-1, W.shape[0])


def maxpool_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """2x2 max pooling, stride 2: x (N, H, W, C) -> (N, H//2, W//2, C) (an odd last row or column
    is left out, as PyTorch's floor mode does). The maximum of row pairs, then of column pairs:
    8x faster than one max over a (N, H/2, 2, W/2, 2, C) view. The cache records which of each
    pair won, the first one in a tie."""
    n, height, width, channels = x.shape
    half_h, half_w = height // 2, width // 2
    rows = x[:, : 2 * half_h].reshape(n, half_h, 2, width, channels)
    upper = rows[:, :, 0] >= rows[:, :, 1]  # (N, H/2, W, C)
    tall = np.maximum(rows[:, :, 0], rows[:, :, 1])[:, :, : 2 * half_w]
    pairs = tall.reshape(n, half_h, half_w, 2, channels)
    left = pairs[:, :, :, 0] >= pairs[:, :, :, 1]  # (N, H/2, W/2, C)
    y = np.maximum(pairs[:, :, :, 0], pairs[:, :, :, 1])
    return y, (x.shape, upper, left)


def maxpool_backward(dy: np.ndarray, cache: tuple) -> np.ndarray:
    """Each window's gradient goes to the one input that was its maximum: exactly one even where
    several tie, as they do wherever a convolution sees blank paper (its output is then its bias
    everywhere there); a left-out row or column gets none."""
    x_shape, upper, left = cache
    n, half_h, half_w, channels = dy.shape
    dtall = np.zeros(upper.shape, dtype=dy.dtype)  # (N, H/2, W, C)
    dpairs = dtall[:, :, : 2 * half_w].reshape(n, half_h, half_w, 2, channels)  # a view
    np.multiply(dy, left, out=dpairs[:, :, :, 0])
    np.multiply(dy, ~left, out=dpairs[:, :, :, 1])
    dx = np.zeros(x_shape, dtype=dy.dtype)
    drows = dx[:, : 2 * half_h].reshape(n, half_h, 2, x_shape[2], channels)  # a view
    np.multiply(dtall, upper, out=drows[:, :, 0])
    np.multiply(dtall, ~upper, out=drows[:, :, 1])
    return dx


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood of labels (N,) under softmax(logits (N, C)), computed with
    log-sum-exp, and its gradient wrt the logits: (softmax - onehot) / N."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    loss = float((np.log(total[:, 0]) - shifted[rows, labels]).mean())
    grad = exp / total
    grad[rows, labels] -= 1
    grad /= len(labels)
    return loss, grad
