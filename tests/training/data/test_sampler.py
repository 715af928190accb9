"""The epoch sampler: seeded shuffles, DDP shards, and exact mid-epoch resume."""
from training.data.torch_dataset import EpochSampler


def test_same_seed_and_epoch_give_the_same_order():
    a, b = EpochSampler(20, 4, seed=1), EpochSampler(20, 4, seed=1)
    a.set_epoch(3), b.set_epoch(3)
    assert list(a) == list(b)
    b.set_epoch(4)
    assert list(a) != list(b)


def test_resume_skips_exactly_the_consumed_batches():
    full = EpochSampler(22, 4, seed=0)
    full.set_epoch(1)
    resumed = EpochSampler(22, 4, seed=0)
    resumed.set_epoch(1, skip_batches=2)
    assert list(resumed) == list(full)[8:]
    assert len(full) == 20 and full.batches_per_epoch() == 5


def test_ranks_get_disjoint_equal_shards():
    shards = [EpochSampler(10, 2, seed=0, rank=r, world_size=2) for r in (0, 1)]
    for s in shards:
        s.set_epoch(0)
    a, b = ({i for i, _ in s} for s in shards)
    assert not a & b and len(a) == len(b) == 4


def test_eval_order_is_sequential_and_keeps_every_sample():
    s = EpochSampler(5, 2, seed=0, shuffle=False, drop_last=False)
    assert [i for i, _ in s] == [0, 1, 2, 3, 4]
