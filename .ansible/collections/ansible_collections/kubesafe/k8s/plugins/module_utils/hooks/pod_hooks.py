# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Velero's pod hooks: commands run in pods around a backup, init containers and commands after a restore.

Backup hooks come from a pod's annotations (``pre.hook.backup.velero.io/...``,
``post.hook.backup.velero.io/...``, and the legacy ``hook.backup.velero.io/...``
for pre) or from the ``hooks`` option (namespaces and a label selector pick
the pods). As in Velero, a pod with a command annotation for the phase runs
that hook only and no option hook.

Restore hooks come from ``post.hook.restore.velero.io/...`` and
``init.hook.restore.velero.io/...`` annotations or the restore module's
``hooks`` option: init containers are put into the pod before it is created, exec hooks
run once their container is up.

on_error Fail: a failed hook stops the hooks after it (``HookRun.fatal``), and
the caller fails the pod's backup or the restore. on_error Continue: the
failure is a warning. Backup hooks default to Fail, restore hooks to Continue.
Timeouts: 30s per command by default; the wait for a restored container is
bounded by its hook's wait_timeout, or by the caller's default, so a restore
never waits forever.

Velero runs a command annotation that is not valid JSON as one string; here it
is a failed hook whose error names the annotation, since such a command would
not run anyway.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import json
import time
import uuid

from urllib.parse import quote

from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError, KubesafeError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import ApiError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.pod_exec import exec_in_pod
from ansible_collections.kubesafe.k8s.plugins.module_utils.selection import LabelSelector, NamespaceFilter
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.velero_format import (
    format_go_duration,
    label_selector_to_dict,
    label_selector_to_string,
    parse_go_duration,
)

ON_ERROR_MODES = ("Fail", "Continue")
BACKUP_PHASES = ("pre", "post")
RESTORE_PHASE = "restore"
DEFAULT_EXEC_TIMEOUT = "30s"
DEFAULT_EXEC_TIMEOUT_SECONDS = 30.0
# Used when run_restore_post_hooks gets no default: the wait must end somewhere.
FALLBACK_WAIT_TIMEOUT_SECONDS = 600.0
WAIT_POLL_SECONDS = 0.5
ANNOTATION_SOURCE = "annotation"

BACKUP_ANNOTATION_KEY = "hook.backup.velero.io/"
RESTORE_EXEC_ANNOTATION_PREFIX = "post.hook.restore.velero.io/"
RESTORE_INIT_ANNOTATION_PREFIX = "init.hook.restore.velero.io/"
# Velero keeps these first: they restore pod volume data, which the hooks' init containers may need.
DATA_RESTORE_INIT_CONTAINERS = ("restore-wait", "restic-wait")
_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")

# ------------------------------------------------------------------ argument specs

# The suboptions of one command of a backup hook set (pre and post).
BACKUP_EXEC_HOOK_SPEC = dict(
    container=dict(type="str"),
    command=dict(type="raw", required=True),
    on_error=dict(type="str", choices=list(ON_ERROR_MODES), default="Fail"),
    timeout=dict(type="str", default=DEFAULT_EXEC_TIMEOUT),
)
# The suboptions of the backup module's ``hooks`` (a list of dicts).
BACKUP_HOOKS_SPEC = dict(
    name=dict(type="str", required=True),
    included_namespaces=dict(type="list", elements="str"),
    excluded_namespaces=dict(type="list", elements="str"),
    label_selector=dict(type="str"),
    pre=dict(type="list", elements="dict", options=BACKUP_EXEC_HOOK_SPEC),
    post=dict(type="list", elements="dict", options=BACKUP_EXEC_HOOK_SPEC),
)

