"""Label and field selectors, parsed and matched as k8s.io/apimachinery does.

Label selectors follow ``labels.Parse`` (the ``?labelSelector=`` grammar) and
``metav1.LabelSelectorAsSelector`` (the ``matchLabels``/``matchExpressions``
form inside objects).  Field selectors follow ``fields.ParseSelector`` plus the
per-kind field label conversion funcs that make kube-apiserver answer 400 for a
field it does not index.  Every parse failure raises ``SelectorError`` with
kube-apiserver's wording; the server answers it with 400 BadRequest.
"""

import re
from dataclasses import dataclass, field
from typing import Callable


class SelectorError(ValueError):
    """A selector that kube-apiserver would refuse with 400 BadRequest."""


# Label keys and values: k8s.io/apimachinery/pkg/util/validation.
_NAME_PART_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAME_PART_MESSAGE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
_PREFIX_MESSAGE = (
    "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
_LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation "
    "is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")

EQUALS = "="
DOUBLE_EQUALS = "=="
NOT_EQUALS = "!="
IN = "in"
NOT_IN = "notin"
EXISTS = "exists"
DOES_NOT_EXIST = "!"
GREATER_THAN = "gt"
LESS_THAN = "lt"

_BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)
# metav1.LabelSelectorOperator spellings accepted in matchExpressions.
_EXPRESSION_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}
# strconv.ParseInt(value, 10, 64) syntax, for the Gt and Lt operators.
_INTEGER_RE = re.compile(r"^[+-]?[0-9]+$")


def _label_key_errors(key):
    errors = []
    prefix, slash, name = key.rpartition("/")
    if slash and "/" in prefix:
        return ["a qualified name " + _NAME_PART_MESSAGE[len("name part "):] + " with an optional DNS subdomain prefix "
                "and '/' (e.g. 'example.com/MyName')"]
    if slash:
        if not prefix:
            errors.append("prefix part must be non-empty")
        elif len(prefix) > 253:
            errors.append("prefix part must be no more than 253 characters")
        elif not _DNS_SUBDOMAIN_RE.match(prefix):
            errors.append(_PREFIX_MESSAGE)
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    elif not _NAME_PART_RE.match(name):
        errors.append(_NAME_PART_MESSAGE)
    return errors


def _validate_label_key(key):
    errors = _label_key_errors(key)
    if errors:
        raise SelectorError('key: Invalid value: "%s": %s' % (key, "; ".join(errors)))


def _validate_label_value(index, value):
    if len(value) > 63:
        raise SelectorError('values[%d]: Invalid value: "%s": must be no more than 63 characters' % (index, value))
    if value and not _NAME_PART_RE.match(value):
        raise SelectorError('values[%d]: Invalid value: "%s": %s' % (index, value, _LABEL_VALUE_MESSAGE))


@dataclass(frozen=True)
class Requirement:
    """One ``key <operator> values`` term; a selector ANDs its requirements."""

    key: str
    operator: str
    values: frozenset = frozenset()

    @classmethod
    def build(cls, key, operator, values):
        """Validate like ``labels.NewRequirement`` and return the requirement."""
        _validate_label_key(key)
        values = list(values)
        if not all(isinstance(value, str) for value in values):
            raise SelectorError("values: Invalid value: %s: label values must be strings" % values)
        if operator in (IN, NOT_IN) and not values:
            raise SelectorError("values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty")
        if operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS) and len(values) != 1:
            raise SelectorError("values: Invalid value: %s: exact-match compatibility requires one single value" % values)
        if operator in (EXISTS, DOES_NOT_EXIST) and values:
            raise SelectorError("values: Invalid value: %s: values set must be empty for exists and does not exist" % values)
        if operator in (GREATER_THAN, LESS_THAN):
            if len(values) != 1:
                raise SelectorError("values: Invalid value: %s: for 'Gt', 'Lt' operators, exactly one value is required" % values)
            if not _INTEGER_RE.match(values[0]):
                raise SelectorError("values[0]: Invalid value: \"%s\": for 'Gt', 'Lt' operators, the value must be an integer"
                                    % values[0])
        for index, value in enumerate(values):
            _validate_label_value(index, value)
        return cls(key, operator, frozenset(values))

    def matches(self, labels):
        present = self.key in labels
        if self.operator in (EQUALS, DOUBLE_EQUALS, IN):
            return present and labels[self.key] in self.values
        if self.operator in (NOT_EQUALS, NOT_IN):
            # Upstream: an object without the key satisfies "!=" and "notin".
            return not present or labels[self.key] not in self.values
        if self.operator == EXISTS:
            return present
        if self.operator == DOES_NOT_EXIST:
            return not present
        if not present or not _INTEGER_RE.match(str(labels[self.key])):
            return False
        actual = int(labels[self.key])
        (bound,) = self.values
        return actual > int(bound) if self.operator == GREATER_THAN else actual < int(bound)


