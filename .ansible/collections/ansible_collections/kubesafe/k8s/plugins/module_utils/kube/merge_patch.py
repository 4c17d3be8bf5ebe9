# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RFC 7386 JSON merge patches: applying one, and computing the smallest one between two objects."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy


def apply_merge_patch(target, patch):
    """Dicts merge key by key, null removes, anything else replaces; inputs are not modified."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def merge_patch_between(before, after):
    """The smallest JSON merge patch that turns ``before`` into ``after``."""
    patch = {}
    for key, value in after.items():
        if key not in before:
            patch[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(before[key], dict):
            nested = merge_patch_between(before[key], value)
            if nested:
                patch[key] = nested
        elif value != before[key]:
            patch[key] = copy.deepcopy(value)
    for key in before:
        if key not in after:
            patch[key] = None
    return patch
