# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The names closest to a name a user typed, for "did you mean" and "does not exist" messages."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib

# Below this similarity (difflib's ratio) a name is not offered as a suggestion.
CUTOFF = 0.6


def closest_names(name, candidates, limit=3):
    """Up to ``limit`` of ``candidates`` most similar to ``name``, the closest first (none when nothing is close)."""
    return difflib.get_close_matches(str(name), sorted(set(str(c) for c in candidates)), n=limit, cutoff=CUTOFF)


def names_hint(name, candidates, what, shown=10):
    """"nearest <what>s: a, b" when some are close, else the first ``shown`` of them, or None when there are none."""
    candidates = sorted(set(candidates))
    if not candidates:
        return None
    nearest = closest_names(name, candidates)
    if nearest:
        return "nearest %s: %s" % (what, ", ".join(nearest))
    return "%s there: %s%s" % (what, ", ".join(candidates[:shown]), ", ..." if len(candidates) > shown else "")
