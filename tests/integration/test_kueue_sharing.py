"""How consumer organisations share the hub's GPU pool in Kueue, by the hub rules (HUB_KUEUE=1
make hub-up; make integration-kueue): each organisation's ClusterQueue carries the fair-sharing
weight and the GPU borrowing limit the rules give it, a restart with new rules updates the queues
that exist, a borrowing limit keeps an organisation's job waiting while the pool has idle GPUs,
and two organisations competing for the idle GPUs get them by weight. The hub has 16 GPUs."""

from __future__ import annotations

import time

import pytest

from bench.hubkit.hub import owner_of, refusal
from bench.hubkit.kueue import (
    GPU,
    cluster_queue,
    running_gpus,
    submit,
    wait_for_pool,
    workloads,
)
from bench.hubkit.manifests import Body, condition
from bench.hubkit.processes import OperatorProcess
from bench.hubkit.training import Deal, Story
from bench.hubkit.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.kueue]


def with_rules(operator: OperatorProcess, **rules: str) -> None:
    """Restart the operator with these hub rules (TDS_* names), as a Helm upgrade would."""
    for name in ("WEIGHTS", "WEIGHT"):
        operator.extra_env.pop(f"TDS_FAIR_SHARING_{name}", None)
    for name in ("LIMITS", "LIMIT"):
        operator.extra_env.pop(f"TDS_GPU_BORROWING_{name}", None)
    operator.extra_env.update({f"TDS_{name}": value for name, value in rules.items()})
    operator.restart()


def sharing(queue: Body | None) -> tuple[object, object]:
    """A ClusterQueue's fair-sharing weight and GPU borrowing limit (None: unset)."""
    spec = (queue or {}).get("spec") or {}
    [group] = spec.get("resourceGroups") or [{}]
    quotas = {q["name"]: q for f in group.get("flavors") or [] for q in f.get("resources") or []}
    weight = (spec.get("fairSharing") or {}).get("weight")
    return (str(weight) if weight is not None else None), quotas.get(GPU, {}).get("borrowingLimit")


def queue_shares(story: Story, space: str, expected: tuple[object, object]) -> Body:
    """The organisation's ClusterQueue once it carries this weight and borrowing limit."""

    def shared() -> Body | None:
        queue = cluster_queue(story, space)
        return queue if sharing(queue) == expected else None

    return wait_until(
        shared, timeout=30, what=f"ClusterQueue tds-{space} with weight, limit {expected}"
    )


def organisation(story: Story, gpus: int) -> Deal:
    """A contract whose consumer organisation is guaranteed `gpus` GPUs and may run 16 at once."""
    return story.deal(gpus=gpus, compute={"maxGpuHours": 10, "maxConcurrentGpus": 16})


def test_a_borrowing_limit_keeps_a_job_waiting_while_the_pool_has_idle_gpus(
    story: Story, operator: OperatorProcess
) -> None:
    with_rules(operator)
    lender = organisation(story, 8)  # idle: its 8 GPUs are the pool's to lend
    deal = organisation(story, 8)
    queue_shares(story, deal.consumer, ("1", None))
    # The platform team caps the consumer's borrowing at 0 and weighs it 3: the next reconcile
    # after the restart updates the queue that exists.
    with_rules(operator, FAIR_SHARING_WEIGHTS=f"{deal.consumer}=3",
               GPU_BORROWING_LIMITS=f"{deal.consumer}=0")  # fmt: skip
    queue_shares(story, deal.consumer, ("3", 0))
    assert sharing(cluster_queue(story, lender.consumer)) == ("1", None)
    # Nor may the consumer raise its own weight or limit.
    attack = ("patch", "clusterqueues.kueue.x-k8s.io", f"tds-{deal.consumer}", "--type=merge",
              "-p", '{"spec":{"fairSharing":{"weight":"100"}}}')  # fmt: skip
    assert "forbidden" in refusal(lambda: owner_of(deal.consumer).kubectl(*attack)).lower()
    first, second = submit(story, deal, 2, workers=1, run_for="15s")
    story.wait_job(deal.namespace, first, "Running", timeout=30)
    # 8 GPUs idle, but the second would borrow them: it waits for the organisation's quota.
    waiting = wait_until(
        lambda: (
            (body := story.job(deal.namespace, second) or {}).get("status", {}).get("phase")
            == "Queued"
            and (condition(body, "Queued") or {}).get("reason") == "OrganisationQuota"
            and body
        ),
        timeout=30,
        what=f"{second} waiting for its organisation's quota",
    )
    assert waiting["status"]["phase"] == "Queued"
    assert (story.job(deal.namespace, first) or {})["status"]["phase"] == "Running"
    assert running_gpus(story, deal, [first, second]) == 8
    assert story.pods(deal.contract, second) == [], "the limit let it borrow"
    # It runs once its organisation's own GPUs are free again.
    story.wait_job(deal.namespace, second, "Running", timeout=60)
    # The limit lifted (a restart without it): the queue loses it, and borrows again.
    with_rules(operator)
    queue_shares(story, deal.consumer, ("1", None))
    third, fourth = submit(story, deal, 2, workers=1, run_for="20s")
    story.wait_job(deal.namespace, second, "Succeeded", timeout=60)
    wait_until(
        lambda: running_gpus(story, deal, [third, fourth]) == 16,
        timeout=60,
        what="the organisation borrowing the lender's 8 idle GPUs again",
    )