class LabelSelector:
    """A parsed label selector: an AND of requirements."""

    def __init__(self, requirements=(), matches_nothing=False):
        self.requirements = tuple(requirements)
        # metav1.LabelSelectorAsSelector turns a nil selector into labels.Nothing().
        self.matches_nothing = matches_nothing

    @property
    def empty(self):
        """True for the selector that selects everything (upstream ``Selector.Empty``)."""
        return not self.requirements and not self.matches_nothing

    def matches(self, labels):
        if self.matches_nothing:
            return False
        labels = labels or {}
        return all(requirement.matches(labels) for requirement in self.requirements)

    def __repr__(self):
        return "LabelSelector(%r, matches_nothing=%r)" % (self.requirements, self.matches_nothing)


# Tokens of the labels.Parse lexer.
_IDENTIFIER = "identifier"
_END = "end of string"
_OPEN = "("
_CLOSE = ")"
_COMMA = ","
_NOT = "!"
_KEYWORDS = {"in": IN, "notin": NOT_IN}
_SYMBOLS = {"==": DOUBLE_EQUALS, "!=": NOT_EQUALS, "=": EQUALS, "!": _NOT, "(": _OPEN, ")": _CLOSE, ",": _COMMA,
            ">": GREATER_THAN, "<": LESS_THAN}
_SPECIAL_CHARACTERS = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")


def _tokenize(text):
    tokens = []
    position = 0
    while position < len(text):
        character = text[position]
        if character in _WHITESPACE:
            position += 1
        elif character in _SPECIAL_CHARACTERS:
            symbol = text[position:position + 2] if text[position:position + 2] in _SYMBOLS else character
            tokens.append((_SYMBOLS[symbol], symbol))
            position += len(symbol)
        else:
            start = position
            while position < len(text) and text[position] not in _WHITESPACE and text[position] not in _SPECIAL_CHARACTERS:
                position += 1
            word = text[start:position]
            tokens.append((_KEYWORDS.get(word, _IDENTIFIER), word))
    tokens.append((_END, ""))
    return tokens


