"""Work shared by processes: shares cover every row exactly once, labelling on three processes (gloo) equals
labelling on one and writes the one cache a later one-process run reads, and a failure on one process stops all of
them instead of leaving the others waiting."""

import json
import os

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp
from datasets import Dataset

from raven_align.evaluation.sharing import batch_share
from raven_align.labeling import label_dataset, read_provenance
from raven_align.supervisors import CallableSupervisor
from raven_align.utils.processes import local_main_first, shard_range

ROWS = 10  # on 3 processes: shares of 3, 3 and 4


def test_shares_cover_every_row_once_in_order():
    for world in range(1, 6):
        for n in range(0, 31):
            shares = [shard_range(n, r, world) for r in range(world)]
            assert [i for s in shares for i in s] == list(range(n)), (n, world)
            assert max(map(len, shares)) - min(map(len, shares)) <= 1
    with pytest.raises(ValueError, match="rank 2 is not one of 2"):
        shard_range(5, 2, 2)


def test_batch_shares_are_whole_batches(monkeypatch):
    import raven_align.evaluation.sharing as sharing

    seen = []
    for rank in range(3):
        monkeypatch.setattr(sharing, "my_shard", lambda n, r=rank: shard_range(n, r, 3))
        rows, first = batch_share(11, 2)  # 6 batches: 2 per process
        seen.append((list(rows), first))
    assert seen == [([0, 1, 2, 3], 0), ([4, 5, 6, 7], 2), ([8, 9, 10], 4)]


def words(prompts, completions, **_):
    return [float(len(c.split())) + 0.1 * len(p) for p, c in zip(prompts, completions, strict=True)]


def fails_on_rank_one(prompts, completions, **_):
    if dist.get_rank() == 1:
        raise ValueError("no score for these rows")
    return [0.0] * len(prompts)


def _pairs() -> Dataset:
    return Dataset.from_dict(
        {
            "prompt": [f"p{i}" * (i + 1) for i in range(ROWS)],
            "chosen": [" ".join(["good"] * (i + 1)) for i in range(ROWS)],
            "rejected": ["bad"] * ROWS,
        }
    )


def _worker(rank: int, world: int, init_file: str, out: str) -> None:
    os.environ["LOCAL_RANK"] = str(rank)  # one machine: rank 0 writes the cache
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        labelled = label_dataset(_pairs(), [CallableSupervisor(words, name="w")], cache_dir=out)
        record = {
            "chosen": list(labelled["reward_chosen__w"]),
            "entry": read_provenance(labelled)["supervisors"][0],
        }
        try:
            label_dataset(_pairs(), [CallableSupervisor(fails_on_rank_one, name="f")], cache_dir=out)
        except Exception as e:  # every process must get here, not wait for rank 1's share
            record["failure"] = f"{type(e).__name__}: {e}"
        try:
            local_main_first(lambda: (_ for _ in ()).throw(OSError("disk full")) if rank == 0 else "read")
        except Exception as e:
            record["first_failure"] = f"{type(e).__name__}: {e}"
        with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
            json.dump(record, f)
    finally:
        dist.destroy_process_group()


def test_labelling_on_three_processes_equals_one_and_fails_together(tmp_path):
    mp.spawn(_worker, args=(3, str(tmp_path / "store"), str(tmp_path)), nprocs=3, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(3)]
    one = label_dataset(_pairs(), [CallableSupervisor(words, name="w")], cache=False)
    for r in ranks:  # every process holds every row's judgement, in row order
        assert r["chosen"] == pytest.approx(list(one["reward_chosen__w"]))
        assert r["entry"]["cache"] == "miss" and r["entry"]["processes"] == 3
    assert [r["entry"]["rows_scored"] for r in ranks] == [3, 3, 4]
    # the cache was written once, under the same key a one-process run computes: it is read, nothing is scored
    again = read_provenance(
        label_dataset(_pairs(), [CallableSupervisor(words, name="w")], cache_dir=tmp_path)
    )
    assert again["supervisors"][0]["cache"] == "hit" and again["supervisors"][0]["rows_scored"] == 0
    assert again["supervisors"][0]["cache_key"] == ranks[0]["entry"]["cache_key"]
    assert "no score for these rows" in ranks[1]["failure"]
    for r in (ranks[0], ranks[2]):
        assert r["failure"].startswith("RuntimeError: supervisor 'f' failed on process 1 of 3")
    assert ranks[0]["first_failure"] == "OSError: disk full"
    assert all("first process of this machine failed" in r["first_failure"] for r in ranks[1:])
