"""restore_info: what `velero restore get`, `describe` and `logs` show, read from the location as a playbook would."""

import gzip
import json

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from module_results import run_module, run_modules

pytestmark = pytest.mark.integration


def test_list_describe_and_log_of_restores(sample_cluster, ansible_playbook, tmp_path):
    location = str(tmp_path / "loc")
    env = sample_cluster.env()
    run_module(ansible_playbook, env, tmp_path, "backup", {"name": "nightly", "location": location, "included_namespaces": ["shop"]})
    # Services stay out of the copy: its explicit node port is the live shop's.
    first = run_module(ansible_playbook, env, tmp_path, "restore", {
        "backup": "nightly", "name": "into-copy", "location": location, "namespace_mapping": {"shop": "shop-copy"},
        "excluded_resources": ["services"]})["restore"]
    # A live object that changed since the backup: the restore over the live namespace leaves it, with a warning.
    KubeClient(**connection_options({"kubeconfig": sample_cluster.kubeconfig})).request(
        "PATCH", "/api/v1/namespaces/shop/configmaps/web-config", body={"data": {"changed": "since the backup"}},
        content_type="application/merge-patch+json")
    second = run_module(ansible_playbook, env, tmp_path, "restore", {
        "backup": "nightly", "name": "over-live", "location": location})["restore"]
    # Velero's own record of a restore: results and logs only.
    velero_dir = tmp_path / "loc" / "restores" / "by-velero"
    velero_dir.mkdir(parents=True)
    (velero_dir / "restore-by-velero-results.gz").write_bytes(velero_format.gzip_json(velero_format.results_sidecar(
        velero_format.Result(namespaces={"shop": ["error restoring configmaps/shop/x: boom"]}), velero_format.Result())))
    (velero_dir / "restore-by-velero-logs.gz").write_bytes(gzip.compress(b'time="x" level=info msg="restoring"\n'))

    # The four questions in one ansible-playbook run: one start-up instead of four.
    listed, only_copy, described, velero = run_modules(ansible_playbook, env, tmp_path, [
        ("restore_info", {"location": location}),
        ("restore_info", {"location": location, "phase": [first["phase"]], "backup": "nightly"}),
        ("restore_info", {"location": location, "name": "over-live", "log_lines": 5}),
        ("restore_info", {"location": location, "name": "by-velero"})])
    listed, only_copy, velero = listed["restores"], only_copy["restores"], velero["restores"][0]
    assert [r["name"] for r in listed] == ["over-live", "into-copy", "by-velero"]
    by_name = {r["name"]: r for r in listed}
    assert by_name["into-copy"]["backup"] == "nightly" and by_name["into-copy"]["phase"] == first["phase"]
    assert by_name["into-copy"]["totals"] == first["totals"] and by_name["into-copy"]["totals"].get("create")
    assert by_name["over-live"]["warnings"] == len(second["warnings"]) > 0  # objects that already exist
    assert by_name["by-velero"]["format"] == "velero" and by_name["by-velero"]["phase"] is None and by_name["by-velero"]["errors"] == 1

    assert {r["name"] for r in only_copy} <= {"into-copy", "over-live"} and "into-copy" in {r["name"] for r in only_copy}

    restore = described["restores"][0]
    assert restore["warning_messages"] == second["warnings"]
    assert restore["counts"] == second["counts"]
    assert 0 < len(restore["log"]) <= 5 and all("restore=over-live" in line for line in restore["log"])
    assert velero["error_messages"] == ["namespace shop: error restoring configmaps/shop/x: boom"]
    assert any("no report" in note for note in velero["notes"])


def test_an_unknown_restore_names_the_ones_there(cluster, ansible_playbook, tmp_path):
    location = tmp_path / "loc"
    (location / "restores" / "monday").mkdir(parents=True)
    (location / "restores" / "monday" / "restore-monday-report.json").write_text(json.dumps({"name": "monday", "phase": "Completed"}))
    result = run_module(ansible_playbook, cluster.env(), tmp_path, "restore_info", {"location": str(location), "name": "mondy"}, check=False)
    assert result["failed"] and "restore 'mondy' does not exist" in result["msg"] and "monday" in result["msg"]


