# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a backup or restore includes: namespaces, resources, labels, Velero's rules.

- Namespace patterns are globs (``*``, ``?``, ``[]``); an exclude always wins,
  so an exact exclude beats a wildcard include.
- Resources are named by plural, kind, ``kind.group`` or ``plural.group``
  (case-insensitive), or ``*``.
- ``velero.io/exclude-from-backup=true`` (only the value ``true``) excludes an
  object or a whole namespace, even when a label selector matches it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import re

from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError

EXCLUDE_LABEL = "velero.io/exclude-from-backup"
# Not worth restoring and churned constantly by the cluster itself.
DEFAULT_EXCLUDED_RESOURCES = ("events", "events.events.k8s.io", "componentstatuses")


# The selection options of the backup and restore modules (each documents them in its own words).
SELECTION_ARGUMENT_SPEC = dict(
    included_namespaces=dict(type="list", elements="str", default=["*"]),
    excluded_namespaces=dict(type="list", elements="str", default=[]),
    included_resources=dict(type="list", elements="str", default=["*"]),
    excluded_resources=dict(type="list", elements="str", default=[]),
    include_cluster_resources=dict(type="bool"),
    label_selector=dict(type="str"),
    or_label_selectors=dict(type="list", elements="str"),
)


def check_parallelism(value):
    """``value`` as the number of requests or workers a run keeps going at once; at least 1."""
    if value is None or int(value) < 1:
        raise ConfigurationError("parallelism must be at least 1, not %s" % value)
    return int(value)


class SelectionOptions:
    """What a backup, restore or diff selects from the cluster or the backup, and how many requests it runs at once.

    The filters are kept as given; NamespaceFilter, ResourceFilter and LabelFilter check them.
    """

    def __init__(self, included_namespaces=None, excluded_namespaces=None, included_resources=None, excluded_resources=None,
                 include_cluster_resources=None, label_selector=None, or_label_selectors=None, parallelism=4):
        self.included_namespaces = included_namespaces
        self.excluded_namespaces = excluded_namespaces
        self.included_resources = included_resources
        self.excluded_resources = excluded_resources
        self.include_cluster_resources = include_cluster_resources
        self.label_selector = label_selector
        self.or_label_selectors = or_label_selectors
        self.parallelism = check_parallelism(parallelism)


