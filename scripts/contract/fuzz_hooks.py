"""Schemathesis hooks for scripts/contract/fuzz: the failures it drops, each a false
positive for a reason the contract cannot state in JSON Schema (the operations'
descriptions say these rules). Everything else fails the run; each drop is printed."""

import json
import sys

import schemathesis
from schemathesis.openapi.checks import EnsureResourceAvailability, RejectedPositiveData

# A schema-valid request refused with 422 for one of these reasons is a false positive:
# (what the error message holds, why no schema can say it).
UNSTATEABLE_RULES = (
    # Rules on stored data or on the clock.
    ("is not a defined contact property", "properties are defined first (POST /v1/contact-properties)"),
    ("does not exist in this account", "the lists a campaign names must exist"),
    ("must be in the future", "send_at and support_access_until are relative to now"),
    ("must not be in the future", "a request's received_at is relative to now"),
    ("was already used for a different request", "an Idempotency-Key is bound to its first request"),
    # Rules between fields, or on a file's content.
    ("give either contact_id or email", "a member is named by contact_id or by email"),
    ("name and properties go with email", "a member is named by contact_id or by email"),
    ("a rectification needs the changes to make", "changes go with kind rectification only"),
    ("only a rectification carries changes", "changes go with kind rectification only"),
    ("goes with source", "an import's policy_version goes with its source"),
    ("the file is empty", "a CSV import needs a header row"),
    ("the header", "a CSV import's header row is UTF-8 and names an email column once"),
    # Addresses: `format: email` admits RFC 5321's quoted local parts and any character in
    # them; Mailroom takes the dot-atom form only (letters, digits, RFC 5322 atext, dots
    # between them), which JSON Schema's format cannot be narrowed to.
    ("the part before @ contains an invalid character", "an address's local part is a dot-atom, stricter than format: email"),
    ("the part before @ must not start or end with a dot", "an address's local part is a dot-atom, stricter than format: email"),
    # Custom mail headers: names are case-insensitive, so the reserved ones (and the
    # printable-ASCII rule on names) cannot be listed in a schema of the object's keys.
    ("header name", "a custom header's name is printable ASCII, matched case-insensitively"),
    ("is set by Mailroom and cannot be overridden", "reserved header names are case-insensitive"),
    ("is written by the mail servers", "reserved header names are case-insensitive"),
    ("asks for a read receipt", "reserved header names are case-insensitive"),
    ("must not contain line breaks", "a custom header's value is one line"),
    ("must not contain control characters", "a custom header's value holds no control characters"),
    # Domain names: Unicode names are accepted and stored in their IDNA form, whose label
    # rules no pattern states.
    ("must be a registered domain or a subdomain of one", "a sending domain has at least two labels, by IDNA"),
    ("is not a valid domain name", "a sending domain's labels follow IDNA"),
    ("is too long for a domain name", "a domain's length is counted in its IDNA form"),
    ("must be a domain name", "a sending domain is a name, not an address"),
    # Every string the contract types has a pattern without NUL; free-form JSON (evidence,
    # changes, variables, headers) holds none at any depth either, which only a recursive
    # schema could say.
    ("must not contain NUL characters", "free-form JSON holds no NUL at any depth"),
)

# Refusals by problem code, for rules on a value's content or on stored data: (code, why).
UNSTATEABLE_CODES = {
    # A generated number may pass the Luhn check.
    "sensitive_data_rejected": "values that look like card numbers or national identifiers are refused",
    # An erasure the run filed earlier (POST /v1/data-subject-requests) blocks re-adding that
    # address without new consent; which addresses the run erases depends on its time budget.
    "subject_erased": "an erased person's address is re-added only with new consent",
    # A template's loops and output are bounded by a fuel and time budget.
    "render_budget_exceeded": "a template's rendering is bounded by a budget",
}

# A contact property's value is checked against the type the property was defined with
# (`POST /v1/contact-properties`), which the stateful run may have done with a generated
# name just before: (field prefix, message prefix, why).
DEFINED_TYPE_RULES = (
    ("properties.", "must be a ", "a property's value must match the type it was defined with at run time"),
    ("changes.properties.", "must be a ", "a property's value must match the type it was defined with at run time"),
)
# 404s about a resource named in the body (a consent's `list_id`), not in the path: the
# resource the stateful test just created is there.
BODY_RESOURCE_NOT_FOUND = ("list not found",)


def _problem(response):
    try:
        problem = json.loads(response.content or b"{}")
    except ValueError:
        return {}
    return problem if isinstance(problem, dict) else {}


def _unstateable(problem):
    """The reason every error of this 422 is a rule no schema can state, or None."""
    if problem.get("code") in UNSTATEABLE_CODES:
        return UNSTATEABLE_CODES[problem["code"]]
    reasons = []
    for error in problem.get("errors") or [{}]:
        message, field = error.get("message", ""), error.get("field", "")
        reason = next((why for fragment, why in UNSTATEABLE_RULES if fragment in message), None)
        if reason is None:
            reason = next(
                (why for prefix, start, why in DEFINED_TYPE_RULES
                 if field.startswith(prefix) and message.startswith(start)),
                None,
            )
        if reason is None:
            return None
        reasons.append(reason)
    return "; ".join(sorted(set(reasons)))


@schemathesis.hook
def filter_failure(context, failure, case, response):
    problem = _problem(response)
    reason = None
    if isinstance(failure, RejectedPositiveData) and response.status_code == 422:
        reason = _unstateable(problem)
    elif isinstance(failure, EnsureResourceAvailability) and problem.get("detail") in BODY_RESOURCE_NOT_FOUND:
        reason = "the 404 is about a resource named in the body"
    if reason is None:
        return True
    print(f"fuzz: dropped {type(failure).__name__} on {case.operation.label}: {reason}", file=sys.stderr)
    return False
