"""Generate crds/*.yaml from the API models; with --check, fail when crds/ is not what they make."""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from tds_operator import API_VERSION
from tds_operator.api.common import CustomResource
from tds_operator.api.contract import Contract
from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import DataSpace
from tds_operator.api.modelrelease import ModelRelease
from tds_operator.api.proposal import ContractProposal
from tds_operator.api.resources import (
    CATEGORY,
    CONTRACT,
    CONTRACT_PROPOSAL,
    DATA_CONTRACT,
    DATA_SPACE,
    KINDS,
    MODEL_RELEASE,
    TRAINING_JOB,
    Resource,
    resource_for,
)
from tds_operator.api.trainingjob import TrainingJob

Schema = dict[str, Any]

MODELS: dict[str, type[CustomResource]] = {
    DATA_SPACE: DataSpace,
    DATA_CONTRACT: DataContract,
    TRAINING_JOB: TrainingJob,
    MODEL_RELEASE: ModelRelease,
    CONTRACT: Contract,
    CONTRACT_PROPOSAL: ContractProposal,
}

HEADER = "# Generated from operator/tds_operator/api by `make crds`. Do not edit.\n"


# The API server's own root fields, in place of what the models declare for them.
_ROOT_PROPERTIES: Schema = {
    "apiVersion": {
        "description": f"Versioned schema of this representation of the object: {API_VERSION}.",
        "type": "string",
    },
    "kind": {"description": "The REST resource this object represents.", "type": "string"},
    # Declaring metadata.name (and nothing else) lets root CEL rules point at it by fieldPath.
    "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
}

# Keys in the order they are written; anything else pydantic emits is a bug to look at.
_KEY_ORDER = (
    "description",
    "type",
    "format",
    "enum",
    "x-kubernetes-int-or-string",
    "anyOf",
    "default",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "items",
    "properties",
    "additionalProperties",
    "required",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-validations",
)
_DROPPED = {"title", "const", "examples", "discriminator", "uniqueItems"}
_HOISTED_FROM_BRANCHES = ("minimum", "maximum", "minLength", "maxLength", "pattern")
_RULE_KEY_ORDER = ("rule", "message", "fieldPath", "reason")


class SchemaError(ValueError):
    """The models produce something that is not a valid structural schema."""


def _resolve(node: Schema, defs: Schema) -> Schema:
    """Inline a `$ref`, letting the referring node's own keys win."""
    if "$ref" not in node:
        return node
    target = copy.deepcopy(defs[node["$ref"].removeprefix("#/$defs/")])
    siblings = {key: value for key, value in node.items() if key != "$ref"}
    rules = target.get("x-kubernetes-validations", []) + siblings.pop(
        "x-kubernetes-validations", []
    )
    target.update(siblings)
    if rules:
        target["x-kubernetes-validations"] = rules
    return _resolve(target, defs)


def _collapse_any_of(node: Schema, path: str) -> Schema:
    """Turn Optional[X] into a non-required X and int | str into x-kubernetes-int-or-string."""
    branches = [branch for branch in node.pop("anyOf") if branch != {"type": "null"}]
    if len(branches) == 1:
        merged = {**branches[0], **node}
        if merged.get("default", "") is None:
            del merged["default"]
        return merged
    types = sorted(branch.get("type", "") for branch in branches)
    if types != ["integer", "string"]:
        raise SchemaError(f"{path}: unions other than Optional and int | str are not structural")
    node["x-kubernetes-int-or-string"] = True
    node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    for branch in branches:
        for key in _HOISTED_FROM_BRANCHES:
            if key in branch:
                node[key] = branch[key]
    return node


