"""Helm 3 release records as Helm's storage drivers write them, for tests of what reads their manifests."""

import base64
import gzip
import json


def release_payload(release, revision, namespace, manifest):
    """Helm's encoding of a release: base64 of gzip of the release JSON (pkg/storage/driver/util.go)."""
    body = {"name": release, "version": revision, "namespace": namespace, "manifest": manifest,
            "info": {"status": "deployed" if revision else "superseded"}, "chart": {"metadata": {"name": release}}}
    return base64.b64encode(gzip.compress(json.dumps(body).encode())).decode()


def release_secret(release, revision, namespace, manifest):
    """The Secret of Helm's default driver: data.release holds the payload (base64 again, as every Secret value)."""
    payload = release_payload(release, revision, namespace, manifest)
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {"name": "sh.helm.release.v1.%s.v%d" % (release, revision), "namespace": namespace,
                     "labels": {"name": release, "owner": "helm", "status": "deployed", "version": str(revision)}},
        "data": {"release": base64.b64encode(payload.encode()).decode()},
    }


def release_configmap(release, revision, namespace, manifest):
    """The ConfigMap of Helm's configmap driver (HELM_DRIVER=configmap): data.release is the payload itself."""
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "sh.helm.release.v1.%s.v%d" % (release, revision), "namespace": namespace,
                     "labels": {"name": release, "owner": "helm", "status": "deployed", "version": str(revision)}},
        "data": {"release": release_payload(release, revision, namespace, manifest)},
    }
