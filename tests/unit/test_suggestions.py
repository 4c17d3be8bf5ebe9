"""The closest names offered for a name a user typed."""

from ansible_collections.kubesafe.k8s.plugins.module_utils.suggestions import closest_names, names_hint


def test_closest_names_rank_the_typo_first():
    known = ["restore_namespace_mapping", "restore_storage_class_mapping", "restore_names", "restore_wait"]
    assert closest_names("restore_namespace_maping", known)[0] == "restore_namespace_mapping"
    assert closest_names("backup_include_namespaces", ["backup_included_namespaces", "backup_excluded_namespaces",
                                                       "backup_include_cluster_resources"])[0] == "backup_included_namespaces"


def test_nothing_close_is_nothing():
    assert closest_names("zzz", ["nightly-20260101", "weekly-20260104"]) == []


def test_names_hint_offers_the_nearest_else_lists_them():
    names = ["nightly-20260101020000", "nightly-20260102020000", "weekly-20260104"]
    assert names_hint("nightly-20260102", names, "backups").startswith("nearest backups: nightly-20260102020000")
    assert names_hint("zzz", names, "backups") == "backups there: %s" % ", ".join(names)
    assert names_hint("zzz", ["b%02d" % i for i in range(12)], "backups", shown=2) == "backups there: b00, b01, ..."
    assert names_hint("x", [], "backups") is None
