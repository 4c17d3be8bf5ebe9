"""kubesafe.k8s.role_variables (the roles' first task) and the role wording of module messages."""

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.kubesafe.k8s.plugins.action.role_variables import (
    UNSET, resolve_alias, role_defined_names, role_options, unknown_variables)
from ansible_collections.kubesafe.k8s.plugins.module_utils.role_messages import ROLE_VARIABLES_ENV, role_message, role_variable_names

ROLES = __import__("os").path.join(__import__("os").path.dirname(__file__), "..", "..", "roles")


def test_every_role_documents_its_variables():
    for role, prefix in (("backup", "backup_"), ("restore", "restore_"), ("prune", "prune_"), ("migrate", "migrate_"),
                         ("disaster_recovery", "dr_")):
        options = role_options("%s/%s" % (ROLES, role))
        assert options and all(name.startswith(prefix) or name == "backup" for name in options), role


def test_every_default_of_a_role_is_documented():
    """What a role defines, its argument specs document (the defaults are known to the check either way)."""
    for role in ("backup", "restore", "prune", "migrate", "disaster_recovery"):
        path = "%s/%s" % (ROLES, role)
        undocumented = {name for name in role_defined_names(path) if "__" not in name} - set(role_options(path))
        assert not undocumented, (role, undocumented)


def test_the_uniform_names_exist_in_each_role():
    """One name for one thing: <prefix>_location, _location_config, the mappings and the decryption keys."""
    expected = {
        "restore": ["restore_location", "restore_location_config", "restore_kubeconfig", "restore_context", "restore_namespace_mapping",
                    "restore_storage_class_mapping", "restore_decryption_identity", "restore_decryption_identity_file",
                    "restore_decryption_passphrase"],
        "prune": ["prune_location", "prune_location_config", "prune_kubeconfig", "prune_context"],
        "backup": ["backup_location", "backup_location_config", "backup_kubeconfig", "backup_context"],
        "migrate": ["migrate_location", "migrate_location_config", "migrate_source_kubeconfig", "migrate_source_context",
                    "migrate_target_kubeconfig", "migrate_target_context", "migrate_namespace_mapping", "migrate_storage_class_mapping",
                    "migrate_decryption_identity", "migrate_decryption_identity_file", "migrate_decryption_passphrase"],
        "disaster_recovery": ["dr_location", "dr_location_config", "dr_target_kubeconfig", "dr_target_context", "dr_namespace_mapping",
                              "dr_storage_class_mapping", "dr_decryption_identity", "dr_decryption_identity_file", "dr_decryption_passphrase"],
    }
    for role, names in expected.items():
        missing = set(names) - set(role_options("%s/%s" % (ROLES, role)))
        assert not missing, (role, missing)


def test_unknown_variables_get_the_closest_known_name():
    known = {"restore_namespace_mapping", "restore_names", "restore_result"}
    defined = ["restore_namespace_maping", "restore_names", "restore__location", "restore_hosts", "restore_zzz", "backup_x", "restore_result"]
    assert unknown_variables("restore_", defined, known, suggested={"restore_namespace_mapping", "restore_names"}) == [
        ("restore_namespace_maping", "restore_namespace_mapping"), ("restore_zzz", None)]


@pytest.mark.parametrize("old_value, new_value, expected, warned", [
    (UNSET, "./backups", "./backups", False),              # the alias not set
    ("s3://b/p", "./backups", "s3://b/p", True),           # only the alias set
    ("s3://b/p", "s3://b/p", "s3://b/p", True),            # both, equal
    ("./backups", "./backups", "./backups", False),        # another role's default, equal to ours
])
def test_a_deprecated_alias_resolves(old_value, new_value, expected, warned):
    value, deprecation = resolve_alias("restore", "backup_location", "restore_location", old_value, new_value, "./backups")
    assert value == expected and bool(deprecation) is warned
    if warned:
        assert deprecation == "backup_location is deprecated in the restore role: use restore_location"


def test_an_alias_and_its_new_name_that_disagree_are_refused():
    with pytest.raises(AnsibleActionFail, match="restore_location and backup_location are both set, to different values"):
        resolve_alias("restore", "backup_location", "restore_location", "s3://a", "s3://b", "./backups")


def test_module_messages_name_the_role_variables():
    names = {"kubeconfig": "restore_kubeconfig", "K8S_AUTH_KUBECONFIG": "K8S_AUTH_KUBECONFIG or KUBECONFIG", "context": "restore_context",
             "location": "restore_location", "namespace_mapping": "restore_namespace_mapping"}
    assert role_message("kubeconfig file /etc/kubeconfig does not exist (set by the kubeconfig option or K8S_AUTH_KUBECONFIG)", names) == (
        "restore_kubeconfig file /etc/kubeconfig does not exist (set by restore_kubeconfig or K8S_AUTH_KUBECONFIG or KUBECONFIG)")
    assert role_message("context 'b' is not in kubeconfig x.yaml; set context (K8S_AUTH_CONTEXT) to one of them", names) == (
        "restore_context 'b' is not in restore_kubeconfig x.yaml; set restore_context (K8S_AUTH_CONTEXT) to one of them")
    # Paths, URLs, file names and longer names are left alone.
    assert role_message("s3://location/backups and kubeconfig.yaml, backup_location, ./location", names) == (
        "s3://location/backups and kubeconfig.yaml, backup_location, ./location")
    assert role_message("namespace_mapping (target of shop): 'A' is not valid", names) == "restore_namespace_mapping (target of shop): 'A' is not valid"
    assert role_message("unchanged", {}) == "unchanged"


def test_the_names_come_from_the_environment_of_the_module_task():
    assert role_variable_names({ROLE_VARIABLES_ENV: '{"location": "prune_location", "same": "same"}'}) == {"location": "prune_location"}
    assert role_variable_names({ROLE_VARIABLES_ENV: "not json"}) == {} and role_variable_names({}) == {}