# What ``exec`` and ``init`` of a restore hook may hold. Not Ansible suboptions (the module documents them in
# prose); prepare_restore_hooks checks them and fills the defaults.
RESTORE_EXEC_HOOK_KEYS = ("container", "command", "on_error", "exec_timeout", "wait_timeout", "wait_for_ready")
RESTORE_INIT_HOOK_KEYS = ("init_containers", "timeout")  # Velero's init timeout; Velero does not use it either
# The suboptions of the restore module's ``hooks`` (a list of dicts).
RESTORE_HOOKS_SPEC = dict(
    name=dict(type="str", required=True),
    included_namespaces=dict(type="list", elements="str"),
    excluded_namespaces=dict(type="list", elements="str"),
    label_selector=dict(type="str"),
    post=dict(type="list", elements="dict", options=dict(exec=dict(type="dict"), init=dict(type="dict")),
              mutually_exclusive=[["exec", "init"]], required_one_of=[["exec", "init"]]),
)


# ------------------------------------------------------------------ hooks and their runs

class Hook:
    """One command to run in one pod.

    phase: 'pre' or 'post' (backup) or 'restore'; source: 'annotation' or 'hooks[<name>]' (the module's
    ``hooks`` option); container (None only when the pod has no containers); command (list of
    strings); on_error: 'Fail' or 'Continue'; timeout: seconds for the command; wait_timeout: seconds to wait for
    the container (restore; None: the caller's default); wait_for_ready (restore); problem: why the hook
    cannot run (it then fails without running); warnings: values that were ignored, as Velero ignores them.
    """

    def __init__(self, phase, source, container, command, on_error, timeout, wait_timeout=None, wait_for_ready=False,
                 problem=None, warnings=None):
        self.phase = phase
        self.source = source
        self.container = container
        self.command = list(command or [])
        self.on_error = on_error
        self.timeout = timeout
        self.wait_timeout = wait_timeout
        self.wait_for_ready = wait_for_ready
        self.problem = problem
        self.warnings = list(warnings or [])

    def __repr__(self):
        return "Hook(%s %s container=%s command=%r on_error=%s)" % (self.phase, self.source, self.container, self.command, self.on_error)


class HookRun:
    """What running a pod's hooks gave.

    results: one dict per hook that ran (or was meant to and failed before running); skipped: hooks not
    run because an earlier on_error Fail hook failed (same dicts, status 'skipped'); fatal: a Fail hook failed;
    errors: messages of the failed Fail hooks; warnings: messages of the failed Continue hooks and of ignored
    annotation values.
    """

    def __init__(self):
        self.results = []
        self.skipped = []
        self.fatal = False
        self.errors = []
        self.warnings = []

    @property
    def attempted(self):
        return len(self.results)

    @property
    def failed(self):
        return sum(1 for result in self.results if result["status"] != "succeeded")

    def extend(self, other):
        """Add another run's outcome (e.g. the next pod's) to this one."""
        self.results.extend(other.results)
        self.skipped.extend(other.skipped)
        self.errors.extend(other.errors)
        self.warnings.extend(other.warnings)
        self.fatal = self.fatal or other.fatal

    def to_dict(self):
        return {"results": list(self.results), "skipped": list(self.skipped), "fatal": self.fatal,
                "errors": list(self.errors), "warnings": list(self.warnings)}

    def add_result(self, namespace, pod, hook, status, exit_code=None, stdout="", stderr="", duration=0.0, error=None):
        """Record how ``hook`` ended in pod ``namespace/pod``; status 'skipped' goes to ``skipped``."""
        result = {"namespace": namespace, "pod": pod, "container": hook.container, "command": list(hook.command),
                  "phase": hook.phase, "source": hook.source, "on_error": hook.on_error, "status": status,
                  "exit_code": exit_code, "stdout": stdout, "stderr": stderr, "duration_seconds": round(duration, 3),
                  "error": error}
        for warning in hook.warnings:
            self.warnings.append("pod %s/%s: %s" % (namespace, pod, warning))
        if status == "skipped":
            self.skipped.append(result)
            return result
        self.results.append(result)
        if status != "succeeded":
            message = "%s hook (%s) in pod %s/%s container %s: %s" % (hook.phase, hook.source, namespace, pod, hook.container, error)
            if hook.on_error == "Fail":
                self.fatal = True
                self.errors.append(message)
            else:
                self.warnings.append(message)
        return result

    def add_skipped(self, namespace, pod, hook):
        return self.add_result(namespace, pod, hook, "skipped", error="not run: an earlier hook with on_error Fail failed")


