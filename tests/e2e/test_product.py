"""The product as a platform team installs it: the chart on the cluster under test, the story on
top of it, every permission of the operator shown to be needed, and a clean uninstall.

The dry run needs no release and runs before any test installs it; the story and the RBAC proof
share the release with test_confinement.py; the uninstall runs after every other test (see
conftest.py).
"""

from __future__ import annotations

import json
import re
import shlex
import time

import pytest

from tds_operator.audit.published import KEYS_CONFIGMAP
from tests.e2e.cluster import (
    NAMESPACE,
    RELEASE,
    REPO_ROOT,
    Manifest,
    fullname,
    get,
    helm,
    items,
    kubectl,
    kueue_mode,
    operator_rules,
    render_chart,
    rule_id,
)
from tests.e2e.operator_runner import OperatorDidNotStart
from tests.e2e.release import (
    Release,
    kept_by_design,
    snapshot,
    space_object_keys,
    wait_for_uninstall,
)
from tests.e2e.story import FORBIDDEN, Story, StoryFailed, yaml_docs

pytestmark = pytest.mark.e2e

VARIANTS = {
    "default": {},
    "development-url": {"replicaCount": "0", "webhook.url": "https://127.0.0.1:9443"},
    "cert-manager": {
        "webhook.certificate.provider": "cert-manager",
        "metrics.serviceMonitor.enabled": "true",
    },
    "observability": {
        "metrics.prometheusRule.enabled": "true",
        "metrics.prometheusRule.runbookBaseURL": "https://docs.example.org/tds",
        "metrics.dashboard.enabled": "true",
        "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.name": "monitoring",
    },
    # The confinement's Kueue rules, rendered whether or not this cluster serves Kueue.
    "kueue": {"kueue.enabled": "true"},
}
# Objects of APIs that only clusters with cert-manager or prometheus-operator serve.
OPTIONAL_APIS = {"cert-manager.io/v1", "monitoring.coreos.com/v1"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_rendered_chart_is_accepted_by_the_api_server(cluster: None, variant: str) -> None:
    """Server-side dry run of everything `helm template` renders, CRDs included."""
    objects = render_chart(VARIANTS[variant], namespace="default", include_crds=True)
    served = set(kubectl("api-versions").split())
    unserved = {o["apiVersion"] for o in objects} - served
    assert unserved <= OPTIONAL_APIS, f"the cluster does not serve {unserved}"
    checked = [o for o in objects if o["apiVersion"] in served]
    result = kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--force-conflicts",
        "--field-manager=tds-e2e-dry-run",
        "-f",
        "-",
        stdin=yaml_docs(checked),
    )
    assert result.count("(server dry run)") == len(checked), result
    if unserved:
        print(f"\nnot served here, so not validated: {sorted(unserved)}")


@pytest.mark.both_queues
def test_the_story_runs_with_exactly_the_charts_permissions(release: Release) -> None:
    """spaces -> isolation and drift repair -> proposal -> consent -> training -> revocation ->
    deletion, with the operator holding only the chart's RBAC, and never refused anything."""
    story = Story(timeout=60)
    started = time.monotonic()
    try:
        story.walk()
    finally:
        release.timings["story"] = time.monotonic() - started
        if story.done != STEPS:
            story.force_cleanup()
    print(f"\nstory: {release.timings['story']:.1f}s, steps {story.done}")
    refused = [line for line in release.operator.log().splitlines() if FORBIDDEN.search(line)]
    assert not refused, "the operator was refused:\n" + "\n".join(refused[:10])


STEPS = [
    "spaces_are_provisioned",
    "spaces_are_isolated_and_repaired",
    "provider_proposes",
    "consumer_consents",
    "consumer_trains",
    "provider_revokes",
    "consumer_takes_the_model",
    "everything_is_deleted",
]
# How long a step may take before a run without a rule counts as broken; the full-permission
# story converges in a fraction of this on the local hub.
REMOVED_RULE_TIMEOUT = 15.0

