"""`kubectl tds` on the hub, run by the parties themselves (impersonated, as kubectl's --as):
they propose, sign, follow and revoke contracts, ask why a job was admitted or denied, and verify
their own ledger; outsiders are refused with the hub's reason and the documented exit status."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bench.hubkit.hub import (
    CLUSTER_ADMIN,
    OPERATOR_NAMESPACE,
    member_of,
    owner_of,
    refusal,
    space_namespace,
    tds,
    tds_command,
    unique,
    unique_contract,
)
from bench.hubkit.manifests import contract_body, training_job_body
from bench.hubkit.training import Story
from bench.hubkit.waiting import wait_until
from tds_operator.api.rfc3339 import format_seconds
from tds_operator.connection import EXIT_NOT_FOUND, EXIT_OK, EXIT_REFUSED, EXIT_USAGE

pytestmark = pytest.mark.integration


def propose_args(name: str, provider: str, consumer: str) -> list[str]:
    not_after = format_seconds(datetime.now(UTC) + timedelta(days=30))
    return [
        "propose", name, "--provider", provider, "--consumer", consumer, "--dataset", "records",
        "--not-after", not_after, "--max-gpu-hours", "10", "--max-concurrent-gpus", "8",
        "--approve",
    ]  # fmt: skip


def test_the_parties_propose_sign_and_follow_a_contract_and_outsiders_are_refused(
    story: Story,
) -> None:
    provider, consumer, bystander = story.space(), story.space(), story.space()
    name = unique_contract()
    story.hub.contracts.append(name)

    # An owner of neither party: the webhook refuses, and the plugin says why in one line.
    stranger = tds(owner_of(bystander), *propose_args(name, provider, consumer))
    assert stranger.returncode == EXIT_REFUSED, stranger
    assert stranger.stderr.startswith("error: refused by the hub: ")
    assert "NotAPartyOwner" in stranger.stderr
    assert stranger.stderr.count("\n") == 1

    proposed = tds(owner_of(provider), *propose_args(name, provider, consumer))
    assert proposed.returncode == EXIT_OK, proposed.stderr
    story.contracts.wait_reachable_by(consumer, name)
    story.wait_contract(name, "Proposed")

    # The consumer's owner consents without saying which side: the plugin finds it.
    signed = tds(owner_of(consumer), "consent", name)
    assert (signed.returncode, signed.stdout.strip()) == (
        EXIT_OK,
        f"DataContract {name}: consumer consented",
    ), signed.stderr
    story.wait_contract(name, "Active")

    status = tds(owner_of(consumer), "status", name)
    assert status.returncode == EXIT_OK, status.stderr
    assert "phase:      Active" in status.stdout
    assert f"provider:   signed by {owner_of(provider).user}" in status.stdout
    assert f"consumer:   signed by {owner_of(consumer).user}" in status.stdout
    assert "GPU-hours:  0.00 of 10" in status.stdout

    outsider = tds(owner_of(bystander), "status", name)
    assert outsider.returncode == EXIT_REFUSED
    assert "forbidden" in outsider.stderr
    assert "Traceback" not in outsider.stderr
    missing = tds(CLUSTER_ADMIN, "status", unique_contract())
    assert missing.returncode == EXIT_NOT_FOUND
    assert "not found" in missing.stderr


def test_status_watch_streams_phase_changes_until_revocation(story: Story) -> None:
    deal = story.deal()
    watcher = subprocess.Popen(
        tds_command(owner_of(deal.consumer), "status", deal.contract, "--watch"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout is not None
        while "phase:" not in watcher.stdout.readline():
            pass  # the status is printed before the watch starts
        withdrawn = tds(owner_of(deal.provider), "withdraw", deal.contract)
        assert withdrawn.returncode == EXIT_OK, withdrawn.stderr
        story.wait_contract(deal.contract, "Proposed")
        revoked = tds(owner_of(deal.provider), "revoke", deal.contract)
        assert revoked.returncode == EXIT_OK, revoked.stderr
        out, err = watcher.communicate(timeout=30)
    finally:
        watcher.kill()
    assert watcher.returncode == EXIT_OK, err
    phases = [line.split(": ", 1)[1].split()[0] for line in out.splitlines() if ": " in line]
    assert phases[-1] == "Revoked", out
    assert "Proposed" in phases, out


def test_why_names_the_term_that_admitted_or_denied_a_job(story: Story) -> None:
    # Both pass the webhook (neither is admitted yet); the reconciler admits one and denies the
    # other on the contract's job count.
    deal = story.deal(maxJobs=1, compute={"maxGpuHours": 10, "maxConcurrentGpus": 16})
    names = [unique("j"), unique("j")]
    bodies = [
        training_job_body(n, deal.namespace, deal.contract, gpus_per_worker=8, run_for="30s")
        for n in names
    ]
    assert story.submit_together(owner_of(deal.consumer), bodies) == [None, None]
    ended = {
        n: story.wait_job(deal.namespace, n, "Running", "Succeeded", "Denied", timeout=30)
        for n in names
    }
    assert Counter(body["status"]["phase"] for body in ended.values())["Denied"] == 1
    for name, body in ended.items():
        denied = body["status"]["phase"] == "Denied"

        def ledger_tells(name: str = name, denied: bool = denied) -> bool:
            why = tds(owner_of(deal.consumer), "why", name, "-n", deal.namespace)
            assert why.returncode == EXIT_OK, why.stderr
            if denied:
                return "Admitted=False JobLimitReached" in why.stdout and (
                    "JobDenied: JobLimitReached" in why.stdout
                )
            return "Admitted=True" in why.stdout and "JobAdmitted" in why.stdout

        wait_until(ledger_tells, timeout=20, what=f"kubectl tds why {name}")
    nobody = tds(owner_of(deal.consumer), "why", unique("j"), "-n", deal.namespace)
    assert nobody.returncode == EXIT_NOT_FOUND


def test_each_party_verifies_its_own_ledger_and_nobody_else_reads_it(story: Story) -> None:
    deal = story.deal()
    bystander = story.space()
    for party in (deal.provider, deal.consumer):

        def verified(space: str = party) -> bool:
            result = tds(owner_of(space), "audit", "verify", deal.contract)
            return result.returncode == EXIT_OK and "audit chain verified" in result.stdout

        wait_until(verified, timeout=20, what=f"{party}'s owner verifies the ledger")

    outsider = tds(owner_of(bystander), "audit", "verify", deal.contract)
    assert outsider.returncode == EXIT_REFUSED
    assert "forbidden" in outsider.stderr
    pages = [p.metadata.name for p in story.hub.ledger_pages(deal.contract)]
    assert pages
    for person in (owner_of(bystander), member_of(bystander)):
        message = refusal(
            lambda p=person: p.kubectl("get", "configmap", pages[0], "-n", OPERATOR_NAMESPACE)
        )
        assert 'cannot get resource "configmaps"' in message
    # Even a party's owner reads only its contracts' pages, by name: never the signing key.
    key = refusal(
        lambda: owner_of(deal.consumer).kubectl(
            "get", "secret", "tds-operator-signing-key", "-n", OPERATOR_NAMESPACE
        )
    )
    assert "forbidden" in key


def test_a_party_proposes_from_a_file_and_a_file_of_another_kind_is_refused(
    story: Story, tmp_path: Path
) -> None:
    provider, consumer = story.space(), story.space()
    name = unique_contract()
    story.hub.contracts.append(name)
    body = contract_body(name, provider, consumer)
    wrong = tmp_path / "space.yaml"
    wrong.write_text(yaml.safe_dump({**body, "kind": "DataSpace"}))
    refused = tds(owner_of(provider), "propose", "-f", str(wrong))
    assert (refused.returncode, refused.stdout) == (EXIT_USAGE, ""), refused
    assert refused.stderr == "error: the file holds a DataSpace, not a DataContract\n"

    right = tmp_path / "contract.yaml"
    right.write_text(yaml.safe_dump(body))
    proposed = tds(owner_of(provider), "propose", "-f", str(right))
    assert (proposed.returncode, proposed.stdout) == (EXIT_OK, f"DataContract {name} proposed\n")
    story.wait_contract(name, "Proposed")


def test_usage_per_contract_and_organisation(story: Story) -> None:
    deal = story.deal()
    mine = tds(owner_of(deal.consumer), "usage", deal.contract)
    assert mine.returncode == EXIT_OK, mine.stderr
    row = next(line.split() for line in mine.stdout.splitlines() if line.startswith(deal.contract))
    assert row[:2] == [deal.contract, "Active"]
    every = tds(owner_of(deal.consumer), "usage")
    assert every.returncode == EXIT_REFUSED
    assert "only the hub's staff list every contract" in every.stderr
    staff = tds(CLUSTER_ADMIN, "usage")
    assert staff.returncode == EXIT_OK, staff.stderr
    assert deal.contract in staff.stdout


def test_a_spaces_events_are_read_by_its_owners_in_its_namespace(story: Story) -> None:
    space = story.space()
    selector = f"involvedObject.kind=DataSpace,involvedObject.name={space}"

    def reasons() -> set[str]:
        events = owner_of(space).kubectl(
            "get",
            "events",
            "-n",
            space_namespace(space),
            "--field-selector",
            selector,
            "-o",
            "json",
        )
        return {event["reason"] for event in json.loads(events)["items"]}

    wait_until(lambda: "Provisioned" in reasons(), timeout=10, what="the space's Events")