# ------------------------------------------------------------------ option parsing

def _duration_seconds(value, option, default=None):
    """Seconds from a Go duration ('30s', '1m30s') or a number of seconds; None/'' gives ``default``."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ConfigurationError("%s must be a duration like 30s or 2m, not %r" % (option, value))
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip()
        try:
            seconds = float(text)
        except ValueError:
            seconds = parse_go_duration(text, option).total_seconds()
    if not 0 < seconds < float("inf"):
        raise ConfigurationError("%s must be a positive duration like 30s or 2m, not %r" % (option, value))
    return seconds


def _command_option(value, option):
    """A command option: a list of strings, or one string (one argument, as Velero reads it)."""
    if isinstance(value, str):
        value = [value] if value else []
    scalars = isinstance(value, (list, tuple)) and all(isinstance(arg, (str, int, float)) and not isinstance(arg, bool) for arg in value)
    if not value or not scalars:
        raise ConfigurationError("%s must be a non-empty list of strings such as ['/bin/sh', '-c', 'sync'], not %r" % (option, value))
    return [str(arg) for arg in value]


def _on_error_option(value, option, default):
    if value in (None, ""):
        return default
    if value not in ON_ERROR_MODES:
        raise ConfigurationError("%s must be Fail or Continue, not %r" % (option, value))
    return value


def _bool_option(value, option):
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip()
    if text in _GO_TRUE or text.lower() in ("yes", "on"):
        return True
    if text in _GO_FALSE or text.lower() in ("no", "off", ""):
        return False
    raise ConfigurationError("%s must be true or false, not %r" % (option, value))


def _mapping(value, option):
    if not isinstance(value, dict):
        raise ConfigurationError("%s must be a mapping, not %r" % (option, value))
    return value


def _list(value, option):
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ConfigurationError("%s must be a list, not %r" % (option, value))
    return list(value)


def _check_keys(entry, allowed, option):
    unknown = sorted(set(entry) - set(allowed))
    if unknown:
        raise ConfigurationError("%s: unknown key(s) %s; allowed: %s" % (option, ", ".join(unknown), ", ".join(sorted(allowed))))


class _PodSelector:
    """The pods a named hook set applies to: namespace globs and a label selector."""

    def __init__(self, entry, option):
        self.namespaces = NamespaceFilter(entry.get("included_namespaces"), entry.get("excluded_namespaces"))
        # label_selector_to_dict validates either form (string or LabelSelector mapping); LabelSelector evaluates it.
        selector = label_selector_to_dict(entry.get("label_selector"), "%s.label_selector" % option)
        self.label_selector_dict = selector
        self.labels = LabelSelector(label_selector_to_string(selector), "%s.label_selector" % option) if selector else None

    def matches(self, namespace, labels):
        return self.namespaces.matches(namespace or "") and (self.labels is None or self.labels.matches(labels or {}))


class _ExecTemplate:
    """An exec hook from an option, before a pod gives it its default container."""

    def __init__(self, phase, source, container, command, on_error, timeout, wait_timeout=None, wait_for_ready=False):
        self.phase, self.source, self.container, self.command = phase, source, container, command
        self.on_error, self.timeout, self.wait_timeout, self.wait_for_ready = on_error, timeout, wait_timeout, wait_for_ready

    def for_pod(self, pod):
        container, problem = _hook_container(pod, self.container)
        return Hook(self.phase, self.source, container, self.command, self.on_error, self.timeout, self.wait_timeout,
                    self.wait_for_ready, problem)


def _start_hook_set(hook_set, entry, index, option, spec):
    """Check a hook set's entry and give ``hook_set`` its name, selector and source; (entry, where for messages)."""
    where = "%s[%d]" % (option, index)
    entry = _mapping(entry, where)
    _check_keys(entry, spec, where)
    hook_set.name = entry.get("name")
    if not hook_set.name or not isinstance(hook_set.name, str):
        raise ConfigurationError("%s.name is required: a name for the hook set, shown in results" % where)
    where = "%s (%s)" % (where, hook_set.name)
    hook_set.selector = _PodSelector(entry, where)
    hook_set.source = "%s[%s]" % (option, hook_set.name)
    return entry, where