# Rules kept although the local hub cannot show them needed, and why (also in the chart's
# README). The test below checks that these rules still exist, so this list cannot go stale.
KEPT_WITHOUT_PROOF = {
    "ClusterRole:tds.io:dataspaces/finalizers,datacontracts/finalizers:update": (
        "the operator's children name their DataSpace or DataContract as owner with "
        "blockOwnerDeletion; clusters with the OwnerReferencesPermissionEnforcement admission "
        "plugin (OpenShift, hardened clusters) refuse that without update on <kind>/finalizers; "
        "the hub and kind do not enable the plugin"
    ),
    "ClusterRole:visibility.kueue.x-k8s.io:localqueues/pendingworkloads[tds-jobs]:get": (
        "a queued job's position in Kueue, which the story's job, admitted at once, may never "
        "need: the operator reads it only while a job waits in Kueue, and runs on without it; "
        "test_kueue_chart.py shows that the token reads tds-jobs' pending workloads and no "
        "other queue's, test_kueue_position.py (integration) the positions"
    ),
    "ClusterRole:discovery.k8s.io:endpointslices[kubernetes]:get": (
        "where the API server publishes its addresses, for each dataset gateway's NetworkPolicy "
        "to them; nothing on the local hub enforces a NetworkPolicy, so only the kind tier's "
        "gateway reads (tests/kind) show it needed"
    ),
    "Role:coordination.k8s.io:leases:create": (
        "the first replica ever to lead creates the leader election's Lease; it outlives every "
        "restart after that, and the story restarts the operator of an installed release"
    ),
}
# Rules whose removal the story survives, but the operator tells: what its log then says.
OBSERVED_WITHOUT_FAILURE = {
    "ClusterRole:apiextensions.k8s.io:customresourcedefinitions:list,watch": (
        "Not enough permissions to watch for resources"
    ),
    # The parties' copies of the signed ledger checkpoint: a contract's reconcile never fails
    # for one it could not hand out (tests/integration/test_checkpoints.py shows them handed out).
    "ClusterRole:core:configmaps:create,patch": "checkpoint not published",
}


def rules_to_remove() -> list[tuple[str, int, Manifest]]:
    """Every rule the chart grants the operator, unless kept (with its reason) above; with
    Kueue (make e2e-kueue), the rules kueue.enabled adds, the others being proved without it."""
    without_kueue = operator_rules(render_chart({"kueue.enabled": "false"}))
    rules = without_kueue
    if kueue_mode():
        proved = {rule_id(kind, rule) for kind, _, rule in without_kueue}
        rules = [
            (kind, index, rule)
            for kind, index, rule in operator_rules(render_chart({"kueue.enabled": "true"}))
            if rule_id(kind, rule) not in proved
        ]
    return [entry for entry in rules if rule_id(entry[0], entry[2]) not in KEPT_WITHOUT_PROOF]


def test_the_rules_kept_without_proof_are_in_the_chart() -> None:
    """The exceptions above name rules that exist, so none hides a rule that is gone."""
    ids = {
        rule_id(kind, rule)
        for kueue in ("false", "true")
        for kind, _, rule in operator_rules(render_chart({"kueue.enabled": kueue}))
    }
    assert set(KEPT_WITHOUT_PROOF) <= ids
    assert set(OBSERVED_WITHOUT_FAILURE) <= ids


def live_role(kind: str) -> Manifest:
    role = get(kind.lower(), fullname(), NAMESPACE if kind == "Role" else None)
    assert role is not None, f"{kind} {fullname()} is not installed"
    return role


def replace_rules(kind: str, rules: list[Manifest]) -> None:
    role = live_role(kind)
    role["rules"] = rules
    for key in ("resourceVersion", "managedFields", "uid", "creationTimestamp"):
        role["metadata"].pop(key, None)
    kubectl("replace", "-f", "-", stdin=json.dumps(role))


def refusal_of(rule: Manifest, log: str) -> list[str]:
    """Lines of the log where the API server refused the operator something this rule grants."""
    named = "|".join(re.escape(resource) for resource in rule["resources"])
    patterns = [rf'forbidden.*"(?:{named})"']
    if "bind" in rule["verbs"] or rule["resources"] == ["datasets"]:
        # Without `bind`, a binding to a role whose rights the operator does not hold is refused
        # as an escalation, on the binding; without `get` on datasets, which the operator holds
        # only to grant it, so is the dataset grant's Role.
        patterns.append("forbidden.*attempting to grant RBAC permissions not currently held")
    if rule["resources"] == ["trainingjobs/finalizers"]:
        # A right no API serves: the spaces' job-finalizers policy asks the authorizer for it, and
        # without it refuses the operator's removal of a TrainingJob's finalizer.
        patterns.append("forbidden: ValidatingAdmissionPolicy 'tds-space-job-finalizers'")
    pattern = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
    return [line for line in log.splitlines() if pattern.search(line)]


