"""meta.k8s.io/v1 Table output, which kubectl asks for when it prints objects.

Columns are the server's default ones (Name, Age) for every kind; kubectl adds
the NAMESPACE column itself. Kind-specific columns are not emulated.
"""

import calendar
import time

COLUMNS = [
    {"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0},
    {"name": "Age", "type": "date", "format": "", "description": "CreationTimestamp is a timestamp representing the server time when this object was created.", "priority": 0},
]


def human_duration(seconds):
    """Age the way kube-apiserver prints it (apimachinery's duration.HumanDuration)."""
    seconds = int(seconds)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return "%ds" % seconds
    minutes, hours = seconds // 60, seconds // 3600
    if minutes < 10:
        return "%dm%ds" % (minutes, seconds % 60) if seconds % 60 else "%dm" % minutes
    if minutes < 180:
        return "%dm" % minutes
    if hours < 8:
        return "%dh%dm" % (hours, minutes % 60) if minutes % 60 else "%dh" % hours
    if hours < 48:
        return "%dh" % hours
    if hours < 24 * 8:
        return "%dd%dh" % (hours // 24, hours % 24) if hours % 24 else "%dd" % (hours // 24)
    if hours < 24 * 365 * 2:
        return "%dd" % (hours // 24)
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return "%dy%dd" % (hours // 24 // 365, days) if days else "%dy" % (hours // 24 // 365)
    return "%dy" % (hours // 24 // 365)


def _age(timestamp):
    if not timestamp:
        return "<unknown>"
    return human_duration(time.time() - calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ")))


def wants_table(accept):
    return bool(accept) and "as=Table" in accept.replace(" ", "")


def _row_object(obj, include):
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def table(_rtype, objects, list_metadata, query):
    include = query.get("includeObject") or "PartialObjectMetadata"
    rows = []
    for obj in objects:
        metadata = obj.get("metadata") or {}
        row = {"cells": [metadata.get("name"), _age(metadata.get("creationTimestamp"))]}
        row_object = _row_object(obj, include)
        if row_object is not None:
            row["object"] = row_object
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_metadata, "columnDefinitions": COLUMNS, "rows": rows}
