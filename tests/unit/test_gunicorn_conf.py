"""The production gunicorn settings' worker hook: the loaded app is kept out of the GC's way."""

from __future__ import annotations

import gc
import runpy
import weakref
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


@pytest.fixture
def gc_state():
    """Restore the collector's thresholds and unfreeze what a test froze."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_a_loaded_worker_freezes_its_objects_and_collects_young_ones_less_often(gc_state):
    conf = runpy.run_path(str(CONF))
    before = gc.get_threshold()

    conf["post_worker_init"](worker=None)

    assert gc.get_freeze_count() > 10_000
    assert gc.get_threshold() == (conf["GC_THRESHOLD0"], *before[1:])
    assert conf["GC_THRESHOLD0"] > before[0]
    # A cycle made after the hook is still collected.
    cycle = _Node()
    cycle.self = cycle
    ref = weakref.ref(cycle)
    del cycle
    gc.collect()
    assert ref() is None


class _Node:
    self: _Node
