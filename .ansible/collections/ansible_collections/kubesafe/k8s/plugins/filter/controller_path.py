# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: controller_path
short_description: Make a path typed by the user absolute against the directory ansible-playbook runs in
version_added: 0.1.0
author:
  - kubesafe.k8s contributors (@kubesafe)
description:
  - Modules run in a temporary directory of their own, so a relative path a user typed (C(-e backup_location=./backups),
    C(KUBECONFIG=kube/config)) must be resolved on the controller, against the directory ansible-playbook was started
    in, before it reaches a module. The collection's roles and playbooks pass every user path through this filter.
  - Left as they are - empty values, absolute paths, paths starting with C(~) (the module expands them), and URLs such
    as C(s3://bucket/prefix).
options:
  _input:
    description: The path, or with I(path_list) a C(:)-separated list of paths (the form of C(KUBECONFIG)).
    type: str
    required: true
  path_list:
    description: Resolve each entry of a C(:)-separated list, dropping empty entries.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: The backup location as a module needs it
  ansible.builtin.set_fact:
    location: "{{ backup_location | kubesafe.k8s.controller_path }}"

- name: Every kubeconfig file of KUBECONFIG
  ansible.builtin.set_fact:
    kubeconfig: "{{ lookup('ansible.builtin.env', 'KUBECONFIG') | kubesafe.k8s.controller_path(path_list=true) }}"
"""

RETURN = r"""
_value:
  description: The path made absolute (or the list, joined with C(:)).
  type: str
"""

import os

from ansible.errors import AnsibleFilterError


def _resolve(path):
    if not path or "://" in path or path.startswith(("/", "~")):
        return path
    return os.path.normpath(os.path.join(os.getcwd(), path))


def controller_path(value, path_list=False):
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AnsibleFilterError("controller_path expects a path (a string), not %r" % (value,))
    value = value.strip()
    if path_list:
        return ":".join(_resolve(entry) for entry in value.split(":") if entry)
    return _resolve(value)


class FilterModule:
    def filters(self):
        return {"controller_path": controller_path}
