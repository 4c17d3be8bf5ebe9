# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hooks option of backups: commands run in pods around volume snapshots (backup and volume_snapshot)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # Must agree with BACKUP_HOOKS_SPEC in plugins/module_utils/hooks/pod_hooks.py.
    DOCUMENTATION = r"""
options:
  hooks:
    description:
      - Backup hooks for pods selected by namespace and labels, as Velero's C(spec.hooks.resources). A pod with hook
        annotations uses those instead (Velero's rule).
      - Hooks run only in pods that are backed up, through C(pods/exec); a pod that is not running fails its hooks.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the hook set, used in results and messages.
        type: str
        required: true
      included_namespaces:
        description: Namespaces whose pods get the hooks; globs allowed. All by default.
        type: list
        elements: str
      excluded_namespaces:
        description: Namespaces left out; globs allowed.
        type: list
        elements: str
      label_selector:
        description: Only pods matching this label selector.
        type: str
      pre:
        description: Commands before the pod's volumes are snapshotted, in order.
        type: list
        elements: dict
        suboptions:
          container:
            description: Container to run in; the pod's first container by default.
            type: str
          command:
            description: The command, as a list of arguments (or one string, a single argument).
            type: raw
            required: true
          on_error:
            description: C(Fail) stops the pod's remaining hooks and snapshots and makes the backup C(PartiallyFailed); C(Continue) warns.
            type: str
            choices: [Fail, Continue]
            default: Fail
          timeout:
            description: How long the command may run, as a Go duration; it counts as failed after that.
            type: str
            default: 30s
      post:
        description: Commands after the pod's volumes are snapshotted (also when a snapshot failed), in order.
        type: list
        elements: dict
        suboptions:
          container:
            description: Container to run in; the pod's first container by default.
            type: str
          command:
            description: The command, as a list of arguments (or one string, a single argument).
            type: raw
            required: true
          on_error:
            description: C(Fail) makes the backup C(PartiallyFailed); C(Continue) warns.
            type: str
            choices: [Fail, Continue]
            default: Fail
          timeout:
            description: How long the command may run, as a Go duration.
            type: str
            default: 30s
"""
