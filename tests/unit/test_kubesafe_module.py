"""KubesafeModule, the AnsibleModule of every kubesafe.k8s module: option groups, library checks, errors and warnings."""

import json

import pytest
from ansible.module_utils import _internal as ansible_internal
from ansible.module_utils.common import warnings as ansible_warnings
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kubesafe.k8s.plugins.module_utils import kubesafe_module
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError, KubesafeError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kubesafe_module import KubesafeModule, assemble_argument_spec
from ansible_collections.kubesafe.k8s.plugins.modules import prune


@pytest.fixture(autouse=True)
def no_earlier_warnings(monkeypatch):
    """Warnings and deprecations are process-wide in AnsibleModule: each test starts with none.

    Once a test has loaded controller code (ansible.plugins), warn() writes to the display instead of the
    result: these tests run as a module does, on the target.
    """
    monkeypatch.setattr(ansible_internal, "is_controller", False, raising=False)
    monkeypatch.setattr(ansible_warnings, "_global_warnings", {})
    monkeypatch.setattr(ansible_warnings, "_global_deprecations", {})


def messages(entries):
    """The text of each returned warning (ansible-core returns a dict per warning, older versions a string)."""
    return [entry["event"]["msg"] if isinstance(entry, dict) else entry for entry in entries]


def run(capsys, args, body=None, **module_options):
    """Runs a KubesafeModule with ``args``, then ``body(module)`` (which must end the task); returns its JSON result."""
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module = KubesafeModule(**module_options)
            (body or (lambda module: module.exit_json(changed=False)))(module)
    return json.loads(capsys.readouterr().out)


# ---------------------------------------------------------------- option groups

def test_groups_add_their_options_to_the_modules_own():
    spec = assemble_argument_spec(dict(name=dict(type="str")), ("k8s_auth", "location", "selection", "decryption", "ebs",
                                                                "restore_hooks"))
    for option in ("name", "kubeconfig", "context", "location", "location_config", "included_namespaces", "label_selector",
                   "decryption_identity", "ebs_config", "hooks"):
        assert option in spec
    assert "encryption" not in spec and "region" in spec["ebs_config"]["options"]


def test_an_option_defined_twice_or_an_unknown_group_is_refused():
    with pytest.raises(ValueError, match="location.*already defined"):
        assemble_argument_spec(dict(location=dict(type="str")), ("location",))
    with pytest.raises(ValueError, match="unknown argument spec group 'locations'"):
        assemble_argument_spec({}, ("locations",))


def test_the_selection_group_brings_its_exclusive_options(capsys, tmp_path):
    result = run(capsys, {"label_selector": "a=b", "or_label_selectors": ["c=d"]}, groups=("selection",))
    assert result["failed"] and "mutually exclusive" in result["msg"] and "label_selector" in result["msg"]
    result = run(capsys, {"label_selector": "a=b"}, groups=("selection",))
    assert not result.get("failed") and result["invocation"]["module_args"]["included_namespaces"] == ["*"]


# ---------------------------------------------------------------- libraries, only when used

def test_kubernetes_is_required_only_when_the_task_talks_to_the_cluster(capsys, monkeypatch):
    monkeypatch.setattr(kubesafe_module, "HAS_K8S", False)
    result = run(capsys, {}, groups=("k8s_auth",), uses_cluster=True)
    assert result["failed"] and "kubernetes" in result["msg"] and "Failed to import" in result["msg"]
    assert not run(capsys, {}, groups=("k8s_auth",)).get("failed")
    spec = dict(restore_check=dict(type="bool", default=False))
    assert not run(capsys, {}, argument_spec=spec, groups=("k8s_auth",), uses_cluster=lambda params: params["restore_check"]).get("failed")
    assert run(capsys, {"restore_check": True}, argument_spec=spec, groups=("k8s_auth",),
               uses_cluster=lambda params: params["restore_check"])["failed"]


def test_without_kubernetes_an_optional_cluster_is_none(capsys, monkeypatch):
    monkeypatch.setattr(kubesafe_module, "HAS_K8S", False)
    seen = []
    run(capsys, {}, lambda module: (seen.append(module.optional_kube_client()), module.exit_json()), groups=("k8s_auth",))
    assert seen == [None]