def test_info_playbook_prints_backups_and_restores_as_tables(sample_cluster, run_playbook, ansible_playbook, tmp_path):
    location = str(tmp_path / "loc")
    env = sample_cluster.env()
    run_module(ansible_playbook, env, tmp_path, "backup", {"name": "nightly", "location": location, "included_namespaces": ["shop"]})
    restore = run_module(ansible_playbook, env, tmp_path, "restore", {
        "backup": "nightly", "name": "into-copy", "location": location, "namespace_mapping": {"shop": "shop-copy"},
        "excluded_resources": ["services"]})["restore"]
    assert restore["phase"] == "Completed"
    (tmp_path / "loc" / "backups" / "killed").mkdir()
    (tmp_path / "loc" / "backups" / "killed" / "killed.tar.gz").write_bytes(b"\x1f\x8b")  # a run killed mid-write
    output = run_playbook("playbooks/info.yml", env, "-e", "backup_location=%s" % location).stdout
    backups = printed_table(output, "NAME")
    assert backups[0].split() == ["NAME", "STATUS", "ERRORS", "WARNINGS", "CREATED", "EXPIRES", "ITEMS", "STORAGE", "LOCATION", "SELECTOR"]
    nightly = next(line for line in backups if line.startswith("nightly "))
    assert nightly.split()[:4] == ["nightly", "Completed", "0", "0"] and nightly.split()[-2:] == ["default", "<none>"]
    assert next(line for line in backups if line.startswith("killed ")).split()[:2] == ["killed", "Incomplete"]
    # Aligned: every value starts under its header.
    for header in ("STATUS", "ERRORS", "CREATED", "EXPIRES", "ITEMS"):
        assert nightly[backups[0].index(header) - 1] == " " and nightly[backups[0].index(header)] != " "
    restores = printed_table(output, "NAME", which=1)
    assert restores[0].split() == ["NAME", "BACKUP", "STATUS", "STARTED", "COMPLETED", "ERRORS", "WARNINGS"]
    row = restores[1].split()
    assert row[:3] == ["into-copy", "nightly", "Completed"] and row[-2:] == ["0", str(len(restore["warnings"]))]
    assert restores[1].index("Completed") == restores[0].index("STATUS")


def printed_table(stdout, first_header, which=0):
    """The lines of the ``which``-th table a debug task printed (a msg list of strings), header first."""
    tables, current = [], None
    for line in stdout.splitlines():
        text = line.strip().rstrip(",")
        if text.startswith('"%s ' % first_header):
            current = []
            tables.append(current)
        elif current is not None and not text.startswith('"'):
            current = None
        if current is not None:
            current.append(text[1:-1])
    return tables[which]


def test_verify_playbook_fails_naming_the_backup_that_does_not_verify(sample_cluster, run_playbook, ansible_playbook, tmp_path):
    location = tmp_path / "loc"
    env = sample_cluster.env()
    for name in ("good", "tampered"):
        run_module(ansible_playbook, env, tmp_path, "backup", {"name": name, "location": str(location), "included_namespaces": ["shop"]})
    archive = location / "backups" / "tampered" / "tampered.tar.gz"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    failed = run_playbook("playbooks/verify.yml", env, "-e", "backup_location=%s" % location, check=False)
    assert failed.returncode != 0
    verified = printed_table(failed.stdout, "NAME")
    assert verified[0].split() == ["NAME", "VERIFIED", "PROBLEMS", "FIRST", "PROBLEM"]
    assert sorted(line.split()[0] for line in verified[1:]) == ["good", "tampered"]
    assert any(line.split()[:2] == ["tampered", "false"] and int(line.split()[2]) > 0 for line in verified[1:])
    assert any(line.split()[:3] == ["good", "true", "0"] for line in verified[1:])
    message = failed.stdout + failed.stderr  # ansible-core 2.19 prints task errors on stderr
    assert "1 of 2 backup(s)" in message and "tampered: " in message and "the manifest says" in message
    empty = run_playbook("playbooks/verify.yml", env, "-e", "backup_location=%s" % (tmp_path / "empty"), check=False)
    assert empty.returncode != 0 and "no backup to verify in" in empty.stdout + empty.stderr
    passed = run_playbook("playbooks/verify.yml", env, "-e", "backup_location=%s" % location, "-e", "backup=good")
    assert printed_table(passed.stdout, "NAME")[1].split() == ["good", "true", "0"] and "tampered" not in passed.stdout
