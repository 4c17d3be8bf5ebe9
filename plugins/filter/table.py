# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: table
short_description: Render a list of dicts as lines of aligned columns, as C(velero backup get) prints them
version_added: 0.1.0
author:
  - kubesafe.k8s contributors (@kubesafe)
description:
  - Turns rows (a list of dicts, such as the C(backups) of M(kubesafe.k8s.backup_info)) into a header line and one line
    per row, each column padded to its widest value, for C(ansible.builtin.debug) to print.
options:
  _input:
    description: The rows, a list of dicts.
    type: list
    elements: dict
    required: true
  columns:
    description:
      - The columns, in order - a dict of header to the key of the value in each row (C(totals.create) reads a nested
        key, C(problems.0) the first item of a list), or to a dict with C(key), C(default) (what an absent or null value
        shows; empty otherwise) and C(length) (true - show the number of items of the value).
    type: dict
    required: true
  empty:
    description: The line shown under the header when there are no rows.
    type: str
    default: (none)
"""

EXAMPLES = r"""
- name: The backups, as velero backup get shows them
  ansible.builtin.debug:
    msg: >-
      {{ found.backups | kubesafe.k8s.table({'NAME': 'name', 'STATUS': {'key': 'phase', 'default': 'Incomplete'},
                                             'ERRORS': 'errors', 'CREATED': 'start_timestamp'}) }}
"""

RETURN = r"""
_value:
  description: The header line, then one line per row (or the I(empty) line).
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

SEPARATOR = "   "


def _lookup(value, part):
    if isinstance(value, dict):
        return value.get(part)
    if isinstance(value, (list, tuple)) and part.isdigit():
        return value[int(part)] if int(part) < len(value) else None
    return None


def _value(row, spec):
    spec = spec if isinstance(spec, dict) else {"key": spec}
    value = row
    for part in str(spec.get("key")).split("."):
        value = _lookup(value, part)
    if spec.get("length"):
        return str(len(value or ()))
    if value is None or value == "":
        default = spec.get("default", "")
        return str(default)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    return str(value)


def table(rows, columns, empty="(none)"):
    if not isinstance(columns, dict) or not columns:
        raise AnsibleFilterError("table expects columns as a dict of header to key, such as {'NAME': 'name'}")
    if not isinstance(rows, (list, tuple)) or any(not isinstance(row, dict) for row in rows):
        raise AnsibleFilterError("table expects a list of dicts, not %r" % (rows,))
    headers = list(columns)
    cells = [headers] + [[_value(row, columns[header]) for header in headers] for row in rows]
    widths = [max(len(line[index]) for line in cells) for index in range(len(headers))]
    lines = [SEPARATOR.join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in cells]
    return lines if rows else lines + [empty]


class FilterModule:
    def filters(self):
        return {"table": table}