def _structural(node: Schema, defs: Schema, path: str) -> Schema:
    """Post-process one pydantic JSON schema node into a structural schema node."""
    node = {key: value for key, value in _resolve(node, defs).items() if key not in _DROPPED}
    if any("$ref" in branch for branch in node.get("anyOf", [])):
        node["anyOf"] = [_resolve(branch, defs) for branch in node["anyOf"]]
    if "anyOf" in node:
        node = _collapse_any_of(node, path)
        node = {key: value for key, value in node.items() if key not in _DROPPED}
    if node.get("additionalProperties") is False:
        del node["additionalProperties"]
    if isinstance(node.get("exclusiveMinimum"), int | float) and not isinstance(
        node["exclusiveMinimum"], bool
    ):
        # JSON Schema's numeric exclusiveMinimum is OpenAPI v3.0's minimum + boolean flag.
        node["minimum"] = node["exclusiveMinimum"]
        node["exclusiveMinimum"] = True
    if "properties" in node:
        node["properties"] = {
            name: _structural(child, defs, f"{path}.{name}")
            for name, child in node["properties"].items()
        }
        for name, child in node["properties"].items():
            if not child.get("description"):
                raise SchemaError(f"{path}.{name} has no description")
    if "items" in node:
        node["items"] = _structural(node["items"], defs, f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        node["additionalProperties"] = _structural(node["additionalProperties"], defs, path)
    if "x-kubernetes-validations" in node:
        node["x-kubernetes-validations"] = [
            {key: rule[key] for key in _RULE_KEY_ORDER if key in rule}
            for rule in node["x-kubernetes-validations"]
        ]
    if "type" not in node and not node.get("x-kubernetes-int-or-string"):
        raise SchemaError(f"{path} has no type")
    unknown = set(node) - set(_KEY_ORDER)
    if unknown:
        raise SchemaError(f"{path}: unexpected schema keys {sorted(unknown)}")
    return {key: node[key] for key in _KEY_ORDER if key in node}


def structural_schema(model: type[BaseModel], replaced: Schema | None = None) -> Schema:
    """A pydantic model's JSON schema post-processed into a structural schema.

    `replaced` properties are taken as given instead of from the model, in the model's order.
    """
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    replaced = replaced or {}
    order = list(raw.get("properties", {}))
    for name in replaced:
        del raw["properties"][name]
    schema = _structural(raw, defs, model.__name__)
    if replaced:
        own = schema["properties"]
        schema["properties"] = {name: replaced.get(name) or own[name] for name in order}
    return schema


def openapi_schema(kind: str) -> Schema:
    """The openAPIV3Schema of a kind: its model, with the standard apiVersion, kind, metadata."""
    schema = structural_schema(MODELS[kind], replaced=_ROOT_PROPERTIES)
    schema["required"] = ["spec"]
    return {key: schema[key] for key in _KEY_ORDER if key in schema}


def custom_resource_definition(kind: str) -> dict[str, Any]:
    """The CustomResourceDefinition of a kind."""
    resource: Resource = resource_for(kind)
    model = MODELS[kind]
    version: dict[str, Any] = {
        "name": resource.version,
        "served": True,
        "storage": True,
    }
    if model.STATUS_SUBRESOURCE:
        version["subresources"] = {"status": {}}
    version["additionalPrinterColumns"] = [column.to_schema() for column in model.PRINTER_COLUMNS]
    if model.SELECTABLE_FIELDS:
        version["selectableFields"] = [{"jsonPath": path} for path in model.SELECTABLE_FIELDS]
    version["schema"] = {"openAPIV3Schema": openapi_schema(kind)}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": resource.crd_name,
            "labels": {"app.kubernetes.io/part-of": "tds-operator"},
        },
        "spec": {
            "group": resource.group,
            "names": {
                "kind": resource.kind,
                "listKind": f"{resource.kind}List",
                "plural": resource.plural,
                "singular": resource.singular,
                "shortNames": [resource.short_name],
                "categories": [CATEGORY],
            },
            "scope": "Namespaced" if resource.namespaced else "Cluster",
            "versions": [version],
        },
    }


def file_name(kind: str) -> str:
    """File name of a kind's CRD in crds/, `<group>_<plural>.yaml` as kubebuilder names them."""
    resource = resource_for(kind)
    return f"{resource.group}_{resource.plural}.yaml"


class _Dumper(yaml.SafeDumper):
    """Plain YAML: shared sub-objects are written out, never as anchors and aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(kind: str) -> str:
    """The YAML text of a kind's CRD, byte for byte what crds/ holds."""
    body = yaml.dump(
        custom_resource_definition(kind),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )
    return HEADER + body


def rendered_files() -> dict[str, str]:
    """Every file crds/ must hold, by name."""
    return {file_name(kind): render(kind) for kind in KINDS}


@dataclass(frozen=True)
class Drift:
    """How a crds/ directory differs from what the models generate."""

    stale: list[str]
    missing: list[str]
    extra: list[str]

    def __bool__(self) -> bool:
        return bool(self.stale or self.missing or self.extra)

    def report(self, directory: Path) -> str:
        """A message naming every file to regenerate, add or remove."""
        lines = [f"{directory}/ is not what the API models generate:"]
        for label, names in (("stale", self.stale), ("missing", self.missing)):
            lines += [f"  {label}: {directory / name}" for name in names]
        lines += [f"  extra (not generated): {directory / name}" for name in self.extra]
        lines.append("Run `make crds` and commit the result.")
        return "\n".join(lines)


def drift(directory: Path) -> Drift:
    """Compare a directory with the generated CRDs."""
    expected = rendered_files()
    present = {path.name for path in directory.glob("*.y*ml")} if directory.is_dir() else set()
    return Drift(
        stale=sorted(
            name
            for name in expected.keys() & present
            if (directory / name).read_text(encoding="utf-8") != expected[name]
        ),
        missing=sorted(expected.keys() - present),
        extra=sorted(present - expected.keys()),
    )


def write(directory: Path) -> list[Path]:
    """Write the generated CRDs into a directory and return the files that changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in rendered_files().items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write the CRDs, or check that they are fresh."""
    parser = argparse.ArgumentParser(prog="python -m tds_operator.api.crdgen", description=__doc__)
    parser.add_argument("directory", type=Path, help="directory of the CRD files, e.g. crds")
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if the directory is stale"
    )
    args = parser.parse_args(argv)
    if args.check:
        found = drift(args.directory)
        if found:
            print(found.report(args.directory), file=sys.stderr)
            return 1
        print(f"{args.directory}/ is up to date")
        return 0
    for path in write(args.directory):
        print(f"wrote {path}")
    stray = drift(args.directory).extra
    if stray:
        print(f"note: not generated, remove if obsolete: {', '.join(stray)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
