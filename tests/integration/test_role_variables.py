"""Variables you can trust: the playbooks refuse what their roles do not know, before any write, naming the right variable."""

import json
import shutil

import pyrage
import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.encryption import EncryptionSettings
from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, run_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location

pytestmark = pytest.mark.integration

WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


def writes(cluster):
    return [record for record in cluster.control.audit() if record["verb"] in WRITE_VERBS]


def backed_up(cluster, location, name="nightly", **options):
    client = KubeClient(**connection_options({"kubeconfig": cluster.kubeconfig}))
    run_backup(client, open_location(str(location)), BackupOptions(name=name, included_namespaces=["shop"], **options))


def backups_in(location):
    return sorted(path.name for path in (location / "backups").iterdir()) if (location / "backups").exists() else []


def refused(result, *texts):
    """The play failed, and its output says each of texts."""
    missing = [text for text in texts if text not in result.stdout]
    assert result.returncode != 0 and not missing, "exit %d, missing %s:\n%s" % (result.returncode, missing, result.stdout[-3000:])


# ---------------------------------------------------------------- restore


def test_a_mistyped_restore_mapping_is_refused_before_any_write(sample_cluster, run_playbook, tmp_path):
    """restore_namespace_maping used to be ignored: the backup was restored over the live namespace."""
    location = tmp_path / "location"
    backed_up(sample_cluster, location)
    sample_cluster.control.clear_audit()
    result = run_playbook("playbooks/restore.yml", sample_cluster.env(), "-e", "restore_location=%s" % location, "-e", "backup=nightly",
                          "-e", '{"restore_namespace_maping": {"shop": "shop-copy"}, "restore_existing_resource_policy": "update"}', check=False)
    refused(result, "restore_namespace_maping (did you mean restore_namespace_mapping?)", "nothing was done")
    assert writes(sample_cluster) == []
    assert not (location / "restores").exists()


def test_restore_requires_backup(sample_cluster, run_playbook, tmp_path):
    """No silent default to the newest backup: the user names one, or says latest."""
    location = tmp_path / "location"
    backed_up(sample_cluster, location)
    sample_cluster.control.clear_audit()
    result = run_playbook("playbooks/restore.yml", sample_cluster.env(), "-e", "restore_location=%s" % location, check=False)
    refused(result, "the restore role needs backup: the name of the backup to restore, or latest")
    assert writes(sample_cluster) == []


def test_backup_name_is_refused_with_a_pointer_to_backup(sample_cluster, kubesim_factory, run_playbook, tmp_path):
    """restore.yml -e backup_name=older (the backup role's word) used to restore the newest backup instead."""
    location = tmp_path / "location"
    backed_up(sample_cluster, location, name="older")
    backed_up(sample_cluster, location, name="newer")
    target = kubesim_factory()
    target.control.clear_audit()
    result = run_playbook("playbooks/restore.yml", target.env(), "-e", "restore_location=%s" % location, "-e", "backup_name=older",
                          check=False)
    refused(result, "backup_name is not a variable of the restore role", "give the backup to restore as backup (-e backup=NAME")
    assert writes(target) == []


def test_a_missing_backup_names_the_nearest_ones(sample_cluster, kubesim_factory, run_playbook, tmp_path):
    location = tmp_path / "location"
    backed_up(sample_cluster, location, name="nightly-20261201")
    backed_up(sample_cluster, location, name="weekly-20261129")
    target = kubesim_factory()
    target.control.clear_audit()
    result = run_playbook("playbooks/restore.yml", target.env(), "-e", "restore_location=%s" % location, "-e", "backup=nightly-2026121",
                          check=False)
    refused(result, "backup 'nightly-2026121' does not exist", "nearest backups: nightly-20261201", "check backup and restore_location")
    assert writes(target) == []


def test_the_deprecated_backup_location_still_restores_with_a_warning(sample_cluster, kubesim_factory, run_playbook, tmp_path):
    location = tmp_path / "location"
    backed_up(sample_cluster, location)
    target = kubesim_factory()
    result = run_playbook("playbooks/restore.yml", target.env(), "-e", "backup_location=%s" % location, "-e", "backup=nightly")
    assert "[DEPRECATION WARNING]: backup_location is deprecated in the restore role: use restore_location" in result.stderr
    assert [o for o in target.control.dump() if o["kind"] == "Deployment" and o["metadata"]["namespace"] == "shop"]


