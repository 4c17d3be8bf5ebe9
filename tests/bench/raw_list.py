"""The baseline a backup is measured against: a raw paginated LIST of the same resource types.

Same HTTP layer as the engine (KubeClient.list_pages: urllib3, one json.loads
per page), same page size, nothing done with the objects but counting them.
Discovery is not part of it: the resource types come in already discovered.
"""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import collection_path  # noqa: F401  pylint: disable=unused-import

from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions  # noqa: E402
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.discovery import discover, listable  # noqa: E402
from ansible_collections.kubesafe.k8s.plugins.module_utils.selection import ResourceFilter  # noqa: E402

PAGE_SIZE = BackupOptions().page_size
PARALLELISM = BackupOptions().parallelism


def backed_up_resources(client):
    """The resource types a default backup lists (preferred version, listable, not excluded by default), and seconds spent discovering them."""
    started = time.perf_counter()
    resources, _warnings = discover(client)
    every = ResourceFilter(None, None)
    selected = [resource for resource in resources if resource.preferred and listable(resource) and every.matches(resource)]
    return selected, time.perf_counter() - started


def _list_all(client, resource, page_size):
    return sum(len(page.get("items") or ()) for page in client.list_pages(resource.list_path(), limit=page_size))


def raw_list(client, resources, parallelism=1, page_size=PAGE_SIZE):
    """(objects listed, seconds) for a paginated LIST of every resource in ``resources``, ``parallelism`` LISTs at a time."""
    started = time.perf_counter()
    if parallelism == 1:
        listed = sum(_list_all(client, resource, page_size) for resource in resources)
    else:
        with ThreadPoolExecutor(max_workers=parallelism) as pool:
            listed = sum(pool.map(lambda resource: _list_all(client, resource, page_size), resources))
    return listed, time.perf_counter() - started


def served_size(client, resources, page_size=PAGE_SIZE):
    """(objects, bytes of LIST responses) for every resource in ``resources``: the size of what a backup reads."""
    objects = size = 0
    for resource in resources:
        for page in client.list_pages(resource.list_path(), limit=page_size):
            objects += len(page.get("items") or ())
            size += len(json.dumps(page, separators=(",", ":")))
    return objects, size
