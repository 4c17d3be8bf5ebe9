# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument spec of the connection options (doc fragment kubesafe.k8s.k8s_auth), for modules only.

Kept apart from k8s_client so that the engine never imports Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import env_fallback

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import AUTH_OPTIONS, PROXY_HEADER_OPTIONS

# kubeconfig is not among them: a path is no secret, and a masked path hides which file is missing.
# The credentials of a kubeconfig given inline are masked by KubesafeModule (inline_kubeconfig_secrets).
_NO_LOG = ("api_key", "password")
_ALIASES = {"validate_certs": ["verify_ssl"], "ca_cert": ["ssl_ca_cert"], "client_cert": ["cert_file"], "client_key": ["key_file"]}


def _option(name, variables, kind):
    spec = {"type": kind, "fallback": (env_fallback, list(variables))}
    if kind == "list":
        spec["elements"] = "str"
    if name in _NO_LOG:
        spec["no_log"] = True
    if name in _ALIASES:
        spec["aliases"] = list(_ALIASES[name])
    return spec


K8S_AUTH_ARGUMENT_SPEC = dict((name, _option(name, variables, kind)) for name, variables, kind in AUTH_OPTIONS)
# Suboption variables are read by k8s_client.connection_options: Ansible applies suboption fallbacks only when the dict is given.
K8S_AUTH_ARGUMENT_SPEC["proxy_headers"] = {
    "type": "dict",
    "options": dict((key, {"type": "str", "no_log": key.endswith("basic_auth")}) for key, _variable in PROXY_HEADER_OPTIONS),
}


def inline_kubeconfig_secrets(kubeconfig):
    """The credential values of a kubeconfig given inline (a dict): every string under users[].user."""
    if not isinstance(kubeconfig, dict):
        return set()
    secrets = set()
    pending = [entry.get("user") for entry in kubeconfig.get("users") or () if isinstance(entry, dict)]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and value:
            secrets.add(value)
    return secrets
