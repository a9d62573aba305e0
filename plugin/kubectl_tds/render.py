"""What `kubectl tds` prints and sends, from the objects it read: pure, no I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

import yaml

Manifest = dict[str, Any]
FORMATS: Final = ("json", "yaml")
DECISIONS: Final = {"approve": "Approved", "reject": "Rejected"}
OPERATOR_LABEL: Final = "app.kubernetes.io/name=tds-operator"


def formatted(document: Any, output: str) -> str:
    """A document as `-o json` or `-o yaml` prints it."""
    if output == "json":
        return json.dumps(document, indent=2, sort_keys=True)
    return yaml.safe_dump(document, sort_keys=True).rstrip("\n")


def columns(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows of cells, aligned like kubectl's tables."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _text(value: Any, default: str = "-") -> str:
    """A cell: never "None"."""
    return default if value is None or value == "" else str(value)


def gpu_hours(value: Any) -> str:
    """GPU-hours rounded to two places; 0.00 when nothing was metered."""
    try:
        return f"{float(value or 0):.2f}"
    except (TypeError, ValueError):
        return "0.00"


def contracts_table(copies: Sequence[Manifest], namespace: str) -> list[str]:
    """`kubectl tds contracts`: one row per contract copy in the namespace."""
    if not copies:
        return [f"no contracts in namespace {namespace}"]
    rows = [["NAME", "SIDE", "COUNTERPARTY", "PHASE", "GPU-HOURS", "BUDGET", "EXPIRES"]]
    for copy in sorted(copies, key=lambda c: str(c["metadata"]["name"])):
        spec, status = copy.get("spec") or {}, copy.get("status") or {}
        rows.append(
            [
                str(copy["metadata"]["name"]),
                _text(spec.get("side")),
                _text(spec.get("counterparty")),
                _text(status.get("phase"), "Pending"),
                gpu_hours((status.get("usage") or {}).get("gpuHours")),
                _text((spec.get("compute") or {}).get("maxGpuHours")),
                _text(status.get("expiresAt") or (spec.get("validity") or {}).get("notAfter")),
            ]
        )
    return columns(rows)


def operator_version(deployments: Sequence[Manifest]) -> dict[str, str] | None:
    """The operator's version and image, from its Deployment's labels; None if none found."""
    for deployment in deployments:
        labels = (deployment.get("metadata") or {}).get("labels") or {}
        containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
            "containers"
        ) or [{}]
        return {
            "namespace": _text(deployment["metadata"].get("namespace")),
            "deployment": _text(deployment["metadata"].get("name")),
            "version": _text(labels.get("app.kubernetes.io/version"), "unknown"),
            "image": _text(containers[0].get("image"), "unknown"),
        }
    return None


def version_document(client: str, operator: Mapping[str, str] | None, why: str) -> Manifest:
    """`kubectl tds version -o json|yaml`: the plugin's version and the operator's (or why not)."""
    if operator is None:
        return {"client": {"version": client}, "operator": {"found": False, "reason": why}}
    return {"client": {"version": client}, "operator": {"found": True, **operator}}


def version_lines(document: Manifest) -> list[str]:
    """`kubectl tds version`: two lines."""
    operator = document["operator"]
    lines = [f"client:   kubectl-tds {document['client']['version']}"]
    if not operator["found"]:
        return [*lines, f"operator: not found ({operator['reason']})"]
    return [
        *lines,
        f"operator: {operator['version']} (image {operator['image']}, Deployment "
        f"{operator['namespace']}/{operator['deployment']})",
    ]


def probe_contract(name: str) -> Manifest:
    """A proposal the contract webhook must refuse (spaces that cannot exist): `check` sends it
    as a server-side dry run, so nothing is stored whatever the answer."""
    return {
        "apiVersion": "tds.io/v1alpha1",
        "kind": "DataContract",
        "metadata": {"name": name},
        "spec": {
            "provider": {"space": "tds-check-nobody-a", "datasets": ["probe"]},
            "consumer": {"space": "tds-check-nobody-b"},
            "purpose": "model-training",
            "validity": {"notAfter": "2099-01-01T00:00:00Z"},
            "compute": {"maxGpuHours": 1, "maxConcurrentGpus": 1},
        },
    }


def review_patch(verb: str, digest: str | None) -> Manifest:
    """The merge patch a provider owner sends to approve or reject a release (the webhook fills
    in the reviewer and, when left out, the manifest digest)."""
    review: Manifest = {"decision": DECISIONS[verb]}
    if digest:
        review["manifestDigest"] = digest
    return {"spec": {"review": review}}


def release_line(release: Manifest) -> str:
    """A release's state after a review: its phase and the reason of its last condition."""
    metadata = release.get("metadata") or {}
    review = (release.get("spec") or {}).get("review") or {}
    line = (
        f"ModelRelease {metadata.get('namespace')}/{metadata.get('name')}: "
        f"{_text(review.get('decision'), 'not reviewed')}"
    )
    reviewer = (review.get("reviewer") or {}).get("user")
    return line + (f" by {reviewer}" if reviewer else "")
