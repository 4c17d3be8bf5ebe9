"""playbooks/prune.yml as a user runs it: --check lists what would go, then the real run deletes it."""

import datetime
import json
import os

from ansible_collections.kubesafe.k8s.plugins.module_utils.backup import engine as backup_engine
from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, run_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location

UTC = datetime.timezone.utc


def test_prune_playbook_check_then_real(cluster, run_playbook, tmp_path, monkeypatch):
    root = tmp_path / "backups"
    location = open_location(str(root))
    client = KubeClient(**connection_options({"kubeconfig": cluster.kubeconfig}))
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    starts = {"nightly-old": now - datetime.timedelta(days=40), "nightly-1": now - datetime.timedelta(days=2),
              "nightly-2": now - datetime.timedelta(days=1), "weekly-1": now - datetime.timedelta(days=40)}
    for name, start in starts.items():
        monkeypatch.setattr(backup_engine, "_utcnow", lambda start=start: start)
        labels = {"schedule": "weekly" if name.startswith("weekly") else "nightly"}
        run_backup(client, location, BackupOptions(name=name, labels=labels, included_namespaces=["default"]))
    monkeypatch.undo()
    location.put_bytes("restores/r1/restore-r1-report.json", json.dumps({"name": "r1", "backup": "nightly-old"}).encode())

    extra = ["-e", "prune_location=%s" % root, "-e", '{"prune_labels": {"schedule": "nightly"}}', "-e", "prune_keep_last=1",
             "-e", "prune_timezone=Europe/Paris"]
    checked = run_playbook("playbooks/prune.yml", cluster.env(), "--check", *extra)
    assert "Would delete 2 backup(s)" in checked.stdout and "nightly-old" in checked.stdout and "nightly-1" in checked.stdout
    assert "changed=1" in checked.stdout
    assert sorted(os.listdir(root / "backups")) == ["nightly-1", "nightly-2", "nightly-old", "weekly-1"]

    done = run_playbook("playbooks/prune.yml", cluster.env(), *extra)
    assert "Deleted 2 backup(s)" in done.stdout and "changed=1" in done.stdout
    assert sorted(os.listdir(root / "backups")) == ["nightly-2", "weekly-1"]
    assert not (root / "restores").exists()

    again = run_playbook("playbooks/prune.yml", cluster.env(), *extra)
    assert "Deleted 0 backup(s)" in again.stdout and "changed=0" in again.stdout


def test_prune_playbook_deletes_exactly_the_named_backups(cluster, run_playbook, tmp_path, monkeypatch):
    root = tmp_path / "backups"
    location = open_location(str(root))
    client = KubeClient(**connection_options({"kubeconfig": cluster.kubeconfig}))
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    # expired-long-ago is past its TTL: the expiry rule would delete it, a named deletion must not.
    starts = {"expired-long-ago": now - datetime.timedelta(days=40), "nightly-1": now - datetime.timedelta(days=2),
              "nightly-2": now - datetime.timedelta(days=1)}
    for name, start in starts.items():
        monkeypatch.setattr(backup_engine, "_utcnow", lambda start=start: start)
        run_backup(client, location, BackupOptions(name=name, included_namespaces=["default"]))
    monkeypatch.undo()
    location.put_bytes("restores/r1/restore-r1-report.json", json.dumps({"name": "r1", "backup": "nightly-1"}).encode())

    def snapshot():
        return {str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()}

    before = snapshot()
    wrong = run_playbook("playbooks/prune.yml", cluster.env(), "-e", "prune_location=%s" % root, "-e", "prune_names=nightly-1,nightly-3",
                         check=False)
    message = wrong.stdout + wrong.stderr
    assert wrong.returncode != 0 and "no backup 'nightly-3'" in message and "nearest to 'nightly-3': nightly-2, nightly-1" in message
    assert "nothing was deleted" in message and snapshot() == before

    mixed = run_playbook("playbooks/prune.yml", cluster.env(), "-e", "prune_location=%s" % root, "-e", "prune_names=nightly-1",
                         "-e", "prune_keep_last=1", check=False)
    assert mixed.returncode != 0 and "leave out prune_keep_last" in mixed.stdout + mixed.stderr and snapshot() == before

    checked = run_playbook("playbooks/prune.yml", cluster.env(), "--check", "-e", "prune_location=%s" % root, "-e", "prune_names=nightly-1")
    assert "Would delete 1 backup(s) ['nightly-1']" in checked.stdout and snapshot() == before

    done = run_playbook("playbooks/prune.yml", cluster.env(), "-e", "prune_location=%s" % root, "-e", "prune_names=nightly-1")
    assert "Deleted 1 backup(s) ['nightly-1']" in done.stdout and "changed=1" in done.stdout
    assert sorted(os.listdir(root / "backups")) == ["expired-long-ago", "nightly-2"]
    assert not (root / "restores" / "r1").exists()  # the record of its restore went with it
    after = snapshot()
    assert all(after[key] == value for key, value in before.items() if "nightly-1" not in key and not key.startswith("restores/"))
