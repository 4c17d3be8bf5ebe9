"""RBAC's escalation prevention: nobody grants, through a Role or a binding, permissions they do not hold.

As kube-apiserver's rbac registry (policybased storage) on create and update:
a Role or ClusterRole is written when the user is in ``system:masters``, may
``escalate`` it, or already holds every rule it grants (kube's Covers: each
verb/group/resource/name of the new rules allowed by the user's own rules); a
RoleBinding or ClusterRoleBinding when the user may ``bind`` the role it
references, or holds every rule of that role. Otherwise 403.
"""

import json

from kubesim import errors
from kubesim.authentication import MASTERS
from kubesim.authorization import Attributes
from kubesim.rbac import GROUP

ROLE_KINDS = {"roles": "Role", "clusterroles": "ClusterRole"}
BINDING_KINDS = {"rolebindings": "RoleBinding", "clusterrolebindings": "ClusterRoleBinding"}


def _atoms(user, rule, namespace):
    """Every single permission a rule grants, as request attributes."""
    for verb in rule.get("verbs") or []:
        for url in rule.get("nonResourceURLs") or []:
            yield Attributes(user, verb, path=url, is_resource_request=False)
        for group in rule.get("apiGroups") or []:
            for combined in rule.get("resources") or []:
                resource, _, subresource = combined.partition("/")
                for name in rule.get("resourceNames") or [""]:
                    yield Attributes(user, verb, api_group=group, resource=resource, subresource=subresource, namespace=namespace, name=name)


def _compact(rule):
    """A rule as kube's PolicyRule.CompactString writes it."""
    fields = []
    for key, label in (("apiGroups", "APIGroups"), ("resources", "Resources"), ("resourceNames", "ResourceNames"),
                       ("nonResourceURLs", "NonResourceURLs"), ("verbs", "Verbs")):
        if rule.get(key):
            fields.append("%s:[%s]" % (label, ", ".join(json.dumps(value) for value in rule[key])))
    return "{%s}" % ", ".join(fields)


def _uncovered(authorizer, user, rules, namespace):
    return [rule for rule in rules if not all(authorizer.rbac.authorize(atom)[0] for atom in _atoms(user, rule, namespace))]


def _refuse(resource, name, user, uncovered):
    groups = "[%s]" % " ".join(json.dumps(group) for group in user.groups)
    message = 'user "%s" (groups=%s) is attempting to grant RBAC permissions not currently held:\n%s' % (
        user.name, groups, "\n".join(_compact(rule) for rule in uncovered))
    return errors.forbidden(GROUP, resource, name, message)


def check(authorizer, store, user, rtype, namespace, body):
    """Raise 403 when writing ``body`` (a Role, ClusterRole or binding) would grant ``user`` more than it holds."""
    if not authorizer.enabled or rtype.group != GROUP or MASTERS in user.groups or not isinstance(body, dict):
        return
    namespace = namespace or ""
    name = (body.get("metadata") or {}).get("name") or ""
    if rtype.plural in ROLE_KINDS:
        if authorizer.allowed(user, Attributes(user, "escalate", api_group=GROUP, resource=rtype.plural, namespace=namespace, name=name))[0]:
            return
        uncovered = _uncovered(authorizer, user, body.get("rules") or [], namespace)
        if uncovered:
            raise _refuse(rtype.plural, name, user, uncovered)
    elif rtype.plural in BINDING_KINDS:
        role_ref = body.get("roleRef") or {}
        role_plural = "clusterroles" if role_ref.get("kind") == "ClusterRole" else "roles"
        if authorizer.allowed(user, Attributes(user, "bind", api_group=GROUP, resource=role_plural, namespace=namespace,
                                               name=role_ref.get("name") or ""))[0]:
            return
        role = store.find(store.registry.preferred(GROUP, role_plural), namespace if role_plural == "roles" else None, role_ref.get("name"))
        # A binding to a missing role grants nothing yet (kube ignores NotFound here).
        uncovered = _uncovered(authorizer, user, (role or {}).get("rules") or [], namespace)
        if uncovered:
            raise _refuse(rtype.plural, name, user, uncovered)
