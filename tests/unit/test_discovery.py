# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""discover() against the emulated sample cluster: versions, preferred versions, paths, failures."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.discovery import ApiResource, discover, listable
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import ApiError, KubeClient


@pytest.fixture
def client(sample_cluster):
    return KubeClient(kubeconfig=sample_cluster.kubeconfig, retry_backoff=0.01)


@pytest.fixture
def discovered(client):
    resources, warnings = discover(client)
    assert warnings == []
    return resources


def find(resources, group, plural, version=None):
    return [resource for resource in resources
            if resource.group == group and resource.plural == plural and (version is None or resource.version == version)]


def test_autoscaling_prefers_v2(discovered):
    hpas = find(discovered, "autoscaling", "horizontalpodautoscalers")
    assert sorted(resource.version for resource in hpas) == ["v1", "v2"]
    assert [resource.version for resource in hpas if resource.preferred] == ["v2"]
    preferred = find(discovered, "autoscaling", "horizontalpodautoscalers", "v2")[0]
    assert preferred.gvk_key == "autoscaling/v2/HorizontalPodAutoscaler"
    assert preferred.short_names == ("hpa",) and "all" in preferred.categories


def test_deployments(discovered):
    (deployments,) = find(discovered, "apps", "deployments")
    assert deployments.group_resource == "deployments.apps"
    assert deployments.api_version == "apps/v1"
    assert deployments.gvk_key == "apps/v1/Deployment"
    assert deployments.namespaced and deployments.preferred
    assert deployments.list_path() == "/apis/apps/v1/deployments"
    assert deployments.list_path("shop") == "/apis/apps/v1/namespaces/shop/deployments"
    assert "list" in deployments.verbs and listable(deployments)


def test_custom_resource_prefers_v1_of_two_versions(discovered):
    coupons = find(discovered, "shop.example.com", "coupons")
    assert sorted(resource.version for resource in coupons) == ["v1", "v1beta1"]
    (preferred,) = [resource for resource in coupons if resource.preferred]
    assert preferred.version == "v1"
    assert preferred.group_resource == "coupons.shop.example.com"
    assert preferred.gvk_key == "shop.example.com/v1/Coupon"
    assert preferred.list_path("shop") == "/apis/shop.example.com/v1/namespaces/shop/coupons"


def test_core_group_resources(discovered):
    (configmaps,) = find(discovered, "", "configmaps")
    assert configmaps.group_resource == "configmaps"  # no trailing dot
    assert configmaps.gvk_key == "v1/ConfigMap"
    assert configmaps.list_path("a") == "/api/v1/namespaces/a/configmaps"
    (namespaces,) = find(discovered, "", "namespaces")
    assert not namespaces.namespaced
    assert namespaces.list_path("ignored") == "/api/v1/namespaces"  # cluster-scoped: no namespace segment
    assert find(discovered, "", "events") and find(discovered, "events.k8s.io", "events")
    (clusterroles,) = find(discovered, "rbac.authorization.k8s.io", "clusterroles")
    assert not clusterroles.namespaced and clusterroles.list_path() == "/apis/rbac.authorization.k8s.io/v1/clusterroles"


def test_subresources_left_out_and_unlistable_kept(discovered):
    assert not [resource for resource in discovered if "/" in resource.plural]
    (bindings,) = find(discovered, "", "bindings")  # create-only: kept, verbs tell
    assert not listable(bindings)


def test_one_preferred_version_per_group_resource(discovered):
    preferred = [resource.group_resource for resource in discovered if resource.preferred]
    assert len(preferred) == len(set(preferred)) == len(set(resource.group_resource for resource in discovered))


def test_listable_rejects_subresources():
    status = ApiResource(group="apps", version="v1", kind="Deployment", plural="deployments/status", namespaced=True, verbs=("get", "list"))
    assert not listable(status)


class FailingGroup:
    """The real client, except that one group version answers as an unavailable aggregated API would."""

    def __init__(self, client, path, status):
        self.client, self.path, self.status = client, path, status

    def request(self, method, path, **kwargs):
        if path == self.path:
            raise ApiError("GET %s: %d failure" % (path, self.status), status=self.status)
        return self.client.request(method, path, **kwargs)


def test_unavailable_group_version_is_skipped_with_a_warning(client):
    resources, warnings = discover(FailingGroup(client, "/apis/shop.example.com/v1", 503))
    assert len(warnings) == 1 and "shop.example.com/v1 skipped" in warnings[0]
    (coupons,) = find(resources, "shop.example.com", "coupons")
    assert coupons.version == "v1beta1" and coupons.preferred  # the group's preferred version is gone: next one serves
    assert find(resources, "apps", "deployments")


@pytest.mark.parametrize("path, status", [("/api/v1", 503), ("/apis/apps/v1", 403)])
def test_core_or_access_failures_are_errors(client, path, status):
    with pytest.raises(ApiError):
        discover(FailingGroup(client, path, status))


def test_discovery_requests(sample_cluster, client):
    sample_cluster.control.clear_audit()
    discover(client)
    paths = sorted(record["path"] for record in sample_cluster.control.audit())
    assert paths.count("/api") == paths.count("/apis") == paths.count("/api/v1") == 1
    assert "/apis/autoscaling/v1" in paths and "/apis/autoscaling/v2" in paths