class _LabelSelectorParser:
    """Recursive-descent parser with upstream's structure, so its errors read the same."""

    def __init__(self, text):
        self.tokens = _tokenize(text)
        self.position = 0

    def peek(self, as_values=True):
        kind, literal = self.tokens[self.position]
        # Where a value or key is expected, "in" and "notin" are ordinary words.
        if as_values and kind in (IN, NOT_IN):
            kind = _IDENTIFIER
        return kind, literal

    def advance(self, as_values=True):
        token = self.peek(as_values)
        if token[0] != _END:
            self.position += 1
        return token

    def parse(self):
        requirements = []
        while True:
            kind, literal = self.peek()
            if kind == _END:
                return requirements
            if kind not in (_IDENTIFIER, _NOT):
                raise SelectorError("found '%s', expected: !, identifier, or 'end of string'" % literal)
            try:
                requirements.append(self._requirement())
            except SelectorError as error:
                raise SelectorError("unable to parse requirement: %s" % error) from None
            kind, literal = self.advance()
            if kind == _END:
                return requirements
            if kind != _COMMA:
                raise SelectorError("found '%s', expected: ',' or 'end of string'" % literal)
            kind, literal = self.peek()
            if kind not in (_IDENTIFIER, _NOT):
                raise SelectorError("found '%s', expected: identifier after ','" % literal)

    def _requirement(self):
        kind, literal = self.advance()
        negated = kind == _NOT
        if negated:
            kind, literal = self.advance()
        if kind != _IDENTIFIER:
            raise SelectorError("found '%s', expected: identifier" % literal)
        key = literal
        # Checked before the operator is read, so a bad key is what upstream reports first.
        _validate_label_key(key)
        if negated:
            return Requirement.build(key, DOES_NOT_EXIST, ())
        if self.peek()[0] in (_END, _COMMA):
            return Requirement.build(key, EXISTS, ())
        operator, literal = self.advance(as_values=False)
        if operator not in _BINARY_OPERATORS:
            raise SelectorError("found '%s', expected: %s" % (literal, ", ".join(_BINARY_OPERATORS)))
        values = self._value_set() if operator in (IN, NOT_IN) else self._exact_value()
        return Requirement.build(key, operator, sorted(values))

    def _exact_value(self):
        kind, literal = self.peek()
        if kind in (_END, _COMMA):
            return {""}
        self.advance()
        if kind != _IDENTIFIER:
            raise SelectorError("found '%s', expected: identifier" % literal)
        return {literal}

    def _value_set(self):
        kind, literal = self.advance()
        if kind != _OPEN:
            raise SelectorError("found '%s' expected: '('" % literal)
        kind, literal = self.peek()
        if kind == _CLOSE:
            # Upstream reads "()" as the set holding the empty string.
            self.advance()
            return {""}
        if kind not in (_IDENTIFIER, _COMMA):
            raise SelectorError("found '%s', expected: ',', ')' or identifier" % literal)
        values = self._identifier_list()
        kind, literal = self.advance()
        if kind != _CLOSE:
            raise SelectorError("found '%s', expected: ')'" % literal)
        return values

    def _identifier_list(self):
        # Empty slots, as in "(a,,b)" or "(,a)", stand for the empty string, as upstream.
        values = set()
        while True:
            kind, literal = self.advance()
            if kind == _IDENTIFIER:
                values.add(literal)
                following, following_literal = self.peek()
                if following == _CLOSE:
                    return values
                if following != _COMMA:
                    raise SelectorError("found '%s', expected: ',' or ')'" % following_literal)
            elif kind == _COMMA:
                if not values:
                    values.add("")
                following = self.peek()[0]
                if following == _CLOSE:
                    values.add("")
                    return values
                if following == _COMMA:
                    self.advance()
                    values.add("")
            else:
                raise SelectorError("found '%s', expected: ',', or identifier" % literal)


def parse_label_selector(text):
    """Parse a ``?labelSelector=`` string; the empty string selects everything."""
    return LabelSelector(_LabelSelectorParser(text or "").parse())


def label_selector_from_dict(selector):
    """Build a selector from a metav1.LabelSelector dict; ``None`` selects nothing, ``{}`` everything."""
    if selector is None:
        return LabelSelector(matches_nothing=True)
    requirements = []
    for key, value in sorted((selector.get("matchLabels") or {}).items()):
        requirements.append(Requirement.build(key, EQUALS, [value]))
    for expression in selector.get("matchExpressions") or []:
        operator = expression.get("operator")
        if operator not in _EXPRESSION_OPERATORS:
            raise SelectorError('"%s" is not a valid label selector operator' % operator)
        requirements.append(Requirement.build(expression.get("key", ""), _EXPRESSION_OPERATORS[operator],
                                              expression.get("values") or []))
    return LabelSelector(requirements)


# ---------------------------------------------------------------------------
# Field selectors


def _string_at(*path):
    def read(obj):
        value = obj
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        return value if isinstance(value, str) else ""
    return read


def _bool_at(*path):
    # Upstream formats the typed field, so an unset bool reads "false".
    def read(obj):
        value = obj
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        return "true" if value is True else "false"
    return read


def _int_at(*path):
    # Upstream formats the typed field, so an unset count reads "0".
    def read(obj):
        value = obj
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else "0"
    return read


def _first_of(*readers):
    def read(obj):
        for reader in readers:
            value = reader(obj)
            if value:
                return value
        return ""
    return read


