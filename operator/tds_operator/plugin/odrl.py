"""A DataContract as an ODRL 2.2 Agreement in JSON-LD (pure: the contract in, a document out).

The context is inline, so that any JSON-LD processor expands the document without fetching
anything. Terms ODRL's core vocabulary has (purpose, dateTime, count) use it; the others (GPU
budget, concurrent GPUs, egress destinations, joint training, review of exported models) are left
operands and actions of this project's profile, `PROFILE`. docs/security/evidence.md has the
mapping.
"""

from __future__ import annotations

from typing import Any, Final

from tds_operator.api.datacontract import DataContract
from tds_operator.api.rfc3339 import format_seconds

ODRL: Final = "http://www.w3.org/ns/odrl/2/"
PROFILE: Final = "https://tds.io/ns/odrl/"
XSD: Final = "http://www.w3.org/2001/XMLSchema#"

_VOCAB: Final = {"@type": "@vocab"}
_SET: Final = {"@container": "@set"}
CONTEXT: Final[dict[str, Any]] = {
    "odrl": ODRL,
    "tds": PROFILE,
    "xsd": XSD,
    "dct": "http://purl.org/dc/terms/",
    "uid": "@id",
    "type": "@type",
    **{term: f"odrl:{term}" for term in ("Agreement", "Permission", "Prohibition", "Duty")},
    **{term: f"odrl:{term}" for term in ("use", "distribute", "purpose", "dateTime", "count")},
    **{term: f"odrl:{term}" for term in ("eq", "lt", "lteq", "gteq", "isAnyOf")},
    "profile": {"@id": "odrl:profile", "@type": "@id"},
    "assigner": {"@id": "odrl:assigner", "@type": "@id"},
    "assignee": {"@id": "odrl:assignee", "@type": "@id"},
    "target": {"@id": "odrl:target", "@type": "@id", **_SET},
    "action": {"@id": "odrl:action", **_VOCAB},
    "leftOperand": {"@id": "odrl:leftOperand", **_VOCAB},
    "operator": {"@id": "odrl:operator", **_VOCAB},
    "rightOperand": {"@id": "odrl:rightOperand"},
    **{term: {"@id": f"odrl:{term}", **_SET} for term in ("permission", "prohibition", "duty")},
    "constraint": {"@id": "odrl:constraint", **_SET},
    "title": "dct:title",
}


def space_iri(space: str) -> str:
    """The IRI of a DataSpace (a party) on this hub."""
    return f"urn:tds:dataspace:{space}"


def dataset_iri(space: str, dataset: str) -> str:
    """The IRI of a dataset a space offers."""
    return f"urn:tds:dataset:{space}:{dataset}"


def models_iri(contract: str) -> str:
    """The IRI of the models trained under a contract."""
    return f"urn:tds:contract:{contract}:models"


def _typed(value: Any, datatype: str) -> dict[str, Any]:
    return {"@value": value, "@type": f"xsd:{datatype}"}


def _constraint(left: str, operator: str, right: Any) -> dict[str, Any]:
    return {"leftOperand": left, "operator": operator, "rightOperand": right}


def _use_constraints(contract: DataContract) -> list[dict[str, Any]]:
    spec = contract.spec
    constraints = [_constraint("purpose", "eq", f"tds:{spec.purpose}")]
    if spec.validity.not_before is not None:
        start = format_seconds(spec.validity.not_before)
        constraints.append(_constraint("dateTime", "gteq", _typed(start, "dateTime")))
    end = format_seconds(spec.validity.not_after)
    constraints.append(_constraint("dateTime", "lt", _typed(end, "dateTime")))
    budget = spec.compute.max_gpu_hours
    constraints.append(_constraint("tds:gpuHours", "lteq", _typed(budget, "decimal")))
    gpus = spec.compute.max_concurrent_gpus
    constraints.append(_constraint("tds:concurrentGpus", "lteq", _typed(gpus, "integer")))
    if spec.max_jobs is not None:
        constraints.append(_constraint("count", "lteq", _typed(spec.max_jobs, "integer")))
    destinations = [
        f"{rule.cidr}:{port}" for rule in spec.egress for port in sorted(map(str, rule.ports))
    ]
    constraints.append(_constraint("tds:egressDestination", "isAnyOf", {"@list": destinations}))
    joint = spec.joint_training
    allowed = bool(joint and joint.allowed)
    constraints.append(_constraint("tds:jointTraining", "eq", _typed(allowed, "boolean")))
    if joint and allowed and joint.with_:
        partners = [{"@id": space_iri(space)} for space in joint.with_]
        constraints.append(_constraint("tds:jointTrainingPartner", "isAnyOf", {"@list": partners}))
    return constraints


def odrl_agreement(contract: DataContract) -> dict[str, Any]:
    """The contract's terms as an ODRL 2.2 Agreement (JSON-LD, inline context)."""
    spec, name = contract.spec, contract.metadata.name or ""
    provider, consumer = spec.provider.space, spec.consumer.space
    parties = {"assigner": space_iri(provider), "assignee": space_iri(consumer)}
    datasets = [dataset_iri(provider, dataset) for dataset in spec.provider.datasets]
    models = models_iri(name)
    rules: dict[str, list[dict[str, Any]]] = {
        "permission": [
            {
                "type": "Permission",
                **parties,
                "target": datasets,
                "action": "use",
                "constraint": _use_constraints(contract),
            }
        ],
        # The data itself never leaves the clean room, whatever else the terms say.
        "prohibition": [
            {"type": "Prohibition", **parties, "target": datasets, "action": "distribute"}
        ],
    }
    export = spec.outputs.model_export
    if export == "denied":
        rules["prohibition"].append(
            {"type": "Prohibition", **parties, "target": [models], "action": "distribute"}
        )
    else:
        release: dict[str, Any] = {
            "type": "Permission",
            **parties,
            "target": [models],
            "action": "distribute",
        }
        if export == "review":
            review = {"type": "Duty", "assigner": space_iri(provider), "action": "tds:review"}
            release["duty"] = [{**review, "target": [models]}]
        rules["permission"].append(release)
    return {
        "@context": CONTEXT,
        "type": "Agreement",
        "uid": f"urn:uuid:{uid}" if (uid := contract.metadata.uid) else f"urn:tds:contract:{name}",
        "title": name,
        "profile": PROFILE,
        **parties,
        **rules,
    }
