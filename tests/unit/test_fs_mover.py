"""Mover pods, the fs method choice and the records of file-system backups."""

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes import records as volume_records
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.inventory import ClaimVolume, choose_method
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.mover import DEFAULT_IMAGE, MoverSettings, mover_name, mover_pod


def test_a_backup_mover_mounts_the_claim_read_only_on_the_given_node_with_the_options():
    settings = MoverSettings({"image": "registry.local/tar:1", "resources": {"limits": {"memory": "64Mi"}},
                              "node_selector": {"zone": "a"}, "tolerations": [{"operator": "Exists"}],
                              "security_context": {"runAsUser": 1000}}, start_timeout=60, copy_timeout=600)
    pod = mover_pod(settings, "backup-1", "shop", "data", read_only=True, node_name="node-b")

    [container] = pod["spec"]["containers"]
    assert container["image"] == "registry.local/tar:1" and container["resources"] == {"limits": {"memory": "64Mi"}}
    assert container["securityContext"] == {"runAsUser": 1000}
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/data", "readOnly": True}]
    assert pod["spec"]["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "data", "readOnly": True}}]
    assert pod["spec"]["nodeName"] == "node-b" and pod["spec"]["nodeSelector"] == {"zone": "a"}
    assert pod["spec"]["tolerations"] == [{"operator": "Exists"}] and pod["spec"]["restartPolicy"] == "Never"
    # It ends by itself after the run's own limits, and a later run finds it by its label.
    assert pod["spec"]["activeDeadlineSeconds"] > 660
    assert pod["metadata"]["labels"]["kubesafe.k8s/volume-mover"] == "true"
    assert pod["metadata"]["name"] == mover_name("backup-1", "shop", "data") != mover_name("backup-2", "shop", "data")


def test_a_restore_mover_mounts_read_write_and_the_default_image_is_pinned():
    pod = mover_pod(MoverSettings(), "restore-1", "shop", "a-very-long-claim-name-" * 5, read_only=False)
    assert pod["spec"]["containers"][0]["image"] == DEFAULT_IMAGE == "busybox:1.36.1"
    assert pod["spec"]["containers"][0]["volumeMounts"][0]["readOnly"] is False
    assert len(pod["metadata"]["name"]) <= 63


@pytest.mark.parametrize("options, message", [({"imagee": "x"}, "unknown option"), ({"resources": "1Gi"}, "fs_mover.resources must be a dict"),
                                              ({"tolerations": {"key": "x"}}, "fs_mover.tolerations must be a list")])
def test_bad_mover_options_are_named(options, message):
    with pytest.raises(ConfigurationError, match=message):
        MoverSettings(options)


def _volume(mode="Filesystem"):
    claim = {"metadata": {"namespace": "shop", "name": "data"}, "spec": {"volumeMode": mode}}
    pv = {"metadata": {"name": "pv-1"}, "spec": {"volumeMode": mode, "storageClassName": "nfs", "nfs": {"server": "s", "path": "/"}}}
    return ClaimVolume(claim, pv)


def test_fs_takes_any_filesystem_volume_but_not_a_block_volume():
    assert choose_method(_volume(), {"nfs": "fs"}) == ("fs", None)
    method, reason = choose_method(_volume("Block"), "fs")
    assert method is None and "volumeMode Block" in reason


def test_a_file_system_backup_is_a_pod_volume_backup_in_velero_sidecars():
    record = volume_records.new_record(_volume(), "fs")
    record.update(phase="Completed", snapshot_id="0123abcd", bytes=4096, repository="/b/restic/shop", archive="data.tar", mover="m", node="n")
    pvbs = volume_records.pod_volume_backups_sidecar([record], "nightly")
    assert len(pvbs) == 1
    pvb = pvbs[0]
    assert pvb["kind"] == "PodVolumeBackup" and pvb["status"]["snapshotID"] == "0123abcd" and pvb["status"]["path"] == "/data.tar"
    assert pvb["spec"]["uploaderType"] == "restic" and pvb["spec"]["repoIdentifier"] == "/b/restic/shop"
    [info] = volume_records.volume_info_sidecar([record])
    assert info["backupMethod"] == "PodVolumeBackup" and info["pvbInfo"]["snapshotHandle"] == "0123abcd"
    assert volume_records.pod_volume_backups_sidecar([dict(record, method="csi")], "nightly") is None
