"""An output nobody releases is discarded when the hub's retention passes, on the record."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.hubkit.hub import audit_verify, clean_room, running_operator
from bench.hubkit.processes import OperatorProcess
from bench.hubkit.training import Story, finished_job_with_output, output_kinds
from bench.hubkit.waiting import wait_until

pytestmark = pytest.mark.integration

RETENTION_SECONDS = 4


@pytest.fixture(scope="module")
def operator(
    crds_installed: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator, keeping unreleased outputs for a few seconds only."""
    env = {"TDS_OUTPUT_RETENTION": f"{RETENTION_SECONDS}s"}
    with running_operator(tmp_path_factory, env) as process:
        yield process


def test_an_unreleased_output_is_discarded_after_the_retention(story: Story) -> None:
    deal = story.deal(outputs={"modelExport": "review"})
    name, job = finished_job_with_output(story, deal)
    core = story.hub.core
    room = clean_room(deal.contract)
    volume = core.read_namespaced_persistent_volume_claim(f"{name}-output", room).spec.volume_name
    assert job["status"]["output"]["quarantinedUntil"]

    def discarded() -> bool:
        state = ((story.job(deal.namespace, name) or {}).get("status") or {}).get("output") or {}
        return state.get("state") == "Discarded"

    wait_until(discarded, timeout=RETENTION_SECONDS + 20, what=f"output of {name} Discarded")
    claims = [c.metadata.name for c in core.list_namespaced_persistent_volume_claim(room).items]
    assert f"{name}-output" not in claims
    # Discarded is reported once the discard is recorded and the claim deleted; the volume goes
    # when the controller-manager's PV controller next handles its released claim.
    wait_until(
        lambda: volume not in [pv.metadata.name for pv in core.list_persistent_volume().items],
        timeout=60,
        what=f"volume {volume} of the discarded output deleted",
    )
    assert output_kinds(story, deal, job)[-1] == "OutputDeleted"
    deleted = [e for e in story.hub.entries(deal.contract) if e["kind"] == "OutputDeleted"]
    assert deleted[-1]["details"]["reason"] == "RetentionPassed"
    assert audit_verify(deal.contract).returncode == 0
