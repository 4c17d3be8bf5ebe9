"""The scheduler's filters: which nodes a pod fits, and kube-scheduler's words when none does.

Filters, in kube-scheduler's order, each giving a node its first failure reason: NodeUnschedulable,
TaintToleration (NoSchedule and NoExecute taints), NodeAffinity (nodeSelector and required node affinity),
VolumeBinding (the required node affinity of the PersistentVolumes bound to the pod's claims).
"""

from kubesim.controllers.common import labels_of, meta

UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


def _expression_matches(expression, labels):
    key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    if operator in ("Gt", "Lt") and key in labels and len(values) == 1:
        try:
            label, bound = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return label > bound if operator == "Gt" else label < bound
    return False


def _field_matches(expression, node):
    # matchFields supports metadata.name only.
    fields = {"metadata.name": meta(node).get("name")}
    return expression.get("key") in fields and _expression_matches(expression, fields)


def node_selector_terms_match(terms, node):
    """Whether a node matches nodeSelectorTerms: any term, all of a term's expressions and fields; no terms match nothing."""
    labels = labels_of(node)
    return any((term.get("matchExpressions") or term.get("matchFields"))
               and all(_expression_matches(expression, labels) for expression in term.get("matchExpressions") or [])
               and all(_field_matches(expression, node) for expression in term.get("matchFields") or [])
               for term in terms or [])


def _tolerates(tolerations, taint):
    for toleration in tolerations:
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        operator = toleration.get("operator") or "Equal"
        if not toleration.get("key") and operator == "Exists":
            return True
        if toleration.get("key") != taint.get("key"):
            continue
        if operator == "Exists" or (toleration.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def misfit_reason(pod, node, volumes):
    """Why ``node`` cannot take ``pod`` in kube-scheduler's words ("node(s) ..."), or None when it fits.

    ``volumes`` are the PersistentVolumes bound to the pod's claims.
    """
    spec = pod.get("spec") or {}
    if (node.get("spec") or {}).get("unschedulable") and not _tolerates(spec.get("tolerations") or [], UNSCHEDULABLE_TAINT):
        return "node(s) were unschedulable"
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(spec.get("tolerations") or [], taint):
            return "node(s) had untolerated taint {%s: %s}" % (taint.get("key", ""), taint.get("value", ""))
    required = ((((spec.get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {})
                .get("nodeSelectorTerms"))
    if not (spec.get("nodeSelector") or {}).items() <= labels_of(node).items() or (required and not node_selector_terms_match(required, node)):
        return "node(s) didn't match Pod's node affinity/selector"
    for volume in volumes:
        terms = ((((volume.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms"))
        if terms and not node_selector_terms_match(terms, node):
            return "node(s) had volume node affinity conflict"
    return None


def unschedulable_message(node_count, reasons):
    """kube-scheduler's FailedScheduling message for {reason: node count}."""
    if not node_count:
        return "no nodes available to schedule pods"
    listed = ", ".join(sorted("%d %s" % (count, reason) for reason, count in reasons.items()))
    return "0/%d nodes are available: %s. preemption: 0/%d nodes are available: %d Preemption is not helpful for scheduling." % (
        node_count, listed, node_count, node_count)
