# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""KubesafeModule: the AnsibleModule every kubesafe.k8s module runs on.

It assembles the shared option groups, checks a feature's Python library only when the
task uses that feature, turns engine errors (KubesafeError) into a failed task that keeps
the result gathered so far, and reports warnings through AnsibleModule.warn. The engine
never imports this file: it is the one place where Ansible meets the engine.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from contextlib import contextmanager

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.ebs import BOTO3_IMPORT_ERROR, EBS_CONFIG_SPEC, HAS_BOTO3, ebs_client
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.encryption import (
    DECRYPTION_ARGUMENT_SPEC,
    ENCRYPTION_ARGUMENT_SPEC,
    HAS_PYRAGE,
    PYRAGE_IMPORT_ERROR,
    decryption_keys_from_params,
    encryption_settings_from_params,
)
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import KubesafeError
from ansible_collections.kubesafe.k8s.plugins.module_utils.hooks.pod_hooks import BACKUP_HOOKS_SPEC, RESTORE_HOOKS_SPEC
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.args import K8S_AUTH_ARGUMENT_SPEC, inline_kubeconfig_secrets
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import HAS_K8S, K8S_IMP_ERR, KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.role_messages import role_message, role_variable_names
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import LOCATION_ARGUMENT_SPEC
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.run_log import bounded_errors, partial_failure_message
from ansible_collections.kubesafe.k8s.plugins.module_utils.selection import SELECTION_ARGUMENT_SPEC
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.mover import FS_BACKUP_ARGUMENT_SPEC

# The shared option groups a module takes by name; each is documented by the doc fragment of the same concern.
ARGUMENT_SPEC_GROUPS = {
    "k8s_auth": K8S_AUTH_ARGUMENT_SPEC,
    "location": LOCATION_ARGUMENT_SPEC,
    "selection": SELECTION_ARGUMENT_SPEC,
    "encryption": ENCRYPTION_ARGUMENT_SPEC,
    "decryption": DECRYPTION_ARGUMENT_SPEC,
    "ebs": dict(ebs_config=dict(type="dict", options=EBS_CONFIG_SPEC)),
    "backup_hooks": dict(hooks=dict(type="list", elements="dict", options=BACKUP_HOOKS_SPEC)),
    "restore_hooks": dict(hooks=dict(type="list", elements="dict", options=RESTORE_HOOKS_SPEC)),
    "fs_backup": FS_BACKUP_ARGUMENT_SPEC,
}
# Constraints that come with a group.
GROUP_MUTUALLY_EXCLUSIVE = {"selection": [("label_selector", "or_label_selectors")]}


def assemble_argument_spec(argument_spec, groups):
    """The module's own options plus the options of each named group; an option defined twice is a programming error."""
    spec = dict(argument_spec or {})
    for group in groups:
        if group not in ARGUMENT_SPEC_GROUPS:
            raise ValueError("unknown argument spec group %r (known: %s)" % (group, ", ".join(sorted(ARGUMENT_SPEC_GROUPS))))
        clash = sorted(set(spec) & set(ARGUMENT_SPEC_GROUPS[group]))
        if clash:
            raise ValueError("option(s) %s of group %r are already defined" % (", ".join(clash), group))
        spec.update(ARGUMENT_SPEC_GROUPS[group])
    return spec


