"""Bad cache content (docs/bad_inputs.md rows 80-89, one test per row): cached model folders are checked against
the manifest written when they were built, and the reference-margin cache against the key it was computed for.

Model folders are tiny Llama reward models saved in place of the real training (MiniLM) or conversion (SmolLM2);
every test uses a temporary cache (``sup_cache``), never the user's.
"""

import hashlib
import json
import shutil
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
from datasets import Dataset, load_from_disk
from tiny_models import tiny_causal_lm, tiny_reward_model

from raven_align.pipeline import embedded_supervisors as emb
from raven_align.utils.cache import MANIFEST

_PAIRS = {
    "prompt": ["Review it."] * 4,
    "chosen": ["great", "lovely", "fine film", "superb"],
    "rejected": ["awful", "dull", "boring film", "poor"],
}


@pytest.fixture()
def fake_rm_training(monkeypatch, sup_tokenizer_plain):
    """Embedded reward models train on 4 pairs by saving a tiny Llama reward model (another seed per model)."""
    calls = []

    def fake(spec, data, output_dir):
        tiny_reward_model(sup_tokenizer_plain, seed=len(calls)).save_pretrained(output_dir)
        sup_tokenizer_plain.save_pretrained(output_dir)
        calls.append(spec)
        return {"steps": 1, "train_loss": 0.0}

    monkeypatch.setattr(emb, "_train", fake)
    monkeypatch.setattr(
        emb.EmbeddedRewardModel, "load_pairs", lambda self, split="train": Dataset.from_dict(_PAIRS)
    )
    return calls


def _weights(folder: Path) -> Path:
    return folder / "model.safetensors"


# -- embedded model folders ------------------------------------------------------------------------------


def test_swapped_weights_in_an_embedded_reward_model_are_refused(fake_rm_training, sup_cache):
    drugs = emb.embedded_reward_model_path("drugs_com_rm")
    food = emb.embedded_reward_model_path("amazon_food_rm")
    assert (drugs / MANIFEST).is_file() and len(fake_rm_training) == 2
    assert _weights(drugs).stat().st_size == _weights(food).stat().st_size  # same architecture, other weights
    shutil.copy2(_weights(food), _weights(drugs))  # the other model's weights, its timestamps too
    with pytest.raises(
        ValueError, match=r"drugs_com_rm-\w+ does not match.*model\.safetensors was changed.*delete"
    ):
        emb.embedded_supervisor("drugs_com_rm", device="cpu", show_progress=False)
    assert len(fake_rm_training) == 2  # refused, not retrained behind your back


def test_edited_gold_model_weights_are_refused(fake_rm_training, sup_cache, monkeypatch):
    from raven_align import supervisors
    from raven_align.pipeline.gold import build_gold

    gold = emb.embedded_reward_model_path("gold_rm")
    data = bytearray(_weights(gold).read_bytes())
    data[-64:] = bytes(64)  # the last weights zeroed: same size, another scorer
    _weights(gold).write_bytes(bytes(data))

    def spy(*a, **k):
        raise AssertionError("the gold model was loaded before the check")

    monkeypatch.setattr(supervisors, "RewardModelSupervisor", spy)
    with pytest.raises(
        ValueError, match=r"gold_rm-\w+ does not match.*model\.safetensors was changed.*gold_rm"
    ):
        build_gold("embedded:gold_rm")


def test_truncated_embedded_model_file_is_refused(fake_rm_training, sup_cache):
    folder = emb.embedded_reward_model_path("verbosity_rm")
    size = _weights(folder).stat().st_size
    _weights(folder).write_bytes(_weights(folder).read_bytes()[:1000])
    with pytest.raises(
        ValueError, match=rf"model\.safetensors is truncated or changed \(1000 bytes, {size} recorded"
    ):
        emb.embedded_reward_model_path("verbosity_rm")


def test_missing_embedded_model_file_is_refused(fake_rm_training, sup_cache):
    folder = emb.embedded_reward_model_path("drugs_com_rm")
    (folder / "config.json").unlink()
    with pytest.raises(ValueError, match=r"file config\.json is missing.*delete .*drugs_com_rm"):
        emb.embedded_reward_model_path("drugs_com_rm")
    assert len(fake_rm_training) == 1


def test_extra_weight_file_in_a_model_folder_is_refused(fake_rm_training, sup_cache, sup_tokenizer_plain):
    from peft import LoraConfig, get_peft_model

    folder = emb.embedded_reward_model_path("amazon_food_rm")
    # An adapter saved into the folder would be applied by every later load.
    adapter = get_peft_model(
        tiny_reward_model(sup_tokenizer_plain), LoraConfig(r=2, target_modules=["q_proj"])
    )
    adapter.save_pretrained(folder)
    with pytest.raises(ValueError, match=r"file adapter_config\.json was not there when it was built"):
        emb.embedded_reward_model_path("amazon_food_rm")


def test_model_folder_without_manifest_is_recorded_once(fake_rm_training, sup_cache):
    folder = emb.embedded_reward_model_path("drugs_com_rm")
    (folder / MANIFEST).unlink()  # as built by an earlier raven_align
    with pytest.warns(UserWarning, match=r"no manifest.*recorded now"):
        assert emb.embedded_reward_model_path("drugs_com_rm") == folder
    assert (folder / MANIFEST).is_file()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert emb.embedded_reward_model_path("drugs_com_rm") == folder  # once: checked silently now
    with open(_weights(folder), "ab") as f:
        f.write(b"\0" * 8)
    with pytest.raises(ValueError, match="truncated or changed"):
        emb.embedded_reward_model_path("drugs_com_rm")