def reserved(workload: Body) -> bool:
    """Whether Kueue holds the pool's GPUs for the Workload (admitted, or its check pending)."""
    listed = (workload.get("status") or {}).get("conditions") or []
    conditions = {c["type"]: c["status"] for c in listed}
    return conditions.get("QuotaReserved") == "True" and conditions.get("Finished") != "True"


def test_two_organisations_share_the_idle_gpus_by_weight(
    story: Story, operator: OperatorProcess
) -> None:
    with_rules(operator)
    lender = organisation(story, 16)
    heavy, light = organisation(story, 0), organisation(story, 0)
    with_rules(operator, FAIR_SHARING_WEIGHTS=f"{heavy.consumer}=2,{light.consumer}=1")
    queue_shares(story, heavy.consumer, ("2", None))
    # The pool is the hub's 16 GPUs, all the lender's (no queue of an earlier test is left).
    wait_for_pool(story, 16)
    # The lender's eight 2-GPU jobs hold the whole pool while both borrowers queue eight 2-GPU
    # jobs each; then they end one by one, 3 s apart. Kueue admits one job of each organisation
    # at a time: as GPUs free one job's worth at a time, each goes to the organisation whose
    # weighted share would be the lower (so, all freed at once, they would be split evenly).
    blockers = [
        submit(story, lender, 1, workers=1, gpus_per_worker=2, run_for=f"{80 + 3 * index}s")[0]
        for index in range(8)
    ]
    wait_until(
        lambda: running_gpus(story, lender, blockers, 2) == 16,
        timeout=60,
        what="the lender's jobs holding the pool",
    )
    jobs = {
        deal: submit(story, deal, 8, workers=1, gpus_per_worker=2, run_for="120s")
        for deal in (heavy, light)
    }
    wait_until(
        lambda: all(len(workloads(story, deal.contract)) == 8 for deal in jobs),
        timeout=60,
        what="both organisations' jobs waiting in Kueue",
    )
    assert running_gpus(story, lender, blockers, 2) == 16, "a lender's job ended before the test"
    for name in blockers:
        story.wait_job(lender.namespace, name, "Succeeded", timeout=150)

    def shares() -> dict[str, int]:
        return {
            deal.consumer: 2 * sum(reserved(w) for w in workloads(story, deal.contract))
            for deal in jobs
        }

    wait_until(
        lambda: sum(shares().values()) >= 16, timeout=60, what="the freed pool taken by the two"
    )
    time.sleep(2.0)  # no further admission: the pool is full
    held = shares()
    running = {deal.consumer: running_gpus(story, deal, names, 2) for deal, names in jobs.items()}
    print(f"\nGPUs held in Kueue, weight 2 : weight 1 = {held[heavy.consumer]} : "
          f"{held[light.consumer]} (workers running: {running})")  # fmt: skip
    assert sum(held.values()) == 16, held
    # Weights 2 : 1 of 16 GPUs in 2-GPU jobs: 10 or 12 (10.7 exactly) against 6 or 4.
    assert held[heavy.consumer] >= 10, held
    assert held[light.consumer] >= 4, held
