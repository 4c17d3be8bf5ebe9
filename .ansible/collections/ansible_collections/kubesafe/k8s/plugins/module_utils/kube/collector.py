# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Paginated LISTs of several resources at once, handed to one consumer page by page.

Memory stays bounded: workers block once a few pages wait in the queue, so
the cluster is streamed, never loaded whole, whatever its size.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import queue
import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import MAX_RELISTS

_DONE = object()


class ListTask:
    """One paginated LIST: a resource, optionally in one namespace, optionally with a label selector."""

    def __init__(self, resource, namespace=None, label_selector=None):
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector

    def describe(self):
        where = "namespace %s" % self.namespace if self.namespace else "all namespaces" if self.resource.namespaced else "cluster"
        selector = " with labels %s" % self.label_selector if self.label_selector else ""
        return "%s in %s%s" % (self.resource.group_resource, where, selector)


class Relisted:
    """A ListTask's continue token expired (410): its LIST starts over from the first page (re-list ``number``)."""

    def __init__(self, number, error):
        self.number = number
        self.error = error


class PageCollector:
    """Runs ListTasks on a thread pool; iterate it for ``(task, items)`` pages, ``(task, Relisted)`` re-lists
    and ``(task, exception)`` failures.

    A LIST whose continue token expires is listed again from the start (at most ``max_relists`` times) without
    handing over an object twice (KubeClient.list_pages_relisting)."""

    def __init__(self, client, tasks, parallelism=4, page_size=500, max_relists=MAX_RELISTS):
        self._client = client
        self._tasks = list(tasks)
        self._parallelism = max(1, int(parallelism))
        self._page_size = page_size
        self._max_relists = max_relists
        self._pages = queue.Queue(maxsize=self._parallelism * 2)
        self._stopping = threading.Event()

    def _put(self, item):
        while not self._stopping.is_set():
            try:
                self._pages.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, task):
        query = {"labelSelector": task.label_selector} if task.label_selector else None
        try:
            pages = self._client.list_pages_relisting(task.resource.list_path(task.namespace), query=query, limit=self._page_size,
                                                      max_relists=self._max_relists,
                                                      on_relist=lambda number, error: self._put((task, Relisted(number, error))))
            for page in pages:
                if not self._put((task, page.get("items") or [])):
                    return
        except Exception as exc:  # pylint: disable=broad-except
            # Any failure of one LIST belongs to that resource; the consumer decides what it means.
            self._put((task, exc))
        self._put((task, _DONE))

    def __iter__(self):
        pending = len(self._tasks)
        if not pending:
            return
        executor = ThreadPoolExecutor(max_workers=self._parallelism, thread_name_prefix="kubesafe-list")
        try:
            for task in self._tasks:
                executor.submit(self._run, task)
            while pending:
                task, payload = self._pages.get()
                if payload is _DONE:
                    pending -= 1
                    continue
                yield task, payload
        finally:
            self._stopping.set()
            executor.shutdown(wait=True, cancel_futures=True)
