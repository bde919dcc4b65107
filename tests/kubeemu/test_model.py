"""Selectors, patches and CRD parsing of the sandbox API server (pure functions)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from kubeemu.model import (
    FieldSelector,
    LabelSelector,
    StatusError,
    resource_types_from_crd,
    sort_versions,
)
from kubeemu.patch import (
    PatchError,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
)
from kubeemu.table import human_age, jsonpath


def labelled(**labels: str) -> dict[str, Any]:
    return {"metadata": {"name": "x", "namespace": "ns", "labels": labels}}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app=web", {"app": "db"}, False),
        ("app!=web", {}, True),
        ("app in (web,db),tier", {"app": "db", "tier": "1"}, True),
        ("app in (web,db),tier", {"app": "db"}, False),
        ("app notin (web)", {"app": "db"}, True),
        ("!app", {"app": "db"}, False),
        ("replicas>2", {"replicas": "3"}, True),
        ("", {"anything": "x"}, True),
    ],
)
def test_label_selector(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert LabelSelector.parse(selector).matches(labelled(**labels)) is expected


def test_malformed_label_selector_is_a_400() -> None:
    with pytest.raises(StatusError) as info:
        LabelSelector.parse("app in web")
    assert info.value.code == 400


def test_field_selector_on_nested_fields() -> None:
    event = {"metadata": {"name": "e", "namespace": "ns"}, "involvedObject": {"name": "web"}}
    assert FieldSelector.parse("involvedObject.name=web,metadata.namespace==ns").matches(event)
    assert not FieldSelector.parse("metadata.namespace!=ns").matches(event)
    assert FieldSelector.parse("metadata.name=e").single_name() == "e"


def test_merge_patch_follows_rfc_7386() -> None:
    target = {"a": {"b": 1, "c": 2}, "list": [1, 2]}
    patched = apply_merge_patch(target, {"a": {"b": None, "d": 3}, "list": [3]})
    assert patched == {"a": {"c": 2, "d": 3}, "list": [3]}
    assert target == {"a": {"b": 1, "c": 2}, "list": [1, 2]}  # not modified


def test_json_patch_operations() -> None:
    doc = {"metadata": {"finalizers": ["a"]}, "spec": {"x": 1}}
    patched = apply_json_patch(
        doc,
        [
            {"op": "add", "path": "/metadata/finalizers/-", "value": "b"},
            {"op": "copy", "from": "/spec/x", "path": "/spec/y"},
            {"op": "move", "from": "/spec/x", "path": "/spec/z"},
            {"op": "replace", "path": "/metadata/finalizers/0", "value": "c"},
            {"op": "add", "path": "/metadata/labels", "value": {"a~b/c": "1"}},
            {"op": "remove", "path": "/metadata/labels/a~0b~1c"},
            {"op": "test", "path": "/spec/y", "value": 1},
        ],
    )
    assert patched == {"metadata": {"finalizers": ["c", "b"], "labels": {}}, "spec": {"y": 1, "z": 1}}
    assert doc == {"metadata": {"finalizers": ["a"]}, "spec": {"x": 1}}


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "test", "path": "/spec/x", "value": 2},
        {"op": "remove", "path": "/spec/missing"},
        {"op": "replace", "path": "/nothing/here", "value": 1},
        {"op": "add", "path": "/metadata/finalizers/5", "value": "x"},
        {"op": "frobnicate", "path": "/spec"},
    ],
)
def test_json_patch_failures_raise(operation: dict[str, Any]) -> None:
    with pytest.raises(PatchError):
        apply_json_patch({"metadata": {"finalizers": []}, "spec": {"x": 1}}, [operation])


def test_versions_sort_by_kubernetes_priority() -> None:
    assert sort_versions(["v1alpha1", "v1beta2", "v1", "v2beta1", "v1beta1", "v2", "foo"]) == [
        "v2",
        "v1",
        "v2beta1",
        "v1beta2",
        "v1beta1",
        "v1alpha1",
        "foo",
    ]


def test_crd_serves_only_served_versions_with_their_subresources() -> None:
    crd = {
        "spec": {
            "group": "example.com",
            "scope": "Cluster",
            "names": {"plural": "things", "kind": "Thing", "shortNames": ["th"]},
            "versions": [
                {"name": "v1", "served": True, "storage": True, "subresources": {"status": {}, "scale": {}}},
                {"name": "v1beta1", "served": False, "storage": False},
                {"name": "v1alpha1", "served": True, "storage": False},
            ],
        }
    }
    types = {rt.version: rt for rt in resource_types_from_crd(crd)}
    assert set(types) == {"v1", "v1alpha1"}
    assert types["v1"].subresources == {"status", "scale"}
    assert types["v1alpha1"].subresources == frozenset()
    assert types["v1"].namespaced is False
    assert types["v1"].short_names == ("th",)
    assert types["v1"].api_version == "example.com/v1"
    assert types["v1"].list_kind == "ThingList"


def test_jsonpath_subset_of_printer_columns() -> None:
    obj = {
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "Done", "status": "False"}],
            "weights": [10, 90],
        }
    }
    assert jsonpath(obj, '.status.conditions[?(@.type=="Done")].status') == "False"
    assert jsonpath(obj, ".status.weights[1]") == 90
    assert jsonpath(obj, ".status.missing.deeper") is None


def test_human_age() -> None:
    now = datetime.datetime(2026, 1, 2, 0, 0, 0, tzinfo=datetime.UTC)
    assert human_age("2026-01-01T23:59:30Z", now) == "30s"
    assert human_age("2026-01-01T23:55:00Z", now) == "5m0s"
    assert human_age("2026-01-01T22:00:00Z", now) == "120m"
    assert human_age("2026-01-01T20:00:00Z", now) == "4h"
    assert human_age("2025-12-28T00:00:00Z", now) == "5d"


def test_strategic_merge_patch_merges_keyed_lists_and_honours_directives() -> None:
    target = {
        "metadata": {"finalizers": ["a"], "labels": {"x": "1", "y": "2"}},
        "spec": {
            "containers": [
                {"name": "app", "image": "a:1", "env": [{"name": "A", "value": "1"}]},
                {"name": "old", "image": "o:1"},
            ],
            "args": ["--one"],
        },
    }
    patch = {
        "metadata": {"finalizers": ["b", "a"], "labels": {"$patch": "replace", "z": "3"}},
        "spec": {
            "$setElementOrder/containers": [{"name": "app"}],
            "containers": [
                {"name": "app", "env": [{"name": "B", "value": "2"}]},
                {"name": "old", "$patch": "delete"},
                {"name": "new", "image": "n:1"},
            ],
            "args": ["--two"],
        },
    }
    assert apply_strategic_merge_patch(target, patch) == {
        "metadata": {"finalizers": ["a", "b"], "labels": {"z": "3"}},
        "spec": {
            "containers": [
                {"name": "app", "image": "a:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                {"name": "new", "image": "n:1"},
            ],
            "args": ["--two"],
        },
    }
    removed = apply_strategic_merge_patch(target, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
    assert removed["metadata"] == {"finalizers": [], "labels": {"x": "1", "y": "2"}}
    assert apply_strategic_merge_patch(target, {"spec": None}) == {"metadata": target["metadata"]}