def as_list(value, option):
    """A YAML list or a comma-separated string (what ``-e`` gives) as a list of non-empty strings."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)):
        raise ConfigurationError("%s must be a list or a comma-separated string, not %r" % (option, value))
    return [str(item).strip() for item in value if str(item).strip()]


# A namespace name is a DNS-1123 label (kube's ValidateNamespaceName).
_NAMESPACE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
NAMESPACE_NAME_MAX = 63
_NAMESPACE_RULE = "lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"
# What a namespace glob may hold besides name characters.
_GLOB_CHARACTERS = frozenset("*?[]!")


def check_namespace_name(name, option):
    """Raise ConfigurationError unless ``name`` can name a namespace; ``option`` is what the user set."""
    if not isinstance(name, str) or len(name) > NAMESPACE_NAME_MAX or not _NAMESPACE_NAME.match(name):
        raise ConfigurationError("%s: %r is not a valid namespace name (%s)" % (option, name, _NAMESPACE_RULE))
    return name


def check_namespace_pattern(pattern, option):
    """Raise ConfigurationError unless ``pattern`` is a namespace name or a glob that can match one.

    A pattern no namespace could ever match (an upper-case letter, ``_``, an unclosed ``[``) is a
    typo that would otherwise select nothing and report success, so it is refused, as Velero
    refuses a backup whose namespace globs do not compile.
    """
    if pattern == "*":
        return pattern
    if not any(char in _GLOB_CHARACTERS for char in pattern):
        return check_namespace_name(pattern, option)
    position = 0
    while position < len(pattern):
        char = pattern[position]
        if char == "[":
            # fnmatch: a ']' right after '[' or '[!' is a literal member of the set.
            end = position + 1
            if end < len(pattern) and pattern[end] == "!":
                end += 1
            if end < len(pattern) and pattern[end] == "]":
                end += 1
            end = pattern.find("]", end)
            if end < 0:
                raise ConfigurationError("%s: %r is not a valid glob: '[' at position %d is never closed" % (option, pattern, position + 1))
            members = pattern[position + 1:end].lstrip("!")
            bad = sorted(set(members) - set("abcdefghijklmnopqrstuvwxyz0123456789-"))
            if bad:
                raise ConfigurationError("%s: %r: the set [%s] holds %s, which no namespace name contains (%s)"
                                         % (option, pattern, pattern[position + 1:end], ", ".join(repr(c) for c in bad), _NAMESPACE_RULE))
            position = end + 1
            continue
        if char not in "*?" and not re.match(r"[a-z0-9-]", char):
            raise ConfigurationError("%s: %r holds %r, which no namespace name contains (%s; globs may use *, ? and [])"
                                     % (option, pattern, char, _NAMESPACE_RULE))
        position += 1
    return pattern


def is_excluded_by_label(obj):
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(EXCLUDE_LABEL) == "true"


class NamespaceFilter:
    """Included/excluded namespace globs."""

    def __init__(self, included=None, excluded=None):
        self.included = [check_namespace_pattern(pattern, "included_namespaces")
                         for pattern in as_list(included, "included_namespaces")] or ["*"]
        self.excluded = [check_namespace_pattern(pattern, "excluded_namespaces") for pattern in as_list(excluded, "excluded_namespaces")]
        # Answers by namespace: a restore asks once per object, and a cluster has few namespaces.
        self._answers = {}

    @property
    def selects_all(self):
        """True when no include pattern narrows the set (only excludes may apply)."""
        return "*" in self.included

    @property
    def is_narrowed(self):
        """True when a namespace filter is set at all (Velero's rule for automatic cluster resources)."""
        return not self.selects_all or bool(self.excluded)

    def matches(self, namespace):
        answer = self._answers.get(namespace)
        if answer is None:
            answer = self._answers[namespace] = not any(fnmatch.fnmatchcase(namespace, pattern) for pattern in self.excluded) \
                and any(fnmatch.fnmatchcase(namespace, pattern) for pattern in self.included)
        return answer

    def unmatched_patterns(self, namespaces):
        """Include patterns that match no existing namespace: a warning, as Velero gives."""
        return [pattern for pattern in self.included if pattern != "*"
                and not any(fnmatch.fnmatchcase(namespace, pattern) for namespace in namespaces)]


def _resource_names(resource):
    """Every name a user may give for ``resource``, lower-cased."""
    names = {resource.plural.lower(), resource.kind.lower(), resource.group_resource.lower()}
    if resource.group:
        names.add("%s.%s" % (resource.kind.lower(), resource.group.lower()))
    names.update(short.lower() for short in resource.short_names or ())
    return names


class ResourceFilter:
    """Included/excluded resource names with Velero's meaning."""

    def __init__(self, included=None, excluded=None, default_excluded=DEFAULT_EXCLUDED_RESOURCES):
        self.included = [name.lower() for name in as_list(included, "included_resources")] or ["*"]
        self.excluded = [name.lower() for name in as_list(excluded, "excluded_resources")]
        self.default_excluded = [name for name in default_excluded if name not in self.included]

    def matches(self, resource):
        names = _resource_names(resource)
        if names.intersection(self.excluded) or resource.group_resource in self.default_excluded:
            return False
        return "*" in self.included or bool(names.intersection(self.included))

    def unknown_names(self, resources):
        """Names that match no served resource: a typo or a CRD that is not installed."""
        known = set()
        for resource in resources:
            known.update(_resource_names(resource))
        return sorted(name for name in set(self.included + self.excluded) if name != "*" and name not in known)

    def check_known(self, resources, where):
        """Refuse included names that match none of ``resources`` (a typo would select nothing and report success);
        return the unknown excluded names, which are harmless (warnings)."""
        unknown = set(self.unknown_names(resources))
        included = sorted(name for name in self.included if name in unknown)
        if included:
            raise ConfigurationError("included_resources: %s matches no resource %s; give a plural, kind or kind.group "
                                     "(e.g. deployments, Deployment, deployments.apps)" % (", ".join(repr(n) for n in included), where))
        return sorted(name for name in self.excluded if name in unknown)


# ------------------------------------------------------------------ label selectors

_REQUIREMENT = re.compile(
    r"^\s*(?P<not>!)?\s*(?P<key>[A-Za-z0-9./_-]+)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<value>[A-Za-z0-9._-]*)|\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?\s*$")


def _split_requirements(text):
    """Split on commas outside parentheses."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


class LabelSelector:
    """A parsed Kubernetes label selector string, evaluated client-side where the API cannot do it."""

    def __init__(self, text, option="label_selector"):
        self.text = (text or "").strip()
        self._requirements = []
        for part in _split_requirements(self.text):
            match = _REQUIREMENT.match(part)
            if not match or (match.group("not") and (match.group("op") or match.group("setop"))):
                raise ConfigurationError("%s: cannot parse %r; use Kubernetes selector syntax such as "
                                         "'app=web,tier in (a,b),!legacy'" % (option, part.strip()))
            key = match.group("key")
            if match.group("not"):
                self._requirements.append((key, "!", None))
            elif match.group("op"):
                self._requirements.append((key, "!=" if match.group("op") == "!=" else "=", match.group("value")))
            elif match.group("setop"):
                values = {value.strip() for value in match.group("values").split(",")}
                self._requirements.append((key, match.group("setop"), values))
            else:
                self._requirements.append((key, "exists", None))

    def matches(self, labels):
        labels = labels or {}
        for key, operator, value in self._requirements:
            present = key in labels
            if operator == "=" and labels.get(key) != value:
                return False
            if operator == "!=" and present and labels[key] == value:
                return False
            if operator == "in" and (not present or labels[key] not in value):
                return False
            if operator == "notin" and present and labels[key] in value:
                return False
            if operator == "exists" and not present:
                return False
            if operator == "!" and present:
                return False
        return True


class LabelFilter:
    """``label_selector`` or ``or_label_selectors`` (exclusive, as in Velero)."""

    def __init__(self, label_selector=None, or_label_selectors=None):
        # A selector may itself contain commas (AND), so a plain string is one selector, not a list.
        if isinstance(or_label_selectors, str):
            or_label_selectors = [or_label_selectors]
        or_selectors = as_list(or_label_selectors, "or_label_selectors")
        if label_selector and or_selectors:
            raise ConfigurationError("label_selector and or_label_selectors cannot be used together: "
                                     "put the first selector into or_label_selectors")
        self.selectors = [LabelSelector(label_selector)] if label_selector else [
            LabelSelector(text, "or_label_selectors") for text in or_selectors]

    @property
    def active(self):
        return bool(self.selectors)

    def api_selectors(self):
        """The labelSelector query values to LIST with: one list per OR branch, or one unfiltered list."""
        return [selector.text for selector in self.selectors] or [None]

    def matches(self, labels):
        return not self.selectors or any(selector.matches(labels) for selector in self.selectors)
