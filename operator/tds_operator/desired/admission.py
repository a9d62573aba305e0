"""ValidatingAdmissionPolicies that take the sharp edges off the owner role inside spaces.

An owner writes Services, claims, pods and ModelReleases in their space; RBAC cannot look inside
them. These policies, bound to every space namespace (those labelled `tds.io/space`), refuse what
would reach beyond the space: a Service exposed outside the cluster or intercepting external IPs,
a claim that names a PersistentVolume (at creation, or pointed at one by an update), a pod that
would sit on the clean rooms' GPU pool, preempt their workers or be scheduled next to pods of
other namespaces, a release's review set by anyone not given access to review it, and the
operator's finalizer stripped from a TrainingJob by anyone but the operator. They bind
everyone writing there, controllers included, so a Deployment's pods are refused as a bare pod is
(the ReplicaSet's events then name the rule).

The chart ships the same objects (charts/tds-operator/templates/space-policies.yaml);
tests/e2e/test_chart.py fails when they differ, for the default and for other hub rules.
"""

from __future__ import annotations

import json

from tds_operator import GROUP, VERSION
from tds_operator.api.resources import Manifest
from tds_operator.desired.labels import SPACE_LABEL, managed_labels
from tds_operator.policy.rules import HubRules

SERVICES_POLICY = "tds-space-services"
CLAIMS_POLICY = "tds-space-volume-claims"
PODS_POLICY = "tds-space-pods"
RELEASES_POLICY = "tds-space-release-reviews"
JOB_FINALIZER_POLICY = "tds-space-job-finalizers"
OPERATOR_FINALIZER = "tds.io/finalizer"
"""The operator's finalizer (handlers/objects.py FINALIZER): while it is on a TrainingJob, the job
cannot go before the operator has stopped and metered its workers."""
REVIEW_VERB = "review"
"""Not a verb the API server serves: RBAC grants it on one ModelRelease to the provider's owners
(desired/outputs.py), and the releases policy asks the authorizer for it."""

ADMISSION_API = "admissionregistration.k8s.io/v1"

_SERVICES = [
    (
        "object.spec.type in ['ClusterIP', 'ExternalName']",
        "spec.type: a Service in a space is reachable inside the cluster only "
        "(ClusterIP); NodePort and LoadBalancer expose the space outside it",
    ),
    (
        "object.spec.?externalIPs.orValue([]).size() == 0",
        "spec.externalIPs: a Service in a space may not claim external IPs "
        "(it would intercept the cluster's traffic to them); remove the field",
    ),
]

_CLAIMS = [
    (
        "request.operation != 'CREATE' || object.spec.?volumeName.orValue('') == ''",
        "spec.volumeName: a claim in a space may not name a PersistentVolume (it could take "
        "another tenant's retained data or a host path); ask for a storageClassName instead",
    ),
    # A pending claim's volumeName may be set once by an update: that is how the volume binder
    # binds it. Only who may bind volumes (update PersistentVolumes) may set it.
    (
        "request.operation != 'UPDATE' || object.spec.?volumeName.orValue('') == "
        "oldObject.spec.?volumeName.orValue('') || "
        "authorizer.group('').resource('persistentvolumes').check('update').allowed()",
        "spec.volumeName: a claim in a space may not be pointed at a PersistentVolume (it "
        "could take another tenant's retained data); only the volume binder binds claims",
    ),
]

# A release is reviewed by the provider's owners only, even with the operator's webhook absent: a
# review is never part of the request, and only who holds `review` on the release may add it.
_RELEASES = [
    (
        "request.operation != 'CREATE' || !has(object.spec.review)",
        "spec.review: a ModelRelease is asked for without a review; an owner of the provider "
        "space adds it later",
    ),
    (
        "request.operation != 'UPDATE' || !has(object.spec.review) || has(oldObject.spec.review) "
        "|| authorizer.group('tds.io').resource('modelreleases').namespace(request.namespace)"
        f".name(object.metadata.name).check('{REVIEW_VERB}').allowed()",
        "spec.review: only an owner of the provider space, given access to review this very "
        "release, may set it",
    ),
    (
        "request.operation != 'CREATE' || size(object.spec.?reviews.orValue([])) == 0",
        "spec.reviews: a ModelRelease is asked for without reviews; the owners of the "
        "providers add them later",
    ),
    (
        "request.operation != 'UPDATE' || size(object.spec.?reviews.orValue([])) <= "
        "size(oldObject.spec.?reviews.orValue([])) || authorizer.group('tds.io')"
        ".resource('modelreleases').namespace(request.namespace).name(object.metadata.name)"
        f".check('{REVIEW_VERB}').allowed()",
        "spec.reviews: only an owner of a provider space, given access to review this very "
        "release, may add a review",
    ),
]