def test_an_unusable_kubeconfig_gives_no_optional_cluster(capsys, tmp_path):
    seen = []
    run(capsys, {"kubeconfig": str(tmp_path / "missing")},
        lambda module: (seen.append(module.optional_kube_client()), module.exit_json()), groups=("k8s_auth",))
    assert seen == [None]


def test_boto3_is_required_for_s3_locations_and_ebs_config_only(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(kubesafe_module, "HAS_BOTO3", False)
    assert not run(capsys, {"location": str(tmp_path)}, groups=("location", "ebs")).get("failed")
    for args in ({"location": "s3://bucket/prefix"}, {"location": str(tmp_path), "ebs_config": {"region": "eu-west-1"}}):
        result = run(capsys, args, groups=("location", "ebs"))
        assert result["failed"] and "boto3" in result["msg"]
    seen = []
    run(capsys, {}, lambda module: (seen.append((module.ebs_factory, module.ebs())), module.exit_json()), groups=("ebs",))
    assert seen == [(None, None)]


def test_pyrage_is_required_for_encryption_or_decryption_keys_only(capsys, monkeypatch):
    monkeypatch.setattr(kubesafe_module, "HAS_PYRAGE", False)
    assert not run(capsys, {}, groups=("encryption", "decryption")).get("failed")
    for args in ({"encryption": "secrets", "encryption_passphrase": "x" * 20}, {"decryption_passphrase": "secret"},
                 {"decryption_identity": "AGE-SECRET-KEY-1"}):
        result = run(capsys, args, groups=("encryption", "decryption"))
        assert result["failed"] and "pyrage" in result["msg"], args


def test_the_library_check_comes_before_the_modules_own_checks(capsys, monkeypatch):
    monkeypatch.setattr(kubesafe_module, "HAS_BOTO3", False)
    result = run(capsys, {"location": "s3://bucket", "include_contents": True},
                 lambda module: module.fail_json(msg="include_contents needs name"),
                 argument_spec=dict(include_contents=dict(type="bool")), groups=("location",))
    assert "boto3" in result["msg"]


# ---------------------------------------------------------------- errors and results

def test_an_engine_error_fails_the_task_with_its_message_and_the_partial_result(capsys, tmp_path):
    def body(module):
        with module.failing_on_errors(ok=False, location=module.params["location"], backups=[]) as partial:
            partial["location"] = "file://" + module.params["location"]
            raise ConfigurationError("name: 'Bad_Name' is not a valid backup name")
    result = run(capsys, {"location": str(tmp_path)}, body, groups=("location",))
    assert result["failed"] and result["msg"] == "name: 'Bad_Name' is not a valid backup name"
    assert result["ok"] is False and result["backups"] == [] and result["location"] == "file://%s" % tmp_path


def test_other_exceptions_are_not_turned_into_a_result(capsys):
    def body(module):
        with module.failing_on_errors():
            raise KeyError("a bug")
    with patch_module_args({}):
        with pytest.raises(KeyError):
            body(KubesafeModule())


def test_an_engine_error_from_the_cluster_options(capsys, tmp_path):
    def body(module):
        with module.failing_on_errors(phase="Failed"):
            module.kube_client()
    result = run(capsys, {"kubeconfig": str(tmp_path / "missing")}, body, groups=("k8s_auth",), uses_cluster=True)
    assert result["failed"] and result["phase"] == "Failed" and "kubeconfig" in result["msg"]
    assert issubclass(ConfigurationError, KubesafeError)


def test_a_missing_kubeconfig_file_is_named_in_the_message(capsys, tmp_path):
    """A path is no secret: "kubeconfig file ******** does not exist" told the user nothing."""
    missing = str(tmp_path / "clusters" / "prod.yaml")

    def body(module):
        with module.failing_on_errors():
            module.kube_client()
    result = run(capsys, {"kubeconfig": missing}, body, groups=("k8s_auth",), uses_cluster=True)
    assert "kubeconfig file %s does not exist" % missing in result["msg"], result["msg"]
    assert result["invocation"]["module_args"]["kubeconfig"] == missing


def test_an_inline_kubeconfig_keeps_its_credentials_out_of_the_result(capsys):
    kubeconfig = {"apiVersion": "v1", "clusters": [{"name": "prod", "cluster": {"server": "https://prod.example.com"}}],
                  "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "admin"}}], "current-context": "prod",
                  "users": [{"name": "admin", "user": {"token": "s3cr3t-token-value", "exec": {"env": [{"name": "X", "value": "hidden-value"}]}}}]}

    def body(module):
        module.exit_json(changed=False, echo="token s3cr3t-token-value, server https://prod.example.com")
    result = run(capsys, {"kubeconfig": kubeconfig}, body, groups=("k8s_auth",))
    text = json.dumps(result)
    assert "s3cr3t-token-value" not in text and "hidden-value" not in text
    assert "https://prod.example.com" in result["echo"]


def test_a_role_running_the_module_gets_its_variables_named(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBESAFE_ROLE_VARIABLES", '{"kubeconfig": "prune_kubeconfig", "location": "prune_location"}')
    missing = str(tmp_path / "prod.yaml")

    def body(module):
        module.warn("check location")
        with module.failing_on_errors():
            module.kube_client()
    result = run(capsys, {"kubeconfig": missing}, body, groups=("k8s_auth",), uses_cluster=True)
    assert result["msg"].startswith("prune_kubeconfig file %s does not exist (set by prune_kubeconfig or K8S_AUTH_KUBECONFIG)" % missing)
    assert messages(result["warnings"]) == ["check prune_location"]


@pytest.mark.parametrize("fail_on_partial", [True, False])
def test_a_result_that_is_not_completed_fails_unless_fail_on_partial_is_false(capsys, fail_on_partial):
    errors = ["Pod shop/web-%d: forbidden" % number for number in range(130)]

    def body(module):
        restore = {"name": "r1", "phase": "PartiallyFailed", "errors": list(errors)}
        module.exit_by_phase("restore", restore, changed=True, restore=restore)
    result = run(capsys, {"fail_on_partial": fail_on_partial}, body, argument_spec=dict(fail_on_partial=dict(type="bool")))
    message = result["msg"] if fail_on_partial else messages(result["warnings"])[-1]
    assert bool(result.get("failed")) is fail_on_partial and result["changed"]
    assert message.startswith("restore 'r1' is PartiallyFailed: 130 error(s), first ones: Pod shop/web-0: forbidden")
    assert message.endswith("Set fail_on_partial: false to accept a restore that is not Completed")
    assert len(result["restore"]["errors"]) < len(errors) and "more errors" in result["restore"]["errors"][-1]


def test_a_completed_result_exits_unchanged(capsys):
    def body(module):
        backup = {"name": "b1", "phase": "Completed", "errors": []}
        module.exit_by_phase("backup", backup, changed=True, backup=backup)
    result = run(capsys, {"fail_on_partial": True}, body, argument_spec=dict(fail_on_partial=dict(type="bool")))
    assert not result.get("failed") and "warnings" not in result and result["backup"]["phase"] == "Completed"


# ---------------------------------------------------------------- warnings

def test_warnings_go_through_warn_with_a_limit_and_a_prefix(capsys):
    result = run(capsys, {}, lambda module: (module.warn_all(["one", "two", "three"], limit=2, prefix="b1: "), module.exit_json()))
    assert messages(result["warnings"]) == ["b1: one", "b1: two"] and "deprecations" not in result


def test_prune_passes_no_warnings_key_to_exit_json(capsys, tmp_path):
    """ansible-core deprecates a ``warnings`` key in exit_json; prune used to pass one on every run."""
    with patch_module_args({"location": str(tmp_path)}):
        with pytest.raises(SystemExit):
            prune.main()
    result = json.loads(capsys.readouterr().out)
    assert not result.get("failed") and result["deleted"] == []
    assert "Passing `warnings`" not in json.dumps(result.get("deprecations", []))