def test_an_alias_and_its_new_name_set_differently_are_refused(sample_cluster, run_playbook, tmp_path):
    location = tmp_path / "location"
    backed_up(sample_cluster, location)
    sample_cluster.control.clear_audit()
    result = run_playbook("playbooks/restore.yml", sample_cluster.env(), "-e", "backup_location=%s" % location,
                          "-e", "restore_location=%s" % (tmp_path / "other"), "-e", "backup=nightly", check=False)
    refused(result, "restore_location and backup_location are both set, to different values", "set only restore_location")
    assert writes(sample_cluster) == []


def test_a_missing_kubeconfig_is_shown_and_named_as_the_role_variable(sample_cluster, run_playbook, tmp_path):
    """It printed "kubeconfig file ******** does not exist (set by the kubeconfig option or K8S_AUTH_KUBECONFIG)"."""
    location = tmp_path / "location"
    backed_up(sample_cluster, location)
    missing = tmp_path / "clusters" / "prod.yaml"
    result = run_playbook("playbooks/restore.yml", sample_cluster.env(with_kubeconfig=False), "-e", "restore_location=%s" % location,
                          "-e", "backup=nightly", "-e", "restore_kubeconfig=%s" % missing, check=False)
    refused(result, "file %s does not exist (set by restore_kubeconfig or K8S_AUTH_KUBECONFIG or KUBECONFIG)" % missing)
    assert "file ******** does not exist" not in result.stdout


# ---------------------------------------------------------------- backup, prune, DR


def test_a_mistyped_backup_selection_is_refused_instead_of_backing_up_everything(sample_cluster, run_playbook, tmp_path):
    """backup_include_namespaces=shop (no d) backed up the whole cluster."""
    location = tmp_path / "location"
    sample_cluster.control.clear_audit()
    result = run_playbook("playbooks/backup.yml", sample_cluster.env(), "-e", "backup_location=%s" % location,
                          "-e", "backup_include_namespaces=shop", check=False)
    refused(result, "backup_include_namespaces (did you mean backup_included_namespaces?)")
    assert backups_in(location) == [] and writes(sample_cluster) == []


def test_prune_refuses_a_mistyped_keep_rule_and_deletes_nothing(sample_cluster, run_playbook, tmp_path):
    location = tmp_path / "location"
    backed_up(sample_cluster, location, name="one")
    backed_up(sample_cluster, location, name="two")
    result = run_playbook("playbooks/prune.yml", sample_cluster.env(), "-e", "prune_location=%s" % location, "-e", "prune_keep_lst=1",
                          check=False)
    refused(result, "prune_keep_lst (did you mean prune_keep_last?)")
    assert backups_in(location) == ["one", "two"]


def test_prune_reads_the_deprecated_backup_location(sample_cluster, run_playbook, tmp_path):
    location = tmp_path / "location"
    backed_up(sample_cluster, location, name="one")
    backed_up(sample_cluster, location, name="two")
    result = run_playbook("playbooks/prune.yml", sample_cluster.env(), "--check", "-e", "backup_location=%s" % location,
                          "-e", "prune_keep_last=1", "-e", "prune_expired=false")
    assert "backup_location is deprecated in the prune role: use prune_location" in result.stderr
    assert "Would delete 1 backup(s)" in result.stdout and "from %s" % location in result.stdout


def test_dr_refuses_a_mistyped_variable_before_any_write(sample_cluster, kubesim_factory, run_playbook, tmp_path):
    location = tmp_path / "location"
    backed_up(sample_cluster, location)
    dr = kubesim_factory()
    dr.control.clear_audit()
    result = run_playbook("playbooks/dr.yml", sample_cluster.env(with_kubeconfig=False), "-e", json.dumps({
        "dr_location": str(location), "dr_target_kubeconfig": dr.kubeconfig, "dr_namespace_maping": {"shop": "shop-dr"},
        "dr_report_dir": str(tmp_path / "reports")}), check=False)
    refused(result, "dr_namespace_maping (did you mean dr_namespace_mapping?)")
    assert writes(dr) == [] and not (tmp_path / "reports").exists()


