"""API errors rendered as metav1.Status objects, with kube-apiserver's reasons and wording."""


class ApiError(Exception):
    """An error the server answers with a Status object."""

    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def to_status(self):
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if not self.reason:
            del status["reason"]  # StatusReasonUnknown is empty and omitted
        if self.details is not None:
            status["details"] = self.details
        return status


def qualified_resource(group, plural):
    """``deployments.apps`` or ``pods``: how kube-apiserver names a resource in messages."""
    return "%s.%s" % (plural, group) if group else plural


def _details(group, kind, name):
    details = {"name": name} if name else {}
    if group:
        details["group"] = group
    details["kind"] = kind
    return details


def not_found(group, plural, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (qualified_resource(group, plural), name), _details(group, plural, name))


def resource_not_found():
    # What kube-apiserver answers for a path that names no served resource.
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(group, plural, name):
    return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (qualified_resource(group, plural), name), _details(group, plural, name))


def conflict(group, plural, name):
    message = ('Operation cannot be fulfilled on %s "%s": the object has been modified; '
               "please apply your changes to the latest version and try again") % (qualified_resource(group, plural), name)
    return ApiError(409, "Conflict", message, _details(group, plural, name))


def invalid(group, kind, name, causes, reason="FieldValueInvalid"):
    """422 Invalid; ``causes`` is a list of (field, message) pairs, all of the cause ``reason``."""
    rendered = ", ".join("%s: %s" % (field, message) for field, message in causes)
    details = _details(group, kind, name)
    details["causes"] = [{"reason": reason, "message": message, "field": field} for field, message in causes]
    label = "%s.%s" % (kind, group) if group else kind
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (label, name, rendered), details)


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def forbidden(group, plural, name, why):
    message = '%s "%s" is forbidden: %s' % (qualified_resource(group, plural), name, why)
    return ApiError(403, "Forbidden", message, _details(group, plural, name))


def method_not_allowed():
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})


def unsupported_media_type(content_type, accepted):
    message = "the body of the request was in an unknown format - accepted media types include: %s" % ", ".join(accepted)
    if content_type:
        message = "%s is unsupported: %s" % (content_type, message)
    return ApiError(415, "UnsupportedMediaType", message, {})


def expired(message):
    return ApiError(410, "Expired", message)


def unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")


def too_many_requests(retry_after_seconds):
    return ApiError(429, "TooManyRequests", "Too many requests, please try again later.",
                    {"retryAfterSeconds": retry_after_seconds}, headers={"Retry-After": str(retry_after_seconds)})


def internal_error(message):
    return ApiError(500, "InternalError", "Internal error occurred: %s" % message, {"causes": [{"message": message}]})


def service_unavailable(message="the server is currently unable to handle the request"):
    return ApiError(503, "ServiceUnavailable", message, {})
