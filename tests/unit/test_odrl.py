"""The ODRL export: a JSON-LD processor expands it offline, and every term lands on the ODRL or
profile IRI the README's mapping names."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pyld import jsonld

from bench.hubkit.manifests import contract_spec
from kubectl_tds.odrl import ODRL, PROFILE, odrl_agreement
from tds_operator.api.datacontract import DataContract

pytestmark = pytest.mark.unit

XSD = "http://www.w3.org/2001/XMLSchema#"


def no_network(url: str, options: Any = None) -> Any:
    raise AssertionError(f"the export made the processor fetch {url}")


def contract(**terms: Any) -> dict[str, Any]:
    """The contract as the API server holds it (validated by the API's model first)."""
    spec = contract_spec(**terms).model_dump(mode="json", by_alias=True, exclude_none=True)
    return DataContract.model_validate(
        {
            "apiVersion": "tds.io/v1alpha1",
            "kind": "DataContract",
            "metadata": {"name": "sgcc-to-cmcc", "uid": "6f1c2d3e-0000-4000-8000-000000000001"},
            "spec": spec,
        }
    ).model_dump(mode="json", by_alias=True, exclude_none=True)


def expand(document: dict[str, Any]) -> dict[str, Any]:
    # A JSON round trip first: what `kubectl tds export odrl` prints is what is expanded.
    [node] = jsonld.expand(json.loads(json.dumps(document)), {"documentLoader": no_network})
    assert isinstance(node, dict)
    return node


def ids(values: list[dict[str, Any]]) -> list[str]:
    return [value["@id"] for value in values]


def constraints(rule: dict[str, Any]) -> dict[tuple[str, str], Any]:
    found = {}
    for item in rule[ODRL + "constraint"]:
        key = (item[ODRL + "leftOperand"][0]["@id"], item[ODRL + "operator"][0]["@id"])
        found[key] = item[ODRL + "rightOperand"][0]
    return found


def test_the_agreement_expands_offline_with_parties_targets_and_constraints() -> None:
    egress = [{"cidr": "10.20.0.0/16", "ports": [443]}]
    node = expand(odrl_agreement(contract(egress=egress)))
    assert node["@type"] == [ODRL + "Agreement"]
    assert node["@id"] == "urn:uuid:6f1c2d3e-0000-4000-8000-000000000001"
    assert ids(node[ODRL + "assigner"]) == ["urn:tds:dataspace:sgcc"]
    assert ids(node[ODRL + "assignee"]) == ["urn:tds:dataspace:cmcc"]
    assert ids(node[ODRL + "profile"]) == [PROFILE]
    use, release = node[ODRL + "permission"]
    assert ids(use[ODRL + "target"]) == ["urn:tds:dataset:sgcc:grid-load-2025"]
    assert ids(use[ODRL + "action"]) == [ODRL + "use"]
    found = constraints(use)
    assert found[(ODRL + "purpose", ODRL + "eq")] == {"@value": "tds:model-training"}
    assert found[(ODRL + "dateTime", ODRL + "lt")] == {
        "@value": "2027-03-01T00:00:00Z",
        "@type": XSD + "dateTime",
    }
    assert (ODRL + "dateTime", ODRL + "gteq") in found
    assert found[(PROFILE + "gpuHours", ODRL + "lteq")] == {
        "@value": 500.0,
        "@type": XSD + "decimal",
    }
    assert found[(PROFILE + "concurrentGpus", ODRL + "lteq")]["@value"] == 16
    assert found[(ODRL + "count", ODRL + "lteq")]["@value"] == 20
    destinations = found[(PROFILE + "egressDestination", ODRL + "isAnyOf")]["@list"]
    assert destinations == [{"@value": "10.20.0.0/16:443"}]
    # Exported models wait for the provider's review (the default output clause).
    assert ids(release[ODRL + "target"]) == ["urn:tds:contract:sgcc-to-cmcc:models"]
    [duty] = release[ODRL + "duty"]
    assert ids(duty[ODRL + "action"]) == [PROFILE + "review"]
    [keep_data] = node[ODRL + "prohibition"]
    assert ids(keep_data[ODRL + "action"]) == [ODRL + "distribute"]


def test_the_output_clause_maps_to_a_permission_or_a_prohibition() -> None:
    allowed = expand(odrl_agreement(contract(outputs={"modelExport": "allowed"})))
    _, release = allowed[ODRL + "permission"]
    assert ODRL + "duty" not in release
    denied = expand(odrl_agreement(contract(outputs={"modelExport": "denied"})))
    assert len(denied[ODRL + "permission"]) == 1
    _, no_models = denied[ODRL + "prohibition"]
    assert ids(no_models[ODRL + "target"]) == ["urn:tds:contract:sgcc-to-cmcc:models"]


def test_without_a_job_limit_or_start_there_is_no_such_constraint() -> None:
    node = expand(
        odrl_agreement(contract(maxJobs=None, validity={"notAfter": "2027-03-15T00:00:00Z"}))
    )
    found = constraints(node[ODRL + "permission"][0])
    assert (ODRL + "count", ODRL + "lteq") not in found
    assert (ODRL + "dateTime", ODRL + "gteq") not in found


def test_the_joint_training_term_is_a_constraint_with_its_partners() -> None:
    alone = constraints(expand(odrl_agreement(contract()))[ODRL + "permission"][0])
    assert alone[(PROFILE + "jointTraining", ODRL + "eq")] == {
        "@value": False,
        "@type": XSD + "boolean",
    }
    assert (PROFILE + "jointTrainingPartner", ODRL + "isAnyOf") not in alone
    joint = {"allowed": True, "with": ["cma", "meteo"]}
    found = constraints(
        expand(odrl_agreement(contract(jointTraining=joint)))[ODRL + "permission"][0]
    )
    assert found[(PROFILE + "jointTraining", ODRL + "eq")]["@value"] is True
    partners = found[(PROFILE + "jointTrainingPartner", ODRL + "isAnyOf")]["@list"]
    assert partners == [{"@id": "urn:tds:dataspace:cma"}, {"@id": "urn:tds:dataspace:meteo"}]
    anyone = {"allowed": True}
    found = constraints(
        expand(odrl_agreement(contract(jointTraining=anyone)))[ODRL + "permission"][0]
    )
    assert found[(PROFILE + "jointTraining", ODRL + "eq")]["@value"] is True
    assert (PROFILE + "jointTrainingPartner", ODRL + "isAnyOf") not in found
