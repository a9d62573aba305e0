"""The installed `kubectl-tds` (plugin/) on the hub, run as the parties run it: their contracts
from their own namespace, the provider's review of a release, the webhook check, the operator's
version and the names that complete; each refusal one line with the documented exit status."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from kubernetes import client

from bench.hubkit.hub import (
    CLUSTER_ADMIN,
    Person,
    completion_binary,
    hub_kubeconfig,
    kubectl,
    owner_of,
    plugin,
    plugin_binary,
    unique,
)
from bench.hubkit.manifests import training_job_body
from bench.hubkit.training import (
    Story,
    ask_release,
    finished_job_with_output,
    release,
    wait_release,
)
from bench.hubkit.waiting import wait_until
from kubectl_tds.failures import EXIT_NOT_FOUND, EXIT_OK, EXIT_REFUSED

pytestmark = pytest.mark.integration


def kubeconfig_in(tmp_path: Path, namespace: str) -> Path:
    """A copy of the hub's kubeconfig whose context sets `namespace`, as a party's would."""
    path = tmp_path / f"kubeconfig-{namespace}"
    path.write_text(Path(hub_kubeconfig()).read_text())
    kubectl(
        "config", "set-context", "--current", f"--namespace={namespace}", f"--kubeconfig={path}"
    )
    return path


def as_party(kubeconfig: Path, person: Person, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed command, with only the party's kubeconfig (no -n) and identity."""
    identity = ["--as", person.user, *[f"--as-group={group}" for group in person.groups]]
    return subprocess.run(
        [plugin_binary(), *args, f"--kubeconfig={kubeconfig}", *identity],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_a_party_lists_its_contracts_and_asks_why_in_its_own_namespace(
    story: Story, tmp_path: Path
) -> None:
    deal = story.deal()
    consumer, bystander = owner_of(deal.consumer), owner_of(story.space())
    mine = kubeconfig_in(tmp_path, deal.namespace)

    # The parties' copies of a contract are written just after its status: the deal is Active
    # before its copies say so.
    def listed_active() -> tuple[subprocess.CompletedProcess[str], list[str]] | None:
        listed = as_party(mine, consumer, "contracts")
        assert listed.returncode == EXIT_OK, listed.stderr
        rows = [line.split() for line in listed.stdout.splitlines()]
        row = next((r for r in rows if r and r[0] == deal.contract), None)
        return (listed, row) if row and "Active" in row else None

    listed, row = wait_until(listed_active, timeout=10, what=f"{deal.contract} listed Active")
    assert row[1:4] == ["consumer", deal.provider, "Active"], listed.stdout
    assert "None" not in listed.stdout
    as_json = as_party(mine, consumer, "contracts", "-o", "json")
    assert [c["metadata"]["name"] for c in json.loads(as_json.stdout)["items"]] == [deal.contract]

    for read in (("status", deal.contract), ("usage", deal.contract)):
        printed = as_party(mine, consumer, *read, "-o", "json")
        assert printed.returncode == EXIT_OK, printed.stderr
        assert json.loads(printed.stdout)["metadata"]["name"] == deal.contract
    keys = as_party(mine, consumer, "keys", "list", deal.consumer, "-o", "yaml")
    assert keys.returncode == EXIT_OK, keys.stderr
    assert keys.stdout.startswith(f"signingKeys: []\nspace: {deal.consumer}")

    # The same probe by an owner of a third space: refused by RBAC, one line, exit 1.
    stranger = plugin(bystander, "contracts", "-n", deal.namespace)
    assert stranger.returncode == EXIT_REFUSED, stranger
    assert stranger.stderr.startswith("error: refused by the hub's access rules (RBAC): ")
    assert stranger.stderr.count("\n") == 1

    job = unique("j")
    story.submit(consumer, training_job_body(job, deal.namespace, deal.contract, run_for="30s"))
    why = as_party(mine, consumer, "why", job)
    assert why.returncode == EXIT_OK, why.stderr
    assert f"TrainingJob {deal.namespace}/{job} under DataContract {deal.contract}" in why.stdout
    shown = as_party(mine, consumer, "why", job, "-o", "yaml")
    assert shown.returncode == EXIT_OK, shown.stderr
    assert f"name: {job}" in shown.stdout
    # The hub's kubeconfig sets no namespace: kubectl's `default` is asked, and refuses.
    elsewhere = plugin(consumer, "why", job)
    assert elsewhere.returncode == EXIT_REFUSED, elsewhere
    assert "namespace default" in elsewhere.stderr
    assert elsewhere.stderr.count("\n") == 1

    # kubectl completes `kubectl tds status <TAB>` by running kubectl_complete-tds with the words
    # typed so far, the one being completed last.
    identity = ["--as", consumer.user, *[f"--as-group={group}" for group in consumer.groups]]
    completed = subprocess.run(
        [completion_binary(), f"--kubeconfig={mine}", *identity, "status", ""],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert completed.returncode == EXIT_OK, completed.stderr
    assert deal.contract in completed.stdout.splitlines()
    assert completed.stdout.splitlines()[-1] == ":4"


def test_the_provider_approves_a_release_and_the_consumer_cannot(story: Story) -> None:
    deal = story.deal(outputs={"modelExport": "review"})
    job, _ = finished_job_with_output(story, deal)
    name = ask_release(deal, job)
    wait_release(story, deal, name, "AwaitingReview")
    consumer, provider = owner_of(deal.consumer), owner_of(deal.provider)

    own = plugin(consumer, "release", "approve", name, "-n", deal.namespace)
    assert own.returncode == EXIT_REFUSED, own
    assert own.stderr.startswith("error: refused by the hub: ")
    assert "NotProviderOwner" in own.stderr
    assert release(story, deal, name)["spec"].get("review") is None

    missing = plugin(provider, "release", "reject", unique("r"), "-n", deal.namespace)
    assert missing.returncode in (EXIT_NOT_FOUND, EXIT_REFUSED), missing
    assert "pass -n" in missing.stderr

    approved = plugin(provider, "release", "approve", name, "-n", deal.namespace)
    assert approved.returncode == EXIT_OK, approved.stderr
    assert approved.stdout.strip() == (
        f"ModelRelease {deal.namespace}/{name}: Approved by {provider.user}"
    )
    wait_release(story, deal, name, "Released")


def test_check_says_the_webhook_answers_and_who_cannot_tell(story: Story) -> None:
    answered = plugin(CLUSTER_ADMIN, "check")
    assert answered.returncode == EXIT_OK, answered.stderr
    assert answered.stdout.startswith("ok: the DataContract admission webhook answers")
    # Someone the hub grants nothing: RBAC answers before the webhook, and the line says so.
    nobody = plugin(Person(unique("nobody")), "check")
    assert nobody.returncode == EXIT_REFUSED, nobody
    assert "may not create DataContracts" in nobody.stderr
    assert nobody.stderr.count("\n") == 1


def test_version_names_the_operators_deployment_or_says_why_not(
    core: client.CoreV1Api, namespace: str
) -> None:
    apps = client.AppsV1Api(core.api_client)
    labels = {"app.kubernetes.io/name": "tds-operator", "app.kubernetes.io/version": "9.8.7"}
    pod = client.V1PodSpec(containers=[client.V1Container(name="operator", image="tds-op:9.8.7")])
    apps.create_namespaced_deployment(
        namespace,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="tds-operator", labels=labels),
            spec=client.V1DeploymentSpec(
                replicas=0,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels), spec=pod
                ),
            ),
        ),
    )
    found = plugin(CLUSTER_ADMIN, "version", "--operator-namespace", namespace, "-o", "json")
    assert found.returncode == EXIT_OK, found.stderr
    assert json.loads(found.stdout)["operator"] == {
        "found": True,
        "namespace": namespace,
        "deployment": "tds-operator",
        "version": "9.8.7",
        "image": "tds-op:9.8.7",
    }
    elsewhere = plugin(CLUSTER_ADMIN, "version", "--operator-namespace", "kube-public")
    assert elsewhere.returncode == EXIT_OK, elsewhere.stderr
    assert elsewhere.stdout.splitlines()[1].startswith(
        "operator: not found (no Deployment labelled app.kubernetes.io/name=tds-operator in "
        "namespace kube-public"
    )
