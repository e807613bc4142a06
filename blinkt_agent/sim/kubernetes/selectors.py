"""Field and label selectors as the apiserver parses and applies them.

Field selectors (apimachinery/pkg/fields/selector.go parseSelector): terms split on ",",
sorted, each `a!=b`, `a==b` or `a=b` (else `invalid selector: 'S'; can't understand 'T'`);
all must hold. Each label is then converted for the kind (pkg/apis/core/v1/conversion.go
AddFieldLabelConversionFunc): an unsupported one is a 400 `field label not supported: L`
(handlers/get.go ListResource, errors.NewBadRequest). Values are compared with the
object's selectable fields (pkg/registry/core/pod/strategy.go ToSelectableFields,
pkg/registry/core/node/strategy.go NodeToSelectableFields); a field the set lacks is "".

Label selectors (apimachinery/pkg/labels/selector.go): `k=v`, `k==v`, `k!=v`, `k`, `!k`,
`k in (a,b)`, `k notin (a,b)`, comma = AND.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Doc = dict[str, Any]
Matcher = Callable[[Doc], bool]

POD_FIELDS = (  # conversion.go, Pod: labels that pass (spec.host becomes spec.nodeName)
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
)
NODE_FIELDS = ("metadata.name", "spec.unschedulable")  # conversion.go, Node

_LABEL_TERM = re.compile(
    r"^\s*(?:(?P<not>!)\s*(?P<nkey>[^\s!=,()]+)"
    r"|(?P<key>[^\s!=,()]+)\s*(?:(?P<op>==|!=|=|\s+in\s+|\s+notin\s+)\s*(?P<value>.*?))?)\s*$"
)


class SelectorError(ValueError):
    """A selector the apiserver refuses with 400 BadRequest; str() is its message."""


def pod_fields(pod: Doc) -> dict[str, str]:
    """ToSelectableFields + AddObjectMetaFieldsSet."""
    spec, status, meta = pod.get("spec", {}), pod.get("status", {}), pod["metadata"]
    ips = status.get("podIPs") or []
    return {
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.restartPolicy": spec.get("restartPolicy", ""),
        "spec.schedulerName": spec.get("schedulerName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "spec.hostNetwork": "true" if spec.get("hostNetwork") else "false",
        "status.phase": status.get("phase", ""),
        "status.podIP": ips[0]["ip"] if ips else "",
        "status.nominatedNodeName": status.get("nominatedNodeName", ""),
        "metadata.name": meta["name"],
        "metadata.namespace": meta.get("namespace", ""),
    }


def node_fields(node: Doc) -> dict[str, str]:
    """NodeToSelectableFields: the name and spec.unschedulable (strconv.FormatBool)."""
    unschedulable = bool(node.get("spec", {}).get("unschedulable"))
    return {
        "metadata.name": node["metadata"]["name"],
        "spec.unschedulable": str(unschedulable).lower(),
    }


FIELDS: dict[str, tuple[tuple[str, ...], Callable[[Doc], dict[str, str]]]] = {
    "pods": (POD_FIELDS, pod_fields),
    "nodes": (NODE_FIELDS, node_fields),
}


def parse_fields(text: str, resource: str) -> list[tuple[str, str, bool]]:
    """(field, value, equal) terms, converted for the resource; raises SelectorError."""
    supported, _ = FIELDS[resource]
    terms: list[tuple[str, str, bool]] = []
    for part in sorted(text.split(",")):
        if not part:
            continue
        for op, equal in (("!=", False), ("==", True), ("=", True)):
            pieces = part.split(op)
            if len(pieces) == 2:
                terms.append((pieces[0], pieces[1], equal))
                break
        else:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
    converted = []
    for label, value, equal in terms:
        if resource == "pods" and label == "spec.host":
            label = "spec.nodeName"  # old v1 clients
        if label not in supported:
            raise SelectorError(f"field label not supported: {label}")
        converted.append((label, value, equal))
    return converted


def field_matcher(terms: list[tuple[str, str, bool]], resource: str) -> Matcher:
    _, fields_of = FIELDS[resource]

    def matches(doc: Doc) -> bool:
        fields = fields_of(doc)
        return all((fields.get(label, "") == value) == equal for label, value, equal in terms)

    return matches


def exact(terms: list[tuple[str, str, bool]], label: str) -> str | None:
    """RequiresExactMatch: the value an `=` term pins the field to."""
    for name, value, equal in terms:
        if name == label and equal:
            return value
    return None


def _split_label_terms(text: str) -> list[str]:
    """Commas separate requirements, except inside the parentheses of in/notin."""
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p for p in parts if p.strip()]


def label_matcher(text: str) -> Matcher:
    """A matcher on metadata.labels; raises SelectorError for what it cannot parse."""
    requirements: list[tuple[str, str, frozenset[str]]] = []  # (operator, key, values)
    for term in _split_label_terms(text):
        match = _LABEL_TERM.match(term)
        if not match:
            raise SelectorError(f"unable to parse requirement: {term.strip()!r}")
        if match["not"]:
            requirements.append(("!", match["nkey"], frozenset()))
            continue
        key, op, value = match["key"], (match["op"] or "").strip(), match["value"] or ""
        if op in ("in", "notin"):
            if not (value.startswith("(") and value.endswith(")")):
                raise SelectorError(f"unable to parse requirement: {term.strip()!r}")
            values = frozenset(v.strip() for v in value[1:-1].split(","))
        else:
            values = frozenset((value,))
        requirements.append((op or "exists", key, values))

    def holds(op: str, key: str, values: frozenset[str], labels: dict[str, str]) -> bool:
        if op == "!":
            return key not in labels
        if op == "exists":
            return key in labels
        if op in ("=", "==", "in"):
            return labels.get(key) in values
        return labels.get(key) not in values  # != and notin also match a missing key

    def matches(doc: Doc) -> bool:
        labels = doc["metadata"].get("labels") or {}
        return all(holds(op, key, values, labels) for op, key, values in requirements)

    return matches
