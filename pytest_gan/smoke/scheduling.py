"""pytest-xdist: all the items of one spec go to one worker, so its run is trained once."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pytest_gan.smoke.items import CHECK_IDS, COLLECTOR_NAME

# -- pytest-xdist ---------------------------------------------------------------------

SMOKE_NODEID = re.compile(
    rf"(?P<collector>(?:.*/)?{COLLECTOR_NAME})::(?P<check>[a-z-]+)(?:\[(?P<spec>.*)\])?"
)


def smoke_scope(nodeid: str) -> str:
    """A node id's unit of work under pytest-xdist: all the items of one smoke spec go
    together (so its run is trained once in all); any other test is a unit of its own."""
    match = SMOKE_NODEID.fullmatch(nodeid)
    if match is None or match["check"] not in CHECK_IDS:
        return nodeid
    return f"{match['collector']}[{match['spec'] or ''}]"


def spec_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's load-by-scope scheduling with :func:`smoke_scope` as the scope.

    Any test outside the smoke suite is its own scope, so it is distributed one by one, as
    with ``--dist load``.
    """
    from xdist.scheduler import LoadScopeScheduling

    class SpecScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return smoke_scope(nodeid)

    return SpecScheduling(config, log)
