"""A rejected output's bytes are erased, not only its objects: on the hub the output volumes are
host paths under /tmp, which the controller-manager's hostPath deleter removes when a volume
whose reclaim policy is Delete loses its claim. The test writes the model's bytes where the
simulated workers would have; a released output keeps them (the positive control)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bench.hubkit.hub import clean_room, owner_of
from bench.hubkit.training import (
    Deal,
    Story,
    ask_release,
    finished_job_with_output,
    output_kinds,
    review,
    wait_release,
)
from bench.hubkit.waiting import wait_until

pytestmark = pytest.mark.integration


def written_output(story: Story, deal: Deal) -> tuple[str, str, Path]:
    """A finished job's output with bytes on its volume: the job, the volume, the file."""
    name, _ = finished_job_with_output(story, deal)
    claim = story.hub.core.read_namespaced_persistent_volume_claim(
        f"{name}-output", clean_room(deal.contract)
    )
    volume = claim.spec.volume_name
    pv = story.hub.core.read_persistent_volume(volume)
    assert pv.spec.host_path is not None, "the hub's output volumes are host paths"
    directory = Path(pv.spec.host_path.path)
    assert str(directory).startswith("/tmp/"), f"{directory}: run hack/hub/up.sh again"
    directory.mkdir(parents=True, exist_ok=True)
    model = directory / "model.safetensors"
    model.write_bytes(b"raw rows the provider said no to" * 64)
    return name, volume, model


def volume_gone(story: Story, volume: str) -> bool:
    return volume not in [pv.metadata.name for pv in story.hub.core.list_persistent_volume().items]


def test_a_rejected_outputs_bytes_are_erased_and_a_released_ones_kept(story: Story) -> None:
    deal = story.deal(outputs={"modelExport": "review"})
    provider = owner_of(deal.provider)

    rejected, volume, model = written_output(story, deal)
    release = ask_release(deal, rejected)
    wait_release(story, deal, release, "AwaitingReview")
    review(provider, deal, release, "Rejected")
    wait_release(story, deal, release, "Rejected")
    wait_until(lambda: volume_gone(story, volume), timeout=20, what=f"{volume} erased")
    assert not model.exists(), f"{model} outlived its rejected output"
    assert not model.parent.exists()
    job = story.job(deal.namespace, rejected)
    assert job is not None
    assert output_kinds(story, deal, job)[-1] == "OutputDeleted"

    # The positive control: an approved output's volume moves to the consumer, bytes and all.
    approved, kept_volume, kept = written_output(story, deal)
    other = ask_release(deal, approved)
    wait_release(story, deal, other, "AwaitingReview")
    review(provider, deal, other, "Approved")
    wait_release(story, deal, other, "Released")
    assert not volume_gone(story, kept_volume)
    assert kept.read_bytes().startswith(b"raw rows")


def test_a_discarded_output_whose_storage_cannot_erase_it_still_loses_its_volume(
    story: Story,
) -> None:
    deal = story.deal(outputs={"modelExport": "review"})
    name, volume, model = written_output(story, deal)
    job = story.job(deal.namespace, name)
    assert job is not None
    # The storage cannot erase this volume (a file it may not remove): its deleter fails after
    # the discard's first pass, and the volume ends Failed.
    subprocess.run(["chattr", "+i", str(model)], check=True)
    try:
        consumer = owner_of(deal.consumer)
        consumer.kubectl("delete", "trainingjob", name, "-n", deal.namespace, "--wait=false")
        # The discard converges: the Failed volume's object is deleted all the same, and only
        # then is the job let go.
        wait_until(lambda: volume_gone(story, volume), timeout=60, what=f"{volume} deleted")
        wait_until(lambda: story.job(deal.namespace, name) is None, timeout=30, what="job gone")
        kinds = [
            e["kind"]
            for e in story.ledger(deal.contract)
            if e["id"].startswith(f"output/{job['metadata']['uid']}/")
        ]
        assert kinds[-1] == "OutputDeleted", kinds
        # Its bytes are the storage's to erase, as the operator logs: here they stayed.
        assert model.exists()
    finally:
        subprocess.run(["chattr", "-i", str(model)], check=False)
        shutil.rmtree(model.parent, ignore_errors=True)
