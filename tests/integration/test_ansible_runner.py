"""backup.yml, restore.yml and dr.yml run as AWX runs a job: through ansible-runner, with only what our credential types inject.

The cluster reaches the job through docs/awx/credential-type-kubeconfig.yml (K8S_AUTH_KUBECONFIG, and
K8S_AUTH_CONTEXT="" for an empty Context field), the age keys through docs/awx/credential-type-age.yml
(extra vars in an ``-e @file``), S3 through AWX's Amazon Web Services credential (AWS_*); the job
template's extra vars name the location. AWX reads a job's outcome from the runner's status and rc, and
passes set_stats data on to the next workflow step from the artifact_data of the playbook_on_stats event.
"""

import json
import os
import sys

import ansible_runner
import pyrage
import pytest

from awx_credentials import aws_environment, inject, load_credential_type
from collection_path import COLLECTIONS_PATH, REPO

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options

pytestmark = pytest.mark.integration

BIN = os.path.dirname(sys.executable)
KUBECONFIG_CREDENTIAL = load_credential_type(os.path.join(REPO, "docs", "awx", "credential-type-kubeconfig.yml"))
AGE_CREDENTIAL = load_credential_type(os.path.join(REPO, "docs", "awx", "credential-type-age.yml"))


@pytest.fixture
def awx_job(tmp_path, monkeypatch):
    """``awx_job(playbook, credentials, extravars, env)``: one job, its credentials injected as AWX injects them; the runner."""
    for name in list(os.environ):
        if name.startswith(("KUBECONFIG", "K8S_AUTH_", "AWS_")):
            monkeypatch.delenv(name)
    jobs = []

    def run(playbook, credentials=(), extravars=None, env=None):
        private_data_dir = tmp_path / ("job-%d" % (len(jobs) + 1))
        private_data_dir.mkdir()
        envvars = {"PATH": BIN + os.pathsep + os.environ["PATH"], "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS_PATH,
                   "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCALHOST_WARNING": "False"}
        cmdline = []
        for credential_type, inputs in credentials:
            injected, args = inject(credential_type, inputs, str(private_data_dir))
            envvars.update(injected)
            cmdline.extend(args)
        envvars.update(env or {})
        runner = ansible_runner.run(private_data_dir=str(private_data_dir), project_dir=REPO, playbook=playbook,
                                    inventory={"all": {"hosts": {"localhost": {"ansible_connection": "local"}}}},
                                    envvars=envvars, extravars=extravars or {}, cmdline=" ".join(cmdline), quiet=True)
        jobs.append(runner)
        return runner
    return run


def artifact_data(runner):
    """The set_stats data AWX hands to the next workflow node."""
    stats = [event for event in runner.events if event["event"] == "playbook_on_stats"]
    assert len(stats) == 1, [event["event"] for event in runner.events][-5:]
    return stats[0]["event_data"]["artifact_data"]


def stdout(runner):
    return runner.stdout.read()


def deprecation_warnings(runner):
    """Ansible's [DEPRECATION WARNING]s and Python's DeprecationWarnings in the job output (which holds stderr too).

    cryptography's warning about DSA, raised by ansible-core's own import of it, is not ours.
    """
    lines = stdout(runner).splitlines()
    return [line for index, line in enumerate(lines) if ("[DEPRECATION WARNING]" in line or "DeprecationWarning" in line)
            and "CryptographyDeprecationWarning" not in line and "CryptographyDeprecationWarning" not in lines[index - 1]]


def kubeconfig_credential(cluster):
    """AWX's kubeconfig credential as most users fill it in: the file's content, Context left empty."""
    with open(cluster.kubeconfig, encoding="utf-8") as stream:
        return (KUBECONFIG_CREDENTIAL, {"kubeconfig": stream.read(), "context": ""})


def s3_job_settings(s3_bucket, s3_endpoint, s3_credentials, prefix):
    """(AWS credential env, location extra vars) of a job template that backs up to the loopback S3 bucket."""
    bucket = s3_bucket[1]
    config = {"endpoint_url": s3_endpoint, "force_path_style": True, "region": "us-east-1"}
    return (aws_environment(s3_credentials["AWS_ACCESS_KEY_ID"], s3_credentials["AWS_SECRET_ACCESS_KEY"]),
            "s3://%s/%s" % (bucket, prefix), config)