class PreparedBackupHooks:
    """One entry of the ``hooks`` option, validated: name, selector, pre and post templates."""

    def __init__(self, entry, index, option="hooks"):
        entry, where = _start_hook_set(self, entry, index, option, BACKUP_HOOKS_SPEC)
        self.pre = self._templates(entry.get("pre"), "pre", where)
        self.post = self._templates(entry.get("post"), "post", where)

    def _templates(self, value, phase, where):
        templates = []
        for number, hook in enumerate(_list(value, "%s.%s" % (where, phase))):
            option = "%s.%s[%d]" % (where, phase, number)
            hook = _mapping(hook, option)
            _check_keys(hook, BACKUP_EXEC_HOOK_SPEC, option)
            templates.append(_ExecTemplate(
                phase, self.source, hook.get("container") or None, _command_option(hook.get("command"), option + ".command"),
                _on_error_option(hook.get("on_error"), option + ".on_error", "Fail"),
                _duration_seconds(hook.get("timeout"), option + ".timeout", DEFAULT_EXEC_TIMEOUT_SECONDS)))
        return templates


class PreparedRestoreHooks:
    """One entry of the restore module's ``hooks`` option, validated: name, selector, init containers and exec templates."""

    def __init__(self, entry, index, option="hooks"):
        entry, where = _start_hook_set(self, entry, index, option, RESTORE_HOOKS_SPEC)
        self.init_containers = []
        self.execs = []
        for number, post in enumerate(_list(entry.get("post"), where + ".post")):
            option_path = "%s.post[%d]" % (where, number)
            post = _mapping(post, option_path)
            _check_keys(post, ("exec", "init"), option_path)
            given = [key for key in ("exec", "init") if post.get(key) is not None]
            if len(given) != 1:
                raise ConfigurationError("%s must have exactly one of exec or init" % option_path)
            if given[0] == "exec":
                self.execs.append(self._exec(_mapping(post["exec"], option_path + ".exec"), option_path + ".exec"))
            else:
                self.init_containers.extend(self._init(_mapping(post["init"], option_path + ".init"), option_path + ".init"))

    def _exec(self, hook, option):
        _check_keys(hook, RESTORE_EXEC_HOOK_KEYS, option)
        return _ExecTemplate(
            RESTORE_PHASE, self.source, hook.get("container") or None, _command_option(hook.get("command"), option + ".command"),
            _on_error_option(hook.get("on_error"), option + ".on_error", "Continue"),
            _duration_seconds(hook.get("exec_timeout"), option + ".exec_timeout", DEFAULT_EXEC_TIMEOUT_SECONDS),
            _duration_seconds(hook.get("wait_timeout"), option + ".wait_timeout"),
            _bool_option(hook.get("wait_for_ready"), option + ".wait_for_ready"))

    @staticmethod
    def _init(hook, option):
        _check_keys(hook, RESTORE_INIT_HOOK_KEYS, option)
        _duration_seconds(hook.get("timeout"), option + ".timeout")
        containers = []
        for number, container in enumerate(_list(hook.get("init_containers"), option + ".init_containers")):
            where = "%s.init_containers[%d]" % (option, number)
            container = _mapping(container, where)
            # Velero's check: a container without these cannot be created or would do nothing.
            missing = [key for key in ("name", "image", "command") if not container.get(key)]
            if missing:
                raise ConfigurationError("%s needs %s (a Kubernetes container spec with name, image and command)" % (where, ", ".join(missing)))
            command = container["command"]
            container = copy.deepcopy(container)
            container["command"] = _command_option(command, where + ".command")
            containers.append(container)
        if not containers:
            raise ConfigurationError("%s.init_containers must list at least one container" % option)
        return containers


def prepare_backup_hooks(option_hooks, option="hooks"):
    """Validate the ``hooks`` option once (ConfigurationError naming the entry); the result can be passed
    wherever option_hooks is expected, so selectors are not parsed again for every pod."""
    if option_hooks and all(isinstance(item, PreparedBackupHooks) for item in option_hooks):
        return list(option_hooks)
    return [PreparedBackupHooks(entry, index, option) for index, entry in enumerate(_list(option_hooks, option))]


