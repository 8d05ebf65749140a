"""Both batch paths cover every sample once per epoch and reshuffle between epochs."""

from __future__ import annotations

import torch

from lamina.data.batches import LoaderBatches, MemoryBatches, make_batches


def _epoch(batches) -> torch.Tensor:
    return torch.cat([xb[:, 0] for xb, _ in batches])


def test_memory_path_covers_all_and_reshuffles() -> None:
    x = torch.arange(103, dtype=torch.float32)[:, None]
    batches = make_batches(x, x[:, 0], 10, True, torch.device("cpu"), seed=3)
    assert isinstance(batches, MemoryBatches) and len(batches) == 11
    one, two = _epoch(batches), _epoch(batches)
    assert sorted(one.tolist()) == list(range(103)) and not torch.equal(one, two)


def test_same_seed_same_order() -> None:
    x = torch.arange(50, dtype=torch.float32)[:, None]
    a = _epoch(make_batches(x, x[:, 0], 8, True, torch.device("cpu"), seed=1))
    b = _epoch(make_batches(x, x[:, 0], 8, True, torch.device("cpu"), seed=1))
    assert torch.equal(a, b)


def test_loader_path_matches_contract() -> None:
    x = torch.arange(37, dtype=torch.float32)[:, None]
    batches = make_batches(x, x[:, 0], 5, True, torch.device("cpu"), path="loader", seed=0)
    assert isinstance(batches, LoaderBatches) and len(batches) == 8
    assert sorted(_epoch(batches).tolist()) == list(range(37))
    ordered = make_batches(x, x[:, 0], 5, False, torch.device("cpu"), path="loader")
    assert _epoch(ordered).tolist() == list(range(37))


def test_an_epoch_resumes_part_way_with_the_same_order() -> None:
    x = torch.arange(53, dtype=torch.float32)[:, None]
    for path in ("memory", "loader"):
        run = make_batches(x, x[:, 0], 5, True, torch.device("cpu"), path=path, seed=4)
        _epoch(run)
        second = iter(run)
        full = [next(second)[0][:, 0]]
        epoch_rng = run.epoch_rng  # saved with a checkpoint: the state the second epoch's order came from
        full += [xb[:, 0] for xb, _ in second]
        third = _epoch(run)
        resumed = make_batches(x, x[:, 0], 5, True, torch.device("cpu"), path=path, seed=99)
        resumed.resume(epoch_rng, 3)
        rest = [xb[:, 0] for xb, _ in resumed]
        assert len(rest) == len(full) - 3 and all(torch.equal(a, b) for a, b in zip(rest, full[3:]))
        assert torch.equal(_epoch(resumed), third)  # and the next epoch draws the same order as before


def test_balanced_sampler_draws_classes_equally_and_resumes_exactly() -> None:
    y = torch.cat([torch.zeros(90), torch.ones(10)]).long()  # 9:1
    x = torch.arange(100, dtype=torch.float32)[:, None]
    for path in ("memory", "loader"):
        run = make_batches(x, y, 10, True, torch.device("cpu"), path=path, seed=2, sampler="balanced")
        drawn = torch.cat([_epoch(run) for _ in range(20)])
        assert 0.4 < (drawn >= 90).float().mean() < 0.6  # the rare class drawn about half the time, not 10%
        second = iter(run)
        full = [next(second)[0][:, 0]]
        epoch_rng = run.epoch_rng
        full += [xb[:, 0] for xb, _ in second]
        resumed = make_batches(x, y, 10, True, torch.device("cpu"), path=path, seed=99, sampler="balanced")
        resumed.resume(epoch_rng, 4)
        rest = [xb[:, 0] for xb, _ in resumed]
        assert len(rest) == len(full) - 4 and all(torch.equal(a, b) for a, b in zip(rest, full[4:]))
