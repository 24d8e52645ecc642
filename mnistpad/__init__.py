"""mnistpad: train a linear digit classifier on MNIST from scratch, watch it learn, draw digits.

The numeric core (data, model, train, preprocess, weights) needs numpy and the standard library
only; the window lives in mnistpad.gui and is the only part that imports Qt.
"""

__version__ = "0.1.0"