def secret_data(cluster, namespace):
    return {o["metadata"]["name"]: o.get("data") for o in cluster.control.dump()
            if o["kind"] == "Secret" and o["metadata"].get("namespace") == namespace and o.get("type") != "kubernetes.io/service-account-token"}


def test_backup_and_restore_jobs_with_the_awx_credentials(sample_cluster, awx_job, s3_bucket, s3_endpoint, s3_credentials):
    aws, location, config = s3_job_settings(s3_bucket, s3_endpoint, s3_credentials, "awx")
    identity = pyrage.x25519.Identity.generate()
    secrets_before = secret_data(sample_cluster, "shop")
    assert secrets_before

    # The backup template holds only the public key: the identity field is left empty.
    backup = awx_job("playbooks/backup.yml",
                     credentials=[kubeconfig_credential(sample_cluster), (AGE_CREDENTIAL, {"recipients": str(identity.to_public()), "identity": ""})],
                     extravars={"backup_location": location, "backup_location_config": config, "backup_name": "nightly-1",
                                "backup_encryption": "secrets", "backup_included_namespaces": "shop,payments"},
                     env=aws)
    assert (backup.status, backup.rc) == ("successful", 0), stdout(backup)[-3000:]
    assert backup.stats["failures"] == {} and backup.stats["ok"]["localhost"] > 0
    published = artifact_data(backup)["kubesafe_backups"]["localhost"]
    assert published["name"] == "nightly-1" and published["phase"] == "Completed"
    assert published["location"] == location and published["items_backed_up"] > 0
    assert published["resource_counts"]
    assert deprecation_warnings(backup) == []
    s3, bucket = s3_bucket
    marker = json.loads(s3.get_object(Bucket=bucket, Key="awx/backups/nightly-1/velero-backup.json")["Body"].read())
    assert marker["status"]["phase"] == "Completed"

    sample_cluster.lose_namespaces("shop")

    # The restore template: the same location, the cluster, and the identity from the age credential.
    restore = awx_job("playbooks/restore.yml",
                      credentials=[kubeconfig_credential(sample_cluster), (AGE_CREDENTIAL, {"recipients": "", "identity": str(identity)})],
                      extravars={"backup": "nightly-1", "restore_location": location, "restore_location_config": config,
                                 "restore_included_namespaces": "shop"},
                      env=aws)
    assert (restore.status, restore.rc) == ("successful", 0), stdout(restore)[-3000:]
    published = artifact_data(restore)["kubesafe_restore"]
    assert published["backup"] == "nightly-1" and published["phase"] == "Completed" and published["errors"] == 0
    assert published["totals"]["create"] > 0
    assert deprecation_warnings(restore) == []
    # The Secrets were encrypted to the recipient: they are back with their values, decrypted with the injected identity.
    assert secret_data(sample_cluster, "shop") == secrets_before


def test_a_restore_job_without_the_identity_fails(sample_cluster, awx_job, tmp_path):
    """An age credential with an empty Identity injects no identity file: the restore names what is missing."""
    identity = pyrage.x25519.Identity.generate()
    location = str(tmp_path / "loc")
    backup = awx_job("playbooks/backup.yml", credentials=[kubeconfig_credential(sample_cluster)],
                     extravars={"backup_location": location, "backup_name": "enc", "backup_encryption": "secrets",
                                "backup_encryption_recipients": str(identity.to_public()), "backup_included_namespaces": "shop"})
    assert backup.status == "successful", stdout(backup)[-3000:]
    restore = awx_job("playbooks/restore.yml",
                      credentials=[kubeconfig_credential(sample_cluster), (AGE_CREDENTIAL, {"recipients": "", "identity": ""})],
                      extravars={"backup": "enc", "restore_location": location, "restore_namespace_mapping": {"shop": "shop-copy"}})
    assert (restore.status, restore.rc) == ("failed", 2)
    # Not "decryption_identity_file /tmp/... holds no age identity": no file AWX wrote for an empty field is named.
    assert "'enc' is encrypted" in stdout(restore) and "holds no age identity" not in stdout(restore)
    assert "kubesafe_restore" not in artifact_data(restore)


