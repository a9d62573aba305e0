"""What the objects report, in the places and forms kubectl users look: a condition `kubectl
wait` can use for any end of a job or a release, the job's reason and GPU-hours in `kubectl get`,
its Events in `kubectl describe`, and a contract whose provider lost a dataset's Service telling
the provider, who can fix it, in its own namespace."""

from __future__ import annotations

import json
import re
import time

import pytest

from bench.hubkit.hub import CONTRACTS, KubectlError, Person, owner_of, space_namespace, unique
from bench.hubkit.manifests import GROUP, VERSION, Body, condition, training_job_body
from bench.hubkit.training import (
    RELEASES,
    Deal,
    Story,
    ask_release,
    finished_job_with_output,
    gateway,
    review,
    wait_release,
)
from bench.hubkit.waiting import wait_until

pytestmark = pytest.mark.integration


def wait_for_end(person: Person, resource: str, name: str, namespace: str, timeout: str) -> str:
    """`kubectl wait --for=condition=Ended` as `person`; its output, or KubectlError."""
    return person.kubectl(
        "wait",
        "--for=condition=Ended",
        f"{resource}/{name}",
        "-n",
        namespace,
        f"--timeout={timeout}",
    )


def columns(
    person: Person, resource: str, name: str, namespace: str | None = None
) -> dict[str, str]:
    """The row `kubectl get` prints for one object, by column name (a column starts where its
    name does in the header; an empty cell is "")."""
    where = ["-n", namespace] if namespace else []
    header, row = person.kubectl("get", resource, name, *where).rstrip().splitlines()
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    ends = [*starts[1:], None]
    return {
        header[start:end].strip(): row[start:end].strip()
        for start, end in zip(starts, ends, strict=True)
    }


def described_events(person: Person, resource: str, name: str, namespace: str, *shown: str) -> str:
    """The Events `kubectl describe` shows `person` for an object, once all of `shown` are there:
    they are posted just after the status that ended it."""

    def events() -> str | None:
        described = person.kubectl("describe", resource, name, "-n", namespace)
        listed = described.split("Events:", 1)[1]
        return listed if all(text in listed for text in shown) else None

    found: str = wait_until(events, timeout=10, what=f"{resource} {name}'s Events {shown}")
    return found


def running_job(story: Story, deal: Deal) -> str:
    name = unique("j")
    body = training_job_body(name, deal.namespace, deal.contract, gpus_per_worker=1, run_for="600s")
    story.submit(owner_of(deal.consumer), body)
    story.wait_job(deal.namespace, name, "Running", timeout=30)
    return name


def test_kubectl_waits_for_a_stopped_jobs_end_and_shows_why_and_its_gpu_hours(story: Story) -> None:
    deal = story.deal()
    consumer = owner_of(deal.consumer)
    name = running_job(story, deal)
    # While it runs, the wait times out: Ended is not there yet.
    with pytest.raises(KubectlError, match="timed out"):
        wait_for_end(consumer, "trainingjob", name, deal.namespace, "1s")
    shown = columns(consumer, "trainingjob", name, deal.namespace)
    assert (shown["PHASE"], shown["REASON"]) == ("Running", "Running"), shown
    time.sleep(2)  # some GPU time to meter

    story.contracts.revoke(owner_of(deal.provider), deal.contract)
    wait_for_end(consumer, "trainingjob", name, deal.namespace, "20s")
    stopped = story.job(deal.namespace, name)
    assert stopped is not None
    ended = condition(stopped, "Ended") or {}
    assert (ended.get("status"), ended.get("reason")) == ("True", "Revoked"), ended
    assert stopped["status"]["gpuHours"] == round(stopped["status"]["gpuSeconds"] / 3600, 2)
    shown = columns(consumer, "trainingjob", name, deal.namespace)
    assert (shown["PHASE"], shown["REASON"]) == ("Stopped", "Revoked"), shown
    assert re.fullmatch(r"\d+(\.\d{1,2})?", shown["GPU-HOURS"]), shown

    # The consumer reads the job's Events where `kubectl describe` looks for them.
    described_events(consumer, "trainingjob", name, deal.namespace, "Revoked", "Stopped:")


def test_kubectl_waits_for_a_succeeded_job_too(story: Story) -> None:
    deal = story.deal()
    consumer = owner_of(deal.consumer)
    name = unique("j")
    body = training_job_body(name, deal.namespace, deal.contract, gpus_per_worker=1, run_for="1s")
    story.submit(consumer, body)
    wait_for_end(consumer, "trainingjob", name, deal.namespace, "30s")
    done = story.job(deal.namespace, name) or {}
    assert done["status"]["phase"] == "Succeeded"
    assert (condition(done, "Ended") or {}).get("status") == "True"
    assert (condition(done, "Finished") or {}).get("status") == "True"


def test_kubectl_waits_for_a_releases_end_approved_or_rejected(story: Story) -> None:
    deal = story.deal(outputs={"modelExport": "review"})
    consumer = owner_of(deal.consumer)
    job, _ = finished_job_with_output(story, deal)
    name = ask_release(deal, job)
    wait_release(story, deal, name, "AwaitingReview")
    with pytest.raises(KubectlError, match="timed out"):
        wait_for_end(consumer, RELEASES, name, deal.namespace, "1s")
    review(owner_of(deal.provider), deal, name, "Rejected")
    wait_for_end(consumer, RELEASES, name, deal.namespace, "30s")
    body = wait_release(story, deal, name, "Rejected")
    ended = condition(body, "Ended") or {}
    assert (ended.get("status"), ended.get("reason")) == ("True", "ReviewRejected"), ended
    described_events(consumer, RELEASES, name, deal.namespace, "Rejected:", "Warning")


