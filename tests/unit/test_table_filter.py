"""The table filter: rows as aligned columns, as velero backup get prints them."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kubesafe.k8s.plugins.filter.table import FilterModule

table = FilterModule().filters()["table"]


def test_columns_are_aligned_to_the_widest_value():
    rows = [{"name": "nightly-20260101020000", "phase": "Completed", "errors": 0, "problems": []},
            {"name": "killed", "phase": None, "errors": 12, "problems": ["a", "b"], "totals": {"create": 3}}]
    lines = table(rows, {"NAME": "name", "STATUS": {"key": "phase", "default": "Incomplete"}, "ERRORS": "errors",
                         "PROBLEMS": {"key": "problems", "length": True}, "FIRST": "problems.0", "CREATED": "totals.create"})
    assert lines == [
        "NAME                     STATUS       ERRORS   PROBLEMS   FIRST   CREATED",
        "nightly-20260101020000   Completed    0        0",
        "killed                   Incomplete   12       2          a       3",
    ]


def test_no_rows_and_bad_arguments():
    assert table([], {"NAME": "name"}) == ["NAME", "(none)"]
    with pytest.raises(AnsibleFilterError, match="columns as a dict"):
        table([], ["name"])
    with pytest.raises(AnsibleFilterError, match="list of dicts"):
        table(["x"], {"NAME": "name"})
