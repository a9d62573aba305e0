"""Helpers of the joint-training tests: a consumer with a contract from each of two providers,
and its joint jobs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from bench.hubkit.hub import Person, owner_of, refusal, space_namespace, unique
from bench.hubkit.manifests import GROUP, VERSION, Body, training_job_body
from bench.hubkit.training import Story

ANY_PARTNER = {"allowed": True}


@dataclass(frozen=True)
class Joint:
    """A consumer with an Active contract from each of two providers."""

    consumer: str
    providers: tuple[str, str]
    contracts: tuple[str, str]

    @property
    def namespace(self) -> str:
        return space_namespace(self.consumer)


def joint_deal(
    story: Story, first: Body | None = None, second: Body | None = None, *, naming: bool = False
) -> Joint:
    """Two providers each contracting with one consumer, with these joint-training terms
    (None: the term absent); `naming`: the first allows it only with the second provider."""
    consumer = story.space()
    providers = (story.space(), story.space())
    if naming:
        first = {"allowed": True, "with": [providers[1]]}
    contracts = tuple(
        story.propose(provider, consumer, **({"jointTraining": term} if term else {}))
        for provider, term in zip(providers, (first, second), strict=True)
    )
    for contract in contracts:
        story.wait_contract(contract, "Active")
    return Joint(consumer, providers, (contracts[0], contracts[1]))


def joint_job(namespace: str, contracts: list[str], **spec: Any) -> Body:
    body = training_job_body(unique("j"), namespace, contracts[0], gpus_per_worker=4, **spec)
    del body["spec"]["contract"]
    body["spec"]["contracts"] = contracts
    return body


def joint_refusal(story: Story, joint: Joint, contracts: list[str]) -> str:
    """The webhook's answer to a joint job of the consumer that it must refuse."""
    body = joint_job(joint.namespace, contracts)
    message = refusal(lambda: story.submit(owner_of(joint.consumer), body))
    assert "denied the request" in message, message
    return message.split("denied the request", 1)[1]


def strip_and_delete(by: Person, namespace: str, name: str) -> None:
    """Hub staff strip a job's finalizer, then delete it at the version the strip made (the
    operator may write it in between: the precondition then refuses, with 409)."""
    strip = json.dumps([{"op": "remove", "path": "/metadata/finalizers"}])
    version = by.kubectl(
        "patch", "trainingjob", name, "-n", namespace, "--type=json", "-p", strip,
        "-o", "jsonpath={.metadata.resourceVersion}",
    )  # fmt: skip
    options = client.V1DeleteOptions(preconditions=client.V1Preconditions(resource_version=version))
    by.api().delete_namespaced_custom_object(
        GROUP, VERSION, namespace, "trainingjobs", name, body=options
    )


WORKER = "tds-worker"


def room(uid: str) -> str:
    return f"tds-jr-{uid}"


def identity(uid: str) -> str:
    return f"system:serviceaccount:{room(uid)}:{WORKER}"


def may_read(story: Story, user: str, namespace: str, dataset: str) -> bool:
    """What the API server answers a gateway asking whether `user` may read `dataset`."""
    review = client.AuthorizationV1Api(story.hub.core.api_client).create_subject_access_review(
        client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=user,
                groups=["system:serviceaccounts", "system:authenticated"],
                resource_attributes=client.V1ResourceAttributes(
                    namespace=namespace,
                    group="tds.io",
                    resource="datasets",
                    name=dataset,
                    verb="get",
                ),
            )
        )
    )
    return bool(review.status.allowed)


def room_gone(story: Story, uid: str) -> bool:
    """The room is gone, or going (the namespace controller takes a few seconds)."""
    rooms = story.hub.core.list_namespace(field_selector=f"metadata.name={room(uid)}").items
    return not rooms or rooms[0].metadata.deletion_timestamp is not None
