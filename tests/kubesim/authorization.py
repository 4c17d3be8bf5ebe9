"""The one question every authorization decision asks: may this user do this?

``Attributes`` are what kube-apiserver's authorizers see for a request; an
authorizer is a function ``authorizer(attributes) -> Decision``. The emulator
allows everything by default (``allow_all``, kube-apiserver's AlwaysAllow);
another authorizer (RBAC) replaces ``KubeSim.authorizer``.
"""

from collections import namedtuple

Attributes = namedtuple("Attributes", "user groups verb group resource subresource namespace name path")
Attributes.__new__.__defaults__ = ((), "", "", "", "", "", "", "", "")

# allowed: the request may go on; reason: why, as SubjectAccessReview's status.reason shows it.
Decision = namedtuple("Decision", "allowed reason")


def allow_all(attributes):  # pylint: disable=unused-argument
    """kube-apiserver's --authorization-mode=AlwaysAllow: every request of every user, no reason given."""
    return Decision(True, "")