# A TrainingJob's finalizer is what makes its deletion stop and meter its workers: stripped, the
# job could be deleted while its batch Job runs on, unmetered and out of the contract's reach.
# Only who may update `trainingjobs/finalizers` (the operator; the space roles do not grant it)
# removes it; the garbage collector's own finalizers are untouched by this rule.
_JOB_FINALIZERS = [
    (
        f"!('{OPERATOR_FINALIZER}' in oldObject.metadata.?finalizers.orValue([])) || "
        f"'{OPERATOR_FINALIZER}' in object.metadata.?finalizers.orValue([]) || "
        "authorizer.group('tds.io').resource('trainingjobs').subresource('finalizers')"
        ".namespace(request.namespace).name(object.metadata.name).check('update').allowed()",
        f"metadata.finalizers: only the operator removes {OPERATOR_FINALIZER} from a "
        "TrainingJob, once its workers are stopped and metered; delete the job to stop it",
    ),
]

# The GPU pool of the hub rules, as CEL literals (JSON is valid CEL for strings and maps).
_NODE_TERMS = (
    "object.spec.?affinity.?nodeAffinity.?requiredDuringSchedulingIgnoredDuringExecution"
    ".?nodeSelectorTerms.orValue([]) + object.spec.?affinity.?nodeAffinity"
    ".?preferredDuringSchedulingIgnoredDuringExecution.orValue([]).map(p, p.preference)"
)
_POD_TERMS = (
    "object.spec.?affinity.?podAffinity.?requiredDuringSchedulingIgnoredDuringExecution"
    ".orValue([]) + object.spec.?affinity.?podAffinity"
    ".?preferredDuringSchedulingIgnoredDuringExecution.orValue([]).map(w, w.podAffinityTerm)"
    " + object.spec.?affinity.?podAntiAffinity.?requiredDuringSchedulingIgnoredDuringExecution"
    ".orValue([]) + object.spec.?affinity.?podAntiAffinity"
    ".?preferredDuringSchedulingIgnoredDuringExecution.orValue([]).map(w, w.podAffinityTerm)"
)
_PODS = [
    (
        "!object.spec.?tolerations.orValue([]).exists(t, t.?key.orValue('') == "
        "variables.gpuTolerationKey || (t.?key.orValue('') == '' && "
        "t.?operator.orValue('') == 'Exists'))",
        "'spec.tolerations: a pod in a space may not tolerate the GPU pool taint ' + "
        "variables.gpuTolerationKey + ' (nor every taint): the pool belongs to the clean rooms'",
    ),
    (
        "request.operation != 'CREATE' || !(size(variables.gpuNodeSelector) > 0 && "
        "variables.gpuNodeSelector.all(k, object.spec.?nodeSelector[?k].orValue('') == "
        "variables.gpuNodeSelector[k]))",
        "'spec.nodeSelector: a pod in a space may not select the GPU pool (' + "
        "variables.gpuNodeSelector.map(k, k + '=' + variables.gpuNodeSelector[k]).join(',') + "
        "'): the pool belongs to the clean rooms'",
    ),
    (
        "request.operation != 'CREATE' || !variables.nodeTerms.exists(term, "
        "size(variables.gpuNodeSelector) > 0 && variables.gpuNodeSelector.all(k, "
        "term.?matchExpressions.orValue([]).exists(e, e.key == k && e.operator == 'In' && "
        "variables.gpuNodeSelector[k] in e.?values.orValue([]))))",
        "'spec.affinity.nodeAffinity: a pod in a space may not ask for the GPU pool (' + "
        "variables.gpuNodeSelector.map(k, k + '=' + variables.gpuNodeSelector[k]).join(',') + "
        "'): the pool belongs to the clean rooms'",
    ),
    (
        "request.operation != 'CREATE' || object.spec.?nodeName.orValue('') == ''",
        "'spec.nodeName: a pod in a space is placed by the scheduler, which keeps it off the "
        "GPU pool; remove the field'",
    ),
    (
        "request.operation != 'CREATE' || !variables.podTerms.exists(term, "
        "has(term.namespaceSelector) || term.?namespaces.orValue([]).exists(n, "
        "n != request.namespace))",
        "'spec.affinity: pod affinity and anti-affinity of a pod in a space may only name its "
        "own namespace (' + request.namespace + '); other namespaces include the clean rooms'",
    ),
    (
        "request.operation != 'CREATE' || object.spec.?priority.orValue(0) <= 0",
        "'spec.priorityClassName: a pod in a space may not have a priority above 0 (' + "
        "object.spec.?priorityClassName.orValue('') + '): it would preempt clean-room workers'",
    ),
]