def prepare_restore_hooks(option_hooks, option="hooks"):
    """Validate the restore module's ``hooks`` option once; like prepare_backup_hooks."""
    if option_hooks and all(isinstance(item, PreparedRestoreHooks) for item in option_hooks):
        return list(option_hooks)
    return [PreparedRestoreHooks(entry, index, option) for index, entry in enumerate(_list(option_hooks, option))]


def backup_hooks_to_velero(option_hooks):
    """The ``spec.hooks`` of velero-backup.json (Velero's BackupHooks) for the ``hooks`` option."""
    resources = []
    for prepared in prepare_backup_hooks(option_hooks):
        entry = {"name": prepared.name, "includedNamespaces": list(prepared.selector.namespaces.included),
                 "includedResources": ["pods"]}
        if prepared.selector.namespaces.excluded:
            entry["excludedNamespaces"] = list(prepared.selector.namespaces.excluded)
        if prepared.selector.label_selector_dict:
            entry["labelSelector"] = prepared.selector.label_selector_dict
        for phase, templates in (("pre", prepared.pre), ("post", prepared.post)):
            if templates:
                entry[phase] = [{"exec": {"container": template.container or "", "command": list(template.command),
                                          "onError": template.on_error,
                                          "timeout": format_go_duration(_timedelta(template.timeout))}} for template in templates]
        resources.append(entry)
    return {"resources": resources} if resources else {}


def _timedelta(seconds):
    return datetime.timedelta(milliseconds=round(seconds * 1000))


# ------------------------------------------------------------------ pods and annotations

def _pod_identity(pod):
    metadata = pod.get("metadata") or {}
    return metadata.get("namespace") or "", metadata.get("name") or "", metadata.get("annotations") or {}, metadata.get("labels") or {}


def _hook_container(pod, container):
    """(container, problem): the named container, or the pod's first one (Velero's default)."""
    if container:
        return container, None
    containers = (pod.get("spec") or {}).get("containers") or []
    if not containers:
        return None, "the pod has no containers to run the hook in"
    return containers[0].get("name"), None


def _annotation_command(value, key):
    """(command, problem) of a command annotation: a JSON array of strings, or one string."""
    if value.lstrip().startswith("["):
        try:
            command = json.loads(value)
        except ValueError as error:
            return [value], "annotation %s is not a valid JSON array (%s): %r; write it like [\"/bin/sh\", \"-c\", \"sync\"]" % (key, error, value)
        if not isinstance(command, list) or not command or not all(isinstance(arg, str) for arg in command):
            return [value], "annotation %s must be a non-empty JSON array of strings, not %r" % (key, value)
        return command, None
    return [value], None


def _annotation_duration(annotations, key, default, warnings):
    value = annotations.get(key)
    if not value:
        return default
    try:
        return _duration_seconds(value, "annotation %s" % key, default)
    except ConfigurationError as error:
        warnings.append("%s; %s" % (error, "using %gs" % default if default else "ignoring it"))
        return default


def _annotation_on_error(annotations, key, default, warnings):
    value = annotations.get(key)
    if not value:
        return default
    if value not in ON_ERROR_MODES:
        warnings.append("annotation %s: %r is not Fail or Continue; using %s" % (key, value, default))
        return default
    return value


def _backup_annotation_hook(pod, phase):
    """The hook a pod's annotations define for ``phase``, or None."""
    annotations = _pod_identity(pod)[2]
    prefix = "%s.%s" % (phase, BACKUP_ANNOTATION_KEY)
    if not annotations.get(prefix + "command") and phase == "pre" and annotations.get(BACKUP_ANNOTATION_KEY + "command"):
        prefix = BACKUP_ANNOTATION_KEY  # the annotations before Velero had phases meant pre
    exec_parts = _annotation_exec(pod, annotations, prefix)
    if exec_parts is None:
        return None
    command, container, problem = exec_parts
    warnings = []
    return Hook(phase, ANNOTATION_SOURCE, container, command,
                _annotation_on_error(annotations, prefix + "on-error", "Fail", warnings),
                _annotation_duration(annotations, prefix + "timeout", DEFAULT_EXEC_TIMEOUT_SECONDS, warnings),
                problem=problem, warnings=warnings)


