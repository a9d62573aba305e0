"""TrainingJob on the real hub: admitted against its contract, run on the GPU pool, metered,
stopped by revocation and budget, tracked across an operator crash, cleaned up on deletion."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client

from bench.hubkit.hub import (
    JOBS,
    clean_room,
    kubectl,
    owner_of,
    refusal,
    space_namespace,
    unique,
)
from bench.hubkit.manifests import Body, condition, training_job_body
from bench.hubkit.processes import OperatorProcess
from bench.hubkit.training import (
    GPU_RESOURCE,
    STOP_LATENCY_TARGET,
    Deal,
    Story,
    completion_index,
    run_seconds,
    seconds,
)
from bench.hubkit.waiting import wait_until

pytestmark = pytest.mark.integration

GPU_POOL = {"hub.tds.io/pool": "gpu"}
COMPLETION_INDEX = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
# Pod timestamps have whole-second resolution: each worker's run time may be off by up to 1 s.
TIMESTAMP_RESOLUTION = 1.0


def submit(story: Story, deal: Deal, *, name: str | None = None, **job: Any) -> str:
    """A TrainingJob created by the consumer's owner in the consumer's namespace."""
    body = training_job_body(name or unique("j"), deal.namespace, deal.contract, **job)
    return story.submit(owner_of(deal.consumer), body)


def job_refusal(
    story: Story, deal: Deal, *, namespace: str | None = None, by: str | None = None, **job: Any
) -> str:
    """The webhook's answer to a TrainingJob it must refuse, created by an owner of space `by`
    (default: the consumer) in `namespace` (default: the consumer's)."""
    body = training_job_body(unique("j"), namespace or deal.namespace, deal.contract, **job)
    message = refusal(lambda: story.submit(owner_of(by or deal.consumer), body))
    assert "denied the request" in message, message
    return message


def metering_tolerance(workers: int, gpus_per_worker: int) -> float:
    """How far metered GPU-seconds may be from the true run time: 1 s per worker, per GPU."""
    return TIMESTAMP_RESOLUTION * workers * gpus_per_worker


def ledger_of_job(story: Story, contract: str, uid: str) -> list[Body]:
    return [e for e in story.ledger(contract) if e["details"].get("uid") == uid]


# --- Running and metering -------------------------------------------------------------------------


def test_a_two_worker_job_runs_across_two_gpu_nodes_and_is_metered(
    story: Story, api_client: client.ApiClient
) -> None:
    deal = story.deal()
    run_for = "8s"
    name = submit(story, deal, workers=2, gpus_per_worker=8, run_for=run_for)
    running = story.wait_job(deal.namespace, name, "Running", timeout=30)
    assert running["status"]["cleanRoom"] == clean_room(deal.contract)
    assert (condition(running, "Admitted") or {}).get("status") == "True"

    # The job is Running once one worker runs: the other may still be being placed.
    def placed() -> list[client.V1Pod] | None:
        pods = story.pods(deal.contract, name)
        return pods if len(pods) == 2 and all(p.status.pod_ip for p in pods) else None

    pods = wait_until(placed, timeout=30, what=f"{name}'s two workers placed")
    assert [completion_index(p) for p in pods] == [0, 1]
    nodes = [p.spec.node_name for p in pods]
    assert len(set(nodes)) == 2, f"workers share a node: {nodes}"
    core = client.CoreV1Api(api_client)
    for node in nodes:
        labels = core.read_node(node).metadata.labels
        assert GPU_POOL.items() <= labels.items(), f"{node} is not a GPU node: {labels}"
    rendezvous = story.service(deal.contract, name)
    assert rendezvous is not None
    master = rendezvous.spec.cluster_ip
    assert ipaddress.ip_address(master), master
    datasets = {"records": f"{story.gateway_ip(deal.provider, 'records')}:8443"}
    presentation = {
        "tokenPath": "/var/run/secrets/tds.io/datasets/token",
        "audience": "tds.io/datasets",
        "scheme": "Bearer",
    }
    for index, pod in enumerate(pods):
        spec = pod.spec
        (worker,) = spec.containers
        assert worker.resources.requests[GPU_RESOURCE] == "8"
        assert worker.resources.limits[GPU_RESOURCE] == "8"
        assert any(
            t.key == GPU_RESOURCE and t.operator == "Exists" and t.effect == "NoSchedule"
            for t in spec.tolerations
        ), spec.tolerations
        assert spec.node_selector == GPU_POOL
        # No API token: neither the setting nor a projected token volume; the clean room's
        # account and its token for the datasets' gateways only.
        assert spec.automount_service_account_token is False
        assert spec.service_account_name == "tds-worker"
        [token] = [v.projected for v in spec.volumes if v.projected]
        [source] = token.sources
        assert source.service_account_token.audience == "tds.io/datasets"
        assert not [v for v in spec.volumes or [] if v.name.startswith("kube-api-access")]
        assert not [m for m in worker.volume_mounts or [] if "serviceaccount" in m.mount_path]
        # Restricted security context (the clean room's Pod Security level enforces it too).
        assert spec.security_context.run_as_non_root is True
        assert spec.security_context.seccomp_profile.type == "RuntimeDefault"
        assert worker.security_context.allow_privilege_escalation is False
        assert worker.security_context.capabilities.drop == ["ALL"]
        assert worker.security_context.read_only_root_filesystem is True
        # torchrun-style rendezvous: rank from the completion index, worker 0 as master.
        env = {e.name: e for e in worker.env}
        assert env["MASTER_ADDR"].value == master
        assert env["WORLD_SIZE"].value == "2"
        assert env["RANK"].value_from.field_ref.field_path == COMPLETION_INDEX
        assert env["NODE_RANK"].value_from.field_ref.field_path == COMPLETION_INDEX
        # torchrun's own settings, which it reads when its options are not on its command line.
        assert env["PET_MASTER_ADDR"].value == master
        assert env["PET_NNODES"].value == "2"
        assert env["PET_NPROC_PER_NODE"].value == "8"
        assert env["PET_NODE_RANK"].value_from.field_ref.field_path == COMPLETION_INDEX
        assert spec.hostname == f"{name}-{index}"
        # No resolver (a resolver that forwards external names carries data out): the master
        # and the datasets are handed in as IPs, and the only nameserver is the pod's loopback.
        assert spec.dns_policy == "None"
        assert spec.dns_config.nameservers == ["127.0.0.1"]
        assert spec.enable_service_links is False
        endpoints = json.loads(env["TDS_DATASET_ENDPOINTS"].value)
        assert endpoints == {
            name: {"address": address, **presentation} for name, address in datasets.items()
        }
        for address in datasets.values():
            ipaddress.ip_address(address.rsplit(":", 1)[0])
        # Scratch space is bounded by the hub rule (default 10Gi).
        [scratch] = [v for v in spec.volumes if v.empty_dir]
        assert scratch.empty_dir.size_limit == "10Gi"
    # The clean room may not ask the cluster DNS; the rendezvous Service fronts worker 0 alone.
    assert story.network_policies(deal.contract) == {
        "tds-default-deny",
        "tds-allow-workers",
        "tds-allow-datasets",
    }
    assert rendezvous.spec.selector["batch.kubernetes.io/job-completion-index"] == "0"
    assert story.endpoint_ips(deal.contract, name) == [pods[0].status.pod_ip]
    assert (condition(running, "CleanRoomReady") or {}).get("reason") == "CleanRoomSealed"

    done = story.wait_job(deal.namespace, name, "Succeeded", "Failed", timeout=30)
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert (condition(done, "Finished") or {}).get("reason") == "Completed"
    # Its cluster IP goes back to the hub's range with the job's end.
    wait_until(
        lambda: story.service(deal.contract, name) is None,
        timeout=30,
        what=f"{name}'s rendezvous Service removed",
    )
    pods = story.pods(deal.contract, name)
    actual = sum(run_seconds(p) for p in pods) * 8
    nominal = seconds(run_for) * 2 * 8
    metered = done["status"]["gpuSeconds"]
    tolerance = metering_tolerance(2, 8)
    print(
        f"\nmetering: {metered} GPU-s metered, {actual:.0f} from the pods' timestamps, "
        f"{nominal:.0f} nominal (2 x 8 GPUs x {run_for}); tolerance ±{tolerance:.0f}"
    )
    assert abs(metered - actual) <= tolerance
    assert abs(metered - nominal) <= tolerance

    def usage_reflects_job() -> Body | None:
        usage = (story.contract(deal.contract).get("status") or {}).get("usage") or {}
        return usage if usage.get("gpuHours") == round(metered / 3600, 6) else None

    usage = wait_until(usage_reflects_job, timeout=10, what="contract usage of the job")
    assert usage["jobs"] == 1


# --- Admission: the webhook's answer --------------------------------------------------------------


def test_a_job_under_a_contract_that_is_not_active_is_refused(story: Story) -> None:
    provider, consumer = story.space(), story.space()
    contract = story.propose(provider, consumer, consent=False)
    story.wait_contract(contract, "Proposed")
    message = job_refusal(story, Deal(provider, consumer, contract))
    assert "ContractNotActive" in message
    assert "Proposed" in message


def test_a_job_outside_the_consumers_namespace_is_refused(story: Story) -> None:
    deal = story.deal()
    # Each creator is an owner of the namespace it creates in, so RBAC lets the request through
    # to the webhook: the refusal is the contract's, not the API server's.
    in_provider = job_refusal(
        story, deal, namespace=space_namespace(deal.provider), by=deal.provider
    )
    assert "WrongNamespace" in in_provider
    assert space_namespace(deal.consumer) in in_provider


def test_a_third_party_learns_nothing_of_a_contract_from_refusals(story: Story) -> None:
    """The attacker, an owner of a space party to neither side, names other pairs' contracts in
    jobs of its own namespace: an Active one, a Proposed one and one that does not exist all get
    the same refusal, which names neither phase nor consumer."""
    active = story.deal()
    provider, consumer = story.space(), story.space()
    proposed = Deal(provider, consumer, story.propose(provider, consumer, consent=False))
    story.wait_contract(proposed.contract, "Proposed")
    bystander = story.space()
    absent = Deal(active.provider, active.consumer, unique("nosuch"))
    answers: dict[str, str] = {}
    for deal in (active, proposed, absent):
        answer = job_refusal(story, deal, namespace=space_namespace(bystander), by=bystander)
        said = answer.split("denied the request", 1)[1]  # past the client's own file name
        answers[deal.contract] = said.replace(deal.contract, "<contract>")
        for telling in ("WrongNamespace", "ContractNotActive", "Proposed", deal.namespace):
            assert telling not in answer, answer
    assert len(set(answers.values())) == 1, answers
    assert "UnknownContract" in answers[absent.contract]


def test_a_job_for_another_purpose_is_refused(story: Story) -> None:
    deal = story.deal()
    message = job_refusal(story, deal, purpose="analytics")
    assert "PurposeMismatch" in message
    assert "model-training" in message


def test_a_job_reading_a_dataset_outside_the_contract_is_refused(story: Story) -> None:
    deal = story.deal()
    message = job_refusal(story, deal, datasets=["records", "weather"])
    assert "DatasetNotInContract" in message
    assert "weather" in message


def test_a_job_bigger_than_the_concurrency_limit_is_refused(story: Story) -> None:
    # It could never run under the contract: refused at once (one that only does not fit *yet*
    # is queued, see test_queueing.py).
    deal = story.deal(compute={"maxGpuHours": 10, "maxConcurrentGpus": 8})
    too_big = job_refusal(story, deal, workers=2, gpus_per_worker=8)
    assert "ConcurrencyExceeded" in too_big
    assert "16 GPUs exceed the contract's compute.maxConcurrentGpus 8" in too_big


def test_a_job_is_refused_once_the_budget_is_used_up(story: Story) -> None:
    # 0.002 GPU-hours are 7.2 GPU-seconds: one second of a 1 x 8 GPU job uses them up.
    deal = story.deal(compute={"maxGpuHours": 0.002, "maxConcurrentGpus": 8})
    first = submit(story, deal, gpus_per_worker=8, run_for="10s")
    ended = story.wait_job(deal.namespace, first, "Stopped", "Failed", "Succeeded", timeout=30)
    assert (condition(ended, "Finished") or {}).get("reason") == "GpuBudgetExhausted", ended
    story.wait_contract(deal.contract, "Exhausted")
    message = job_refusal(story, deal, gpus_per_worker=1)
    assert "BudgetExhausted" in message
    assert "0.002 GPU-hours" in message


def test_a_job_is_refused_once_max_jobs_were_admitted(story: Story) -> None:
    deal = story.deal(maxJobs=1)
    first = submit(story, deal, gpus_per_worker=1, run_for="6s")
    story.wait_job(deal.namespace, first, "Running", timeout=30)
    while_running = job_refusal(story, deal, gpus_per_worker=1)
    assert "JobLimitReached" in while_running
    assert "maxJobs is 1" in while_running
    # The limit caps admissions: the admitted job runs to its end (the contract is not Exhausted
    # under it, even in the instant between its admission in the ledger and in its status).
    ended = story.wait_job(deal.namespace, first, "Succeeded", "Stopped", "Failed", timeout=30)
    assert ended["status"]["phase"] == "Succeeded", ended["status"]
    story.wait_contract(deal.contract, "Exhausted")
    afterwards = job_refusal(story, deal, gpus_per_worker=1)
    assert "JobLimitReached" in afterwards


# --- Enforcement while jobs run -------------------------------------------------------------------


def test_revocation_stops_a_running_job_within_two_seconds(story: Story) -> None:
    deal = story.deal()
    name = submit(story, deal, gpus_per_worker=8, run_for="60s")
    running = story.wait_job(deal.namespace, name, "Running", timeout=30)
    time.sleep(2.0)  # let it use some GPU time, so that there is usage to meter at the stop
    stop_lag, gone_lag = story.revoke_timed(deal, name)
    assert stop_lag <= STOP_LATENCY_TARGET
    assert gone_lag <= STOP_LATENCY_TARGET

    stopped = story.job(deal.namespace, name)
    assert stopped is not None
    finished = condition(stopped, "Finished")
    assert finished is not None
    assert finished["reason"] == "Revoked", finished
    assert "Revoked" in finished["message"]
    assert "revoked" in finished["message"]
    assert stopped["status"]["gpuSeconds"] > 0
    story.wait_event(
        deal.namespace, name, lambda e: e.reason == "Revoked" and "Stopped" in e.message
    )

    story.wait_contract(deal.contract, "Revoked")
    denied = job_refusal(story, deal, gpus_per_worker=1)
    assert "ContractNotActive" in denied
    assert "Revoked" in denied

    uid = running["metadata"]["uid"]
    entries = ledger_of_job(story, deal.contract, uid)
    kinds = [e["kind"] for e in entries]
    assert {"JobAdmitted", "UsageMetered", "JobStopped"} <= set(kinds), kinds
    metered = next(e for e in entries if e["kind"] == "UsageMetered")
    assert metered["details"]["gpuSeconds"] == stopped["status"]["gpuSeconds"]
    stop = next(e for e in entries if e["kind"] == "JobStopped")
    assert stop["details"]["reason"] == "Revoked"
    verified = story.verify_ledger(deal.contract)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "verified" in verified.stdout


def test_budget_exhaustion_stops_a_running_job(story: Story) -> None:
    # 0.01 GPU-hours are 36 GPU-seconds: a 1 x 8 GPU job uses them up in 4.5 s of its 60.
    deal = story.deal(compute={"maxGpuHours": 0.01, "maxConcurrentGpus": 8})
    name = submit(story, deal, gpus_per_worker=8, run_for="60s")
    uid = story.wait_job(deal.namespace, name, "Running", timeout=30)["metadata"]["uid"]
    (worker,) = story.pods(deal.contract, name)
    started = worker.status.container_statuses[0].state.running.started_at
    stopped = story.wait_job(
        deal.namespace, name, "Stopped", "Failed", "Succeeded", timeout=20, interval=0.05
    )
    seen = datetime.now(UTC)
    assert stopped["status"]["phase"] == "Stopped", stopped["status"]
    finished = condition(stopped, "Finished")
    assert finished is not None
    assert finished["reason"] == "GpuBudgetExhausted", finished
    contract = story.wait_contract(deal.contract, "Exhausted")
    active = condition(contract, "Active")
    assert active is not None
    assert active["reason"] == "GpuBudgetExhausted"
    used = stopped["status"]["gpuSeconds"]
    # startedAt has whole seconds: the budget ran out 4.5 to 5.5 s after it.
    latency = (seen - started).total_seconds() - 4.5
    print(
        f"\nbudget: 36 GPU-s allowed, {used} metered when the job was stopped; Stopped seen "
        f"at most {latency:.2f}s after the budget ran out"
    )
    assert 36 <= used <= 36 + STOP_LATENCY_TARGET * 8
    assert latency <= STOP_LATENCY_TARGET + TIMESTAMP_RESOLUTION
    wait_until(
        lambda: (
            story.contract(deal.contract)["status"]["usage"]["gpuHours"] == round(used / 3600, 6)
        ),
        timeout=10,
        what="contract usage equal to the stopped job's",
    )
    assert story.batch_job(deal.contract, name) is None
    kinds = [e["kind"] for e in story.ledger(deal.contract)]
    assert "JobStopped" in kinds
    assert "UsageMetered" in kinds
    exhausted = [
        e
        for e in story.ledger(deal.contract)
        if e["kind"] == "PhaseChanged" and e["details"]["phase"] == "Exhausted"
    ]
    assert [e["details"]["reason"] for e in exhausted] == ["GpuBudgetExhausted"]
    stop = next(e for e in ledger_of_job(story, deal.contract, uid) if e["kind"] == "JobStopped")
    assert stop["details"]["reason"] == "GpuBudgetExhausted"


def test_a_failing_worker_fails_the_job_with_its_exit_code(story: Story) -> None:
    deal = story.deal()
    name = submit(story, deal, gpus_per_worker=2, run_for="3s", fail=True)
    failed = story.wait_job(deal.namespace, name, "Failed", "Succeeded", timeout=30)
    assert failed["status"]["phase"] == "Failed", failed["status"]
    finished = condition(failed, "Finished")
    assert finished is not None
    assert finished["status"] == "False"
    assert finished["reason"] == "BackoffLimitExceeded", finished
    assert "worker 0 exited with code 1" in finished["message"], finished["message"]
    story.wait_event(deal.namespace, name, lambda e: "exited with code 1" in (e.message or ""))


def test_a_killed_operator_loses_no_usage_and_counts_none_twice(
    story: Story, operator: OperatorProcess
) -> None:
    deal = story.deal()
    name = submit(story, deal, workers=2, gpus_per_worker=8, run_for="12s")
    uid = story.wait_job(deal.namespace, name, "Running", timeout=30)["metadata"]["uid"]
    time.sleep(3.0)  # some usage metered into status before the crash
    killed = datetime.now(UTC)
    operator.restart(kill=True)
    done = story.wait_job(deal.namespace, name, "Succeeded", "Failed", timeout=60)
    assert done["status"]["phase"] == "Succeeded", done["status"]
    metered = done["status"]["gpuSeconds"]
    pods = story.pods(deal.contract, name)
    for pod in pods:  # the workers were still running when the operator was killed
        assert pod.status.container_statuses[0].state.terminated.finished_at > killed
    actual = sum(run_seconds(p) for p in pods) * 8
    tolerance = metering_tolerance(2, 8)
    print(f"\nacross a crash: {metered} GPU-s metered, {actual:.0f} from the pods' timestamps")
    assert abs(metered - actual) <= tolerance

    def usage_settled() -> Body | None:
        usage = (story.contract(deal.contract).get("status") or {}).get("usage") or {}
        return usage if usage.get("gpuHours") == round(metered / 3600, 6) else None

    usage = wait_until(usage_settled, timeout=10, what="contract usage equal to the job's")
    assert usage["jobs"] == 1
    ledger = story.ledger(deal.contract)
    ids = [e["id"] for e in ledger]
    assert len(ids) == len(set(ids)), Counter(ids).most_common(3)
    mine = [e for e in ledger if e["details"].get("uid") == uid]
    assert [e["kind"] for e in mine].count("JobAdmitted") == 1
    assert [e["kind"] for e in mine].count("JobSucceeded") == 1
    assert max(e["details"]["gpuSeconds"] for e in mine if e["kind"] == "UsageMetered") == metered
    verified = story.verify_ledger(deal.contract)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_job_that_completed_unseen_before_its_contract_expired_succeeded(
    story: Story, operator: OperatorProcess
) -> None:
    # The next leader looks at the job only after the contract's notAfter: its worker had
    # completed before it, so the job Succeeded; it was not stopped by the expiry.
    not_after = (datetime.now(UTC) + timedelta(seconds=30)).replace(microsecond=0)
    deal = story.deal(not_after=not_after)
    name = submit(story, deal, gpus_per_worker=1, run_for="6s")
    story.wait_job(deal.namespace, name, "Running", timeout=20)
    assert operator.process is not None
    os.kill(operator.process.pid, signal.SIGSTOP)  # a leader gap
    try:
        worker = story.terminated_worker(deal.contract, name, f"{name}'s worker completed")
        wait_until(
            lambda: datetime.now(UTC) > not_after + timedelta(seconds=1),
            timeout=60,
            what="the contract's notAfter passed",
        )
        unseen = story.hub.get(JOBS, name, deal.namespace)
        assert unseen is not None
        assert unseen["status"]["phase"] == "Running", "the frozen operator reported the job"
    finally:
        os.kill(operator.process.pid, signal.SIGCONT)
    assert worker.status.container_statuses[0].state.terminated.finished_at < not_after
    done = story.wait_job(deal.namespace, name, "Succeeded", "Stopped", "Failed", timeout=30)
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert abs(done["status"]["gpuSeconds"] - run_seconds(worker)) <= metering_tolerance(1, 1)
    story.wait_contract(deal.contract, "Expired")


def test_deleting_a_training_job_deletes_its_batch_job_and_service(
    story: Story, operator: OperatorProcess
) -> None:
    deal = story.deal()
    name = submit(story, deal, gpus_per_worker=1, run_for="60s")
    story.wait_job(deal.namespace, name, "Running", timeout=30)
    assert story.batch_job(deal.contract, name) is not None
    assert story.service(deal.contract, name) is not None
    failed = operator.metric("tds_reconcile_errors_total", kind="TrainingJob")
    owner_of(deal.consumer).kubectl("delete", "trainingjob", name, "-n", deal.namespace)
    wait_until(lambda: story.job(deal.namespace, name) is None, timeout=20, what="TrainingJob gone")
    # Stopped, recorded and let go in one reconcile: the finalizer's removal does not conflict
    # with the stop's own status write.
    assert operator.metric("tds_reconcile_errors_total", kind="TrainingJob") == failed


def test_letting_a_deleted_job_go_keeps_another_partys_finalizer(story: Story) -> None:
    deal = story.deal()
    name = submit(story, deal, gpus_per_worker=1, run_for="60s")
    story.wait_job(deal.namespace, name, "Running", timeout=30)
    other = "backup.example.com/keep"
    patch = json.dumps([{"op": "add", "path": "/metadata/finalizers/-", "value": other}])
    kubectl("patch", "trainingjob", name, "-n", deal.namespace, "--type=json", "-p", patch)
    owner_of(deal.consumer).kubectl(
        "delete", "trainingjob", name, "-n", deal.namespace, "--wait=false"
    )

    def only_the_other_finalizer_left() -> bool:
        job = story.job(deal.namespace, name)
        return job is not None and job["metadata"].get("finalizers") == [other]

    wait_until(only_the_other_finalizer_left, timeout=20, what="the operator's finalizer removed")
    assert story.batch_job(deal.contract, name) is None
    kubectl(
        "patch",
        "trainingjob",
        name,
        "-n",
        deal.namespace,
        "--type=json",
        "-p",
        json.dumps([{"op": "remove", "path": "/metadata/finalizers/0"}]),
    )
    wait_until(lambda: story.job(deal.namespace, name) is None, timeout=20, what="TrainingJob gone")
    assert story.batch_job(deal.contract, name) is None
    assert story.service(deal.contract, name) is None
    wait_until(lambda: not story.pods(deal.contract, name), timeout=20, what="worker pods gone")
