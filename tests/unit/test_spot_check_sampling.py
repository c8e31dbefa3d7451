"""The spot-check sample: stratified by village, sized by share, reproducible from its seed."""

from __future__ import annotations

import random

import pytest

from backend.services.spot_checks import draw_sample, stratum_size


@pytest.mark.parametrize(
    ("population", "share", "expected"),
    [
        (0, 0.05, 0),
        (1, 0.05, 1),  # at least one per village with visits
        (19, 0.05, 1),
        (20, 0.05, 1),
        (21, 0.05, 2),
        (30, 0.1, 3),  # 0.1 × 30 is 3.0000000000000004 in floats: still 3
        (25, 0.1, 3),
        (7, 1.0, 7),
        (7, 0.99, 7),
        (100, 0.333, 34),
    ],
)
def test_stratum_size(population, share, expected):
    assert stratum_size(population, share) == expected


def _villages():
    rng = random.Random(7)
    ids = rng.sample(range(1, 100_000), 400)
    return {11: ids[:250], 12: ids[250:390], 13: ids[390:]}


def test_same_seed_same_sample():
    candidates = _villages()
    first = draw_sample(candidates, share=0.05, seed="2026-11-土桥镇")
    again = draw_sample(candidates, share=0.05, seed="2026-11-土桥镇")
    assert first == again
    assert {k: len(v) for k, v in first.items()} == {11: 13, 12: 7, 13: 1}
    for village_id, ids in first.items():
        assert set(ids) <= set(candidates[village_id])
        assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_sample_ignores_the_order_candidates_arrive_in():
    candidates = _villages()
    shuffled = {}
    for village_id in reversed(list(candidates)):
        ids = list(candidates[village_id])
        random.Random(village_id).shuffle(ids)
        shuffled[village_id] = ids
    assert draw_sample(shuffled, share=0.1, seed="abc") == draw_sample(
        candidates, share=0.1, seed="abc"
    )


def test_different_seed_different_sample():
    candidates = _villages()
    samples = {
        tuple(
            sorted(i for ids in draw_sample(candidates, share=0.05, seed=s).values() for i in ids)
        )
        for s in ("a", "b", "c", "d")
    }
    # 21 of 400: four identical draws by chance are practically impossible.
    assert len(samples) == 4


def test_empty_and_full():
    assert draw_sample({}, share=0.05, seed="x") == {}
    candidates = {5: [3, 1, 2]}
    assert draw_sample(candidates, share=1.0, seed="x") == {5: [1, 2, 3]}
