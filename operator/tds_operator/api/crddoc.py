"""Generate the CRD reference page (docs/reference/crds.md) from the same schemas as crds/.

With --check, fail when the page is not what the models make, so the reference never drifts
from `kubectl explain`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tds_operator.api.crdgen import MODELS, custom_resource_definition
from tds_operator.api.resources import CATEGORY, KINDS, resource_for

Schema = dict[str, Any]

HEADER = """<!-- Generated from operator/tds_operator/api by `make crds`. Do not edit. -->
# Custom resources

The four kinds of the `tds.io` API, field by field, as the API server validates them (the same
schemas as `crds/`, generated from the operator's models; `kubectl explain <kind>.spec` shows
the same descriptions on a cluster). `kubectl get {category}` lists all four.
"""

_CONSTRAINTS = (
    ("enum", "one of"),
    ("default", "default"),
    ("minimum", "minimum"),
    ("maximum", "maximum"),
    ("minLength", "min length"),
    ("maxLength", "max length"),
    ("minItems", "min items"),
    ("maxItems", "max items"),
    ("pattern", "pattern"),
    ("format", "format"),
)


def _cell(text: str) -> str:
    """Text made safe for one Markdown table cell: one line, no HTML, no emphasis."""
    text = " ".join(text.split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("*", "\\*")


def _code(value: Any) -> str:
    """A value as inline code in a table cell."""
    shown = value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "))
    return "`" + str(shown).replace("|", "\\|").replace("`", "'") + "`"


def _type(node: Schema) -> str:
    """The field's type as a reader knows it: string, integer, object, []string, int-or-string."""
    if node.get("x-kubernetes-int-or-string"):
        return "int or string"
    kind = str(node.get("type", ""))
    if kind == "array":
        return "[]" + _type(node.get("items", {}))
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return "map[string]" + _type(node["additionalProperties"])
    return kind


def _constraints(node: Schema, required: bool) -> str:
    """What the API server holds the field to, besides its type."""
    parts = ["**required**"] if required else []
    for key, label in _CONSTRAINTS:
        if key in node:
            value = node[key]
            shown = ", ".join(_code(v) for v in value) if key == "enum" else _code(value)
            if key == "minimum" and node.get("exclusiveMinimum") is True:
                label = "greater than"
            parts.append(f"{label} {shown}")
    if node.get("x-kubernetes-list-type") == "map":
        keys = ", ".join(_code(k) for k in node.get("x-kubernetes-list-map-keys", []))
        parts.append(f"unique by {keys}")
    elif node.get("x-kubernetes-list-type") == "set":
        parts.append("unique items")
    for rule in node.get("x-kubernetes-validations", []):
        parts.append(f"rule: {_cell(rule.get('message') or rule['rule'])}")
    return "; ".join(parts)


def _fields(node: Schema, path: str) -> Iterator[tuple[str, Schema, bool]]:
    """Every field under a node, depth first: its path, its schema, whether it is required."""
    required = set(node.get("required", []))
    for name, child in node.get("properties", {}).items():
        child_path = f"{path}.{name}" if path else name
        yield child_path, child, name in required
        yield from _fields(child, child_path)
        items = child.get("items", {})
        if items.get("properties"):
            yield from _fields(items, child_path + "[]")
        extra = child.get("additionalProperties")
        if isinstance(extra, dict) and extra.get("properties"):
            yield from _fields(extra, child_path + "[*]")


def _table(schema: Schema, root: str) -> list[str]:
    """The field table of `spec` or `status`."""
    lines = ["| field | type | description | constraints |", "| --- | --- | --- | --- |"]
    for path, node, required in _fields(schema, root):
        lines.append(
            f"| `{path}` | {_type(node)} | {_cell(node.get('description', ''))} "
            f"| {_constraints(node, required)} |"
        )
    return lines


def kind_section(kind: str) -> str:
    """The reference of one kind: where it is served, its columns, its spec and status."""
    resource = resource_for(kind)
    crd = custom_resource_definition(kind)
    version = crd["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    scope = "namespaced" if resource.namespaced else "cluster-scoped"
    lines = [
        f"## {kind}",
        "",
        _cell(MODELS[kind].__doc__ or ""),
        "",
        f"`apiVersion: {resource.api_version}`, `kind: {kind}`, {scope}; "
        f"`kubectl get {resource.plural}` or `kubectl get {resource.short_name}`.",
        "",
    ]
    root_rules = schema.get("x-kubernetes-validations", [])
    if root_rules:
        lines += ["Rules over the whole object:", ""]
        lines += [f"- {_cell(rule.get('message') or rule['rule'])}" for rule in root_rules]
        lines.append("")
    columns = version.get("additionalPrinterColumns", [])
    if columns:
        lines += ["Columns of `kubectl get`:", "", "| column | shows |", "| --- | --- |"]
        lines += [f"| {c['name']} | {_cell(c.get('description', ''))} |" for c in columns]
        lines.append("")
    if version.get("selectableFields"):
        fields = ", ".join(f"`{f['jsonPath']}`" for f in version["selectableFields"])
        lines += [f"Selectable with `kubectl get --field-selector`: {fields}.", ""]
    for part in ("spec", "status"):
        node = schema["properties"].get(part)
        if node is None:
            continue
        lines += [f"### {kind} {part}", "", _cell(node.get("description", "")), ""]
        lines += _table(node, part)
        lines.append("")
    return "\n".join(lines)


def render() -> str:
    """The whole reference page."""
    sections = [kind_section(kind) for kind in KINDS]
    return HEADER.format(category=CATEGORY) + "\n" + "\n".join(sections)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write the page, or check that it is fresh."""
    parser = argparse.ArgumentParser(prog="python -m tds_operator.api.crddoc", description=__doc__)
    parser.add_argument("path", type=Path, help="the page to write, e.g. docs/reference/crds.md")
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if the page is stale"
    )
    args = parser.parse_args(argv)
    text = render()
    current = args.path.read_text(encoding="utf-8") if args.path.exists() else None
    if args.check:
        if current != text:
            print(
                f"{args.path} is not what the API models generate: run `make crds` and commit it.",
                file=sys.stderr,
            )
            return 1
        print(f"{args.path} is up to date")
        return 0
    if current != text:
        args.path.parent.mkdir(parents=True, exist_ok=True)
        args.path.write_text(text, encoding="utf-8")
        print(f"wrote {args.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
