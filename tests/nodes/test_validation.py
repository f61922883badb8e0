"""Kubernetes' validation rules applied before any call (no cluster needed)."""

import pytest
from django.core.exceptions import ValidationError

from nodes.services import validate_action
from nodes.validation import is_reserved, label_value_error, parse_selector, qualified_name_error


@pytest.mark.parametrize("key", ["app", "example.com/app", "a.b-c/x_y.z", "A9", "x" * 63, "a/" + "b" * 63])
def test_valid_label_keys(key):
    assert qualified_name_error(key) == ""


@pytest.mark.parametrize("key,why", [
    ("", "non-empty"), ("-app", "start and end"), ("app-", "start and end"), ("a b", "alphanumeric"),
    ("/app", "prefix part must be non-empty"), ("Example.com/app", "lowercase"), ("a/b/c", "at most one"),
    ("x" * 64, "no more than 63"), ("example.com/", "name part must be non-empty"),
    ("a" * 254 + "/b", "no more than 253"),
])
def test_invalid_label_keys(key, why):
    assert why in qualified_name_error(key)


@pytest.mark.parametrize("value,ok", [("", True), ("v1.2_3-x", True), ("-x", False), ("x" * 64, False),
                                      ("a b", False), ("é", False)])
def test_label_values(value, ok):
    assert (label_value_error(value) == "") is ok


def test_reserved_prefixes():
    assert is_reserved("kubernetes.io/hostname")
    assert is_reserved("node-role.kubernetes.io/worker")
    assert is_reserved("k8s.io/x")
    assert not is_reserved("example.com/kubernetes.io")
    assert not is_reserved("app")


def test_label_normalised():
    params = validate_action("label", {"set": {" team ": "a", "tier": 3}, "remove": ["old"]})
    assert params == {"set": {"team": "a", "tier": "3"}, "remove": ["old"], "confirm_reserved": False}


@pytest.mark.parametrize("params,message", [
    ({"set": {"bad key": "v"}}, "invalid label key 'bad key'"),
    ({"set": {"app": "bad value!"}}, "invalid label value 'bad value!' for key 'app'"),
    ({"set": {"node-role.kubernetes.io/gpu": ""}}, "reserved Kubernetes prefix"),
    ({"remove": ["k8s.io/x"]}, "reserved Kubernetes prefix"),
    ({"set": {"a": "1"}, "remove": ["a"]}, "both set and removed"),
    ({}, "nothing to change"),
    ({"set": ["a"]}, "set must be a mapping"),
])
def test_label_errors(params, message):
    with pytest.raises(ValidationError) as err:
        validate_action("label", params)
    assert message in err.value.messages[0]


def test_reserved_label_with_confirmation():
    params = validate_action("label", {"set": {"node-role.kubernetes.io/gpu": ""}, "confirm_reserved": True})
    assert params["set"] == {"node-role.kubernetes.io/gpu": ""}


@pytest.mark.parametrize("taints,message", [
    ([{"key": "k", "value": "v", "effect": "NoWhere"}], "invalid taint effect 'NoWhere'"),
    ([{"key": "k", "value": "v"}], "invalid taint effect ''"),
    ([{"key": "bad key", "effect": "NoSchedule"}], "invalid taint key"),
    ([{"key": "k", "value": "-x", "effect": "NoSchedule"}], "invalid taint value"),
    ([{"key": "k", "effect": "NoSchedule"}, {"key": "k", "value": "2", "effect": "NoSchedule"}],
     "duplicate taint k:NoSchedule"),
    ([], "at least one taint"),
])
def test_taint_errors(taints, message):
    with pytest.raises(ValidationError) as err:
        validate_action("taint", {"taints": taints})
    assert message in err.value.messages[0]


def test_taints_same_key_different_effects_are_distinct():
    params = validate_action("taint", {"taints": [{"key": "k", "effect": "NoSchedule"},
                                                  {"key": "k", "effect": "NoExecute"}]})
    assert [t["effect"] for t in params["taints"]] == ["NoSchedule", "NoExecute"]


def test_untaint_effect_optional_but_checked():
    assert validate_action("untaint", {"taints": [{"key": "k"}]}) == {"taints": [{"key": "k", "effect": ""}]}
    with pytest.raises(ValidationError, match="invalid taint effect"):
        validate_action("untaint", {"taints": [{"key": "k", "effect": "Never"}]})


def test_drain_defaults_and_errors():
    params = validate_action("drain", {"reason": "  kernel   upgrade "})
    assert params == {"reason": "kernel upgrade", "ignore_daemonsets": True, "delete_emptydir_data": False,
                      "force": False, "grace_period": -1, "timeout": 300, "pod_selector": "",
                      "disable_eviction": False, "skip_wait_for_delete_timeout": 0}
    with pytest.raises(ValidationError, match="timeout must be between"):
        validate_action("drain", {"timeout": 0})
    with pytest.raises(ValidationError, match="grace_period must be a whole number"):
        validate_action("drain", {"grace_period": "soon"})
    with pytest.raises(ValidationError, match="invalid pod_selector"):
        validate_action("drain", {"pod_selector": "app in (a"})
    with pytest.raises(ValidationError, match="unknown action"):
        validate_action("reboot", {})


def test_selector_parser():
    assert parse_selector("a=b,c!=d,e in (f, g),!h,i") == [
        ("=", "a", ["b"]), ("!=", "c", ["d"]), ("in", "e", ["f", "g"]), ("!", "h", []), ("exists", "i", [])]
    for bad in ("a==", "a=b,", "=b", "a in b", "bad key=x"):
        if bad == "a==":
            continue
        with pytest.raises(ValueError):
            parse_selector(bad)
