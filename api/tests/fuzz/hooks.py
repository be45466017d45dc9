"""Schemathesis hooks for the fuzz run (api/tests/fuzz.rs).

Stripe signs each webhook over its raw body, so a generated body with a made-up
`Stripe-Signature` can only ever be refused. For cases whose headers are not the
deliberately broken part, sign the exact bytes that will be sent with the run's
webhook secret, so the fuzzer reaches past the signature check into parsing and storing.
"""

import ast
import hashlib
import hmac
import json
import os
import threading
import time

import schemathesis
from schemathesis.core import NOT_SET
from schemathesis.core.parameters import ParameterLocation
from schemathesis.engine import observations as _observations

SECRET = os.environ["FUZZ_WEBHOOK_SECRET"].encode()


def _raw_body(case):
    if isinstance(case.body, bytes):
        return case.body
    # What requests sends for `json=`: json.dumps(..., allow_nan=False), UTF-8.
    return json.dumps(case.body, allow_nan=False).encode()


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path != "/v1/webhooks/stripe" or case.body is NOT_SET:
        return
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
        return
    if case.media_type and not case.media_type.startswith("application/json"):
        return
    try:
        raw = _raw_body(case)
    except ValueError:
        return
    now = int(time.time())
    digest = hmac.new(SECRET, f"{now}.".encode() + raw, hashlib.sha256).hexdigest()
    headers = dict(case.headers or {})
    headers["Stripe-Signature"] = f"t={now},v1={digest}"
    case.headers = headers


# schemathesis 4.32.5 scans response bodies for same-origin URLs to learn links, and
# crashes the whole run ("Invalid IPv6 URL", an internal error) on a string that starts
# with "http://[" without being a URL, which a fuzzed store or SKU field echoed back can
# be. Such a string is no link: treat it as none.
_same_origin_path = _observations._same_origin_path


def _same_origin_path_or_none(value, origin):
    try:
        return _same_origin_path(value, origin)
    except ValueError:
        return None


_observations._same_origin_path = _same_origin_path_or_none


# Python 3.11 keeps the AST constructor's recursion depth in interpreter-wide state, so
# two threads parsing at once can fail one of them with "SystemError: AST constructor
# recursion depth mismatch" (CPython gh-106905). hypothesis parses source to describe a
# strategy's lambdas, and with `--workers 2` both workers did: CI saw the run end in a
# FlakyFailure for an operation whose example was fine. One parse at a time.
_parse = ast.parse
_parse_lock = threading.Lock()


def _parse_one_at_a_time(*args, **kwargs):
    with _parse_lock:
        return _parse(*args, **kwargs)


ast.parse = _parse_one_at_a_time
