# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWS settings shared by the S3 location (location_config) and EBS snapshots (ebs_config).

Both take a dict of options with amazon.aws-style aliases, and fill what is
unset from the same ``AWS_*`` variables the amazon.aws modules read;
explicit options beat the environment, and an explicit choice of
credentials (a profile, or keys) is never mixed with the environment's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError

# In order of preference.
ENV_FALLBACKS = dict(
    region=("AWS_REGION", "AWS_DEFAULT_REGION"),
    endpoint_url=("AWS_URL",),
    profile=("AWS_PROFILE", "AWS_DEFAULT_PROFILE"),
    access_key=("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"),
    secret_key=("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY"),
    session_token=("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"),
    ca_bundle=("AWS_CA_BUNDLE",),
)
CREDENTIAL_KEYS = ("access_key", "secret_key", "session_token")
# The region an availability zone name starts with: us-east-1a, us-west-2-lax-1a (local zone), us-gov-west-1b.
_ZONE_REGION = re.compile(r"^([a-z]{2}(?:-[a-z]+)+-\d+)(?=[a-z]|-)")


def take_options(config, spec, option):
    """{name: value} for every option of ``spec``, aliases folded in; ConfigurationError on unknown or conflicting keys."""
    config = dict(config or {})
    settings = {}
    for name, option_spec in spec.items():
        for alias in option_spec.get("aliases", ()):
            if config.get(alias) is not None:
                if config.get(name) is not None and config[name] != config[alias]:
                    raise ConfigurationError("%s: set %s or its alias %s, not both" % (option, name, alias))
                config[name] = config[alias]
            config.pop(alias, None)
        settings[name] = config.pop(name, None)
    if config:
        raise ConfigurationError("%s: unknown option(s) %s; allowed: %s" % (option, ", ".join(sorted(config)), ", ".join(sorted(spec))))
    return settings


def apply_environment(settings, option, fallbacks=None, environ=None):
    """Fill unset settings from the environment (``fallbacks``: setting -> variables, default ENV_FALLBACKS)."""
    environ = os.environ if environ is None else environ
    explicit_profile = settings["profile"] is not None
    explicit_keys = any(settings[name] for name in CREDENTIAL_KEYS)
    if explicit_profile and explicit_keys:
        raise ConfigurationError("%s: set either profile or access_key/secret_key/session_token, not both" % option)
    for name, variables in (fallbacks or ENV_FALLBACKS).items():
        if settings[name] is not None:
            continue
        if (explicit_profile and name in CREDENTIAL_KEYS) or (explicit_keys and name == "profile"):
            continue  # an explicit choice of credentials is not mixed with the environment's
        settings[name] = next((environ[var] for var in variables if environ.get(var)), None)
    # As boto3 does: keys in the environment win over a profile in the environment.
    if not explicit_profile and settings["access_key"]:
        settings["profile"] = None
    if bool(settings["access_key"]) != bool(settings["secret_key"]):
        missing = "secret_key (AWS_SECRET_ACCESS_KEY)" if settings["access_key"] else "access_key (AWS_ACCESS_KEY_ID)"
        raise ConfigurationError("%s: access_key and secret_key go together; %s is missing" % (option, missing))


def region_from_zone(zone):
    """The region of an availability zone name (us-east-1a -> us-east-1, us-west-2-lax-1a -> us-west-2), or None."""
    match = _ZONE_REGION.match(str(zone or ""))
    return match.group(1) if match else None
