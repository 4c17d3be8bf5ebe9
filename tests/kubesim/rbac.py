"""Kubernetes' RBAC authorizer: Roles, ClusterRoles and their bindings, evaluated per request.

As plugin/pkg/auth/authorizer/rbac: the rules of every ClusterRoleBinding whose
subjects include the user are visited, then (for a namespaced request) those
of the RoleBindings of the request's namespace; the first rule that covers
the request allows it. Nothing denies: no rule, no access. A binding whose
role does not exist contributes the reason RBAC gives for a refusal.
"""

from kubesim.authentication import split_service_account

GROUP = "rbac.authorization.k8s.io"
ALL = "*"


def verb_matches(rule, verb):
    verbs = rule.get("verbs") or []
    return ALL in verbs or verb in verbs


def api_group_matches(rule, group):
    groups = rule.get("apiGroups") or []
    return ALL in groups or group in groups


def resource_matches(rule, combined_resource, subresource):
    for resource in rule.get("resources") or []:
        if resource in (ALL, combined_resource):
            return True
        # "*/scale" covers the scale subresource of every resource.
        if subresource and resource == "*/" + subresource:
            return True
    return False


def resource_name_matches(rule, name):
    names = rule.get("resourceNames") or []
    return not names or name in names


def non_resource_url_matches(rule, path):
    for url in rule.get("nonResourceURLs") or []:
        if url == ALL or url == path or (url.endswith(ALL) and path.startswith(url[:-1])):
            return True
    return False


def rule_allows(attributes, rule):
    if not verb_matches(rule, attributes.verb):
        return False
    if attributes.is_resource_request:
        combined = attributes.resource + ("/" + attributes.subresource if attributes.subresource else "")
        return (api_group_matches(rule, attributes.api_group) and resource_matches(rule, combined, attributes.subresource)
                and resource_name_matches(rule, attributes.name))
    return non_resource_url_matches(rule, attributes.path)


def subject_matches(user, subject, namespace):
    """appliesToUser: a User by name, a Group by membership, a ServiceAccount by namespace (the binding's when unset) and name."""
    kind = subject.get("kind")
    if kind == "User":
        return user.name == subject.get("name")
    if kind == "Group":
        return subject.get("name") in user.groups
    if kind == "ServiceAccount":
        account_namespace = subject.get("namespace") or namespace
        return bool(account_namespace) and split_service_account(user.name) == (account_namespace, subject.get("name"))
    return False


def _describe_subject(subject, namespace):
    if subject.get("kind") == "ServiceAccount":
        return 'ServiceAccount "%s/%s"' % (subject.get("namespace") or namespace, subject.get("name"))
    return '%s "%s"' % (subject.get("kind"), subject.get("name"))


class RbacAuthorizer:
    """Reads the bindings and roles from the store at each decision, so a change applies to the next request."""

    def __init__(self, store):
        self.store = store
        registry = store.registry
        self._types = {plural: registry.preferred(GROUP, plural) for plural in ("roles", "clusterroles", "rolebindings", "clusterrolebindings")}

    def _objects(self, plural, namespace=None):
        return self.store.objects(self._types[plural], namespace)

    def _role_rules(self, role_ref, namespace):
        """(rules, None) of a binding's role, or (None, the error RBAC reports) when it is missing."""
        kind, name = role_ref.get("kind"), role_ref.get("name")
        if kind == "ClusterRole":
            role = self.store.find(self._types["clusterroles"], None, name)
            missing = 'clusterrole.rbac.authorization.k8s.io "%s" not found' % name
        elif kind == "Role" and namespace:
            role = self.store.find(self._types["roles"], namespace, name)
            missing = 'role.rbac.authorization.k8s.io "%s" not found' % name
        else:
            return None, "unsupported role reference kind: %r" % kind
        if role is None:
            return None, missing
        return role.get("rules") or [], None

    def authorize(self, attributes):
        """(allowed, reason) with the reasons kube's RBAC authorizer gives."""
        problems = []
        sources = [("ClusterRoleBinding", binding, "") for binding in self._objects("clusterrolebindings")]
        if attributes.namespace:
            sources += [("RoleBinding", binding, attributes.namespace) for binding in self._objects("rolebindings", attributes.namespace)]
        for binding_kind, binding, namespace in sources:
            subject = next((s for s in binding.get("subjects") or [] if subject_matches(attributes.user, s, namespace)), None)
            if subject is None:
                continue
            role_ref = binding.get("roleRef") or {}
            rules, problem = self._role_rules(role_ref, namespace)
            if problem:
                problems.append(problem)
                continue
            if any(rule_allows(attributes, rule) for rule in rules):
                where = ' in namespace "%s"' % namespace if namespace else ""
                return True, 'RBAC: allowed by %s "%s"%s of %s "%s" to %s' % (
                    binding_kind, binding["metadata"]["name"], where, role_ref.get("kind"), role_ref.get("name"), _describe_subject(subject, namespace))
        if not problems:
            return False, ""
        # utilerrors.NewAggregate: one error as is, several in brackets.
        return False, "RBAC: " + (problems[0] if len(problems) == 1 else "[%s]" % ", ".join(problems))
