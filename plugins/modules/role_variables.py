#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: role_variables
short_description: Check the variables set for a role - unknown names, deprecated aliases, required and refused ones
version_added: 0.1.0
author:
  - kubesafe.k8s contributors (@kubesafe)
description:
  - The first task of each role of this collection. A misspelt variable is otherwise silently ignored and the role
    runs with its default, for example C(restore_namespace_maping) restoring over the live namespace, or
    C(backup_include_namespaces) backing up the whole cluster.
  - Fails, before the role does anything, on a variable named with the role's I(prefix) that is not an option of the
    role's C(meta/argument_specs.yml), one of its I(outputs), or an internal fact (C(<prefix>_name), a double
    underscore); the message gives the closest known name.
  - Resolves deprecated I(aliases) with a deprecation warning, and refuses an alias and its new name set to
    different values.
  - Runs on the controller and only reads variables.
options:
  prefix:
    description:
      - The role's variable prefix, such as V(restore_). C(<prefix>hosts), the inventory group of the role's
        playbook, is known too.
    type: str
    required: true
  outputs:
    description:
      - Variables with the prefix that the role itself sets (registered results, facts), known as well.
    type: list
    elements: str
    default: []
  aliases:
    description:
      - Deprecated names, each mapped to its new name. The resolved values are returned in RV(variables).
    type: dict
    default: {}
  required:
    description:
      - Variables that must be set to a non-empty value, each mapped to the hint the failure gives.
    type: dict
    default: {}
  refused:
    description:
      - Variables the role must not be given (another role's names), each mapped to C(why) (the hint) and
        optionally C(instead), a variable whose value makes it harmless when both are equal.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    description: Checks the same in check mode; it only reads variables.
  diff_mode:
    support: none
    description: Not supported.
"""

EXAMPLES = r"""
- name: Check the restore role's variables
  kubesafe.k8s.role_variables:
    prefix: restore_
    outputs: [restore_result]
    aliases:
      backup_location: restore_location
    required:
      backup: the name of the backup to restore, or latest
  register: restore__variables

- name: Use the location, whichever name set it
  ansible.builtin.debug:
    msg: "{{ restore__variables.variables.restore_location }}"
"""

RETURN = r"""
variables:
  description: The value of each new name of I(aliases), from the deprecated alias when only that one was set.
  returned: always
  type: dict
  sample: {"restore_location": "s3://backups/prod"}
"""
