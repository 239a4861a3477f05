"""The plan shows where each GPU pool's nodes land, from the planned Karpenter objects."""

from __future__ import annotations

import subprocess
import sys

from hoist.plan import placement
from tests.conftest import planned
from tests.training.runner import ROOT


def test_prods_efa_pool_is_in_one_az_and_one_subnet_with_locked_memory() -> None:
    pools = {p.pool: p for p in placement.placements(planned("prod"))}
    efa = pools["h100-efa"]
    assert (efa.efa, efa.zones, efa.subnets, efa.capacity, efa.locked_memory) == (
        True, ("us-east-1a",), 1, "on-demand", True)
    assert placement.describe(efa) == ("h100-efa: on-demand, 1 AZ (us-east-1a), 1 subnet(s), EFA, "
                                       "unlimited locked memory")
    spread = pools["a10g-spot"]
    assert (spread.efa, len(spread.zones), spread.subnets, spread.locked_memory) == (False, 3, 3, False)


def test_the_terminal_report_lists_the_placements() -> None:
    run = subprocess.run([sys.executable, "-m", "hoist", "plan", "--stack", "prod"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "GPU pools, where their nodes land:" in run.stdout
    assert "h100-efa: on-demand, 1 AZ (us-east-1a), 1 subnet(s), EFA, unlimited locked memory" in run.stdout


def test_a_reserved_pool_shows_its_reservations() -> None:
    reserved = placement.Placement(pool="h100", efa=True, zones=("us-east-1a",), subnets=1, capacity="reserved",
                                   reservations=2, locked_memory=True)
    assert placement.describe(reserved).startswith("h100: reserved, 2 capacity reservation(s), 1 AZ (us-east-1a)")
