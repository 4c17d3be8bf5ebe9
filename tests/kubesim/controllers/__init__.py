"""What kube-controller-manager, the scheduler, the kubelet and CSI sidecars do to stored objects.

Only behaviour a backup/restore tool can observe is emulated: the objects
workload controllers create (with ownerReferences, generated names and the
labels upstream adds), the status they report, pod start-up, PersistentVolume
binding and provisioning, and CSI snapshots. Each controller can be switched
off by name so a test can observe the states in between.

One worker thread (``manager.ControllerManager``) does all the work. The
store's listeners only enqueue events; the worker turns them into reconcile
keys, deduplicated, and every reconcile reads the current state and writes
through the Store API, so writes get resourceVersions, watch events and
garbage collection like any client's.
"""

from kubesim.controllers.manager import CONTROLLER_TYPES, ControllerManager

__all__ = ["CONTROLLER_TYPES", "ControllerManager"]
