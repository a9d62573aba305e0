"""`kubectl tds export prov` on the hub: a released model's provenance from the ledger, as the
consumer's owner exports it, and the same document made offline from a saved checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client
from prov.model import ProvDocument

from bench.hubkit.hub import Contracts, owner_of, tds
from bench.hubkit.training import (
    Story,
    ask_release,
    finished_job_with_output,
    review,
    wait_release,
)
from tds_operator.connection import EXIT_OK
from tests.integration.evidence import save, settled

pytestmark = pytest.mark.integration


def test_a_released_models_provenance_is_exported_online_and_offline(
    story: Story, contracts: Contracts, core: client.CoreV1Api, tmp_path: Path
) -> None:
    deal = story.deal(outputs={"modelExport": "review"})
    name, job = finished_job_with_output(story, deal)
    release = ask_release(deal, name)
    wait_release(story, deal, release, "AwaitingReview")
    review(owner_of(deal.provider), deal, release, "Approved")
    wait_release(story, deal, release, "Released")
    uid = job["metadata"]["uid"]

    exported = tds(
        owner_of(deal.consumer), "export", "prov", f"modelrelease/{release}", "-n", deal.namespace
    )
    assert exported.returncode == EXIT_OK, exported.stderr
    document = json.loads(exported.stdout)
    doc = ProvDocument.deserialize(content=exported.stdout, format="json")
    kinds = {record.get_type().localpart for record in doc.get_records()}
    assert {"Entity", "Activity", "Agent", "Usage", "Generation", "Derivation"} <= kinds

    entries = story.hub.entries(deal.contract)
    quarantined = next(e for e in entries if e["id"] == f"output/{uid}/outputQuarantined")
    ended = next(e for e in entries if e["kind"] == "JobSucceeded" and e["details"]["uid"] == uid)
    output = document["entity"][f"tds:output/{uid}"]
    assert output["tds:manifestDigest"] == quarantined["details"]["manifestDigest"]
    assert (
        document["activity"][f"tds:job/{uid}"]["tds:gpuSeconds"] == ended["details"]["gpuSeconds"]
    )
    assert f"tds:model/{uid}" in document["entity"]
    reviewer = f"tds:user/{owner_of(deal.provider).user}"
    assert reviewer in document["agent"]

    # Offline, from a checkpoint the consumer saved: the same document.
    settled(contracts, core, deal.contract)
    path = save(tmp_path, deal.consumer, deal.contract)
    offline = tds(owner_of(deal.consumer), "export", "prov", uid, "--from", str(path))
    assert offline.returncode == EXIT_OK, offline.stderr
    assert json.loads(offline.stdout) == document
