# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which backups a retention policy keeps: TTL expiry and restic's keep-last/hourly/daily/weekly/monthly/yearly.

Pure functions over the backup summaries of ``backup_catalog.list_backups``
(``name``, ``complete``, ``phase``, ``start_timestamp``, ``expiration``); no I/O.

Keep rules follow restic's ``forget`` (and KubeStash's, which copies it):
backups are walked newest first; a rule ``keep_daily: 7`` keeps a backup
when its day differs from the day of the last backup that rule kept, until
it has kept 7 - so it keeps the newest backup of each of the 7 most recent
days *that have backups* (days without backups do not count). Each rule
counts on its own and a backup is kept when any rule keeps it (a union).
``-1`` means no limit (one per bucket, forever). Buckets are taken in
``timezone``: a backup started at 23:30 UTC belongs to the next day in
Europe/Paris. An hour repeated when clocks go back is two hourly buckets
(the UTC offset is part of the hour), unlike restic which merges them.
Only complete backups in phase Completed or PartiallyFailed count toward
keep rules; the others (Failed, unreadable, without a start time) are never
kept by a rule.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

try:
    import zoneinfo
    HAS_ZONEINFO = True
except ImportError:  # Python < 3.9; the controller-side Pythons all have it
    HAS_ZONEINFO = False

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import BackupFormatError, ConfigurationError

# Phases whose backups a restore accepts: only those count toward keep rules.
COUNTED_PHASES = velero_format.RESTORABLE_PHASES
UNLIMITED = -1
KEEP_RULES = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")


def _hour(moment):
    return moment.strftime("%Y-%m-%d %H:00") + _offset(moment)


def _offset(moment):
    """``+01:00``: tells apart the two occurrences of an hour repeated when clocks go back."""
    text = moment.strftime("%z")
    return text[:3] + ":" + text[3:] if text else ""


def _iso_week(moment):
    year, week, _day = moment.isocalendar()
    return "%04d-W%02d" % (year, week)


# rule -> the bucket of a local start time, as shown in the reasons.
_BUCKETS = {
    "keep_hourly": _hour,
    "keep_daily": lambda moment: moment.strftime("%Y-%m-%d"),
    "keep_weekly": _iso_week,
    "keep_monthly": lambda moment: moment.strftime("%Y-%m"),
    "keep_yearly": lambda moment: moment.strftime("%Y"),
}


def check_timezone(name):
    """A tzinfo for an IANA time zone name (``Europe/Paris``, ``UTC``); ConfigurationError otherwise."""
    if name in (None, "", "UTC", "Etc/UTC", "Z"):
        return datetime.timezone.utc
    if not HAS_ZONEINFO:
        raise ConfigurationError("timezone %r needs Python 3.9 or later (zoneinfo); use timezone: UTC" % (name,))
    try:
        return zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError("timezone %r is not a known IANA time zone name; use a name such as UTC, Europe/Paris or "
                                 "America/New_York (the tzdata Python package provides them where the system has none)" % (name,))


def check_keep(rule, value):
    """A keep count: None (rule unset), 0 or more, or -1 (no limit)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigurationError("%s must be a whole number, not %r" % (rule, value))
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError("%s must be a whole number, not %r" % (rule, value))
    if count < UNLIMITED:
        raise ConfigurationError("%s must be 0 or more, or -1 for no limit, not %d" % (rule, count))
    return count


def start_time(backup):
    """The aware start time of a backup summary, or None when unknown or unreadable."""
    text = backup.get("start_timestamp")
    if not text:
        return None
    try:
        return velero_format.parse_timestamp(text, "start_timestamp")
    except BackupFormatError:
        return None


def counts_toward_keep(backup):
    """Whether keep rules may keep this backup: complete, Completed or PartiallyFailed, with a start time."""
    return bool(backup.get("complete")) and backup.get("phase") in COUNTED_PHASES and start_time(backup) is not None


def select_expired(backups, now):
    """{name: "expired at <expiration>"} of the complete backups whose expiration (start + TTL) is not after ``now``."""
    expired = {}
    for backup in backups:
        if not backup.get("complete") or not backup.get("expiration"):
            continue
        try:
            expiration = velero_format.parse_timestamp(backup["expiration"], "expiration")
        except BackupFormatError:
            continue  # an unreadable expiration never expires a backup
        if expiration <= now:
            expired[backup["name"]] = "expired at %s" % velero_format.format_timestamp(expiration)
    return expired


def select_by_policy(backups, keep_last=None, keep_hourly=None, keep_daily=None, keep_weekly=None, keep_monthly=None,
                     keep_yearly=None, now=None, timezone="UTC"):
    """{name: [reasons]} of the backups the keep rules keep; every other backup is not kept.

    ``now`` does not move buckets (restic counts buckets holding backups, not
    calendar periods back from now); a backup dated after ``now`` (clock skew)
    counts like any other. Reasons read ``keep_daily: 2024-01-02``.
    """
    del now  # part of the interface for symmetry with select_expired; see the docstring
    zone = check_timezone(timezone) if not isinstance(timezone, datetime.tzinfo) else timezone
    limits = dict((rule, check_keep(rule, value)) for rule, value in zip(KEEP_RULES, (
        keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly)))
    counted = [backup for backup in backups if counts_toward_keep(backup)]
    # Newest first; the name breaks ties the way list_backups sorts.
    counted.sort(key=lambda backup: (start_time(backup), backup["name"]), reverse=True)
    remaining = dict((rule, limit) for rule, limit in limits.items() if limit)
    last_bucket = {}
    kept = {}
    for position, backup in enumerate(counted):
        local = start_time(backup).astimezone(zone)
        for rule in KEEP_RULES:
            if rule not in remaining or remaining[rule] == 0:
                continue
            if rule == "keep_last":
                reason = "keep_last: %d of %s" % (position + 1, "all" if remaining[rule] == UNLIMITED else limits[rule])
            else:
                bucket = _BUCKETS[rule](local)
                if last_bucket.get(rule) == bucket:
                    continue  # a newer backup already holds this bucket for this rule
                last_bucket[rule] = bucket
                reason = "%s: %s" % (rule, bucket)
            kept.setdefault(backup["name"], []).append(reason)
            if remaining[rule] != UNLIMITED:
                remaining[rule] -= 1
    return kept


def policy_is_set(limits):
    """Whether any keep rule is given (0 counts as given: it keeps nothing by that rule)."""
    return any(limits.get(rule) is not None for rule in KEEP_RULES)
