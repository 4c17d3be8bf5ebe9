# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of kubesafe.k8s.role_variables: a role's first task, checking the variables a user set for it.

It runs on the controller (it reads variables, not a host): the variables of the role's prefix that
the role does not know are refused with the closest known name, deprecated aliases are resolved,
and the variables a role needs, or must not be given, are checked - before the role writes anything.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import yaml

from ansible.errors import AnsibleActionFail
from ansible.module_utils.six import string_types
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.kubesafe.k8s.plugins.module_utils.suggestions import closest_names

display = Display()

# The release that removes the deprecated aliases (they are kept for one release).
ALIASES_REMOVED_IN = "0.3.0"
COLLECTION = "kubesafe.k8s"


def role_options(role_path):
    """{name: spec} of every option of every entry point of the role's meta/argument_specs.yml (or meta/main.yml)."""
    for file_name in ("argument_specs.yml", "argument_specs.yaml", "main.yml", "main.yaml"):
        path = os.path.join(role_path, "meta", file_name)
        if os.path.isfile(path):
            with open(path) as stream:
                specs = (yaml.safe_load(stream) or {}).get("argument_specs")
            if specs:
                options = {}
                for entry in specs.values():
                    options.update((entry or {}).get("options") or {})
                return options
    raise AnsibleActionFail("the role at %s has no meta/argument_specs.yml to check its variables against" % role_path)


def role_defined_names(role_path):
    """Names the role defines itself, in defaults/main.yml and vars/main.yml (known even when argument_specs lags)."""
    names = set()
    for directory in ("defaults", "vars"):
        for file_name in ("main.yml", "main.yaml"):
            path = os.path.join(role_path, directory, file_name)
            if os.path.isfile(path):
                with open(path) as stream:
                    names.update((yaml.safe_load(stream) or {}).keys())
    return names


def unknown_variables(prefix, defined, known, suggested):
    """[(name, closest of ``suggested`` or None)] for each of ``defined`` with ``prefix`` that is not ``known``.

    Names starting with ``<prefix>_`` (a double underscore) are the role's internal facts, and
    ``<prefix>hosts`` the inventory group its playbook runs on.
    """
    internal = prefix + "_"
    pattern = re.compile("^%s.+" % re.escape(prefix))
    found = []
    for name in sorted(defined):
        if not pattern.match(name) or name in known or name.startswith(internal) or name == prefix + "hosts":
            continue
        # Compared without the prefix they all share, which would make any two names look alike.
        nearest = closest_names(name[len(prefix):], [known_name[len(prefix):] for known_name in suggested if known_name.startswith(prefix)],
                                limit=1)
        found.append((name, prefix + nearest[0] if nearest else None))
    return found


def unknown_message(role, unknown):
    details = "; ".join("%s (did you mean %s?)" % (name, nearest) if nearest else "%s (no known variable is close)" % name
                        for name, nearest in unknown)
    return ("the %s role does not know the variable(s) %s: nothing was done. Its variables: ansible-doc -t role %s.%s"
            % (role, details, COLLECTION, role))


class _Unset(object):
    """The value of a variable that is not defined."""


UNSET = _Unset()


def resolve_alias(role, old, new, old_value, new_value, new_default):
    """(value for ``new``, deprecation message or None) given the deprecated ``old``; raises AnsibleActionFail on a conflict.

    ``old`` unset: ``new`` as it is. Set to the value of ``new``: the same value (a deprecation
    warning unless it is the default, which another role's defaults may publish). ``new`` left at its
    default: ``old`` wins, with the warning. Both set to different values: refused.
    """
    deprecation = "%s is deprecated in the %s role: use %s" % (old, role, new)
    if old_value is UNSET:
        return new_value, None
    if old_value == new_value:
        return new_value, (None if old_value == new_default else deprecation)
    if new_value == new_default:
        return old_value, deprecation
    raise AnsibleActionFail("%s and %s are both set, to different values (%r and %r): set only %s (%s is its deprecated alias); "
                            "nothing was done" % (new, old, new_value, old_value, new, old))


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("prefix", "outputs", "aliases", "required", "refused"))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        prefix = args.get("prefix")
        if not isinstance(prefix, string_types) or not prefix.endswith("_"):
            raise AnsibleActionFail("prefix must be the role's variable prefix ending in _, such as restore_")
        role_path = task_vars.get("role_path")
        if not role_path:
            raise AnsibleActionFail("kubesafe.k8s.role_variables runs as a task of a role")
        role = os.path.basename(os.path.normpath(role_path))
        options = role_options(role_path)
        aliases = dict(args.get("aliases") or {})
        required = dict(args.get("required") or {})
        refused = dict(args.get("refused") or {})
        known = set(options) | role_defined_names(role_path) | set(args.get("outputs") or ()) | set(aliases) | set(refused)

        unknown = unknown_variables(prefix, task_vars, known, suggested=set(options))
        if unknown:
            raise AnsibleActionFail(unknown_message(role, unknown))

        def value(name):
            return self._templar.template(task_vars[name]) if name in task_vars else UNSET

        for name, rule in sorted(refused.items()):
            given = value(name)
            instead = rule.get("instead")
            if given is not UNSET and given not in (None, "") and (instead is None or given != value(instead)):
                raise AnsibleActionFail("%s is not a variable of the %s role: %s; nothing was done" % (name, role, rule["why"]))

        for name, why in sorted(required.items()):
            if value(name) in (UNSET, None, ""):
                raise AnsibleActionFail("the %s role needs %s: %s; nothing was done" % (role, name, why))

        resolved = {}
        for old, new in sorted(aliases.items()):
            new_value = value(new)
            if new_value is UNSET:
                new_value = options.get(new, {}).get("default")
            resolved[new], deprecation = resolve_alias(role, old, new, value(old), new_value, options.get(new, {}).get("default"))
            if deprecation:
                display.deprecated(deprecation, version=ALIASES_REMOVED_IN, collection_name=COLLECTION)
        result.update(changed=False, variables=resolved, msg="the variables of the %s role are known" % role)
        return result
