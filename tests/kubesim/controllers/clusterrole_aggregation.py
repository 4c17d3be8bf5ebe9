"""The ClusterRole aggregation controller: an aggregated ClusterRole's rules are those of the ClusterRoles it selects.

As kube-controller-manager's clusterrole-aggregation controller: for a
ClusterRole with an ``aggregationRule``, every ClusterRole matched by one of its
``clusterRoleSelectors`` (in name order, itself excluded) contributes its
rules, each once; the aggregated role's ``rules`` are replaced by that union
whenever any ClusterRole changes.
"""

import copy

from kubesim.controllers.common import Controller, meta
from kubesim.selectors import label_selector_from_dict

CLUSTER_ROLES = ("rbac.authorization.k8s.io", "clusterroles")


class ClusterRoleAggregationController(Controller):
    name = "clusterrole-aggregation"
    watches = (CLUSTER_ROLES,)

    def _aggregated(self):
        return [("", meta(role)["name"]) for role in self.objects(CLUSTER_ROLES) if role.get("aggregationRule")]

    def keys_for(self, group_resource, event_type, obj, old):
        # Any ClusterRole's labels or rules may feed any aggregated one.
        return self._aggregated()

    def resync_keys(self):
        return self._aggregated()

    def reconcile(self, key):
        role = self.find(CLUSTER_ROLES, *key)
        if role is None or not role.get("aggregationRule"):
            return
        selectors = [label_selector_from_dict(s) for s in role["aggregationRule"].get("clusterRoleSelectors") or []]
        rules = []
        for source in sorted(self.objects(CLUSTER_ROLES), key=lambda r: meta(r)["name"]):
            if meta(source)["name"] == key[1] or not any(s.matches(meta(source).get("labels") or {}) for s in selectors):
                continue
            for rule in source.get("rules") or []:
                if rule not in rules:
                    rules.append(copy.deepcopy(rule))
        if (role.get("rules") or []) == rules:
            return
        role["rules"] = rules
        self.update(CLUSTER_ROLES, role)
