"""kubesafe.k8s.verify through ansible-playbook: healthy and damaged backups, in a directory and on S3, with a restore check."""

import json

import pytest

pytestmark = pytest.mark.integration

PLAY_VARS = {"ansible_python_interpreter": "{{ ansible_playbook_python }}"}


def play(tasks):
    return [{"name": "verify", "hosts": "localhost", "gather_facts": False, "vars": PLAY_VARS, "tasks": tasks}]


def save(result_file, names):
    content = "{{ {%s} | to_json }}" % ", ".join("'%s': %s" % (name, name) for name in names)
    return {"name": "Save the results", "ansible.builtin.copy": {"dest": str(result_file), "content": content}}


def test_verify_on_a_directory(sample_cluster, ansible_playbook, tmp_path):
    location = tmp_path / "location"
    result_file = tmp_path / "result.json"
    common = {"location": str(location)}
    tasks = [
        {"name": "Back up shop", "kubesafe.k8s.backup": dict(common, name="shop", included_namespaces=["shop"])},
        {"name": "Back up payments", "kubesafe.k8s.backup": dict(common, name="payments", included_namespaces=["payments"])},
        {"name": "Verify all, with a restore check into the same cluster", "kubesafe.k8s.verify": dict(common, restore_check=True),
         "register": "healthy"},
        {"name": "Lose a file of one backup", "ansible.builtin.file": {
            "path": str(location / "backups" / "payments" / "payments-results.gz"), "state": "absent"}},
        {"name": "Verify all: fails", "kubesafe.k8s.verify": dict(common), "register": "failing", "ignore_errors": True},
        {"name": "Verify all, report only", "kubesafe.k8s.verify": dict(common, fail_on_problems=False), "register": "report"},
        {"name": "Verify the intact one", "kubesafe.k8s.verify": dict(common, name="shop"), "register": "one"},
        {"name": "Check", "ansible.builtin.assert": {"that": [
            "healthy is not changed and healthy.ok",
            "healthy.backups | map(attribute='name') | sort == ['payments', 'shop']",
            "healthy.backups | map(attribute='checks') | flatten | selectattr('check', 'eq', 'restore_check') | list | length == 2",
            "failing is failed and 'payments-results.gz is missing' in failing.msg",
            "report is not failed and not report.ok",
            "report.backups | rejectattr('ok') | map(attribute='name') | list == ['payments']",
            "one.ok and one.backups | length == 1",
        ]}},
        save(result_file, ["healthy", "report"]),
    ]
    ansible_playbook(play(tasks), sample_cluster.env())
    saved = json.loads(result_file.read_text())
    payments = next(backup for backup in saved["report"]["backups"] if backup["name"] == "payments")
    assert payments["problems"] == ["files: payments-results.gz is missing"]
    assert all(check["ok"] for backup in saved["healthy"]["backups"] for check in backup["checks"])


def test_verify_in_check_mode_reads_only(sample_cluster, ansible_playbook, tmp_path):
    location = tmp_path / "location"
    ansible_playbook(play([{"kubesafe.k8s.backup": {"location": str(location), "name": "snap", "included_namespaces": ["shop"]}}]),
                     sample_cluster.env())
    before = sorted(path.relative_to(location) for path in location.rglob("*"))
    sample_cluster.control.clear_audit()
    tasks = [{"kubesafe.k8s.verify": {"location": str(location), "restore_check": True}, "register": "checked"},
             {"ansible.builtin.assert": {"that": ["checked.ok", "checked is not changed"]}}]
    ansible_playbook(play(tasks), sample_cluster.env(), "--check")
    assert sorted(path.relative_to(location) for path in location.rglob("*")) == before
    assert {entry["verb"] for entry in sample_cluster.control.audit()} <= {"get", "list"}


def test_verify_on_s3(sample_cluster, ansible_playbook, tmp_path, s3_endpoint, s3_bucket):
    s3, bucket = s3_bucket
    result_file = tmp_path / "result.json"
    common = {"location": "s3://%s/prod" % bucket, "location_config": {"endpoint_url": s3_endpoint, "force_path_style": True, "region": "us-east-1"}}
    tasks = [
        {"name": "Back up shop to S3", "kubesafe.k8s.backup": dict(common, name="nightly", included_namespaces=["shop"])},
        {"name": "Verify it, with a restore check", "kubesafe.k8s.verify": dict(common, name="nightly", restore_check=True), "register": "healthy"},
        {"ansible.builtin.assert": {"that": ["healthy.ok", "healthy.location == 's3://%s/prod'" % bucket]}},
    ]
    ansible_playbook(play(tasks), sample_cluster.env())

    # Damage the stored tarball: a flipped byte, written back in place.
    key = "prod/backups/nightly/nightly.tar.gz"
    data = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    data[len(data) // 2] ^= 0xFF
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(data))
    tasks = [{"name": "Verify everything, report only", "kubesafe.k8s.verify": dict(common, fail_on_problems=False), "register": "damaged"},
             save(result_file, ["damaged"])]
    ansible_playbook(play(tasks), sample_cluster.env())
    damaged = json.loads(result_file.read_text())["damaged"]
    assert not damaged["ok"] and not damaged["changed"]
    problems = damaged["backups"][0]["problems"]
    assert any(problem.startswith("files: nightly.tar.gz has SHA-256") for problem in problems), problems
    assert any(problem.startswith("contents: ") for problem in problems), problems
