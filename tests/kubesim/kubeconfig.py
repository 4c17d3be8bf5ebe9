"""kubeconfig files pointing real clients (kubectl, the kubernetes package, Ansible modules) at the emulator."""

import os

import yaml


def kubeconfig_document(server, context="kubesim", ca_cert=None, token=None, client_cert=None, client_key=None):
    cluster = {"server": server}
    if ca_cert:
        cluster["certificate-authority"] = ca_cert
    user = {}
    if token:
        user["token"] = token
    if client_cert and client_key:
        user["client-certificate"] = client_cert
        user["client-key"] = client_key
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": cluster}],
        "users": [{"name": context, "user": user}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": "default"}}],
        "current-context": context,
        "preferences": {},
    }


def write_kubeconfig(path, server, **kwargs):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as stream:
        yaml.safe_dump(kubeconfig_document(server, **kwargs), stream, default_flow_style=False)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return path
