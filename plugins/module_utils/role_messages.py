# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Messages that name a role's variables instead of module options, for modules a role runs.

The engine's messages name module options and environment variables (``kubeconfig``,
``location``, ``K8S_AUTH_KUBECONFIG``); a user of a role set role variables
(``restore_kubeconfig``, ``restore_location``). A role passes its names, module option to role
variable, as JSON in the environment variable ROLE_VARIABLES_ENV of its module tasks, and
KubesafeModule says its failures and warnings in those words.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

ROLE_VARIABLES_ENV = "KUBESAFE_ROLE_VARIABLES"

# A name is replaced only where it stands alone: not inside a path (/x/kubeconfig), a URL, a file name
# (kubeconfig.yaml) or a longer name (restore_location, kubeconfig_dir).
_BEFORE = r"(?<![\w./~:-])"
_AFTER = r"(?![\w/-]|\.\w)"


def role_variable_names(environ=None):
    """{module option: role variable} passed by the role running this module, or {} (no role, or not a JSON object)."""
    value = (os.environ if environ is None else environ).get(ROLE_VARIABLES_ENV)
    if not value:
        return {}
    try:
        names = json.loads(value)
    except ValueError:
        return {}
    if not isinstance(names, dict):
        return {}
    return dict((str(key), str(name)) for key, name in names.items() if key and name and key != name)


def role_message(message, names):
    """``message`` naming the role variables of ``names`` where it names their module options."""
    if not names or not isinstance(message, str):
        return message
    pattern = re.compile(_BEFORE + "(" + "|".join(re.escape(key) for key in sorted(names, key=len, reverse=True)) + ")" + _AFTER)
    text = pattern.sub(lambda match: names[match.group(1)], message)
    for variable in sorted(set(names.values()), key=len, reverse=True):
        name = re.escape(variable)
        # "set by the restore_kubeconfig option or ...", "set restore_context (restore_context)"
        text = re.sub(r"\bthe %s option\b" % name, variable, text)
        text = re.sub(r"\b%s \(%s\)" % (name, name), variable, text)
        text = re.sub(r"\b%s or %s\b" % (name, name), variable, text)
    return text