class KubesafeModule(AnsibleModule):
    """An AnsibleModule with the option groups ``groups`` (names of ARGUMENT_SPEC_GROUPS) added to ``argument_spec``.

    ``uses_cluster``: whether this task talks to the cluster (True, False, or a function of the params);
    the kubernetes library is required only then. boto3 is required for an s3:// location or a given
    ebs_config, pyrage for encryption or a decryption key; each is checked before any work starts.
    """

    def __init__(self, argument_spec=None, groups=(), uses_cluster=False, **kwargs):
        self.groups = tuple(groups)
        # A role running this module names its variables in failures and warnings (role_messages.py).
        self.role_variables = role_variable_names()
        mutually_exclusive = list(kwargs.pop("mutually_exclusive", None) or [])
        for group in self.groups:
            mutually_exclusive.extend(GROUP_MUTUALLY_EXCLUSIVE.get(group, []))
        kwargs.setdefault("supports_check_mode", True)
        super(KubesafeModule, self).__init__(argument_spec=assemble_argument_spec(argument_spec, self.groups),
                                             mutually_exclusive=mutually_exclusive or None, **kwargs)
        if "k8s_auth" in self.groups:
            # Only an inline kubeconfig's credentials are secret; its path is shown in messages.
            self.no_log_values.update(inline_kubeconfig_secrets(self.params.get("kubeconfig")))
        self.uses_cluster = bool(uses_cluster(self.params) if callable(uses_cluster) else uses_cluster)
        self.require_libraries()

    # Libraries, each required only when its feature is used.

    def libraries_needed(self):
        """(name, available, import error) of each library this task's options need."""
        params = self.params
        needed = []
        if self.uses_cluster:
            needed.append(("kubernetes", HAS_K8S, K8S_IMP_ERR))
        if "location" in self.groups and (params.get("location") or "").strip().startswith("s3://") \
                or "ebs" in self.groups and params.get("ebs_config") is not None:
            needed.append(("boto3", HAS_BOTO3, BOTO3_IMPORT_ERROR))
        if "encryption" in self.groups and (params.get("encryption") or "none") != "none" \
                or "decryption" in self.groups and any(params.get(option) for option in DECRYPTION_ARGUMENT_SPEC):
            needed.append(("pyrage", HAS_PYRAGE, PYRAGE_IMPORT_ERROR))
        return needed

    def require_libraries(self):
        for name, available, error in self.libraries_needed():
            if not available:
                self.fail_json(msg=missing_required_lib(name), exception=None if error is None else str(error))

    # The engine's inputs, built from the group options.

    def kube_client(self):
        """A KubeClient from the k8s_auth options (raises KubesafeError when they do not lead to a cluster)."""
        if not HAS_K8S:
            self.fail_json(msg=missing_required_lib("kubernetes"), exception=K8S_IMP_ERR)
        return KubeClient(**connection_options(self.params))

    def optional_kube_client(self):
        """A KubeClient, or None when the kubernetes library or a usable kubeconfig or host is missing (for optional checks)."""
        if not HAS_K8S:
            return None
        try:
            return KubeClient(**connection_options(self.params))
        except KubesafeError:
            return None

    @property
    def ebs_factory(self):
        """ebs_client, or None without boto3 (EBS volumes then get the engine's own message)."""
        return ebs_client if HAS_BOTO3 else None

    def ebs(self):
        """An EBS client for the ebs_config option, or None without boto3."""
        return ebs_client(self.params.get("ebs_config") or {}) if HAS_BOTO3 else None

    def encryption_settings(self):
        return encryption_settings_from_params(self.params)

    def decryption_keys(self):
        return decryption_keys_from_params(self.params)

    # Results.

    @contextmanager
    def failing_on_errors(self, **partial_result):
        """Runs the block; a KubesafeError fails the task with its message and ``partial_result``.

        The block may update the yielded dict as it learns more (the location's URL, ...).
        """
        try:
            yield partial_result
        except KubesafeError as exc:
            self.fail_json(msg=str(exc), **partial_result)

    def role_message(self, text):
        """``text`` naming the variables of the role running this module (unchanged without one)."""
        return role_message(text, self.role_variables)

    def fail_json(self, msg, **kwargs):
        super(KubesafeModule, self).fail_json(msg=self.role_message(msg), **kwargs)

    def warn(self, warning, **kwargs):
        super(KubesafeModule, self).warn(self.role_message(warning), **kwargs)

    def warn_all(self, warnings, limit=None, prefix=""):
        """Each warning through AnsibleModule.warn (never a ``warnings`` key of the result), the first ``limit`` only."""
        for warning in list(warnings)[:limit]:
            self.warn(prefix + warning)

    def exit_by_phase(self, kind, result, **output):
        """Ends a ``backup`` or ``restore`` task: a result that is not Completed fails it unless fail_on_partial is false.

        ``result`` (the backup or restore, part of ``output``) keeps a bounded list of errors.
        """
        failure = partial_failure_message(kind, result)
        result["errors"] = bounded_errors(result["errors"])
        if failure and self.params["fail_on_partial"]:
            self.fail_json(msg=failure, **output)
        if failure:
            self.warn(failure)
        self.exit_json(**output)
