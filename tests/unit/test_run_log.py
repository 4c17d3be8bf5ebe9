# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a failing backup or restore task says, and how many errors its result keeps."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.run_log import (
    bounded_errors, bounded_objects, partial_failure_message, read_log)
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location


def errors(count):
    return ["ConfigMap shop/cm-%03d: 422 Invalid: too big" % number for number in range(count)]


def test_a_completed_run_does_not_fail():
    assert partial_failure_message("restore", {"name": "r", "phase": "Completed", "errors": []}) is None


def test_the_message_names_the_phase_the_count_and_the_first_five_errors():
    message = partial_failure_message("restore", {"name": "r", "phase": "PartiallyFailed", "errors": errors(27)})
    assert message.startswith("restore 'r' is PartiallyFailed: 27 error(s), first ones: ConfigMap shop/cm-000: 422 Invalid: too big; ")
    assert "cm-004" in message and "cm-005" not in message and "; ... and 22 more." in message
    assert message.endswith("Set fail_on_partial: false to accept a restore that is not Completed")


def test_check_mode_says_the_phase_is_predicted():
    message = partial_failure_message("backup", {"name": "b", "phase": "PartiallyFailed", "errors": errors(1), "check_mode": True})
    assert message.startswith("backup 'b' is PartiallyFailed (predicted by check mode): 1 error(s), first one: ConfigMap shop/cm-000")


def test_the_result_keeps_the_first_100_errors_and_counts_the_others():
    assert bounded_errors(errors(100)) == errors(100)
    kept = bounded_errors(errors(250))
    assert kept[:100] == errors(100) and kept[100:] == ["... and 150 more errors (all are in the run's results file)"]


def test_read_log_streams_the_tail_and_notes_what_is_missing(tmp_path):
    location = open_location(str(tmp_path))
    location.put_bytes("backups/b/b-logs.gz", gzip.compress(b"".join(b"line %d\n" % i for i in range(50)) + b"\n"))
    location.put_bytes("backups/b/damaged-logs.gz", b"not gzip")
    notes = []
    assert read_log(location, "backups/b/b-logs.gz", 3, notes) == ["line 47", "line 48", "line 49"]
    assert len(read_log(location, "backups/b/b-logs.gz", -1, notes)) == 50 and notes == []
    assert read_log(location, "backups/b/missing-logs.gz", 5, notes) == [] and notes == ["no log file (missing-logs.gz)"]
    assert read_log(location, "backups/b/damaged-logs.gz", 5, notes) == [] and "not gzip-compressed" in notes[-1]


def test_bounded_objects_keeps_every_failed_one():
    objects = [{"name": str(i), "action": "failed" if i % 50 == 0 else "create"} for i in range(300)]
    kept, left_out = bounded_objects(objects, limit=10)
    assert [o["name"] for o in kept if o["action"] == "create"] == [str(i) for i in range(1, 11)]
    assert [o["name"] for o in kept if o["action"] == "failed"] == ["0", "50", "100", "150", "200", "250"]
    assert left_out == 300 - len(kept)
