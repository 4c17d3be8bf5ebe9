"""The restore's uid index answers like the dicts and sets it replaces, from disk."""

import os

from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.uid_index import RestoredUidIndex


def test_restored_uids_new_uids_and_namespaces(tmp_path):
    index = RestoredUidIndex(str(tmp_path))
    try:
        index.add("u-ns", "namespaces", None, "shop")
        index.add("u-deploy", "deployments.apps", "shop", "web")
        index.add("u-rs", "replicasets.apps", "shop", "web-1")
        index.add("u-pvc", "persistentvolumeclaims", "data", "db")
        index.add("u-crd", "customresourcedefinitions.apiextensions.k8s.io", None, "widgets.example.com")
        assert "u-deploy" in index and "u-pvc" in index
        assert "u-missing" not in index and None not in index
        index.discard("u-rs")
        assert "u-rs" not in index and "u-deploy" in index
        assert index.new_uid("u-deploy") is None
        index.set_new_uid("u-deploy", "new-1")
        assert index.new_uid("u-deploy") == "new-1" and index.new_uid("u-missing") is None
        assert index.namespaces() == {"shop", "data"}
        assert index.namespaced_group_resources() == {"deployments.apps", "replicasets.apps", "persistentvolumeclaims"}
        assert index.names_of("persistentvolumeclaims") == {("data", "db")}
        assert len(index) == 5
    finally:
        index.close()
    assert os.listdir(str(tmp_path)) == ["restored-uids.sqlite"]


def test_a_large_index_is_filled_in_batches_and_answers_each_uid(tmp_path):
    index = RestoredUidIndex(str(tmp_path))
    try:
        for number in range(12345):
            index.add("uid-%d" % number, "configmaps", "ns-%d" % (number % 7), "cm-%d" % number)
        assert len(index) == 12345
        assert all("uid-%d" % number in index for number in range(0, 12345, 97))
        assert index.namespaces() == {"ns-%d" % n for n in range(7)}
    finally:
        index.close()


def _transactions(statements):
    """SQLite transactions run by ``statements`` (a trace): each BEGIN ... COMMIT, and each statement outside one."""
    count, inside = 0, False
    for statement in statements:
        keyword = statement.split(None, 1)[0].upper()
        if keyword == "BEGIN":
            count, inside = count + 1, True
        elif keyword == "COMMIT":
            inside = False
        elif not inside:
            count += 1
    return count


def test_new_uids_are_written_in_batches_and_read_back_at_once(tmp_path):
    index = RestoredUidIndex(str(tmp_path))
    try:
        for number in range(12000):
            index.add("uid-%d" % number, "configmaps", "shop", "cm-%d" % number)
        assert len(index) == 12000
        statements = []
        index._db.set_trace_callback(statements.append)  # pylint: disable=protected-access
        for number in range(12000):
            index.set_new_uid("uid-%d" % number, "new-%d" % number)
        index.set_new_uid("uid-7", "new-7-again")  # set twice: the last value counts
        # Not yet written in a batch, and still the answer.
        assert index.new_uid("uid-11999") == "new-11999" and index.new_uid("uid-7") == "new-7-again"
        # One transaction per object made the main thread of a restore wait on SQLite once per object created.
        assert _transactions(statements) <= 5
        assert index.new_uid("uid-0") == "new-0" and index.new_uid("uid-5000") == "new-5000" and index.new_uid("missing") is None
    finally:
        index.close()
