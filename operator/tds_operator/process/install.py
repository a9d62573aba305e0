"""What the operator needs in the cluster before it reconciles: the cluster objects the Helm chart
installs (made on a local run, checked on the chart's), and its own namespace."""

from __future__ import annotations

import kopf

from tds_operator.api.compare import is_subset
from tds_operator.api.resources import DATA_SPACE, Manifest
from tds_operator.kube import Kube, KubeError


def _content(manifest: Manifest) -> Manifest:
    """What an installed object must have: all but its identity (Helm labels what it installs)."""
    return {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind", "metadata")}


async def ensure_installed(kube: Kube, manifests: list[Manifest]) -> None:
    """Cluster objects the Helm chart installs and a local run makes: the ClusterRoles spaces
    bind, the admission policies of the spaces.

    The chart's operator may only read them: if one is missing or says something else, it stops
    with the reason.
    """
    for manifest in manifests:
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        live = await kube.get(manifest["apiVersion"], kind, name)
        if live is not None and is_subset(_content(manifest), live):
            continue
        try:
            await kube.apply(manifest)
        except KubeError as error:
            if error.status != 403:
                raise
            state = "missing" if live is None else "not what this operator expects"
            raise kopf.PermanentError(
                f"{kind} {name} is {state} and the operator may not write it: "
                "install the tds-operator chart of this operator's version "
                "with the operator's hub rules"
            ) from None


async def ensure_namespace(kube: Kube, name: str) -> None:
    """The operator's own namespace (it holds the audit ledgers and its key); created on a local
    run. A namespace that a DataSpace holds is refused: its owners could rewrite the ledgers."""
    live = await kube.get("v1", "Namespace", name)
    if live is None:
        await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        return
    spaces = [
        ref.get("name")
        for ref in live["metadata"].get("ownerReferences") or []
        if ref.get("kind") == DATA_SPACE
    ]
    if spaces:
        raise kopf.PermanentError(
            f"namespace {name} belongs to DataSpace {spaces[0]}, whose owners administer it: "
            "install the operator in a namespace of its own (TDS_NAMESPACE, helm --namespace)"
        )
