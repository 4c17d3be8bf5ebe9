"""Namespace names and globs a user types: refused when no namespace could ever match them."""

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions
from ansible_collections.kubesafe.k8s.plugins.module_utils.ops.drift import DiffOptions
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.engine import RestoreOptions
from ansible_collections.kubesafe.k8s.plugins.module_utils.selection import NamespaceFilter, ResourceFilter, check_namespace_pattern


@pytest.mark.parametrize("pattern", ["*", "shop", "shop-*", "team-?", "kube-[ab]*", "[!k]*", "a" * 63, "db-[0-9]"])
def test_patterns_a_namespace_can_match(pattern):
    assert check_namespace_pattern(pattern, "included_namespaces") == pattern


@pytest.mark.parametrize("pattern, message", [
    ("shop[", "'[' at position 5 is never closed"),
    ("Shop", "is not a valid namespace name"),
    ("shop_prod", "is not a valid namespace name"),
    ("shop_*", "holds '_', which no namespace name contains"),
    ("team-[A-Z]", "holds 'A', 'Z'"),
    ("-shop", "is not a valid namespace name"),
    ("a" * 64, "is not a valid namespace name"),
])
def test_patterns_no_namespace_can_match(pattern, message):
    with pytest.raises(ConfigurationError, match="excluded_namespaces: .*" + _escaped(message)):
        NamespaceFilter(["*"], [pattern])


def _escaped(text):
    import re  # pylint: disable=import-outside-toplevel
    return re.escape(text)


@pytest.mark.parametrize("options, message", [
    ({"parallelism": 0}, "parallelism must be at least 1, not 0"),
    ({"wait_timeout": -1}, "wait_timeout must be 0 or more seconds"),
    ({"namespace_mapping": {"shop": "shop.copy"}}, "namespace_mapping (target of shop): 'shop.copy' is not a valid namespace name"),
    ({"namespace_mapping": {"Shop": "shop"}}, "namespace_mapping key: 'Shop' is not a valid namespace name"),
])
def test_restore_options_refused(options, message):
    with pytest.raises(ConfigurationError, match=_escaped(message)):
        RestoreOptions(**options)


@pytest.mark.parametrize("options_class", [BackupOptions, RestoreOptions, DiffOptions])
@pytest.mark.parametrize("parallelism", [0, -2])
def test_parallelism_below_one_refused_alike(options_class, parallelism):
    # One rule for every run that selects objects: diff no longer raises 0 to 1 silently.
    with pytest.raises(ConfigurationError, match=_escaped("parallelism must be at least 1, not %d" % parallelism)):
        options_class(parallelism=parallelism)


class _Resource:
    def __init__(self, plural, group, kind):
        self.plural, self.group, self.kind, self.short_names = plural, group, kind, ()
        self.group_resource = plural + ("." + group if group else "")


def test_unknown_included_resource_is_refused_and_unknown_excluded_is_returned():
    served = [_Resource("deployments", "apps", "Deployment"), _Resource("configmaps", "", "ConfigMap")]
    assert ResourceFilter(["Deployment", "configmaps"], ["widgets"]).check_known(served, "served") == ["widgets"]
    with pytest.raises(ConfigurationError, match="included_resources: 'deploymens' matches no resource served"):
        ResourceFilter(["deploymens"]).check_known(served, "served")
