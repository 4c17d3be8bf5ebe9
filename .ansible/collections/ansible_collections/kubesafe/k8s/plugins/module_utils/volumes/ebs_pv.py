# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The EBS volume of a PersistentVolume: read it (``volume_id_from_pv``), point the PV at another (``rewrite_pv_for_volume``).

Both in-tree awsElasticBlockStore volumes and volumes of the ebs.csi.aws.com CSI driver;
the zone comes from the volume URL, the PV's zone labels or its node affinity.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

from ansible_collections.kubesafe.k8s.plugins.module_utils.aws.settings import region_from_zone
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.ebs import EbsError
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError

EBS_CSI_DRIVER = "ebs.csi.aws.com"
ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")
ZONE_AFFINITY_KEYS = ("topology.ebs.csi.aws.com/zone",) + ZONE_LABELS
REGION_AFFINITY_KEYS = REGION_LABELS
# Availability zone IDs (use1-az1) cannot be derived from a zone name without an API call.
ZONE_ID_AFFINITY_KEYS = ("topology.k8s.aws/zone-id",)
_VOLUME_ID = re.compile(r"vol-[0-9a-zA-Z]+")


def volume_id_from_pv(pv):
    """(volume_id, region or None, zone or None) of an EBS PersistentVolume; (None, None, None) for other volumes.

    Reads spec.awsElasticBlockStore.volumeID (``vol-x`` or ``aws://zone/vol-x``) or the volumeHandle of an
    ebs.csi.aws.com CSI volume; the zone from that URL, the PV's zone labels or its node affinity.
    """
    spec = (pv or {}).get("spec") or {}
    name = ((pv or {}).get("metadata") or {}).get("name") or "?"
    in_tree = spec.get("awsElasticBlockStore")
    csi = spec.get("csi")
    zone = None
    if in_tree is not None:
        source, field = in_tree.get("volumeID") or "", "spec.awsElasticBlockStore.volumeID"
        if source.startswith("aws://"):
            url_zone = source[len("aws://"):].split("/")[0]
            zone = url_zone or None
    elif csi is not None and csi.get("driver") == EBS_CSI_DRIVER:
        source, field = csi.get("volumeHandle") or "", "spec.csi.volumeHandle"
    else:
        return None, None, None
    match = _VOLUME_ID.search(source)
    if not match:
        raise EbsError("PersistentVolume %s: %s %r does not name an EBS volume (vol-...); fix the PV or leave it out of "
                       "the EBS snapshots" % (name, field, source))
    zone = zone or pv_zone(pv)
    return match.group(0), region_from_zone(zone), zone


def pv_zone(pv):
    """The availability zone of a PV from its zone labels or node affinity, or None."""
    labels = ((pv or {}).get("metadata") or {}).get("labels") or {}
    for label in ZONE_LABELS:
        if labels.get(label):
            return labels[label]
    for expression in _affinity_expressions(pv):
        if expression.get("key") in ZONE_AFFINITY_KEYS and expression.get("operator", "In") == "In" and expression.get("values"):
            return expression["values"][0]
    return None


def _affinity_expressions(pv):
    affinity = (((pv or {}).get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}
    return [expression for term in affinity.get("nodeSelectorTerms") or [] for expression in (term or {}).get("matchExpressions") or []]


def rewrite_pv_for_volume(pv, volume_id, availability_zone):
    """A deep copy of an EBS PV pointing at ``volume_id`` in ``availability_zone``: volume ID, zone/region labels, node affinity."""
    if not _VOLUME_ID.match(str(volume_id or "")):
        raise EbsError("cannot point a PersistentVolume at %r: not an EBS volume ID (vol-...)" % (volume_id,))
    region = region_from_zone(availability_zone)
    if region is None:
        raise ConfigurationError("%r is not an availability zone name such as us-east-1a" % (availability_zone,))
    new_pv = copy.deepcopy(pv)
    spec = new_pv.setdefault("spec", {})
    name = (new_pv.get("metadata") or {}).get("name") or "?"
    if spec.get("awsElasticBlockStore") is not None:
        in_tree = spec["awsElasticBlockStore"]
        # Keep the form the PV had: the aws://zone/ URL or the bare ID.
        if str(in_tree.get("volumeID") or "").startswith("aws://"):
            in_tree["volumeID"] = "aws://%s/%s" % (availability_zone, volume_id)
        else:
            in_tree["volumeID"] = volume_id
    elif (spec.get("csi") or {}).get("driver") == EBS_CSI_DRIVER:
        spec["csi"]["volumeHandle"] = volume_id
    else:
        raise EbsError("PersistentVolume %s is not an EBS volume (neither awsElasticBlockStore nor the %s CSI driver): "
                       "it cannot be pointed at EBS volume %s" % (name, EBS_CSI_DRIVER, volume_id))

    labels = (new_pv.get("metadata") or {}).get("labels") or {}
    for label in ZONE_LABELS:
        if label in labels:
            labels[label] = availability_zone
    for label in REGION_LABELS:
        if label in labels:
            labels[label] = region

    affinity = (spec.get("nodeAffinity") or {}).get("required") or {}
    for term in affinity.get("nodeSelectorTerms") or []:
        expressions = (term or {}).get("matchExpressions")
        if not expressions:
            continue
        zone_changed = False
        for expression in expressions:
            if expression.get("key") in ZONE_AFFINITY_KEYS:
                zone_changed = zone_changed or expression.get("values") != [availability_zone]
                expression["values"] = [availability_zone]
            elif expression.get("key") in REGION_AFFINITY_KEYS:
                expression["values"] = [region]
        if zone_changed:
            # A zone ID of the old zone would pin the PV to nodes it can no longer be attached on.
            term["matchExpressions"] = [item for item in expressions if item.get("key") not in ZONE_ID_AFFINITY_KEYS]
    return new_pv