def test_a_partially_failed_backup_ends_as_a_failed_job(kubesim_factory, awx_job, tmp_path):
    cluster = kubesim_factory(sample=True)
    cluster.control.add_fault(action="status", status=403, verbs=["list"], resources=["secrets"])
    location = tmp_path / "loc"
    backup = awx_job("playbooks/backup.yml", credentials=[kubeconfig_credential(cluster)],
                     extravars={"backup_location": str(location), "backup_name": "partial"})
    assert (backup.status, backup.rc) == ("failed", 2)
    assert backup.stats["failures"] == {"localhost": 1}
    assert "PartiallyFailed" in stdout(backup) and "secrets" in stdout(backup)
    assert "kubesafe_backups" not in artifact_data(backup)


def test_dr_job_with_the_awx_credentials(sample_cluster, kubesim_factory, awx_job, s3_bucket, s3_endpoint, s3_credentials, tmp_path):
    aws, location, config = s3_job_settings(s3_bucket, s3_endpoint, s3_credentials, "prod")
    identity = pyrage.x25519.Identity.generate()
    backup = awx_job("playbooks/backup.yml",
                     credentials=[kubeconfig_credential(sample_cluster), (AGE_CREDENTIAL, {"recipients": str(identity.to_public())})],
                     extravars={"backup_location": location, "backup_location_config": config, "backup_name": "prod-1",
                                "backup_encryption": "all", "backup_included_namespaces": "shop"},
                     env=aws)
    assert backup.status == "successful", stdout(backup)[-3000:]

    # The DR template: the DR cluster's kubeconfig credential, the age identity, the AWS credential.
    dr_cluster = kubesim_factory(name="dr")
    KubeClient(**connection_options({"kubeconfig": dr_cluster.kubeconfig})).request(
        "POST", "/apis/storage.k8s.io/v1/storageclasses",
        body={"metadata": {"name": "standard"}, "provisioner": "ebs.csi.aws.com", "volumeBindingMode": "Immediate"})
    dr = awx_job("playbooks/dr.yml",
                 credentials=[kubeconfig_credential(dr_cluster), (AGE_CREDENTIAL, {"identity": str(identity)})],
                 extravars={"dr_location": location, "dr_location_config": config, "dr_report_dir": str(tmp_path / "reports"),
                            "dr_wait_timeout": 60},
                 env=aws)
    assert (dr.status, dr.rc) == ("successful", 0), stdout(dr)[-3000:]
    report = artifact_data(dr)["kubesafe_dr_report"]
    assert report["backup"] == "prod-1" and report["complete"] is True and report["errors"] == []
    deployments = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in dr_cluster.control.dump() if o["kind"] == "Deployment"}
    assert ("shop", "web") in deployments
    assert deprecation_warnings(dr) == []


def test_migrate_job_decrypts_with_the_age_credential(sample_cluster, kubesim_factory, awx_job, tmp_path):
    """The source cluster from the kubeconfig credential, the target's kubeconfig a path in the job's extra vars."""
    identity = pyrage.x25519.Identity.generate()
    target = kubesim_factory(name="target")
    KubeClient(**connection_options({"kubeconfig": target.kubeconfig})).request(
        "POST", "/apis/storage.k8s.io/v1/storageclasses",
        body={"metadata": {"name": "standard"}, "provisioner": "ebs.csi.aws.com", "volumeBindingMode": "Immediate"})
    migrate = awx_job("playbooks/migrate.yml",
                      credentials=[kubeconfig_credential(sample_cluster),
                                   (AGE_CREDENTIAL, {"recipients": str(identity.to_public()), "identity": str(identity)})],
                      extravars={"migrate_target_kubeconfig": target.kubeconfig, "migrate_location": str(tmp_path / "loc"),
                                 "migrate_name": "move-1", "migrate_included_namespaces": "shop", "backup_encryption": "secrets",
                                 "migrate_wait_timeout": 60})
    assert (migrate.status, migrate.rc) == ("successful", 0), stdout(migrate)[-3000:]
    manifest = json.loads((tmp_path / "loc" / "backups" / "move-1" / "move-1-manifest.json").read_text())
    assert manifest["encryption"]["mode"] == "secrets" and manifest["encryption"]["recipients"] == [str(identity.to_public())]
    assert secret_data(target, "shop") == secret_data(sample_cluster, "shop")
