"""Mistyped or impossible options are refused before the first write, naming the option (issue: a restore never does the wrong thing silently)."""

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, run_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location

pytestmark = pytest.mark.integration

WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")

# (extra -e arguments, text the failure must contain)
RESTORE_REFUSALS = [
    (['{"restore_namespace_mapping": {"shop": "Shop_Prod"}}'], "restore_namespace_mapping (target of shop): 'Shop_Prod' is not a valid namespace name"),
    (['{"restore_namespace_mapping": {"shop": "shop-restored-%s"}}' % ("x" * 60)], "is not a valid namespace name"),
    (["restore_parallelism=-3"], "restore_parallelism must be at least 1, not -3"),
    (["restore_wait_timeout=-5"], "restore_wait_timeout must be 0 or more seconds, not -5"),
    (["restore_included_namespaces=shop["], "restore_included_namespaces: 'shop[' is not a valid glob"),
    (["restore_excluded_namespaces=Payments"], "restore_excluded_namespaces: 'Payments' is not a valid namespace name"),
    (["restore_included_resources=deploymens"], "restore_included_resources: 'deploymens' matches no resource in the backup or served by the target"),
]


def test_restore_refuses_bad_options_before_any_write(sample_cluster, run_playbook, tmp_path):
    location = tmp_path / "location"
    client = KubeClient(**connection_options({"kubeconfig": sample_cluster.kubeconfig}))
    run_backup(client, open_location(str(location)), BackupOptions(name="nightly", included_namespaces=["shop"]))
    env = sample_cluster.env()
    wrong = []
    for extra, expected in RESTORE_REFUSALS:
        sample_cluster.control.clear_audit()
        arguments = ["-e", "backup_location=%s" % location, "-e", "backup=nightly"]
        for value in extra:
            arguments += ["-e", value]
        result = run_playbook("playbooks/restore.yml", env, *arguments, check=False)
        writes = [record for record in sample_cluster.control.audit() if record["verb"] in WRITE_VERBS]
        if result.returncode == 0 or expected not in result.stdout or writes:
            wrong.append("%s: exit %d, writes %s, output:\n%s" % (extra, result.returncode, writes, result.stdout[-1500:]))
    assert not wrong, "\n\n".join(wrong)


def test_restore_accepts_a_resource_only_the_backup_has(sample_cluster, kubesim_factory, run_playbook, tmp_path):
    """Coupons are a custom resource the new cluster does not serve yet: the backup brings its CRD, so the name is known."""
    location = tmp_path / "location"
    client = KubeClient(**connection_options({"kubeconfig": sample_cluster.kubeconfig}))
    run_backup(client, open_location(str(location)), BackupOptions(name="nightly", included_namespaces=["shop"]))
    target = kubesim_factory()
    assert not [o for o in target.control.dump() if o["kind"] == "Coupon"]
    run_playbook("playbooks/restore.yml", target.env(), "-e", "restore_location=%s" % location, "-e", "backup=nightly",
                 "-e", "restore_included_resources=coupons,customresourcedefinitions")
    restored = [o for o in target.control.dump() if o["kind"] == "Coupon"]
    assert restored and all(o["metadata"]["namespace"] == "shop" for o in restored)


def test_backup_refuses_an_unknown_resource_name(sample_cluster, run_playbook, tmp_path):
    location = tmp_path / "location"
    result = run_playbook("playbooks/backup.yml", sample_cluster.env(), "-e", "backup_location=%s" % location,
                          "-e", "backup_name=typo", "-e", "backup_included_resources=deploymens", check=False)
    assert result.returncode != 0
    assert "backup_included_resources: 'deploymens' matches no resource served by the cluster" in result.stdout
    assert not (location / "backups" / "typo").exists()