def test_edited_smollm2_folder_is_refused(sup_cache, monkeypatch, sup_tokenizer_plain):
    from raven_align.embedded import models

    converted = []

    def fake_convert(gguf, final, tmp):  # a tiny stand-in for the 540 MB conversion
        tiny_causal_lm(sup_tokenizer_plain).save_pretrained(tmp)
        sup_tokenizer_plain.save_pretrained(tmp)
        converted.append(final)

    monkeypatch.setattr(models, "smollm2_gguf_path", lambda: Path("/pkg/SmolLM2-135M-Instruct.Q4_1.gguf"))
    monkeypatch.setattr(models, "package_version", lambda dist: "0.0-test")
    monkeypatch.setattr(models, "_convert", fake_convert)
    folder = models.smollm2_path()
    assert models.smollm2_path() == folder and len(converted) == 1 and (folder / MANIFEST).is_file()
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "rms_norm_eps": 0.5}))
    with pytest.raises(ValueError, match=r"SmolLM2.*config\.json.*delete .*converted again from .*gguf"):
        models.smollm2_path()


def test_weights_swapped_after_a_check_in_the_same_process_are_refused(fake_rm_training, sup_cache):
    drugs = emb.embedded_reward_model_path("drugs_com_rm")
    food = emb.embedded_reward_model_path("amazon_food_rm")
    assert (
        emb.embedded_reward_model_path("drugs_com_rm") == drugs
    )  # fully hashed, remembered by its files' stats
    time.sleep(0.05)  # past the file system's timestamp tick
    shutil.copy2(_weights(food), _weights(drugs))  # same size, same inode, the other file's mtime
    with pytest.raises(ValueError, match=r"model\.safetensors was changed"):
        emb.embedded_reward_model_path("drugs_com_rm")


# -- the reference-margin cache of the DPO program --------------------------------------------------------


def _on_disk(tmp_path, name, **columns):
    Dataset.from_dict({**_PAIRS, **columns}).save_to_disk(str(tmp_path / name))
    return load_from_disk(str(tmp_path / name))


def _trainer(tokenizer, model="reference-A", max_length=32):
    """What the program's evaluation reads of a trainer; a cache miss would run the (absent) model."""
    return SimpleNamespace(
        reference_cache_key=lambda: model,
        processing_class=tokenizer,
        args=SimpleNamespace(max_length=max_length, truncation_mode="keep_end"),
        accelerator=SimpleNamespace(is_main_process=True),
    )


def _evaluate(trainer, ds):
    from raven_align.programs import dpo

    args = SimpleNamespace(truth_column="gt_label", eval_batch_size=2)
    return dpo.evaluate(trainer, {"target": ds}, args, "before")["target"][0]["reference"]


@pytest.fixture()
def no_reference_pass(monkeypatch):
    from raven_align.programs import dpo

    def spy(*a, **k):
        raise AssertionError("the reference pass ran: the cache was not used")

    monkeypatch.setattr(dpo, "preference_margins", spy)


def test_reference_margins_of_another_model_or_data_are_refused(
    tmp_path, sup_tokenizer_plain, no_reference_pass
):
    from raven_align.pipeline.caches import write_margins
    from raven_align.programs.dpo import _reference_cache

    ds = _on_disk(tmp_path, "test")
    path, key = _reference_cache(ds, _trainer(sup_tokenizer_plain))
    write_margins(path, [1.0, 2.0, -1.0, 3.0], key)
    assert _evaluate(_trainer(sup_tokenizer_plain), ds) == [1.0, 2.0, -1.0, 3.0]  # its own: reused
    other_data = _on_disk(tmp_path, "other", chosen=["great", "lovely", "fine film", "superb!"])
    for trainer, data, differing in [
        (_trainer(sup_tokenizer_plain, model="reference-B"), ds, "reference_model"),
        (_trainer(sup_tokenizer_plain, max_length=64), ds, "max_length"),
        (_trainer(sup_tokenizer_plain), other_data, "data"),
    ]:
        other_path, _ = _reference_cache(data, trainer)
        assert other_path != path
        shutil.copy(path, other_path)  # a cache reused for another model, data or setting
        with pytest.raises(
            ValueError, match=rf"computed for another model, data or settings.*{differing}.*delete"
        ):
            _evaluate(trainer, data)


def test_negated_reference_margins_with_a_recomputed_checksum_are_refused(
    tmp_path, sup_tokenizer_plain, no_reference_pass
):
    from raven_align.pipeline.caches import write_margins
    from raven_align.programs.dpo import _reference_cache

    ds, trainer = _on_disk(tmp_path, "test"), _trainer(sup_tokenizer_plain)
    path, key = _reference_cache(ds, trainer)
    write_margins(path, [1.0, 2.0, -1.0, 3.0], key)
    data = json.loads(Path(path).read_text())
    negated = [-m for m in data["margins"]]  # flips the accuracy before (and the gain after) training
    bytes_only = hashlib.sha256(json.dumps(negated).encode()).hexdigest()  # the checksum of the margins alone
    Path(path).write_text(json.dumps({**data, "margins": negated, "sha256": bytes_only}))
    with pytest.raises(ValueError, match=r"does not match its checksum.*delete"):
        _evaluate(trainer, ds)
    Path(path).write_text(json.dumps({"margins": negated, "sha256": bytes_only}))  # the format before keys
    with pytest.raises(ValueError, match=r"old format.*delete"):
        _evaluate(trainer, ds)
