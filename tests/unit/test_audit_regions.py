"""Which region an audit event belongs to when nothing more specific names one."""

from __future__ import annotations

import pytest

from backend.models import Role
from backend.services.audit import actor_region, common_region
from backend.services.authz import Actor, Grant

TOWN = "/500151/500151105/"
VILLAGE = "/500151/500151105/500151105201/"
OTHER_TOWN = "/500151/500151106/"


@pytest.mark.parametrize(
    ("paths", "region"),
    [
        ([], None),
        ([TOWN], TOWN),
        ([VILLAGE, TOWN], TOWN),
        ([VILLAGE, VILLAGE], VILLAGE),
        ([TOWN, OTHER_TOWN], "/500151/"),
        (["/500151/", "/500152/"], None),
        # Segments, not characters: 5001510 is not under 500151.
        (["/500151/", "/5001510/"], None),
    ],
)
def test_the_deepest_region_holding_every_path(paths, region):
    assert common_region(paths) == region


def test_an_actors_region_is_that_of_their_grants():
    def grant(path):
        return Grant(role=Role.TOWN_ADMIN, region_id=1, region_path=path)

    assert actor_region(None) is None
    assert actor_region(Actor.anonymous(ip="127.0.0.1")) is None
    assert actor_region(Actor(user_id=1, grants=(grant(VILLAGE),))) == VILLAGE
    assert actor_region(Actor(user_id=1, grants=(grant(VILLAGE), grant(OTHER_TOWN)))) == "/500151/"
