# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Paths given to modules: ``~`` expanded, relative ones made absolute against the process's directory.

Ansible runs a module with the playbook's directory as its working directory,
so the roles turn paths a user typed relative to their shell (``-e
backup_location=./backups``, ``KUBECONFIG=.kube/config``) into absolute paths
before calling the modules.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os


def user_path(path):
    """``path`` with ``~`` expanded, absolute."""
    return os.path.abspath(os.path.expanduser(path))
