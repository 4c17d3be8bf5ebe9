"""Runs the enabled controllers in one background thread fed by the store's events."""

import collections
import logging
import threading

from kubesim import errors
from kubesim.controllers.clusterrole_aggregation import ClusterRoleAggregationController
from kubesim.controllers.daemonsets import DaemonSetController
from kubesim.controllers.jobs import JobController
from kubesim.controllers.kubelet import KubeletController
from kubesim.controllers.replicasets import DeploymentController, ReplicaSetController
from kubesim.controllers.snapshots import VolumeSnapshotController
from kubesim.controllers.statefulsets import StatefulSetController
from kubesim.controllers.tokens import TokenController
from kubesim.controllers.volumes import VolumeBinderController
from kubesim.controllers.work_queue import WorkQueue
from kubesim.volume_backend import VolumeBackend


LOG = logging.getLogger(__name__)
RETRY_SECONDS = 0.05
MAX_RETRIES = 5

CONTROLLER_TYPES = (DeploymentController, ReplicaSetController, StatefulSetController, DaemonSetController, JobController,
                    KubeletController, VolumeBinderController, VolumeSnapshotController, TokenController,
                    ClusterRoleAggregationController)


class ControllerManager:
    """Runs every enabled controller in one background thread fed by the store's events."""

    def __init__(self, store, enabled=True, volume_backend=None):
        self.store = store
        # The storage CSI drivers write to: volume and snapshot contents by handle.
        self.volume_backend = volume_backend if volume_backend is not None else VolumeBackend()
        self._controllers = {cls.name: cls(store, self._requeue, volume_backend=self.volume_backend) for cls in CONTROLLER_TYPES}
        self._enabled = {name: bool(enabled) for name in self._controllers}
        self._queue = WorkQueue()
        self._failures = collections.Counter()
        self._thread = None
        store.listeners.append(self._on_event)

    # ---- public API

    def start(self):
        """Start the worker; it first relists everything, so nothing before start() is missed."""
        self._queue.open()
        self._thread = threading.Thread(target=self._run, name="kubesim-controllers", daemon=True)
        self._thread.start()
        self._resync([name for name, enabled in self._enabled.items() if enabled])

    def stop(self):
        """Stop the worker, dropping queued work."""
        self._queue.close()
        if self._thread:
            self._thread.join(timeout=5)
            self._thread = None

    def idle(self):
        """No queued or running work."""
        return self._queue.idle()

    def configure(self, value):
        """Switch controllers on or off: a bool for all, or {controller name: bool}."""
        if isinstance(value, bool):
            wanted = {name: value for name in self._controllers}
        elif isinstance(value, dict):
            unknown = sorted(set(value) - set(self._controllers))
            if unknown:
                raise errors.bad_request("unknown controller(s) %s; known: %s" % (", ".join(unknown), ", ".join(self._controllers)))
            wanted = {name: bool(enabled) for name, enabled in value.items()}
        else:
            raise errors.bad_request("controllers must be a boolean or an object of controller name to boolean")
        switched_on = [name for name, enabled in wanted.items() if enabled and not self._enabled[name]]
        self._enabled.update(wanted)
        # A controller switched back on catches up on everything it missed, as a restarted one relists.
        self._resync(switched_on)

    def describe(self):
        """{controller name: enabled}."""
        return dict(self._enabled)

    # ---- the worker

    def _on_event(self, event_type, rtype, obj, old):
        self._queue.add_event((rtype.group_resource, event_type, obj, old))

    def _requeue(self, controller_name, key, delay):
        self._queue.add_after((controller_name, key), delay)

    def _resync(self, controller_names):
        if self._thread is not None:
            self._queue.add_keys([(name, key) for name in controller_names for key in self._controllers[name].resync_keys()])

    def _run(self):
        while True:
            work = self._queue.next()
            if work is None:
                return
            try:
                if work[0] == "event":
                    self._dispatch(*work[1])
                else:
                    self._reconcile(*work[1])
            except Exception:  # pylint: disable=broad-except
                LOG.exception("controller work %r failed", work)  # a real controller logs and carries on
            finally:
                self._queue.done()

    def _dispatch(self, group_resource, event_type, obj, old):
        keys = []
        for name, controller in self._controllers.items():
            if self._enabled[name] and group_resource in controller.watches:
                keys.extend((name, key) for key in controller.keys_for(group_resource, event_type, obj, old))
        self._queue.add_keys(keys)

    def _reconcile(self, controller_name, key):
        if not self._enabled[controller_name]:
            return
        item = (controller_name, key)
        try:
            self._controllers[controller_name].reconcile(key)
        except errors.ApiError as error:
            if error.code != 409:
                LOG.debug("%s: %r: %s", controller_name, key, error.message)
                return
            # Conflict or AlreadyExists: work from a stale read; retry a few times, as a rate-limited queue would.
            self._failures[item] += 1
            if self._failures[item] <= MAX_RETRIES:
                self._requeue(controller_name, key, RETRY_SECONDS * self._failures[item])
            else:
                del self._failures[item]
            return
        self._failures.pop(item, None)
