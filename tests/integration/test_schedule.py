"""playbooks/schedule.yml: a cron.d entry or a systemd timer that runs backup.yml and prune.yml, idempotent, removable."""

import os
import stat
import subprocess

import pytest
import yaml

from conftest import REPO

pytestmark = pytest.mark.integration


def schedule_env(cluster):
    env = cluster.env()
    # Run from a directory of the user's, not the checkout: the collection is found as an installed one would be.
    env["ANSIBLE_COLLECTIONS_PATH"] = os.path.join(REPO, "build", "collections")
    return env


def test_cron_entry_runs_backup_and_prune_and_is_removed(sample_cluster, run_playbook, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    conf, cron_file = tmp_path / "conf", tmp_path / "cron.d" / "kubesafe"
    schedule_vars = {"backup_location": "./backups", "backup_included_namespaces": "shop", "prune_keep_last": 1}
    args = ["-e", "schedule_config_dir=%s" % conf, "-e", "schedule_cron_file=%s" % cron_file, "-e", '{"schedule_cron": "30 1 * * *"}',
            "-e", "schedule_cron_user=backup", "-e", yaml.safe_dump({"schedule_vars": schedule_vars}, default_flow_style=True).strip()]
    env = schedule_env(sample_cluster)

    first = run_playbook("playbooks/schedule.yml", env, *args, cwd=str(work))
    assert "changed=0" not in first.stdout
    script = conf / "kubesafe-backup.sh"
    entries = [line for line in cron_file.read_text().splitlines() if line and not line.startswith("#")]
    assert entries == ["30 1 * * * backup %s" % script]
    assert yaml.safe_load((conf / "kubesafe-backup-vars.yml").read_text()) == schedule_vars
    assert stat.S_IMODE(os.stat(conf / "kubesafe-backup-vars.yml").st_mode) == 0o600
    assert os.access(script, os.X_OK)

    again = run_playbook("playbooks/schedule.yml", env, *args, cwd=str(work))
    assert "changed=0" in again.stdout and "failed=0" in again.stdout

    # What cron would run, from elsewhere: backup.yml then prune.yml with the same variables, in the directory of the install.
    for _run in range(2):
        ran = subprocess.run([str(script)], env=env, cwd=str(tmp_path), check=False, capture_output=True, text=True, timeout=300)
        assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
        assert "CryptographyDeprecationWarning" not in ran.stderr  # ansible-core's DSA import, filtered by the script
    backups = sorted(os.listdir(work / "backups" / "backups"))
    assert len(backups) == 1  # two backups, and prune_keep_last=1 kept the newest only
    assert (work / "backups" / "backups" / backups[0] / "velero-backup.json").exists()

    removed = run_playbook("playbooks/schedule.yml", env, *args, "-e", "schedule_state=absent", cwd=str(work))
    assert "changed=0" not in removed.stdout
    assert not cron_file.exists() and not script.exists() and not (conf / "kubesafe-backup-vars.yml").exists()
    removed_again = run_playbook("playbooks/schedule.yml", env, *args, "-e", "schedule_state=absent", cwd=str(work))
    assert "changed=0" in removed_again.stdout


def test_systemd_timer_units_in_a_directory(cluster, run_playbook, tmp_path):
    units, conf = tmp_path / "units", tmp_path / "conf"
    args = ["-e", "schedule_method=systemd", "-e", "schedule_systemd_dir=%s" % units, "-e", "schedule_config_dir=%s" % conf,
            "-e", "schedule_name=prod-nightly", "-e", '{"schedule_on_calendar": "*-*-* 03:15:00"}', "-e", "schedule_prune=false",
            "-e", '{"schedule_vars": {"backup_location": "s3://bucket/prod"}}']
    env = schedule_env(cluster)
    first = run_playbook("playbooks/schedule.yml", env, *args, cwd=str(tmp_path))
    assert "systemctl was not used (the directory is not the one the user manager reads)" in first.stdout
    timer = (units / "prod-nightly.timer").read_text()
    service = (units / "prod-nightly.service").read_text()
    assert "OnCalendar=*-*-* 03:15:00" in timer and "WantedBy=timers.target" in timer and "Persistent=true" in timer
    assert 'ExecStart="%s"' % (conf / "prod-nightly.sh") in service and "Type=oneshot" in service
    script = (conf / "prod-nightly.sh").read_text()
    assert "/backup.yml" in script and "/prune.yml" not in script  # schedule_prune=false

    again = run_playbook("playbooks/schedule.yml", env, *args, cwd=str(tmp_path))
    assert "changed=0" in again.stdout

    run_playbook("playbooks/schedule.yml", env, *args, "-e", "schedule_state=absent", cwd=str(tmp_path))
    assert sorted(os.listdir(units)) == [] and not (conf / "prod-nightly.sh").exists()


def test_bad_cron_times_are_refused(cluster, run_playbook, tmp_path):
    failed = run_playbook("playbooks/schedule.yml", schedule_env(cluster), "-e", '{"schedule_cron": "0 2 * *"}',
                          "-e", "schedule_config_dir=%s" % (tmp_path / "conf"), cwd=str(tmp_path), check=False)
    assert failed.returncode != 0 and "schedule_cron" in failed.stdout + failed.stderr and "five fields" in failed.stdout + failed.stderr
    assert not (tmp_path / "conf").exists()
