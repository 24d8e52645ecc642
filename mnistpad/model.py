"""The linear softmax classifier o = softmax(Wx + b): initialisation, loss, gradient, prediction.

x is an image as a row of 784 pixels in [0, 1]; batches are (N, 784). W is (classes, 784) and b is
(classes,), both float32. The loss is the negative log-likelihood of the gold class, computed from
the logits with log-sum-exp so that large logits neither overflow nor produce NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_PIXELS = 784
N_CLASSES = 10


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, shifted by the maximum so exp never overflows."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities over the last axis; each row sums to 1."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-example loss -z[gold] + log sum_j exp(z[j]) for logits (N, C) and labels (N,)."""
    return -log_softmax(logits)[np.arange(len(labels)), labels]


class OutputOverflow(ArithmeticError):
    """A model whose outputs overflow float32: finite weights near its largest value load, yet
    give infinite or NaN logits, so any accuracy, label or chart made of them would be noise."""


class Classifier:
    """What every model derives from its logits (see networks.py for the shared interface)."""

    def logits(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def checked_logits(self, images: np.ndarray) -> np.ndarray:
        """The logits, or OutputOverflow when any is not finite: the one check that `eval`,
        `predict` and the Errors tab make before they report anything about a model."""
        with np.errstate(over="ignore", invalid="ignore"):
            logits = self.logits(images)
        if not np.isfinite(logits).all():
            raise OutputOverflow("the model's outputs overflow (its weights are too large)")
        return logits

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        return softmax(self.logits(images))

    def predict(self, images: np.ndarray) -> np.ndarray:
        return self.logits(images).argmax(axis=-1)

    def loss(self, images: np.ndarray, labels: np.ndarray) -> float:
        """Mean negative log-likelihood of the gold labels."""
        return float(cross_entropy(self.logits(images), labels).mean())

    def accuracy(self, images: np.ndarray, labels: np.ndarray) -> float:
        return float((self.predict(images) == labels).mean())


@dataclass
class LinearModel(Classifier):
    """Weights W (classes, 784) and bias b (classes,) of o = softmax(Wx + b)."""

    W: np.ndarray
    b: np.ndarray

    kind = "linear"
    shape = {}  # noqa: RUF012 -- nothing to size: 784 inputs, one output per class

    @classmethod
    def glorot(
        cls, rng: np.random.Generator, n_in: int = N_PIXELS, n_out: int = N_CLASSES
    ) -> LinearModel:
        """W ~ U[-sqrt(6/(n_in+n_out)), +sqrt(6/(n_in+n_out))], b = 0 (Glorot and Bengio, 2010)."""
        limit = np.sqrt(6.0 / (n_in + n_out))
        W = rng.uniform(-limit, limit, size=(n_out, n_in)).astype(np.float32)
        return cls(W=W, b=np.zeros(n_out, dtype=np.float32))

    @property
    def n_classes(self) -> int:
        return self.W.shape[0]

    def copy(self) -> LinearModel:
        return LinearModel(W=self.W.copy(), b=self.b.copy())

    def logits(self, images: np.ndarray) -> np.ndarray:
        """(N, 784) -> (N, classes); a single image (784,) gives (classes,)."""
        return images @ self.W.T + self.b

    def features(self, images: np.ndarray) -> np.ndarray:
        """The layer before the output: here the input itself is, so its features are the ten
        logits (what the Map tab places the images by)."""
        return self.logits(images)

    @staticmethod
    def output(features: np.ndarray) -> np.ndarray:
        return features

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {"W": self.W, "b": self.b}

    def train_gradients(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> dict:
        """The batch's mean-loss gradients by name; z (N, C) receives the logits."""
        np.matmul(x, self.W.T, out=z)
        z += self.b
        _, dW, db = self._gradients_from(z, x, y)
        return {"W": dW, "b": db}

    def loss_and_gradients(self, images: np.ndarray, labels: np.ndarray) -> tuple[float, dict]:
        loss, dW, db = self.gradients(images, labels)
        return loss, {"W": dW, "b": db}

    def input_gradient(self, image: np.ndarray, cls: int) -> np.ndarray:
        """d logit_cls / d pixels: the class's template."""
        return self.W[cls]

    def gradients(
        self, images: np.ndarray, labels: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Mean loss and its gradient wrt W (classes, 784) and b (classes,) over a batch.

        The gradient of the loss wrt the logits is softmax(z) - onehot(gold); the chain rule through
        z = Wx + b gives dW = g x^T and db = g, averaged over the batch.
        """
        return self._gradients_from(self.logits(images), images, labels)

    @staticmethod
    def _gradients_from(logits, images, labels) -> tuple[float, np.ndarray, np.ndarray]:
        loss = float(cross_entropy(logits, labels).mean())
        g = softmax(logits)  # (N, C)
        g[np.arange(len(labels)), labels] -= 1
        g /= len(labels)
        return loss, g.T @ images, g.sum(axis=0)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts: row = true class, column = predicted class."""
    pairs = np.asarray(labels, dtype=np.intp) * n_classes + np.asarray(predicted, dtype=np.intp)
    return np.bincount(pairs, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
