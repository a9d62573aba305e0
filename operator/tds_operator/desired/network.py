"""NetworkPolicy specs every isolated namespace starts from (a space and a clean room alike)."""

from __future__ import annotations

from tds_operator.desired.labels import Manifest


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
