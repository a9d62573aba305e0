"""The claims of a provider's datasets on volumes, as the API server has them."""

from __future__ import annotations

from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import DataSpace, space_namespace
from tds_operator.kube import Kube


async def dataset_claims(
    kube: Kube, contract: DataContract, provider: DataSpace | None
) -> dict[str, bool]:
    """Whether the claim of each contracted dataset on a volume is in the provider's namespace."""
    claims: dict[str, bool] = {}
    namespace = space_namespace(contract.spec.provider.space)
    for name in contract.spec.provider.datasets:
        dataset = provider.spec.dataset(name) if provider else None
        if dataset is not None and dataset.source.volume is not None:
            claim = dataset.source.volume.claim_name
            live = await kube.get("v1", "PersistentVolumeClaim", claim, namespace)
            claims[name] = live is not None
    return claims
