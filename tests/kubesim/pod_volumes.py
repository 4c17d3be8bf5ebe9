"""What a pod's containers see of its PersistentVolumeClaims: mount path -> claim -> bound PV -> backend handle.

The kubelet mounts a claim's volume at each volumeMount naming it (a subPath mounts a directory of it);
a mount is read-only when the volumeMount or the pod's persistentVolumeClaim source says readOnly.
Only claims are modelled: other paths of a container's file system hold nothing the emulator knows.
"""

import posixpath

from kubesim.volume_backend import persistent_volume_handle


class ClaimMount:
    """One container mount of a claim's volume."""

    def __init__(self, mount_path, claim, volume_name, handle, read_only, sub_path):
        self.mount_path, self.claim, self.volume_name, self.handle = mount_path, claim, volume_name, handle
        self.read_only, self.sub_path = read_only, sub_path

    def volume_path(self, path):
        """The path inside the volume ("" for its root) that the container's absolute ``path`` names, or None when outside this mount."""
        if path == self.mount_path:
            relative = ""
        elif path.startswith(self.mount_path.rstrip("/") + "/"):
            relative = path[len(self.mount_path.rstrip("/")) + 1:]
        else:
            return None
        return "/".join(part for part in (self.sub_path, relative) if part)


def pod_claim_names(pod):
    """{pod volume name: claim name} for the pod's persistentVolumeClaim volumes."""
    return {volume.get("name"): volume["persistentVolumeClaim"].get("claimName")
            for volume in (pod.get("spec") or {}).get("volumes") or [] if volume.get("persistentVolumeClaim")}


def claim_mounts(cluster, pod, container_name):
    """The ClaimMounts of one container, deepest mount path first; claims not bound to a PV with a backend handle are left out."""
    spec = pod.get("spec") or {}
    namespace = pod["metadata"]["namespace"]
    sources = {volume.get("name"): volume["persistentVolumeClaim"] for volume in spec.get("volumes") or [] if volume.get("persistentVolumeClaim")}
    containers = [c for key in ("containers", "initContainers", "ephemeralContainers") for c in spec.get(key) or []]
    container = next((c for c in containers if c.get("name") == container_name), {})
    mounts = []
    for mount in container.get("volumeMounts") or []:
        source = sources.get(mount.get("name"))
        if source is None or not mount.get("mountPath"):
            continue
        claim = find_object(cluster, "persistentvolumeclaims", namespace, source.get("claimName"))
        volume_name = ((claim or {}).get("spec") or {}).get("volumeName")
        volume = find_object(cluster, "persistentvolumes", None, volume_name) if volume_name else None
        handle = persistent_volume_handle(volume)
        if handle is None:
            continue
        mounts.append(ClaimMount(absolute_path(mount["mountPath"]), source.get("claimName"), volume_name, handle,
                                 bool(mount.get("readOnly") or source.get("readOnly")), (mount.get("subPath") or "").strip("/")))
    return sorted(mounts, key=lambda m: -len(m.mount_path))


def absolute_path(path, cwd="/"):
    """``path`` made absolute (relative to ``cwd``) and normalized; "//x" is "/x" here, as Linux resolves it."""
    return posixpath.normpath("/" + posixpath.join(cwd, path).lstrip("/"))


def find_object(cluster, plural, namespace, name):
    """A core/v1 object from the cluster's store, or None."""
    if not name:
        return None
    return cluster.store.find(cluster.registry.preferred("", plural), namespace, name)


def mount_for(mounts, path):
    """(ClaimMount, path inside its volume) for an absolute container path, or (None, None)."""
    for mount in mounts:
        inside = mount.volume_path(path)
        if inside is not None:
            return mount, inside
    return None, None
