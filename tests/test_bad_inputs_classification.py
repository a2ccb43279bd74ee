"""Bad classification inputs: class counts, labels, strings, and supervisors that calibration or the label model
cannot use, each refused (or warned of) at the trainer's construction."""

import warnings

import numpy as np
import pytest
from datasets import Dataset

from raven_align.trainers import RavenClassificationConfig, RavenClassificationTrainer
from raven_align.trainers.probes import LinearProbe


def _texts(n=8, classes=2, **columns):
    g = np.random.default_rng(0)
    rows = {
        "features": g.normal(size=(n, 4)).tolist(),
        "label": [i % classes for i in range(n)],
        "probs__a": np.full((n, classes), 1 / classes).tolist(),
        "probs__b": np.eye(classes)[[i % classes for i in range(n)]].tolist(),
    }
    return Dataset.from_dict({**rows, **columns})


def _clf(tmp_path, data, classes=2, **kw):
    args = RavenClassificationConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none", **kw)
    return RavenClassificationTrainer(LinearProbe(4, classes), args=args, train_dataset=data)


def test_model_of_other_class_count_fails_at_construction(tmp_path):
    with pytest.raises(ValueError, match=r"model outputs 2 classes .* have 3: .*num_labels=3"):
        _clf(tmp_path, _texts(classes=3), classes=2)


def test_label_out_of_range_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"label column 'label' must hold class ids 0..1 .*got 2 at row 5"):
        _clf(tmp_path, _texts(label=[0, 1, 0, 1, 0, 2, 1, 0]), supervision="gt")


def test_string_labels_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"label column 'label' .* got 'neg' at row 0.*class_encode_column"):
        _clf(tmp_path, _texts(label=["neg", "pos"] * 4))


def test_string_probability_column_is_named(tmp_path):
    with pytest.raises(
        ValueError, match=r"judgement column 'probs__a' must hold one list .*got \['0.5', '0.5'\] at row 0"
    ):
        _clf(tmp_path, _texts(probs__a=[["0.5", "0.5"]] * 8))


def test_temperature_calibration_of_one_hot_supervisors_names_them(tmp_path):
    one_hot = np.eye(2)[[0, 1] * 4].tolist()
    data = _texts(probs__a=one_hot, probs__b=one_hot[::-1])
    with pytest.raises(
        ValueError, match=r"every supervisor \['a', 'b'\] is one-hot .*supervisor_calibration='none'"
    ):
        _clf(tmp_path, data, supervisor_calibration="temperature")


def test_uniform_supervisor_under_temperature_calibration_is_named(tmp_path):
    soft = [[0.8, 0.2], [0.3, 0.7]] * 4
    with pytest.raises(ValueError, match=r"supervisor 'a' cannot reach .* uniform rows stay uniform"):
        _clf(tmp_path, _texts(probs__b=soft), supervisor_calibration="temperature")


def test_label_model_trusting_a_constant_supervisor_warns(tmp_path):
    g = np.random.default_rng(0)
    y = g.integers(0, 2, 64)
    always = [[0.9, 0.1]] * 64  # class 0 on every row: it tells nothing
    noisy = np.eye(2)[np.where(g.random(64) < 0.8, y, 1 - y)] * 0.8 + 0.1
    data = _texts(64, label=y.tolist(), probs__a=always, probs__b=noisy.tolist())
    with pytest.warns(
        UserWarning, match=r"gives 'a' weight 0\.\d+, although each votes one class on every example"
    ):
        trainer = _clf(tmp_path, data, supervision="label_model")
    assert trainer.raven_weights.as_dict()["a"] > 0.2
    with warnings.catch_warnings():  # RAVEN's uniform start is no label model's trust: no warning
        warnings.simplefilter("error")
        _clf(tmp_path, data)