def test_the_contracts_gpu_hours_are_printed_rounded(story: Story) -> None:
    deal = story.deal()
    name = running_job(story, deal)
    time.sleep(2)
    story.delete_job(deal.namespace, name)

    def used() -> Body | None:
        body = story.contract(deal.contract)
        return body if (body.get("status") or {}).get("usage", {}).get("gpuHours") else None

    usage = wait_until(used, timeout=20, what="the contract's usage")["status"]["usage"]
    assert usage["gpuHoursRounded"] == round(usage["gpuHours"], 2)
    assert usage["gpuHours"] != usage["gpuHoursRounded"], usage  # a few seconds: not 2 decimals
    shown = columns(owner_of(deal.provider), "datacontract", deal.contract)
    assert re.fullmatch(r"\d+(\.\d{1,2})?", shown["GPU-HOURS"]), shown


def contract_events(person: Person, space: str, contract: str) -> list[Body]:
    selector = f"involvedObject.kind=DataContract,involvedObject.name={contract}"
    listed = person.kubectl(
        "get", "events", "-n", space_namespace(space), "--field-selector", selector, "-o", "json"
    )
    events: list[Body] = json.loads(listed)["items"]
    return events


def test_a_missing_dataset_service_is_told_to_the_provider_and_the_clean_room_is_not_ready(
    story: Story,
) -> None:
    deal = story.deal()
    provider = owner_of(deal.provider)
    # Positive control: every dataset's Service is there, the clean room is ready.
    reachable = wait_until(
        lambda: story.contracts.condition(deal.contract, "DatasetsReachable"),
        timeout=10,
        what="DatasetsReachable",
    )
    assert (reachable["status"], reachable["reason"]) == ("True", "DatasetsPresent"), reachable
    assert (story.contracts.condition(deal.contract, "CleanRoomReady") or {})["status"] == "True"

    namespace = space_namespace(deal.provider)
    story.hub.core.delete_namespaced_service("records-gateway", namespace)
    # A job of the consumer: admitted, it wakes its contract, which finds the Service gone.
    name = unique("j")
    body = training_job_body(name, deal.namespace, deal.contract, gpus_per_worker=1, run_for="600s")
    story.submit(owner_of(deal.consumer), body)

    def missing() -> Body | None:
        found = story.contracts.condition(deal.contract, "DatasetsReachable") or {}
        return found if found.get("status") == "False" else None

    gone = wait_until(missing, timeout=20, what="DatasetsReachable False")
    assert gone["reason"] == "DatasetServiceMissing", gone
    assert (
        f"dataset records: Service records-gateway is missing in namespace {namespace}"
        in (gone["message"])
    )
    ready = story.contracts.condition(deal.contract, "CleanRoomReady") or {}
    assert (ready["status"], ready["reason"]) == ("False", "DatasetServiceMissing"), ready
    # The provider, who can fix it, reads it as a Warning in its own namespace.
    warned = wait_until(
        lambda: [
            e
            for e in contract_events(provider, deal.provider, deal.contract)
            if e["type"] == "Warning" and e["reason"] == "DatasetServiceMissing"
        ],
        timeout=10,
        what="the Warning in the provider's namespace",
    )
    assert "records-gateway" in warned[0]["message"]
    # The job waits, Admitted, and says why (its status may come after the contract's Warning:
    # the contract and the job are reconciled apart).
    waiting = story.wait_job(deal.namespace, name, "Admitted", timeout=20)
    held = condition(waiting, "CleanRoomReady") or {}
    assert held.get("status") == "False", held
    assert "dataset records has no Service" in held.get("message", ""), held

    # The provider puts the Service back: the contract sees it by itself, and the job runs.
    story.hub.core.create_namespaced_service(namespace, gateway("records"))
    back = wait_until(
        lambda: (
            (c := story.contracts.condition(deal.contract, "DatasetsReachable") or {})
            and c.get("status") == "True"
        ),
        timeout=20,
        what="DatasetsReachable True again",
    )
    assert back
    story.wait_job(deal.namespace, name, "Running", timeout=30)


def test_an_active_contract_with_its_datasets_there_writes_nothing_when_reconciled_again(
    story: Story,
) -> None:
    deal = story.deal()
    wait_until(
        lambda: story.contracts.condition(deal.contract, "DatasetsReachable"),
        timeout=10,
        what="DatasetsReachable",
    )
    time.sleep(2)  # the reconciles its activation set off are over
    before = story.contract(deal.contract)["status"]
    # A change of its labels reconciles it again; its conditions stay as they are.
    touched = story.hub.custom.patch_cluster_custom_object(
        GROUP, VERSION, CONTRACTS, deal.contract, {"metadata": {"labels": {"touched": "1"}}}
    )
    time.sleep(3)
    after = story.contract(deal.contract)
    assert after["status"]["conditions"] == before["conditions"]
    assert after["metadata"]["resourceVersion"] == touched["metadata"]["resourceVersion"]