def _policy(
    name: str,
    resource: str,
    operations: list[str],
    validations: list[tuple[str, str]],
    variables: list[Manifest] | None = None,
    message_expressions: bool = False,
    api: tuple[str, str] = ("", "v1"),
) -> Manifest:
    key = "messageExpression" if message_expressions else "message"
    spec: Manifest = {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [
                {
                    "apiGroups": [api[0]],
                    "apiVersions": [api[1]],
                    "resources": [resource],
                    "operations": operations,
                }
            ]
        },
        "validations": [
            {"expression": expression, key: message} for expression, message in validations
        ],
    }
    if variables:
        spec["variables"] = variables
    return {
        "apiVersion": ADMISSION_API,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": managed_labels()},
        "spec": spec,
    }


def _binding(policy: Manifest) -> Manifest:
    """Binds a policy to every space namespace, refusing what it does not allow."""
    name = policy["metadata"]["name"]
    return {
        "apiVersion": ADMISSION_API,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name, "labels": managed_labels()},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {
                "namespaceSelector": {
                    "matchExpressions": [{"key": SPACE_LABEL, "operator": "Exists"}]
                }
            },
        },
    }


def gpu_pool_variables(rules: HubRules) -> list[Manifest]:
    """The hub rules' GPU pool as CEL variables: the taint key and the node labels."""
    selector = json.dumps(dict(sorted(rules.gpu_node_selector.items())), separators=(",", ":"))
    return [
        {"name": "gpuTolerationKey", "expression": json.dumps(rules.gpu_toleration_key)},
        {"name": "gpuNodeSelector", "expression": selector},
        {"name": "nodeTerms", "expression": _NODE_TERMS},
        {"name": "podTerms", "expression": _POD_TERMS},
    ]


def space_admission_policies(rules: HubRules) -> list[Manifest]:
    """The policies of the spaces and their bindings, each policy before its binding."""
    policies = [
        _policy(SERVICES_POLICY, "services", ["CREATE", "UPDATE"], _SERVICES),
        _policy(CLAIMS_POLICY, "persistentvolumeclaims", ["CREATE", "UPDATE"], _CLAIMS),
        _policy(
            PODS_POLICY,
            "pods",
            ["CREATE", "UPDATE"],
            _PODS,
            gpu_pool_variables(rules),
            message_expressions=True,
        ),
        _policy(
            RELEASES_POLICY,
            "modelreleases",
            ["CREATE", "UPDATE"],
            _RELEASES,
            api=(GROUP, VERSION),
        ),
        _policy(
            JOB_FINALIZER_POLICY,
            "trainingjobs",
            ["UPDATE"],
            _JOB_FINALIZERS,
            api=(GROUP, VERSION),
        ),
    ]
    return [manifest for policy in policies for manifest in (policy, _binding(policy))]
