"""What every isolated namespace has, a space's and a clean room's alike.

Both are namespaces under Pod Security `restricted`, owned by one of the operator's custom
resources, that start from default-deny, let their own pods talk to each other (a space's may
also ask the cluster DNS; a clean room's may not), and give containers that state no resources
a default. The `tds-*` names are the same in both, so a reader of one namespace knows the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from tds_operator.api.resources import Manifest
from tds_operator.desired.labels import (
    RESTRICTED_POD_SECURITY,
    managed_labels,
    owner_reference,
)

DEFAULT_DENY_POLICY = "tds-default-deny"
DNS_POLICY = "tds-allow-dns"
QUOTA = "tds-quota"
LIMIT_RANGE = "tds-defaults"

GPU_RESOURCE = "nvidia.com/gpu"
# Containers that state no resources still get these, so that a quota on requests and limits does
# not reject them.
CONTAINER_DEFAULT_REQUEST = {"cpu": "100m", "memory": "128Mi"}
CONTAINER_DEFAULT_LIMIT = {"cpu": "1", "memory": "1Gi"}


@dataclass(frozen=True)
class Owner:
    """The custom resource an isolated namespace and everything in it belong to."""

    kind: str
    name: str
    uid: str
    label: str
    """The label naming the owner on every object, e.g. `tds.io/space: <name>`."""

    def metadata(self, name: str, namespace: str | None = None) -> Manifest:
        """Metadata of an owned object: its name, the operator's labels, a controller reference."""
        metadata: Manifest = {
            "name": name,
            "labels": managed_labels(**{self.label: self.name}),
            "ownerReferences": [owner_reference(self.kind, self.name, self.uid)],
        }
        if namespace is not None:
            metadata["namespace"] = namespace
        return metadata


def namespace_manifest(owner: Owner, name: str, **labels: str) -> Manifest:
    """The isolated namespace itself, under Pod Security `restricted`, with extra `labels`."""
    metadata = owner.metadata(name)
    metadata["labels"].update({**labels, **RESTRICTED_POD_SECURITY})
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def network_policy(owner: Owner, name: str, namespace: str, spec: Manifest) -> Manifest:
    """A NetworkPolicy the owner holds in `namespace`."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": owner.metadata(name, namespace),
        "spec": spec,
    }


def isolation_policies(
    owner: Owner, namespace: str, same_namespace_policy: str, *, cluster_dns: bool = True
) -> list[Manifest]:
    """Default-deny in both directions, then traffic inside the namespace allowed, and the
    cluster DNS if `cluster_dns`.

    `same_namespace_policy` names the second, after what the namespace's own pods are to each
    other.
    """
    policies = [
        network_policy(owner, DEFAULT_DENY_POLICY, namespace, default_deny_spec()),
        network_policy(owner, same_namespace_policy, namespace, same_namespace_spec()),
    ]
    if cluster_dns:
        policies.insert(1, network_policy(owner, DNS_POLICY, namespace, dns_egress_spec()))
    return policies


def resource_quota(owner: Owner, namespace: str, hard: dict[str, str]) -> Manifest:
    """The namespace's ResourceQuota with these `hard` limits."""
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": owner.metadata(QUOTA, namespace),
        "spec": {"hard": hard},
    }


def limit_range(owner: Owner, namespace: str) -> Manifest:
    """Default container requests and limits, so pods that state none are still admitted."""
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": owner.metadata(LIMIT_RANGE, namespace),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "defaultRequest": dict(CONTAINER_DEFAULT_REQUEST),
                    "default": dict(CONTAINER_DEFAULT_LIMIT),
                }
            ]
        },
    }


def namespace_selector(namespace: str) -> Manifest:
    """Selects one namespace by the name label the API server sets on every namespace."""
    return {"matchLabels": {"kubernetes.io/metadata.name": namespace}}


def default_deny_spec() -> Manifest:
    """No traffic in or out, for every pod of the namespace."""
    return {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def dns_egress_spec() -> Manifest:
    """Every pod may ask the cluster DNS, and nothing else, by this policy."""
    return {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [
                    {
                        "namespaceSelector": namespace_selector("kube-system"),
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                    }
                ],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            }
        ],
    }


def same_namespace_spec() -> Manifest:
    """Pods of the namespace may talk to each other."""
    return {
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{"podSelector": {}}]}],
        "egress": [{"to": [{"podSelector": {}}]}],
    }
