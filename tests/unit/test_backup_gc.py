"""A backup stores pages with the cyclic garbage collector paused: it must not leave cyclic garbage per object."""

import gc

from ansible_collections.kubesafe.k8s.plugins.module_utils.backup import engine
from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, run_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location

OBJECTS = 3000


def config_maps(count):
    return [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-%05d" % index, "namespace": "shop-%d" % (index % 5)},
             "data": {"key": "value %d" % index}} for index in range(count)]


def test_the_collector_is_paused_while_pages_are_stored_and_no_cycles_are_left(cluster, tmp_path, monkeypatch):
    cluster.control.seed([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop-%d" % index}} for index in range(5)])
    cluster.control.seed(config_maps(OBJECTS))
    seen = {}
    collect_all = engine.BackupRun._collect_all

    def watched(self, *args):
        seen["enabled_while_storing"] = gc.isenabled()
        collect_all(self, *args)
        # What the paused collector would have found: the cycles storing created (the emulator serves from
        # threads of this process too, a few per request; per object there must be none).
        seen["unreachable"] = gc.collect()

    monkeypatch.setattr(engine.BackupRun, "_collect_all", watched)
    gc.collect()
    assert gc.isenabled()
    client = KubeClient(**connection_options({"kubeconfig": cluster.kubeconfig}))
    result = run_backup(client, open_location(str(tmp_path / "backups")), BackupOptions(name="gc", page_size=100))
    assert result["phase"] == "Completed"
    assert result["resource_counts"]["configmaps"] >= OBJECTS
    assert seen["enabled_while_storing"] is False
    assert seen["unreachable"] < OBJECTS / 10
    assert gc.isenabled()  # back on after the backup