def _annotation_exec(pod, annotations, prefix):
    """(command, container, problem) of the exec hook the annotations under ``prefix`` define, or None without a command."""
    command_value = annotations.get(prefix + "command")
    if not command_value:
        return None
    command, problem = _annotation_command(command_value, prefix + "command")
    container, container_problem = _hook_container(pod, annotations.get(prefix + "container"))
    return command, container, problem or container_problem


def backup_hooks_for_pod(pod, option_hooks, phase):
    """The hooks to run in ``pod`` for ``phase`` ('pre' or 'post'), in order: its annotation hook, else the
    matching option hooks (each matching hook set's hooks in the order given)."""
    if phase not in BACKUP_PHASES:
        raise ValueError("backup_hooks_for_pod: phase must be 'pre' or 'post', not %r" % (phase,))
    annotation_hook = _backup_annotation_hook(pod, phase)
    if annotation_hook is not None:
        return [annotation_hook]
    namespace, labels = _pod_identity(pod)[0], _pod_identity(pod)[3]
    hooks = []
    for prepared in prepare_backup_hooks(option_hooks):
        if prepared.selector.matches(namespace, labels):
            hooks.extend(template.for_pod(pod) for template in (prepared.pre if phase == "pre" else prepared.post))
    return hooks


def run_hooks(client, pod, hooks):
    """Run ``hooks`` in order in ``pod`` (its namespace and name); stop after a failed on_error Fail hook."""
    namespace, name = _pod_identity(pod)[:2]
    run = HookRun()
    for hook in hooks:
        if run.fatal:
            run.add_skipped(namespace, name, hook)
            continue
        _run_one(client, namespace, name, hook, run)
    return run


def _run_one(client, namespace, name, hook, run):
    if hook.problem:
        return run.add_result(namespace, name, hook, "failed", error=hook.problem)
    started = time.monotonic()
    outcome = exec_in_pod(client, namespace, name, hook.container, hook.command, hook.timeout)
    duration = time.monotonic() - started
    if outcome.timed_out:
        status, error = "timed_out", outcome.error or "timed out after %gs" % hook.timeout
    elif outcome.error:
        status, error = "failed", outcome.error
    elif outcome.exit_code != 0:
        status, error = "failed", "command exited with code %s" % outcome.exit_code
    else:
        status, error = "succeeded", None
    return run.add_result(namespace, name, hook, status, outcome.exit_code, outcome.stdout, outcome.stderr, duration, error)


# ------------------------------------------------------------------ restore hooks

def _init_container_from_annotations(pod):
    """The init container the ``init.hook.restore.velero.io`` annotations define, or None."""
    namespace, name, annotations = _pod_identity(pod)[:3]
    image = annotations.get(RESTORE_INIT_ANNOTATION_PREFIX + "container-image")
    if not image:
        return None
    container = {"name": annotations.get(RESTORE_INIT_ANNOTATION_PREFIX + "container-name")
                 or "velero-restore-init-%s" % uuid.uuid4().hex[:8], "image": image}
    key = RESTORE_INIT_ANNOTATION_PREFIX + "command"
    if annotations.get(key):
        command, problem = _annotation_command(annotations[key], key)
        if problem:
            raise KubesafeError("pod %s/%s: %s" % (namespace, name, problem))
        container["command"] = command
    return container


