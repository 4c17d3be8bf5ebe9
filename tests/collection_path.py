"""Make ``ansible_collections.kubesafe.k8s`` importable from the work tree, for pytest, benchmarks and ansible-playbook.

build/collections/ansible_collections/kubesafe/k8s is a symlink to the work tree, so the code
being edited is what runs; subprocesses get COLLECTIONS_PATH in ANSIBLE_COLLECTIONS_PATH.
"""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS_PATH = os.path.join(REPO, "build", "collections")
_LINK = os.path.join(COLLECTIONS_PATH, "ansible_collections", "kubesafe", "k8s")
if not os.path.islink(_LINK):
    os.makedirs(os.path.dirname(_LINK), exist_ok=True)
    try:
        os.symlink(REPO, _LINK)
    except FileExistsError:  # another pytest-xdist worker made it first
        pass
if COLLECTIONS_PATH not in sys.path:
    sys.path.insert(0, COLLECTIONS_PATH)
