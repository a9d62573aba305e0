"""A joint job gone without its finalizer, whose room holds no worker, Service or claim (it waited
for a dataset's address, or its output went): the orphan sweep still finds the room, by its
namespace, and removes it with every provider's grant to it."""

from __future__ import annotations

import pytest
from kubernetes import client

from bench.hubkit.hub import CLUSTER_ADMIN, owner_of, space_namespace
from bench.hubkit.manifests import condition
from bench.hubkit.training import Story
from bench.hubkit.waiting import wait_until
from tests.integration.joint import (
    ANY_PARTNER,
    identity,
    joint_deal,
    joint_job,
    may_read,
    room,
    room_gone,
    strip_and_delete,
)

pytestmark = pytest.mark.integration


def test_a_gone_joint_jobs_emptied_room_is_swept_with_every_grant(story: Story) -> None:
    joint = joint_deal(story, ANY_PARTNER, ANY_PARTNER)
    # The second provider's dataset loses its Service: the job waits for its address, its room
    # opened, sealed and granted, but no worker started.
    second = space_namespace(joint.providers[1])
    story.hub.core.delete_namespaced_service("records-gateway", second)
    body = joint_job(joint.namespace, list(joint.contracts))
    name = story.submit(owner_of(joint.consumer), body)

    def waiting() -> str | None:
        job = story.job(joint.namespace, name) or {}
        ready = condition(job, "CleanRoomReady") or {}
        uid = job.get("metadata", {}).get("uid")
        if ready.get("status") == "False" and uid and not room_gone(story, uid):
            return str(uid)
        return None

    uid = wait_until(waiting, timeout=30, what="the job waiting in its open room")
    # Positive control: its room is there, granted by the first provider, and holds no worker.
    first = space_namespace(joint.providers[0])
    assert may_read(story, identity(uid), first, "records")
    assert not story.hub.batch.list_namespaced_job(room(uid)).items
    assert not story.hub.core.list_namespaced_pod(room(uid)).items
    for _ in range(10):
        try:
            strip_and_delete(CLUSTER_ADMIN, joint.namespace, name)
            break
        except client.ApiException as error:
            if error.status != 409:
                raise
    assert story.job(joint.namespace, name) is None
    wait_until(lambda: room_gone(story, uid), timeout=20, what="the emptied joint room going")
    wait_until(
        lambda: not may_read(story, identity(uid), first, "records"),
        timeout=10,
        what="the first provider's grant to the room gone",
    )
