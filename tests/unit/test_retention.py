"""Retention rules over synthetic backup dates: TTL expiry and restic's keep rules, in time zones."""

import datetime

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.ops import retention
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.ops.prune import PruneOptions

UTC = datetime.timezone.utc
NOW = datetime.datetime(2025, 1, 10, 12, 0, 0, tzinfo=UTC)


def backup(start, name=None, phase="Completed", complete=True, ttl_hours=720):
    """A list_backups summary started at ``start`` ("2024-12-31T23:30:00Z")."""
    moment = datetime.datetime.strptime(start, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return {
        "name": name or "b-" + moment.strftime("%Y%m%d%H%M%S"),
        "complete": complete,
        "phase": phase if complete else None,
        "start_timestamp": start if complete else None,
        "expiration": (moment + datetime.timedelta(hours=ttl_hours)).strftime("%Y-%m-%dT%H:%M:%SZ") if complete else None,
    }


def kept_starts(backups, **rules):
    rules.setdefault("now", NOW)
    kept = retention.select_by_policy(backups, **rules)
    return sorted(b["start_timestamp"] for b in backups if b["name"] in kept)


# (case, backup starts, rules, starts kept)
POLICY_CASES = [
    ("keep_last keeps the newest N",
     ["2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z", "2025-01-03T00:00:00Z"], dict(keep_last=2),
     ["2025-01-02T00:00:00Z", "2025-01-03T00:00:00Z"]),
    ("keep_daily keeps the newest of each day",
     ["2025-01-01T01:00:00Z", "2025-01-01T20:00:00Z", "2025-01-02T03:00:00Z", "2025-01-02T04:00:00Z"], dict(keep_daily=5),
     ["2025-01-01T20:00:00Z", "2025-01-02T04:00:00Z"]),
    ("days without backups do not count (restic)",
     ["2025-01-01T01:00:00Z", "2025-01-05T01:00:00Z", "2025-01-09T01:00:00Z"], dict(keep_daily=2),
     ["2025-01-05T01:00:00Z", "2025-01-09T01:00:00Z"]),
    ("23:30 UTC is the next day in Europe/Paris",
     ["2025-01-01T22:30:00Z", "2025-01-01T23:30:00Z"], dict(keep_daily=2, timezone="Europe/Paris"),
     ["2025-01-01T22:30:00Z", "2025-01-01T23:30:00Z"]),
    ("same UTC day is one day in UTC",
     ["2025-01-01T22:30:00Z", "2025-01-01T23:30:00Z"], dict(keep_daily=2),
     ["2025-01-01T23:30:00Z"]),
    ("New York: 03:00 UTC is still the previous day",
     ["2025-01-02T03:00:00Z", "2025-01-02T06:00:00Z"], dict(keep_daily=2, timezone="America/New_York"),
     ["2025-01-02T03:00:00Z", "2025-01-02T06:00:00Z"]),
    ("month ends: Jan 31 and Feb 1 are two months, Feb 28 and 29 one (leap year)",
     ["2024-01-31T12:00:00Z", "2024-02-01T12:00:00Z", "2024-02-28T12:00:00Z", "2024-02-29T12:00:00Z"], dict(keep_monthly=3),
     ["2024-01-31T12:00:00Z", "2024-02-29T12:00:00Z"]),
    ("month end in Paris: Jan 31 23:30 UTC belongs to February",
     ["2024-01-31T23:30:00Z", "2024-02-10T12:00:00Z"], dict(keep_monthly=3, timezone="Europe/Paris"),
     ["2024-02-10T12:00:00Z"]),
    ("leap day is its own day",
     ["2024-02-28T12:00:00Z", "2024-02-29T12:00:00Z", "2024-03-01T12:00:00Z"], dict(keep_daily=3),
     ["2024-02-28T12:00:00Z", "2024-02-29T12:00:00Z", "2024-03-01T12:00:00Z"]),
    ("ISO week across new year: 2024-12-30 .. 2025-01-05 is 2025-W01",
     ["2024-12-29T12:00:00Z", "2024-12-30T12:00:00Z", "2025-01-01T12:00:00Z", "2025-01-05T12:00:00Z"], dict(keep_weekly=2),
     ["2024-12-29T12:00:00Z", "2025-01-05T12:00:00Z"]),
    ("ISO week 53: 2020-12-31 and 2021-01-03 are both 2020-W53",
     ["2020-12-28T12:00:00Z", "2021-01-03T12:00:00Z", "2021-01-04T12:00:00Z"], dict(keep_weekly=5),
     ["2021-01-03T12:00:00Z", "2021-01-04T12:00:00Z"]),
    ("keep_yearly across new year in Paris",
     ["2024-06-01T00:00:00Z", "2024-12-31T23:30:00Z"], dict(keep_yearly=2, timezone="Europe/Paris"),
     ["2024-06-01T00:00:00Z", "2024-12-31T23:30:00Z"]),
    ("keep_yearly in UTC: same year",
     ["2024-06-01T00:00:00Z", "2024-12-31T23:30:00Z"], dict(keep_yearly=2),
     ["2024-12-31T23:30:00Z"]),
    ("hourly: the hour repeated when Paris clocks go back is two hours",
     ["2024-10-27T00:30:00Z", "2024-10-27T01:30:00Z"], dict(keep_hourly=5, timezone="Europe/Paris"),
     ["2024-10-27T00:30:00Z", "2024-10-27T01:30:00Z"]),
    ("daily across the spring DST change (23-hour day) in Paris",
     ["2024-03-30T22:59:00Z", "2024-03-30T23:01:00Z", "2024-03-31T21:59:00Z", "2024-03-31T22:01:00Z"],
     dict(keep_daily=5, timezone="Europe/Paris"),
     ["2024-03-30T22:59:00Z", "2024-03-31T21:59:00Z", "2024-03-31T22:01:00Z"]),
    ("union: keep_last 1 + keep_monthly 2",
     ["2024-11-15T00:00:00Z", "2024-12-01T00:00:00Z", "2024-12-20T00:00:00Z", "2025-01-02T00:00:00Z", "2025-01-05T00:00:00Z"],
     dict(keep_last=1, keep_monthly=2),
     ["2024-12-20T00:00:00Z", "2025-01-05T00:00:00Z"]),
    ("union: each rule counts on its own",
     ["2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z", "2025-01-03T00:00:00Z"], dict(keep_last=1, keep_daily=2),
     ["2025-01-02T00:00:00Z", "2025-01-03T00:00:00Z"]),
    ("-1 keeps one per bucket without limit",
     ["2023-05-01T00:00:00Z", "2024-05-01T00:00:00Z", "2024-06-01T00:00:00Z"], dict(keep_yearly=-1),
     ["2023-05-01T00:00:00Z", "2024-06-01T00:00:00Z"]),
    ("0 keeps nothing", ["2025-01-01T00:00:00Z"], dict(keep_daily=0), []),
]


@pytest.mark.parametrize("case, starts, rules, expected", POLICY_CASES, ids=[case[0] for case in POLICY_CASES])
def test_keep_rules(case, starts, rules, expected):
    del case
    assert kept_starts([backup(start) for start in starts], **rules) == expected


def test_reasons_name_the_rule_and_bucket():
    backups = [backup("2024-12-31T23:30:00Z", name="a"), backup("2024-12-30T10:00:00Z", name="b")]
    kept = retention.select_by_policy(backups, keep_last=1, keep_daily=2, keep_weekly=2, keep_monthly=2, keep_yearly=2,
                                      keep_hourly=1, timezone="Europe/Paris")
    assert kept["a"] == ["keep_last: 1 of 1", "keep_hourly: 2025-01-01 00:00+01:00", "keep_daily: 2025-01-01",
                         "keep_weekly: 2025-W01", "keep_monthly: 2025-01", "keep_yearly: 2025"]
    assert kept["b"] == ["keep_daily: 2024-12-30", "keep_monthly: 2024-12", "keep_yearly: 2024"]


def test_only_complete_restorable_backups_count_toward_keep():
    backups = [
        backup("2025-01-05T00:00:00Z", name="failed", phase="Failed"),
        backup("2025-01-04T00:00:00Z", name="partial", phase="PartiallyFailed"),
        backup("2025-01-03T00:00:00Z", name="debris", complete=False),
        backup("2025-01-02T00:00:00Z", name="ok"),
    ]
    kept = retention.select_by_policy(backups, keep_last=2)
    assert sorted(kept) == ["ok", "partial"]
    assert not retention.counts_toward_keep(backups[0])
    assert not retention.counts_toward_keep(backups[2])


EXPIRY_CASES = [
    ("expired an hour ago", "2024-12-11T11:00:00Z", 720, True),
    ("expires in an hour", "2024-12-11T13:00:00Z", 720, False),
    ("expires exactly now", "2025-01-10T11:00:00Z", 1, True),
    ("ttl 0 expires at once", "2025-01-10T11:59:00Z", 0, True),
    ("one-year ttl", "2024-06-01T00:00:00Z", 8760, False),
]


@pytest.mark.parametrize("case, start, ttl_hours, is_expired", EXPIRY_CASES, ids=[case[0] for case in EXPIRY_CASES])
def test_expired_ttl(case, start, ttl_hours, is_expired):
    del case
    item = backup(start, ttl_hours=ttl_hours)
    expired = retention.select_expired([item], NOW)
    assert (item["name"] in expired) == is_expired
    if is_expired:
        assert expired[item["name"]] == "expired at %s" % item["expiration"]


def test_incomplete_and_unreadable_expirations_never_expire():
    debris = backup("2020-01-01T00:00:00Z", complete=False)
    odd = dict(backup("2020-01-01T00:00:00Z"), expiration="yesterday")
    assert retention.select_expired([debris, odd], NOW) == {}


@pytest.mark.parametrize("value, message", [
    ("Mars/Olympus", "not a known IANA time zone"),
    ("", None),
    ("Europe/Paris", None),
])
def test_timezone_check(value, message):
    if message:
        with pytest.raises(ConfigurationError, match=message):
            retention.check_timezone(value)
    else:
        assert retention.check_timezone(value) is not None


@pytest.mark.parametrize("value", [-2, "many", True])
def test_bad_keep_counts(value):
    with pytest.raises(ConfigurationError, match="keep_daily"):
        retention.check_keep("keep_daily", value)


def test_prune_options_refuse_nothing_to_do_and_bad_ages():
    with pytest.raises(ConfigurationError, match="nothing to prune"):
        PruneOptions(expired=False)
    with pytest.raises(ConfigurationError, match="incomplete_older_than"):
        PruneOptions(include_incomplete=True, incomplete_older_than="soon")
    with pytest.raises(ConfigurationError, match="negative"):
        PruneOptions(include_incomplete=True, incomplete_older_than="-1h")
    assert PruneOptions(expired=False, keep_daily=0).policy
