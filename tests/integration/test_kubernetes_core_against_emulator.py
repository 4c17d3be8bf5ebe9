"""kubernetes.core's k8s and k8s_info modules (a real client) against the emulator, through ansible-playbook."""

import pytest

pytestmark = pytest.mark.integration


def configmap(name, labels):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default", "labels": labels}, "data": {"key": "value"}}


def test_k8s_create_reapply_check_mode_and_selectors(cluster, ansible_playbook):
    plays = [{
        "hosts": "localhost",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "tasks": [
            {"name": "create", "kubernetes.core.k8s": {"state": "present", "definition": configmap("demo", {"app": "demo"})}, "register": "first"},
            {"name": "re-apply", "kubernetes.core.k8s": {"state": "present", "definition": configmap("demo", {"app": "demo"})}, "register": "second"},
            {"name": "check mode", "kubernetes.core.k8s": {"state": "present", "definition": configmap("preview", {"app": "demo"})},
             "check_mode": True, "register": "preview"},
            {"name": "query", "kubernetes.core.k8s_info": {"kind": "ConfigMap", "namespace": "default", "label_selectors": ["app=demo"]},
             "register": "info"},
            {"name": "query with set-based selector", "kubernetes.core.k8s_info": {"kind": "ConfigMap", "label_selectors": ["app notin (demo)"]},
             "register": "others"},
            {"ansible.builtin.assert": {"that": [
                "first is changed",
                "second is not changed",
                "preview is changed",
                "info.resources | map(attribute='metadata.name') | list == ['demo']",
                "'demo' not in (others.resources | map(attribute='metadata.name') | list)",
            ]}},
        ],
    }]
    ansible_playbook(plays, cluster.env())
    names = [o["metadata"]["name"] for o in cluster.control.dump() if o["kind"] == "ConfigMap" and o["metadata"].get("namespace") == "default"]
    assert "demo" in names and "preview" not in names
    writes = [r for r in cluster.control.audit() if r["verb"] in ("create", "update", "patch") and "preview" in r["path"]]
    assert writes == [] or all("dryRun=All" in r["path"] for r in writes)