def _pod_ip(obj):
    ips = (obj.get("status") or {}).get("podIPs") or []
    first = ips[0].get("ip", "") if ips and isinstance(ips[0], dict) else ""
    return first or _string_at("status", "podIP")(obj)


def _unindexed(_obj):
    # Accepted by the conversion func but never set by ToSelectableFields: always "".
    return ""


_METADATA_NAME = {"metadata.name": _string_at("metadata", "name")}
_METADATA_NAMESPACE = {"metadata.namespace": _string_at("metadata", "namespace")}
_CORE_EVENT_FIELDS = {
    "involvedObject.kind": _string_at("involvedObject", "kind"),
    "involvedObject.namespace": _string_at("involvedObject", "namespace"),
    "involvedObject.name": _string_at("involvedObject", "name"),
    "involvedObject.uid": _string_at("involvedObject", "uid"),
    "involvedObject.apiVersion": _string_at("involvedObject", "apiVersion"),
    "involvedObject.resourceVersion": _string_at("involvedObject", "resourceVersion"),
    "involvedObject.fieldPath": _string_at("involvedObject", "fieldPath"),
    "reason": _string_at("reason"),
    "reportingComponent": _string_at("reportingComponent"),
    "source": _first_of(_string_at("source", "component"), _string_at("reportingComponent")),
    "type": _string_at("type"),
}
_EVENTS_V1_FIELDS = {
    # events.k8s.io shares core Events' storage; its own spellings of the same fields.
    "regarding.kind": _string_at("regarding", "kind"),
    "regarding.namespace": _string_at("regarding", "namespace"),
    "regarding.name": _string_at("regarding", "name"),
    "regarding.uid": _string_at("regarding", "uid"),
    "regarding.apiVersion": _string_at("regarding", "apiVersion"),
    "regarding.resourceVersion": _string_at("regarding", "resourceVersion"),
    "regarding.fieldPath": _string_at("regarding", "fieldPath"),
    "reportingController": _string_at("reportingController"),
    "reason": _string_at("reason"),
    "type": _string_at("type"),
}


def _unsupported(label):
    return "field label not supported: %s" % label


# (group, kind) -> (readers by field label, legacy aliases, rejection message).  Transcribed from the
# AddFieldLabelConversionFunc registrations (pkg/apis/*/v1/conversion.go) and each registry's
# ToSelectableFields; cluster-scoped kinds there do not accept metadata.namespace.
_FIELD_RULES = {
    ("", "Pod"): ({
        **_METADATA_NAME, **_METADATA_NAMESPACE,
        "spec.nodeName": _string_at("spec", "nodeName"),
        "spec.restartPolicy": _string_at("spec", "restartPolicy"),
        "spec.schedulerName": _string_at("spec", "schedulerName"),
        "spec.serviceAccountName": _string_at("spec", "serviceAccountName"),
        "spec.hostNetwork": _bool_at("spec", "hostNetwork"),
        "status.phase": _string_at("status", "phase"),
        "status.podIP": _pod_ip,
        "status.podIPs": _unindexed,
        "status.nominatedNodeName": _string_at("status", "nominatedNodeName"),
    }, {"spec.host": "spec.nodeName"}, _unsupported),
    ("", "Node"): ({**_METADATA_NAME, "spec.unschedulable": _bool_at("spec", "unschedulable")}, {}, _unsupported),
    ("", "Namespace"): ({**_METADATA_NAME, "status.phase": _string_at("status", "phase")}, {}, _unsupported),
    ("", "ReplicationController"): ({**_METADATA_NAME, **_METADATA_NAMESPACE, "status.replicas": _int_at("status", "replicas")},
                                    {}, _unsupported),
    ("", "Event"): ({**_METADATA_NAME, **_METADATA_NAMESPACE, **_CORE_EVENT_FIELDS}, {}, _unsupported),
    ("", "Secret"): ({**_METADATA_NAME, **_METADATA_NAMESPACE, "type": _string_at("type")}, {}, _unsupported),
    ("", "Service"): ({**_METADATA_NAME, **_METADATA_NAMESPACE, "spec.clusterIP": _string_at("spec", "clusterIP"),
                       "spec.type": _string_at("spec", "type")}, {}, _unsupported),
    ("events.k8s.io", "Event"): ({**_METADATA_NAME, **_METADATA_NAMESPACE, **_EVENTS_V1_FIELDS}, {}, _unsupported),
    ("batch", "Job"): ({**_METADATA_NAME, **_METADATA_NAMESPACE, "status.successful": _int_at("status", "succeeded")}, {},
                       lambda label: 'field label "%s" not supported for batchv1.Job' % label),
    ("certificates.k8s.io", "CertificateSigningRequest"): ({**_METADATA_NAME, "spec.signerName": _string_at("spec", "signerName")},
                                                           {}, _unsupported),
}
# runtime.DefaultMetaV1FieldSelectorConversion: every other kind, custom resources and all of apps/v1 included.
_DEFAULT_FIELD_RULES = ({**_METADATA_NAME, **_METADATA_NAMESPACE}, {},
                        lambda label: '"%s" is not a known field selector: only "metadata.name", "metadata.namespace"' % label)


