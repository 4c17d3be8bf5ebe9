"""Velero's selection rules: namespace globs, resource names, label selectors."""

import pytest
import yaml

from ansible_collections.kubesafe.k8s.plugins.module_utils import selection
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError


class Resource:
    def __init__(self, group, plural, kind, short_names=()):
        self.group, self.plural, self.kind, self.short_names = group, plural, kind, short_names
        self.group_resource = "%s.%s" % (plural, group) if group else plural


DEPLOYMENTS = Resource("apps", "deployments", "Deployment", ("deploy",))
CONFIGMAPS = Resource("", "configmaps", "ConfigMap", ("cm",))
EVENTS = Resource("", "events", "Event")
NEW_EVENTS = Resource("events.k8s.io", "events", "Event")
COUPONS = Resource("shop.example.com", "coupons", "Coupon")


@pytest.mark.parametrize("included, excluded, namespace, expected", [
    (None, None, "anything", True),
    (["shop"], None, "shop", True),
    (["shop"], None, "shop-dev", False),
    (["shop*"], None, "shop-dev", True),
    (["shop-?"], None, "shop-a", True),
    (["shop-[ab]"], None, "shop-c", False),
    (["*"], ["shop"], "shop", False),       # an exact exclude beats a wildcard include
    (["shop"], ["sh*"], "shop", False),      # an exclude always wins
    ("shop,payments", None, "payments", True),  # comma-separated string, as -e gives
])
def test_namespace_filter(included, excluded, namespace, expected):
    assert selection.NamespaceFilter(included, excluded).matches(namespace) is expected


def test_namespace_filter_narrowing_and_unmatched_globs():
    assert not selection.NamespaceFilter().is_narrowed
    assert selection.NamespaceFilter(None, ["kube-system"]).is_narrowed
    assert selection.NamespaceFilter(["shop"]).is_narrowed
    assert selection.NamespaceFilter(["shop", "pay*", "nope-*"]).unmatched_patterns(["shop", "payments"]) == ["nope-*"]


@pytest.mark.parametrize("included, excluded, resource, expected", [
    (None, None, DEPLOYMENTS, True),
    (["deployments"], None, DEPLOYMENTS, True),
    (["Deployment"], None, DEPLOYMENTS, True),
    (["deployment.apps"], None, DEPLOYMENTS, True),
    (["deployments.apps"], None, DEPLOYMENTS, True),
    (["deploy"], None, DEPLOYMENTS, True),
    (["deployments.extensions"], None, DEPLOYMENTS, False),
    (None, ["configmaps"], CONFIGMAPS, False),
    (None, None, EVENTS, False),             # events are left out by default
    (None, None, NEW_EVENTS, False),
    (["events"], None, EVENTS, True),        # unless asked for
    (["coupons.shop.example.com"], None, COUPONS, True),
])
def test_resource_filter(included, excluded, resource, expected):
    assert selection.ResourceFilter(included, excluded).matches(resource) is expected


def test_unknown_resource_names_are_reported():
    resource_filter = selection.ResourceFilter(["deployments", "widgets"], ["gadgets.example.com"])
    assert resource_filter.unknown_names([DEPLOYMENTS, CONFIGMAPS]) == ["gadgets.example.com", "widgets"]


@pytest.mark.parametrize("selector, labels, expected", [
    ("app=web", {"app": "web"}, True),
    ("app==web", {"app": "db"}, False),
    ("app!=web", {}, True),
    ("app!=web", {"app": "web"}, False),
    ("app in (web, db)", {"app": "db"}, True),
    ("app notin (web)", {}, True),
    ("app notin (web)", {"app": "web"}, False),
    ("app", {"app": ""}, True),
    ("!app", {"app": "x"}, False),
    ("app=web,tier in (a,b)", {"app": "web", "tier": "b"}, True),
    ("app=web,tier in (a,b)", {"app": "web", "tier": "c"}, False),
    ("app.kubernetes.io/name=shop", {"app.kubernetes.io/name": "shop"}, True),
])
def test_label_selector(selector, labels, expected):
    assert selection.LabelSelector(selector).matches(labels) is expected


def test_label_selector_syntax_error_names_the_option():
    with pytest.raises(ConfigurationError, match="label_selector"):
        selection.LabelSelector("app=(web")


def test_or_label_selectors_exclude_label_selector():
    with pytest.raises(ConfigurationError, match="cannot be used together"):
        selection.LabelFilter("app=web", ["tier=db"])
    either = selection.LabelFilter(None, ["app=web", "tier=db,env=prod"])
    assert either.api_selectors() == ["app=web", "tier=db,env=prod"]
    assert either.matches({"tier": "db", "env": "prod"}) and not either.matches({"tier": "db"})
    assert selection.LabelFilter(None, "a=1,b=2").api_selectors() == ["a=1,b=2"]  # one selector, not split
    assert selection.LabelFilter().api_selectors() == [None]


def test_exclude_label_only_with_true():
    assert selection.is_excluded_by_label({"metadata": {"labels": {"velero.io/exclude-from-backup": "true"}}})
    assert not selection.is_excluded_by_label({"metadata": {"labels": {"velero.io/exclude-from-backup": "yes"}}})


def test_collection_version_matches_galaxy_yml():
    from ansible_collections.kubesafe.k8s.plugins.module_utils.version import COLLECTION_VERSION  # pylint: disable=import-outside-toplevel
    with open(selection.__file__.rsplit("/plugins/", 1)[0] + "/galaxy.yml", encoding="utf-8") as stream:
        assert yaml.safe_load(stream)["version"] == COLLECTION_VERSION
