# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules of a production-to-dev clone, turned into the restore's resource modifiers.

A clone restores a backup of production namespaces into another cluster, but
must not bring along what only production should have:

- Secrets: each one is either replaced (the clone gives new values) or left
  out and listed; copying one as it is takes an explicit choice;
- replicas: every Deployment and StatefulSet is scaled to one replica, or to
  the number given for it;
- hostnames: Ingress rules and TLS hosts, and the ``hostnames`` of Gateway API
  routes, are rewritten by a regular expression;
- CronJobs are suspended, so that dev does not run production's schedules.

The backup archive is streamed once to learn the objects (hostnames and
indexes differ per object); the result is plain data - resource modifiers in
the restore module's format, and the lists of what was done - so the restore
itself stays the one that writes.  Secret values never pass through here: only
the names of the Secrets that have replacements.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import re

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import catalog as backup_catalog
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.tarball import ArchiveReader
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError

SCALABLE = {"deployments.apps": "Deployment", "statefulsets.apps": "StatefulSet"}
ROUTES = ("httproutes.gateway.networking.k8s.io", "grpcroutes.gateway.networking.k8s.io", "tlsroutes.gateway.networking.k8s.io")
INGRESSES = "ingresses.networking.k8s.io"
CRONJOBS = "cronjobs.batch"
# Secrets Kubernetes itself writes into a namespace: the target cluster makes its own.
GENERATED_SECRET_TYPES = ("kubernetes.io/service-account-token",)


class CloneRules:
    """What the user asked of the clone, checked before anything is read."""

    def __init__(self, replicas=1, replicas_per_workload=None, host_pattern=None, host_replacement=None,
                 suspend_cronjobs=True, replaced_secrets=(), copy_unreplaced_secrets=False):
        if replicas is not None and int(replicas) < 0:
            raise ConfigurationError("replicas must be 0 or more (or null to keep the backup's), not %s" % replicas)
        self.replicas = None if replicas is None else int(replicas)
        self.replicas_per_workload = {}
        for key, value in (replicas_per_workload or {}).items():
            parts = str(key).split("/")
            if len(parts) not in (2, 3) or not all(parts):
                raise ConfigurationError("replicas_per_workload: %r must be namespace/name or kind/namespace/name, e.g. shop/web" % (key,))
            try:
                count = int(value)
            except (TypeError, ValueError):
                raise ConfigurationError("replicas_per_workload[%s] must be a number of replicas, not %r" % (key, value))
            if count < 0:
                raise ConfigurationError("replicas_per_workload[%s] must be 0 or more, not %d" % (key, count))
            self.replicas_per_workload[str(key).lower() if len(parts) == 3 else str(key)] = count
        self.host_pattern = None
        if host_pattern:
            if host_replacement is None:
                raise ConfigurationError("host_pattern needs host_replacement (e.g. '\\1.dev.example.com')")
            try:
                self.host_pattern = re.compile(host_pattern)
            except re.error as error:
                raise ConfigurationError("host_pattern is not a regular expression: %s" % error)
        self.host_replacement = host_replacement
        self.suspend_cronjobs = bool(suspend_cronjobs)
        self.replaced_secrets = set()
        for key in replaced_secrets or ():
            if len(str(key).split("/")) != 2 or not all(str(key).split("/")):
                raise ConfigurationError("replaced_secrets: %r must be namespace/name of the Secret in the source, e.g. shop/db-credentials" % (key,))
            self.replaced_secrets.add(str(key))
        self.copy_unreplaced_secrets = bool(copy_unreplaced_secrets)

    def replicas_for(self, kind, namespace, name):
        for key in ("%s/%s/%s" % (kind.lower(), namespace, name), "%s/%s" % (namespace, name)):
            if key in self.replicas_per_workload:
                return self.replicas_per_workload[key]
        return self.replicas

    def rewrite_host(self, host):
        if self.host_pattern is None or not isinstance(host, str):
            return host
        return self.host_pattern.sub(self.host_replacement, host)


def _object_rule(group_resource, namespace, name, patches):
    conditions = {"group_resource": group_resource, "name_regex": "^%s$" % re.escape(name)}
    if namespace:
        conditions["namespaces"] = [namespace]
    return {"conditions": conditions, "patches": patches}


def _string(value):
    """A patch value kept a string whatever it looks like (the restore reads "2" as the number 2)."""
    return '"%s"' % value