def add_restore_init_containers(pod, option_hooks, namespace=None):
    """A copy of ``pod`` with the restore hooks' init containers put first, as Velero does: after a data
    restore init container (restore-wait), before the pod's own. The annotations win over the option.

    namespace: the namespace the pod is restored into, for the option's namespace filters (default: the pod's).
    Raises KubesafeError when the command annotation is not valid JSON.
    """
    result = copy.deepcopy(pod)
    spec = result.setdefault("spec", {})
    existing = list(spec.get("initContainers") or [])
    added = []
    annotation_container = _init_container_from_annotations(pod)
    if annotation_container is not None:
        added.append(annotation_container)
    else:
        pod_namespace, labels = _pod_identity(pod)[0], _pod_identity(pod)[3]
        for prepared in prepare_restore_hooks(option_hooks):
            if prepared.selector.matches(namespace or pod_namespace, labels):
                added.extend(copy.deepcopy(prepared.init_containers))
    if not added:
        return result
    first = [existing.pop(0)] if existing and existing[0].get("name") in DATA_RESTORE_INIT_CONTAINERS else []
    spec["initContainers"] = first + added + existing
    return result


def _restore_annotation_hook(pod):
    annotations = _pod_identity(pod)[2]
    prefix = RESTORE_EXEC_ANNOTATION_PREFIX
    exec_parts = _annotation_exec(pod, annotations, prefix)
    if exec_parts is None:
        return None
    command, container, problem = exec_parts
    warnings = []
    wait_for_ready = False
    ready_value = annotations.get(prefix + "wait-for-ready")
    if ready_value:
        if ready_value in _GO_TRUE:
            wait_for_ready = True
        elif ready_value not in _GO_FALSE:
            warnings.append("annotation %swait-for-ready: %r is not true or false; not waiting for readiness" % (prefix, ready_value))
    return Hook(RESTORE_PHASE, ANNOTATION_SOURCE, container, command,
                _annotation_on_error(annotations, prefix + "on-error", "Continue", warnings),
                _annotation_duration(annotations, prefix + "exec-timeout", DEFAULT_EXEC_TIMEOUT_SECONDS, warnings),
                _annotation_duration(annotations, prefix + "wait-timeout", None, warnings),
                wait_for_ready, problem=problem, warnings=warnings)


def restore_post_hooks_for_pod(pod, option_hooks, namespace=None):
    """The exec hooks to run in a restored pod, in order: its annotation hook, else the matching option hooks.

    namespace: the namespace the pod is restored into (default: the pod's).
    """
    annotation_hook = _restore_annotation_hook(pod)
    if annotation_hook is not None:
        return [annotation_hook]
    pod_namespace, labels = _pod_identity(pod)[0], _pod_identity(pod)[3]
    hooks = []
    for prepared in prepare_restore_hooks(option_hooks):
        if prepared.selector.matches(namespace or pod_namespace, labels):
            hooks.extend(template.for_pod(pod) for template in prepared.execs)
    return hooks


def _container_up(pod, container, need_ready):
    """(up, what it is doing): running, and Ready when asked."""
    status = pod.get("status") or {}
    for item in status.get("containerStatuses") or []:
        if item.get("name") != container:
            continue
        state = item.get("state") or {}
        if "running" in state:
            if need_ready and not item.get("ready"):
                return False, "container %s is running but not ready" % container
            return True, "running"
        detail = next(("%s (%s)" % (key, value.get("reason")) if value.get("reason") else key
                       for key, value in state.items() if isinstance(value, dict)), "in no state")
        return False, "container %s is %s" % (container, detail)
    reason = status.get("reason") or status.get("message")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            reason = reason or condition.get("message") or condition.get("reason")
    return False, "pod phase %s%s, container %s not started" % (status.get("phase") or "Pending", ": %s" % reason if reason else "", container)


class _Waiting:
    """A restore hook waiting for its container, with the time it stops waiting."""

    def __init__(self, hook, deadline):
        self.hook = hook
        self.deadline = deadline


