"""pytest fixtures shared by unit and integration tests: the emulated cluster and the loopback S3 server.

S3 tests run against a real bucket endpoint when KUBESAFE_TEST_S3_ENDPOINT (and
AWS_*) are set. KUBESAFE_TEST_REAL_CLUSTER=1 makes the emulator-only tests skip.
"""

import os
import time
import uuid

import pytest

# Importing it makes ansible_collections.kubesafe.k8s importable.
from collection_path import COLLECTIONS_PATH

from kubesim.client import ControlClient
from kubesim.cluster import SAMPLE_FIXTURE, KubeSim

REAL_CLUSTER = os.environ.get("KUBESAFE_TEST_REAL_CLUSTER") == "1"


class EmulatedCluster:
    """A started emulator with its kubeconfig, as tests see it."""

    def __init__(self, sim, kubeconfig):
        self.sim = sim
        self.url = sim.url
        self.kubeconfig = kubeconfig
        self.control = ControlClient(sim.url, sim.certificates.ca_cert if sim.certificates else None)

    def api_client(self):
        from kubernetes import client, config  # pylint: disable=import-outside-toplevel
        return client.ApiClient(configuration=_load_configuration(config, self.kubeconfig))

    def service_account_kubeconfig(self, namespace, name, path=None):
        """A kubeconfig (next to the admin's unless ``path``) whose user is ServiceAccount ``namespace/name``, with a
        token from the TokenRequest API (serviceaccounts/token), as ``kubectl create token`` gets one."""
        from kubesim import kubeconfig  # pylint: disable=import-outside-toplevel
        from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import (  # pylint: disable=import-outside-toplevel
            KubeClient, connection_options)
        client = KubeClient(**connection_options({"kubeconfig": self.kubeconfig}))
        answer = client.request("POST", "/api/v1/namespaces/%s/serviceaccounts/%s/token" % (namespace, name),
                                body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}})
        path = path or os.path.join(os.path.dirname(self.kubeconfig), "kubeconfig-%s-%s" % (namespace, name))
        ca_cert = self.sim.certificates.ca_cert if self.sim.certificates else None
        return kubeconfig.write_kubeconfig(path, self.url, ca_cert=ca_cert, token=answer["status"]["token"])

    def lose_namespaces(self, *namespaces):
        """The disaster: delete ``namespaces`` and wait until they and everything in them are gone."""
        from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import (  # pylint: disable=import-outside-toplevel
            KubeClient, connection_options)
        client = KubeClient(**connection_options({"kubeconfig": self.kubeconfig}))
        for namespace in namespaces:
            client.request("DELETE", "/api/v1/namespaces/" + namespace)
        deadline = time.monotonic() + 120  # generous: a loaded machine with several test workers

        def left():
            return [o for o in self.control.dump() if o["metadata"].get("namespace") in namespaces or
                    (o["kind"] == "Namespace" and o["metadata"]["name"] in namespaces)]
        while left():
            assert time.monotonic() < deadline, "namespaces %s not gone after 120 s: %d objects left" % (namespaces, len(left()))
            time.sleep(0.1)

    def claim_volume_handle(self, namespace, claim):
        """The volume backend's handle of the volume bound to a claim (claim -> PV -> csi.volumeHandle, EBS volumeID, nfs/hostPath/local path).

        Fails the test when the claim is missing, unbound, or its PV is of a kind the backend does not hold.
        """
        from kubesim.pod_volumes import find_object  # pylint: disable=import-outside-toplevel
        from kubesim.volume_backend import persistent_volume_handle  # pylint: disable=import-outside-toplevel
        found = find_object(self.sim, "persistentvolumeclaims", namespace, claim)
        assert found is not None, "no claim %s/%s" % (namespace, claim)
        volume_name = (found.get("spec") or {}).get("volumeName")
        assert volume_name, "claim %s/%s is not bound (spec.volumeName is empty)" % (namespace, claim)
        handle = persistent_volume_handle(find_object(self.sim, "persistentvolumes", None, volume_name))
        assert handle, "persistentvolume %s of claim %s/%s has no volume in the backend" % (volume_name, namespace, claim)
        return handle

    def claim_files(self, namespace, claim):
        """The file tree of the volume bound to a claim: {relative path: (mode, data)} (kubesim.volume_backend explains the shape)."""
        handle = self.claim_volume_handle(namespace, claim)
        self.sim.volume_backend.ensure_volume(handle)
        return self.sim.volume_backend.volume_files(handle)

    def write_claim_files(self, namespace, claim, files):
        """Replace the content of the volume bound to a claim with ``files`` ({relative path: (mode, data)}); answers the handle."""
        handle = self.claim_volume_handle(namespace, claim)
        self.sim.volume_backend.put_volume_files(handle, files)
        return handle

    def env(self, with_kubeconfig=True):
        """Environment for a subprocess (kubectl, ansible-playbook) that should talk to this cluster.

        with_kubeconfig=False: no KUBECONFIG / K8S_AUTH_KUBECONFIG at all, for plays that name each cluster's kubeconfig.
        """
        env = dict(os.environ)
        for variable in ("KUBECONFIG", "K8S_AUTH_KUBECONFIG"):
            if with_kubeconfig:
                env[variable] = self.kubeconfig
            else:
                env.pop(variable, None)
        env["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join([COLLECTIONS_PATH, env.get("ANSIBLE_COLLECTIONS_PATH", "")]).rstrip(os.pathsep)
        return env


def _load_configuration(config, kubeconfig):
    from kubernetes import client  # pylint: disable=import-outside-toplevel
    configuration = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    return configuration


@pytest.fixture
def kubesim_factory(tmp_path):
    """Start emulators on demand: ``kubesim_factory(sample=True, token=..., use_tls=..., authorization="rbac")``."""
    started = []

    def start(sample=False, name=None, **options):
        if REAL_CLUSTER:
            pytest.skip("this test needs an emulated cluster")
        sim = KubeSim(**options)
        directory = tmp_path / (name or "cluster-%d" % len(started))
        directory.mkdir()
        sim.start(state_dir=str(directory / "pki"))
        started.append(sim)
        if sample:
            sim.seed_file(SAMPLE_FIXTURE)
            sim.settle(30)
        kubeconfig = sim.write_kubeconfig(str(directory / "kubeconfig"))
        return EmulatedCluster(sim, kubeconfig)

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def cluster(kubesim_factory):
    """A fresh, empty emulated cluster (system namespaces only)."""
    return kubesim_factory()


@pytest.fixture
def sample_cluster(kubesim_factory):
    """A fresh emulated cluster holding the sample workloads, settled."""
    return kubesim_factory(sample=True)


@pytest.fixture(scope="session")
def s3_endpoint():
    """URL of a real S3 endpoint: moto's server on 127.0.0.1, or KUBESAFE_TEST_S3_ENDPOINT."""
    if os.environ.get("KUBESAFE_TEST_S3_ENDPOINT"):
        yield os.environ["KUBESAFE_TEST_S3_ENDPOINT"]
        return
    from moto.server import ThreadedMotoServer  # pylint: disable=import-outside-toplevel
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield "http://%s:%d" % (host, port)
    server.stop()


@pytest.fixture
def s3_credentials(monkeypatch):
    """Static credentials moto accepts; a real run keeps the caller's AWS_* variables."""
    if not os.environ.get("KUBESAFE_TEST_S3_ENDPOINT"):
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.delenv("AWS_PROFILE", raising=False)
    return {key: os.environ[key] for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION") if key in os.environ}


@pytest.fixture
def s3_bucket(s3_endpoint, s3_credentials):
    """A new, empty bucket on the S3 endpoint: (boto3 client, bucket name)."""
    import boto3  # pylint: disable=import-outside-toplevel
    del s3_credentials
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    bucket = "kubesafe-test-%s" % uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=bucket)
    yield s3, bucket
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket):
        for version in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
    s3.delete_bucket(Bucket=bucket)


@pytest.fixture
def ec2_endpoint(s3_endpoint, s3_credentials):
    """URL of EC2 on the loopback moto server (the one behind s3_endpoint), with its credentials in AWS_*.

    EC2 tests create volumes and snapshots, so they never run against a real account: they skip
    when KUBESAFE_TEST_S3_ENDPOINT points the S3 tests elsewhere.
    """
    del s3_credentials
    if os.environ.get("KUBESAFE_TEST_S3_ENDPOINT"):
        pytest.skip("EC2 tests need the loopback moto server, not KUBESAFE_TEST_S3_ENDPOINT")
    return s3_endpoint