@pytest.mark.both_queues
@pytest.mark.parametrize(
    ("kind", "index", "rule"),
    [pytest.param(*entry, id=rule_id(entry[0], entry[2])) for entry in rules_to_remove()],
)
def test_each_rule_of_the_charts_rbac_is_needed(
    release: Release, kind: str, index: int, rule: Manifest
) -> None:
    """Without this one rule the story breaks, and the operator's log shows the refusal."""
    original = live_role(kind)["rules"]
    assert original[index] == rule, "the installed rules are not the chart's"
    key = rule_id(kind, rule)
    # A story that must still pass without the rule gets a whole story's time (real pods, on
    # kind, end slower than the hub's); one that must break, the short one.
    timeout = Story.timeout if key in OBSERVED_WITHOUT_FAILURE else REMOVED_RULE_TIMEOUT
    story = Story(suffix=f"-r{kind[0].lower()}{index}", timeout=timeout)
    failure: AssertionError | None = None
    replace_rules(kind, original[:index] + original[index + 1 :])
    try:
        try:
            release.operator.restart(timeout=30)
            story.walk()
        except (OperatorDidNotStart, StoryFailed) as error:
            failure = error
        log = release.operator.log()
    finally:
        replace_rules(kind, original)
        release.operator.restart()
        # Its names are its own (the suffix): the next walk need not wait for its namespaces.
        story.force_cleanup(keep_ledger=False, wait=False)
    if key in OBSERVED_WITHOUT_FAILURE:
        assert failure is None, f"the story failed without {key}: {failure}"
        assert OBSERVED_WITHOUT_FAILURE[key] in log, f"the operator did not notice {key}"
        return
    assert failure is not None, f"the story passed without {key}: the rule is not needed"
    refusals = refusal_of(rule, log)
    assert refusals, f"the story broke ({failure}) but no refusal of {key} is in the log"
    print(f"\nwithout {key}: {failure}\n  {refusals[0][:300]}")


def test_the_notes_commands_run_as_written(release: Release) -> None:
    """Every command the installed release's NOTES print runs (from the repository's root, as
    they say); the one that would create spaces runs as a server-side dry run."""
    notes = helm("get", "notes", RELEASE, "-n", NAMESPACE)
    commands = [line.strip() for line in notes.splitlines() if line.startswith("  kubectl ")]
    assert len(commands) >= 3, notes
    for command in commands:
        args = shlex.split(command)[1:]
        if args[0] == "apply":
            args = [str(REPO_ROOT / a) if a.startswith("examples/") else a for a in args]
            args.append("--dry-run=server")
        kubectl(*args)
    for script in re.findall(r"hack/[\w.-]+", notes):
        assert (REPO_ROOT / script).is_file(), f"the NOTES name {script}, which does not exist"


def test_uninstall_leaves_only_what_the_docs_say_it_keeps(release: Release) -> None:
    """After `helm uninstall`: the CRDs, the audit ledgers and signing key, and what live spaces
    rely on (the space roles and admission policies), nothing else of the release."""
    release.uninstall()
    left = wait_for_uninstall(release)
    assert not left, f"left behind by the uninstall: {sorted(left)}"
    for kind, name in sorted(space_object_keys()):
        assert get(kind.lower(), name) is not None, f"the uninstall removed {kind} {name}"
    remaining = {key for key in snapshot() - release.before if kept_by_design(key)}
    # The ledgers' pages, and beside them the published checkpoint keys (tds-audit-keys), which
    # old checkpoints are verified with: both stay.
    ledgers = [
        key
        for key in remaining
        if key[0] == "ConfigMap" and key[2].startswith("tds-audit") and key[2] != KEYS_CONFIGMAP
    ]
    assert ("ConfigMap", NAMESPACE, KEYS_CONFIGMAP) in remaining, "the published keys went"
    for _, namespace, name in ledgers:
        page = get("configmap", name, namespace)
        assert page is not None
        assert page["metadata"]["labels"].get("tds.io/audit-ledger") == "true", page["metadata"]
    assert not items(
        "clusterrole",
        selector=f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component!=space-access",
    )
