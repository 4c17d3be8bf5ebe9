# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors the engine reports to users: each message names the option or the cause, and the fix."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class KubesafeError(Exception):
    """Base of every user-facing error of the engine."""


class ConfigurationError(KubesafeError):
    """An option has a bad value."""


class ClusterAccessError(KubesafeError):
    """The cluster cannot be reached or refuses our credentials."""


class LocationError(KubesafeError):
    """The backup location (directory or S3 bucket) cannot be used."""


class BackupFormatError(KubesafeError):
    """A backup archive or its metadata is unreadable or invalid."""