def test_dr_reads_an_encrypted_backup_with_dr_decryption_identity_file(sample_cluster, kubesim_factory, run_playbook, tmp_path):
    """The name the AWX age credential injects for dr.yml."""
    identity = pyrage.x25519.Identity.generate()
    key_file = tmp_path / "key.txt"
    key_file.write_text(str(identity) + "\n")
    location = tmp_path / "location"
    backed_up(sample_cluster, location, included_resources=["configmaps", "secrets"],
              encryption=EncryptionSettings.from_options("all", recipients=[str(identity.to_public())]))
    dr = kubesim_factory()
    run_playbook("playbooks/dr.yml", sample_cluster.env(with_kubeconfig=False), "-e", json.dumps({
        "dr_location": str(location), "dr_target_kubeconfig": dr.kubeconfig, "dr_decryption_identity_file": str(key_file),
        "dr_report_dir": str(tmp_path / "reports"), "dr_wait_timeout": 60, "dr_fail_on_incomplete": False}))
    assert [o for o in dr.control.dump() if o["kind"] == "Secret" and o["metadata"].get("namespace") == "shop"
            and o["metadata"]["name"] == "db-credentials"]


# ---------------------------------------------------------------- migrate


def migrate_variables(source, target_kubeconfig, tmp_path, **extra):
    variables = {"migrate_source_kubeconfig": source.kubeconfig, "migrate_location": str(tmp_path / "loc"),
                 "migrate_included_namespaces": ["shop"], "migrate_wait": False}
    if target_kubeconfig:
        variables["migrate_target_kubeconfig"] = target_kubeconfig
    variables.update(extra)
    return json.dumps(variables)


def test_migrate_refuses_a_missing_target(sample_cluster, run_playbook, tmp_path):
    """Without migrate_target_kubeconfig the source's own connection used to be the target."""
    sample_cluster.control.clear_audit()
    result = run_playbook("playbooks/migrate.yml", sample_cluster.env(), "-e", migrate_variables(sample_cluster, None, tmp_path), check=False)
    refused(result, "Set migrate_target_kubeconfig (and/or migrate_target_context)")
    assert writes(sample_cluster) == [] and backups_in(tmp_path / "loc") == []


def test_migrate_refuses_a_target_that_is_the_source_cluster(sample_cluster, run_playbook, tmp_path):
    """Another kubeconfig file, the same cluster: the kube-system uids match."""
    same = tmp_path / "same-cluster.yaml"
    shutil.copy(sample_cluster.kubeconfig, str(same))
    sample_cluster.control.clear_audit()
    result = run_playbook("playbooks/migrate.yml", sample_cluster.env(with_kubeconfig=False), "-e",
                          migrate_variables(sample_cluster, str(same), tmp_path, migrate_namespace_mapping={"shop": "shop-new"}), check=False)
    refused(result, "The target is the source cluster (kube-system uid", "migrate_allow_same_cluster")
    assert writes(sample_cluster) == [] and backups_in(tmp_path / "loc") == []


def test_migrate_clones_into_mapped_namespaces_of_the_same_cluster_when_allowed(sample_cluster, run_playbook, tmp_path):
    before = {o["metadata"]["uid"] for o in sample_cluster.control.dump() if o["metadata"].get("namespace") == "shop"}
    run_playbook("playbooks/migrate.yml", sample_cluster.env(with_kubeconfig=False), "-e", migrate_variables(
        sample_cluster, sample_cluster.kubeconfig, tmp_path, migrate_allow_same_cluster=True, migrate_namespace_mapping={"shop": "shop-copy"},
        migrate_included_resources=["configmaps", "secrets", "deployments"]))
    copied = [o for o in sample_cluster.control.dump() if o["metadata"].get("namespace") == "shop-copy"]
    assert {"ConfigMap", "Deployment", "Secret"} <= {o["kind"] for o in copied}
    assert not [o for o in sample_cluster.control.audit() if o["verb"] in WRITE_VERBS and o.get("namespace") == "shop"], \
        "nothing may be written to the source namespace"
    still = {o["metadata"]["uid"] for o in sample_cluster.control.dump() if o["metadata"].get("namespace") == "shop"}
    assert before <= still, "the source objects must be left as they were"


