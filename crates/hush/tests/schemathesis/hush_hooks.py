"""schemathesis hooks for hush: every request is signed the way a hush device signs it.

The Rust test (crates/hush/tests/schemathesis.rs) registers a device and hands its id and
its Ed25519 secret seed (hex) over in HUSH_SCHEMATHESIS_DEVICE and HUSH_SCHEMATHESIS_KEY.
The signature covers the bytes requests is about to send, so it is made in a requests
auth handler, after the body and the URL are final (hush_core::auth::canonical_request).
"""

import base64
import hashlib
import os
import secrets
import time

import requests
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

DEVICE_ID = os.environ["HUSH_SCHEMATHESIS_DEVICE"]
KEY = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(os.environ["HUSH_SCHEMATHESIS_KEY"]))


def canonical_request(method: str, path_and_query: str, timestamp_ms: int, nonce: str, body: bytes) -> bytes:
    """The bytes a device signs (hush_core::auth::canonical_request)."""
    body_hash = hashlib.sha256(body).hexdigest()
    return f"hush-request-v1\n{method.upper()}\n{path_and_query}\n{timestamp_ms}\n{nonce}\n{body_hash}".encode()


class HushSignature(requests.auth.AuthBase):
    """Adds the x-hush-* headers (hush_proto::HEADER_*) to a prepared request."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        timestamp = int(time.time() * 1000)
        nonce = secrets.token_hex(16)
        signed = canonical_request(request.method, request.path_url, timestamp, nonce, body)
        signature = base64.urlsafe_b64encode(KEY.sign(signed)).rstrip(b"=").decode()
        request.headers["x-hush-device"] = DEVICE_ID
        request.headers["x-hush-timestamp"] = str(timestamp)
        request.headers["x-hush-nonce"] = nonce
        request.headers["x-hush-signature"] = signature
        return request


# A well-formed device id that is no device: what a revocation of the test's own device is
# sent for instead (schemathesis reuses ids it saw in answers, and revoking the device that
# signs every request would end the run's authentication).
NOT_THIS_DEVICE = "0000000000000000"


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.path_parameters and case.path_parameters.get("device_id") == DEVICE_ID:
        case.path_parameters["device_id"] = NOT_THIS_DEVICE
    kwargs["auth"] = HushSignature()