def _field_rules(kind, group):
    if group is None:
        groups = sorted(rule_group for rule_group, rule_kind in _FIELD_RULES if rule_kind == kind)
        group = groups[0] if groups else ""
    return _FIELD_RULES.get((group, kind), _DEFAULT_FIELD_RULES)


@dataclass(frozen=True)
class FieldRequirement:
    """``label == value`` (``equal`` True) or ``label != value``; ``read`` extracts the field from an object."""

    label: str
    equal: bool
    value: str
    read: Callable[[dict], str] = field(compare=False)

    def matches(self, obj):
        return (self.read(obj) == self.value) == self.equal


class FieldSelector:
    """A parsed field selector: an AND of requirements on indexed fields."""

    def __init__(self, requirements=()):
        self.requirements = tuple(requirements)

    @property
    def empty(self):
        return not self.requirements

    def matches(self, obj):
        return all(requirement.matches(obj) for requirement in self.requirements)

    def __repr__(self):
        return "FieldSelector(%r)" % ([(r.label, r.equal, r.value) for r in self.requirements],)


def _split_unescaped(text, separator):
    """Split on ``separator`` where it is not escaped by a backslash (fields.splitTerms)."""
    parts, current, escaped = [], [], False
    for character in text:
        if escaped:
            current.append(character)
            escaped = False
        elif character == "\\":
            current.append(character)
            escaped = True
        elif character == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(character)
    parts.append("".join(current))
    return parts


def _split_term(term):
    # fields.splitTerm: the leftmost operator wins, "!=" and "==" before "=" at one position.
    for index in range(len(term)):
        for operator in ("!=", "==", "="):
            if term.startswith(operator, index):
                return term[:index], operator, term[index + len(operator):]
    return None


def _unescape_field_value(value):
    result, escaped = [], False
    for character in value:
        if escaped:
            if character not in "\\,=":
                raise SelectorError("invalid field selector: invalid escape sequence: \\%s" % character)
            result.append(character)
            escaped = False
        elif character == "\\":
            escaped = True
        elif character in ",=":
            raise SelectorError("invalid field selector: unescaped character in value: %s" % character)
        else:
            result.append(character)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(result)


def parse_field_selector(text, kind, group=None):
    """Parse a ``?fieldSelector=`` string for objects of ``kind``.

    ``group`` is the kind's API group; ``None`` takes the built-in kind of that
    name (core group first).  Pass the group for custom resources so that one
    named like a built-in kind (``Event``, ``Job``) gets only the metadata
    fields, as kube-apiserver gives it.
    """
    readers, aliases, rejection = _field_rules(kind, group)
    requirements = []
    for term in _split_unescaped(text or "", ","):
        if not term:
            continue
        split = _split_term(term)
        if split is None:
            raise SelectorError("invalid selector: '%s'; can't understand '%s'" % (text, term))
        label, operator, value = split
        label = aliases.get(label, label)
        if label not in readers:
            raise SelectorError(rejection(label))
        requirements.append(FieldRequirement(label, operator != "!=", _unescape_field_value(value), readers[label]))
    return FieldSelector(requirements)