def run_restore_post_hooks(client, namespace, name, hooks, default_wait_timeout):
    """Wait for each hook's container of restored pod ``namespace/name`` to be up, then run its hooks.

    Containers are served as they come up, a container's hooks in order (Velero's rule). A hook waits at most
    its wait_timeout, or ``default_wait_timeout`` seconds (None: 600) when it has none, counted from this call;
    a hook still waiting then is 'timed_out'. The pod is read again every half second.
    """
    run = HookRun()
    started = time.monotonic()
    default_wait = float(default_wait_timeout) if default_wait_timeout else FALLBACK_WAIT_TIMEOUT_SECONDS
    chains = {}  # container -> [_Waiting], containers in the order the hooks name them
    for hook in hooks:
        if hook.problem:
            _record_or_skip(run, namespace, name, hook, "failed", hook.problem)
        else:
            chains.setdefault(hook.container, []).append(_Waiting(hook, started + (hook.wait_timeout or default_wait)))
    seen = {}  # container -> what it was doing at the last look
    while chains and not run.fatal:
        pod, state, gone = _read_pod(client, namespace, name)
        if gone:
            for waiting in chains.values():
                for entry in waiting:
                    _record_or_skip(run, namespace, name, entry.hook, "failed", gone)
            chains.clear()
            break
        for container in list(chains):
            if pod is None:
                seen[container] = state
            elif not run.fatal and _serve_container(client, namespace, name, pod, container, chains[container], run, seen):
                del chains[container]
        now = time.monotonic()
        for container in list(chains):
            expired = [entry for entry in chains[container] if entry.deadline <= now]
            chains[container] = [entry for entry in chains[container] if entry.deadline > now]
            for entry in expired:
                _record_or_skip(run, namespace, name, entry.hook, "timed_out", "container %s was not %s after waiting %gs: %s" % (
                    container, "running and ready" if entry.hook.wait_for_ready else "running", round(entry.deadline - started, 3),
                    seen.get(container, state)))
            if not chains[container]:
                del chains[container]
        if chains and not run.fatal:
            next_deadline = min(entry.deadline for waiting in chains.values() for entry in waiting)
            time.sleep(max(0.0, min(WAIT_POLL_SECONDS, next_deadline - time.monotonic())))
    for waiting in chains.values():
        for entry in waiting:
            run.add_skipped(namespace, name, entry.hook)
    return run


def _record_or_skip(run, namespace, name, hook, status, error):
    if run.fatal:
        return run.add_skipped(namespace, name, hook)
    return run.add_result(namespace, name, hook, status, error=error)


def _read_pod(client, namespace, name):
    """(pod or None, what was seen, why its hooks can never run or None)."""
    try:
        pod = client.request("GET", "/api/v1/namespaces/%s/pods/%s" % (quote(namespace, safe=""), quote(name, safe="")),
                             timeout=10, max_retries=1)
    except ApiError as error:
        if error.status == 404:
            return None, "pod not found", "pod %s/%s was deleted (or never created) before its post-restore hooks ran" % (namespace, name)
        return None, "cannot read the pod: %s" % error, None
    except KubesafeError as error:
        return None, "cannot read the pod: %s" % error, None
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        return pod, "pod phase %s" % phase, "pod %s/%s entered phase %s before its post-restore hooks ran" % (namespace, name, phase)
    return pod, "pod phase %s" % (phase or "Pending"), None


def _serve_container(client, namespace, name, pod, container, waiting, run, seen):
    """Run the container's hooks if it is up now; True when its hooks are done with (ran or cannot run)."""
    names = [item.get("name") for item in (pod.get("spec") or {}).get("containers") or []]
    if container not in names:
        for entry in waiting:
            _record_or_skip(run, namespace, name, entry.hook, "failed",
                            "pod %s/%s has no container %s (containers: %s)" % (namespace, name, container, ", ".join(names)))
        return True
    up, seen[container] = _container_up(pod, container, any(entry.hook.wait_for_ready for entry in waiting))
    if not up:
        return False
    for entry in waiting:
        if run.fatal:
            run.add_skipped(namespace, name, entry.hook)
        elif time.monotonic() > entry.deadline:
            # Velero's rule: the wait is counted from the start, so earlier hooks in the container may use it up.
            run.add_result(namespace, name, entry.hook, "timed_out",
                           error="its wait_timeout passed while the earlier hooks of container %s ran" % container)
        else:
            _run_one(client, namespace, name, entry.hook, run)
    return True


def command_text(command):
    """A hook's command for messages: its arguments joined, quoted as a whole."""
    return "'%s'" % " ".join(command) if isinstance(command, (list, tuple)) else repr(command)
