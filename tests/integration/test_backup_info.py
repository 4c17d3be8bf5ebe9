"""kubesafe.k8s.backup_info through ansible-playbook: two backups, then list and describe them, on a directory and on S3."""

import json

import pytest

pytestmark = pytest.mark.integration


def backup_then_info_plays(location, location_config, result_file):
    """Back up twice, list and describe with backup_info, assert in the play, and save the results for Python."""
    common = {"location": location}
    if location_config:
        common["location_config"] = location_config
    tasks = [
        {"name": "Nightly backup of shop", "kubesafe.k8s.backup": dict(
            common, name="shop-nightly", included_namespaces=["shop"], labels={"schedule": "nightly"})},
        {"name": "Weekly backup of everything", "kubesafe.k8s.backup": dict(
            common, name="full-weekly", labels={"schedule": "weekly"}), "register": "full"},
        {"name": "List the backups", "kubesafe.k8s.backup_info": dict(common), "register": "listed"},
        {"name": "Only the nightly ones of the last day", "kubesafe.k8s.backup_info": dict(
            common, labels={"schedule": "nightly"}, newer_than="24h", phase=["Completed", "PartiallyFailed"]),
         "register": "nightly"},
        {"name": "None older than a day", "kubesafe.k8s.backup_info": dict(common, older_than="24h"), "register": "old"},
        {"name": "Describe the full backup", "kubesafe.k8s.backup_info": dict(
            common, name="full-weekly", include_contents=True, contents_limit=10, log_lines=3), "register": "described"},
        {"name": "The whole log of the nightly backup", "kubesafe.k8s.backup_info": dict(
            common, name="shop-nightly", log_lines=-1), "register": "logged"},
        {"name": "Describe one that does not exist", "kubesafe.k8s.backup_info": dict(common, name="nope"), "register": "missing"},
        {"name": "Check what was found", "ansible.builtin.assert": {"that": [
            "listed is not changed",
            "listed.backups | map(attribute='name') | sort == ['full-weekly', 'shop-nightly']",
            "listed.backups | map(attribute='phase') | unique == ['Completed']",
            "nightly.backups | map(attribute='name') | list == ['shop-nightly']",
            "nightly.backups[0].labels.schedule == 'nightly'",
            "nightly.backups[0].included_namespaces == ['shop']",
            "old.backups == []",
            "described.backups | length == 1",
            "described.backups[0].items_backed_up == full.backup.items_backed_up",
            "described.backups[0].resource_counts.values() | sum == full.backup.items_backed_up",
            "described.backups[0].resource_counts == full.backup.resource_counts",
            "described.backups[0].log | length == 3",
            "described.backups[0].log[-1] is search('backed up %d items, phase Completed' % full.backup.items_backed_up)",
            "logged.backups[0].log[-1] is search('phase Completed')",
            "logged.backups[0].log | select('search', 'backup=shop-nightly') | list | length == logged.backups[0].log | length",
            "'log' not in listed.backups[0]",
            "described.backups[0].contents | length == 10",
            "described.backups[0].contents_truncated",
            "described.backups[0].manifest.tool.name == 'kubesafe.k8s'",
            "missing.backups == []",
        ]}},
        {"name": "Save the results", "ansible.builtin.copy": {
            "dest": str(result_file), "content": "{{ {'listed': listed, 'described': described, 'full': full.backup} | to_json }}"}},
    ]
    return [{"name": "backup_info", "hosts": "localhost", "gather_facts": False,
             "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"}, "tasks": tasks}]


def check_saved(result_file):
    saved = json.loads(result_file.read_text())
    listed = {backup["name"]: backup for backup in saved["listed"]["backups"]}
    assert listed["shop-nightly"]["labels"]["schedule"] == "nightly" and listed["full-weekly"]["labels"]["schedule"] == "weekly"
    assert all(backup["format"] == "kubesafe" and backup["complete"] and backup["size"] > 0 for backup in listed.values())
    described, full = saved["described"]["backups"][0], saved["full"]
    assert described["namespace_counts"] == full["namespace_counts"]
    assert described["warning_messages"] == full["warnings"]
    assert set(described["files"]) == set(full["files"]) | {"velero-backup.json"}
    return saved


def test_backup_info_on_a_directory(sample_cluster, ansible_playbook, tmp_path):
    location = tmp_path / "location"
    result_file = tmp_path / "result.json"
    ansible_playbook(backup_then_info_plays(str(location), None, result_file), sample_cluster.env())
    saved = check_saved(result_file)
    assert saved["listed"]["location"] == str(location)


def test_backup_info_does_not_create_a_missing_directory(cluster, ansible_playbook, tmp_path):
    missing = tmp_path / "no-backups-here"
    plays = [{"hosts": "localhost", "gather_facts": False, "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
              "tasks": [{"kubesafe.k8s.backup_info": {"location": str(missing)}, "register": "found"},
                        {"ansible.builtin.assert": {"that": ["found.backups == []", "found is not changed"]}}]}]
    ansible_playbook(plays, cluster.env(), "--check")
    assert not missing.exists()


def test_backup_info_on_s3(sample_cluster, ansible_playbook, tmp_path, s3_endpoint, s3_bucket):
    _s3, bucket = s3_bucket
    result_file = tmp_path / "result.json"
    config = {"endpoint_url": s3_endpoint, "force_path_style": True, "region": "us-east-1"}
    ansible_playbook(backup_then_info_plays("s3://%s/prod" % bucket, config, result_file), sample_cluster.env())
    saved = check_saved(result_file)
    assert saved["listed"]["location"] == "s3://%s/prod" % bucket