class ClonePlan:
    def __init__(self, rules):
        self.rules = rules
        self.modifiers = []
        self.secrets = {"replaced": [], "dropped": [], "copied": []}
        self.hosts = []
        self.replicas = []
        self.cronjobs = []

    def add(self, group_resource, namespace, name, obj):
        if group_resource == "secrets":
            self._secret(namespace, name, obj)
        elif group_resource in SCALABLE:
            self._replicas(group_resource, namespace, name, obj)
        elif group_resource == INGRESSES:
            self._ingress(namespace, name, obj)
        elif group_resource in ROUTES:
            self._route(group_resource, namespace, name, obj)
        elif group_resource == CRONJOBS and self.rules.suspend_cronjobs:
            if not (obj.get("spec") or {}).get("suspend"):
                self.cronjobs.append("%s/%s" % (namespace, name))

    def _secret(self, namespace, name, obj):
        if obj.get("type") in GENERATED_SECRET_TYPES:
            return
        key = "%s/%s" % (namespace, name)
        if key in self.rules.replaced_secrets:
            self.secrets["replaced"].append(key)
        elif self.rules.copy_unreplaced_secrets:
            self.secrets["copied"].append(key)
        else:
            self.secrets["dropped"].append(key)

    def _replicas(self, group_resource, namespace, name, obj):
        kind = SCALABLE[group_resource]
        wanted = self.rules.replicas_for(kind, namespace, name)
        current = (obj.get("spec") or {}).get("replicas")
        current = 1 if current is None else current
        if wanted is None or wanted == current:
            return
        self.modifiers.append(_object_rule(group_resource, namespace, name, [{"operation": "replace", "path": "/spec/replicas", "value": wanted}]))
        self.replicas.append({"kind": kind, "namespace": namespace, "name": name, "from": current, "to": wanted})

    def _host_patch(self, path, host, where):
        new = self.rules.rewrite_host(host)
        if new == host:
            return []
        self.hosts.append(dict(where, path=path, **{"from": host, "to": new}))
        return [{"operation": "replace", "path": path, "value": _string(new)}]

    def _ingress(self, namespace, name, obj):
        spec = obj.get("spec") or {}
        where = {"kind": "Ingress", "namespace": namespace, "name": name}
        patches = []
        for index, rule in enumerate(spec.get("rules") or []):
            if isinstance(rule, dict) and rule.get("host"):
                patches += self._host_patch("/spec/rules/%d/host" % index, rule["host"], where)
        for index, tls in enumerate(spec.get("tls") or []):
            for number, host in enumerate((tls or {}).get("hosts") or []):
                patches += self._host_patch("/spec/tls/%d/hosts/%d" % (index, number), host, where)
        if patches:
            self.modifiers.append(_object_rule(INGRESSES, namespace, name, patches))

    def _route(self, group_resource, namespace, name, obj):
        where = {"kind": obj.get("kind"), "namespace": namespace, "name": name}
        patches = []
        for index, host in enumerate((obj.get("spec") or {}).get("hostnames") or []):
            patches += self._host_patch("/spec/hostnames/%d" % index, host, where)
        if patches:
            self.modifiers.append(_object_rule(group_resource, namespace, name, patches))

    def result(self, backup):
        modifiers = list(self.modifiers)
        if self.cronjobs:
            modifiers.append({"conditions": {"group_resource": CRONJOBS},
                              "patches": [{"operation": "add", "path": "/spec/suspend", "value": True}]})
        known = set(self.secrets["replaced"])
        return {
            "backup": backup,
            "resource_modifiers": modifiers,
            "secrets": self.secrets,
            "unknown_replaced_secrets": sorted(self.rules.replaced_secrets - known),
            "hosts": self.hosts,
            "replicas": self.replicas,
            "suspended_cronjobs": self.cronjobs,
        }


def plan_clone(location, backup, rules):
    """Stream the archive of ``backup`` and return the clone's resource modifiers and lists."""
    name, _marker = backup_catalog.resolve_backup(location, backup, options_hint="backup and location")
    plan = ClonePlan(rules)
    key = velero_format.file_names(name)["contents"]
    with contextlib.closing(location.open_read(key)) as stream:
        for item in ArchiveReader(stream, source=key):
            plan.add(item.group_resource, item.namespace, item.name, item.obj)
    result = plan.result(name)
    if result["unknown_replaced_secrets"]:
        raise ConfigurationError("replaced_secrets names Secret(s) %s that backup '%s' does not hold (namespace/name as in the source)"
                                 % (", ".join(result["unknown_replaced_secrets"]), name))
    return result