def test_migrate_clone_without_namespace_mapping_is_refused(sample_cluster, run_playbook, tmp_path):
    sample_cluster.control.clear_audit()
    result = run_playbook("playbooks/migrate.yml", sample_cluster.env(with_kubeconfig=False), "-e", migrate_variables(
        sample_cluster, sample_cluster.kubeconfig, tmp_path, migrate_allow_same_cluster=True), check=False)
    refused(result, "set migrate_namespace_mapping")
    assert writes(sample_cluster) == []


def test_migrate_refuses_a_mistyped_variable(sample_cluster, kubesim_factory, run_playbook, tmp_path):
    target = kubesim_factory()
    target.control.clear_audit()
    sample_cluster.control.clear_audit()
    result = run_playbook("playbooks/migrate.yml", sample_cluster.env(with_kubeconfig=False), "-e", migrate_variables(
        sample_cluster, target.kubeconfig, tmp_path, migrate_storage_class_maping={"standard": "gp3"}), check=False)
    refused(result, "migrate_storage_class_maping (did you mean migrate_storage_class_mapping?)")
    assert writes(target) == [] and writes(sample_cluster) == [] and backups_in(tmp_path / "loc") == []


def test_migrate_encrypts_its_backup_and_reads_it_with_migrate_decryption_identity_file(sample_cluster, kubesim_factory, run_playbook,
                                                                                        tmp_path):
    """The name the AWX age credential injects for migrate.yml."""
    identity = pyrage.x25519.Identity.generate()
    key_file = tmp_path / "key.txt"
    key_file.write_text(str(identity) + "\n")
    target = kubesim_factory()
    run_playbook("playbooks/migrate.yml", sample_cluster.env(with_kubeconfig=False), "-e", migrate_variables(
        sample_cluster, target.kubeconfig, tmp_path, migrate_encryption="all", migrate_encryption_recipients=[str(identity.to_public())],
        migrate_decryption_identity_file=str(key_file), migrate_name="sealed", migrate_included_resources=["configmaps", "secrets"]))
    [backup] = backups_in(tmp_path / "loc")
    assert (tmp_path / "loc" / "backups" / backup / ("%s.tar.gz.age" % backup)).exists()
    secret = next(o for o in target.control.dump() if o["kind"] == "Secret" and o["metadata"]["name"] == "db-credentials")
    source = next(o for o in sample_cluster.control.dump() if o["kind"] == "Secret" and o["metadata"]["name"] == "db-credentials")
    assert secret["data"] == source["data"]


def test_migrate_clone_that_leaves_a_namespace_unmapped_is_refused_before_writing_to_the_cluster(sample_cluster, run_playbook, tmp_path):
    sample_cluster.control.clear_audit()
    result = run_playbook("playbooks/migrate.yml", sample_cluster.env(with_kubeconfig=False), "-e", migrate_variables(
        sample_cluster, sample_cluster.kubeconfig, tmp_path, migrate_allow_same_cluster=True, migrate_namespace_mapping={"payments": "payments-copy"},
        migrate_included_resources=["configmaps"]), check=False)
    refused(result, "holds namespaces migrate_namespace_mapping does not map (shop)")
    assert writes(sample_cluster) == []


def test_a_dr_preflight_hint_names_the_dr_variable(sample_cluster, kubesim_factory, run_playbook, tmp_path):
    """The DR cluster lacks the claims' storage class: the hint says dr_storage_class_mapping, not the module's option."""
    location = tmp_path / "location"
    backed_up(sample_cluster, location)
    dr = kubesim_factory()
    dr.control.clear_audit()
    result = run_playbook("playbooks/dr.yml", sample_cluster.env(with_kubeconfig=False), "-e", json.dumps({
        "dr_location": str(location), "dr_target_kubeconfig": dr.kubeconfig, "dr_report_dir": str(tmp_path / "reports")}), check=False)
    refused(result, "nothing was written to the DR cluster", "which the target cluster lacks (create it, or restore with dr_storage_class_mapping)")
    assert writes(dr) == []
