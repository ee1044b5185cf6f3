"""WeChat Pay API v3 cryptography, as published: our request signatures, the check of the gateway's
signatures on its replies and notices, the AEAD_AES_256_GCM resources of notices and certificates, and
the signatures of the client-side payment calls. Pure functions over `cryptography`; no I/O, no clock
(every time is passed in), so both the adapter and the stand-in use them.

- A request is signed over `METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n` (URL: the path and, when there is
  one, `?` and the query string; BODY: the JSON sent, empty for a GET) with the merchant's RSA key,
  RSA PKCS#1 v1.5 with SHA-256, base64; the `Authorization` header names the scheme
  `WECHATPAY2-SHA256-RSA2048` and carries mchid, nonce_str, signature, timestamp and serial_no.
- A reply or notice is signed by the platform over `TIMESTAMP\\nNONCE\\nBODY\\n` (the body exactly as
  received); `Wechatpay-Serial` names the platform certificate or public key (`PUB_KEY_ID_…`).
  WeChat Pay now and then sends a deliberately wrong signature starting `WECHATPAY/SIGNTEST/`, to see
  whether the merchant checks signatures at all: it must be refused like any other bad signature.
- A notice's `resource` is `{"algorithm": "AEAD_AES_256_GCM", "ciphertext": base64(ciphertext || tag),
  "nonce": …, "associated_data": …}`, encrypted with the 32-byte APIv3 key.
- `wx.requestPayment` (mini-program, JSAPI) is signed over `appId\\ntimeStamp\\nnonceStr\\npackage\\n`;
  an APP payment over `appid\\ntimestamp\\nnoncestr\\nprepayid\\n`; both with the merchant's key, as above.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from typing import Callable, Mapping

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PrivateKey = rsa.RSAPrivateKey
PublicKey = rsa.RSAPublicKey

AUTH_SCHEME = "WECHATPAY2-SHA256-RSA2048"
AEAD_ALGORITHM = "AEAD_AES_256_GCM"
PROBE_PREFIX = "WECHATPAY/SIGNTEST/"
API_V3_KEY_BYTES = 32
DEFAULT_WINDOW = 300  # seconds either side of our clock that a signed timestamp may be

HEADER_SERIAL = "Wechatpay-Serial"
HEADER_SIGNATURE = "Wechatpay-Signature"
HEADER_TIMESTAMP = "Wechatpay-Timestamp"
HEADER_NONCE = "Wechatpay-Nonce"
HEADER_SIGNATURE_TYPE = "Wechatpay-Signature-Type"

_AUTH_FIELDS = ("mchid", "nonce_str", "signature", "timestamp", "serial_no")


class SignatureRejected(Exception):
    """A signature we do not accept. `reason` is a short code (missing_header, probe, stale,
    unknown_serial, bad_signature); the message never quotes the body or the signature."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DecryptionFailed(Exception):
    """A resource that does not decrypt. `reason`: unsupported_algorithm, malformed or bad_tag."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedSignature:
    """What a verified reply or notice was signed with; the nonce is kept so a caller can refuse replays."""

    serial: str
    timestamp: int
    nonce: str


# --- messages and the RSA primitive ---------------------------------------------------------------------------


def _as_bytes(part: bytes | str) -> bytes:
    return part if isinstance(part, bytes) else part.encode("utf-8")


def signing_message(*lines: bytes | str) -> bytes:
    """The published form of every message: each line followed by `\\n`, the last one too (a line that
    itself ends with `\\n` still gets its own)."""
    return b"".join(_as_bytes(line) + b"\n" for line in lines)


def request_message(method: str, url_path_with_query: str, timestamp: int | str, nonce: str,
                    body: bytes | str) -> bytes:
    return signing_message(method.upper(), url_path_with_query, str(timestamp), nonce, body)


def response_message(timestamp: int | str, nonce: str, body: bytes | str) -> bytes:
    return signing_message(str(timestamp), nonce, body)


def rsa_sign(message: bytes | str, private_key: PrivateKey) -> str:
    """SHA256 with RSA (PKCS#1 v1.5), base64 on one line."""
    signature = private_key.sign(_as_bytes(message), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def rsa_verify(message: bytes | str, signature: str, public_key: PublicKey) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, _as_bytes(message), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def new_nonce() -> str:
    """A request nonce as the documentation draws one: 32 upper-case hex digits."""
    return secrets.token_hex(16).upper()


# --- our requests (and the stand-in's check of them) ----------------------------------------------------------


def build_authorization(method: str, url_path_with_query: str, body: bytes | str, *, mchid: str, serial_no: str,
                        private_key: PrivateKey, timestamp: int, nonce: str) -> str:
    """The `Authorization` header of a request, fields in the order of the published example."""
    signature = rsa_sign(request_message(method, url_path_with_query, timestamp, nonce, body), private_key)
    values = {"mchid": mchid, "nonce_str": nonce, "signature": signature, "timestamp": str(timestamp),
              "serial_no": serial_no}
    return f"{AUTH_SCHEME} " + ",".join(f'{name}="{values[name]}"' for name in _AUTH_FIELDS)


def parse_authorization(header: str) -> dict[str, str]:
    """The fields of an `Authorization` header (in any order, as the documentation allows); raises
    SignatureRejected("missing_header") when the scheme or a field is missing."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme != AUTH_SCHEME:
        raise SignatureRejected("missing_header")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, value = item.strip().partition("=")
        if sep and len(value) >= 2 and value[0] == value[-1] == '"':
            fields[name] = value[1:-1]
    if any(not fields.get(name) for name in _AUTH_FIELDS):
        raise SignatureRejected("missing_header")
    return fields


def verify_authorization(method: str, url_path_with_query: str, body: bytes | str, header: str, *,
                         find_merchant_key: Callable[[str, str], PublicKey | None], now: float,
                         window: int = DEFAULT_WINDOW) -> dict[str, str]:
    """The gateway's side of a request signature (what the stand-in checks): the header's fields, once the
    merchant's key for (mchid, serial_no) is known, the timestamp fresh and the signature good."""
    fields = parse_authorization(header)
    _check_fresh(fields["timestamp"], now, window)
    public_key = find_merchant_key(fields["mchid"], fields["serial_no"])
    if public_key is None:
        raise SignatureRejected("unknown_serial")
    message = request_message(method, url_path_with_query, fields["timestamp"], fields["nonce_str"], body)
    if not rsa_verify(message, fields["signature"], public_key):
        raise SignatureRejected("bad_signature")
    return fields


# --- the gateway's replies and notices -------------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str:
    """A header by name, whatever the case of the mapping's keys."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value or ""


def _check_fresh(timestamp: str, now: float, window: int) -> int:
    """The signed timestamp as an int, if within `window` seconds of `now`; one that is not a plain number
    cannot be shown fresh."""
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise SignatureRejected("stale")
    value = int(timestamp)
    if abs(now - value) > window:
        raise SignatureRejected("stale")
    return value


def signed_headers(body: bytes | str, *, serial: str, private_key: PrivateKey, timestamp: int,
                   nonce: str) -> dict[str, str]:
    """The platform's signature headers on a reply or notice (the stand-in's side)."""
    signature = rsa_sign(response_message(timestamp, nonce, body), private_key)
    return {HEADER_SERIAL: serial, HEADER_SIGNATURE: signature, HEADER_TIMESTAMP: str(timestamp),
            HEADER_NONCE: nonce, HEADER_SIGNATURE_TYPE: AUTH_SCHEME}


def verify_signature(headers: Mapping[str, str], body: bytes, find_public_key: Callable[[str], PublicKey | None],
                     now: float, window: int = DEFAULT_WINDOW) -> VerifiedSignature:
    """Accept a reply or notice only with all four headers, not a probe, a timestamp within `window` of
    `now`, a serial we know, and a good signature over `TIMESTAMP\\nNONCE\\nBODY\\n`. The cheap checks come
    first, so a probe or a stale replay costs no RSA."""
    serial, signature = _header(headers, HEADER_SERIAL), _header(headers, HEADER_SIGNATURE)
    timestamp, nonce = _header(headers, HEADER_TIMESTAMP), _header(headers, HEADER_NONCE)
    if not (serial and signature and timestamp and nonce):
        raise SignatureRejected("missing_header")
    if signature.startswith(PROBE_PREFIX):
        raise SignatureRejected("probe")
    signature_type = _header(headers, HEADER_SIGNATURE_TYPE)
    if signature_type and signature_type != AUTH_SCHEME:
        raise SignatureRejected("bad_signature")
    signed_at = _check_fresh(timestamp, now, window)
    public_key = find_public_key(serial)
    if public_key is None:
        raise SignatureRejected("unknown_serial")
    if not rsa_verify(response_message(timestamp, nonce, body), signature, public_key):
        raise SignatureRejected("bad_signature")
    return VerifiedSignature(serial, signed_at, nonce)


# --- encrypted resources ----------------------------------------------------------------------------------------


def _aead(api_v3_key: bytes) -> AESGCM:
    if len(api_v3_key) != API_V3_KEY_BYTES:
        raise ValueError("the APIv3 key is 32 bytes")
    return AESGCM(api_v3_key)


def aead_open(key: bytes, nonce: str, associated_data: str, ciphertext: str) -> bytes:
    """AES-GCM open of base64(ciphertext || 16-byte tag); any AES key size, as the SDKs' own helpers."""
    try:
        sealed = base64.b64decode(ciphertext, validate=True)
        return AESGCM(key).decrypt(nonce.encode("utf-8"), sealed, associated_data.encode("utf-8"))
    except InvalidTag:
        raise DecryptionFailed("bad_tag") from None
    except (binascii.Error, ValueError):
        raise DecryptionFailed("malformed") from None


def decrypt_resource(api_v3_key: bytes, resource: Mapping[str, object]) -> bytes:
    """The plaintext of a notice's (or a certificate's) `resource`; raises DecryptionFailed."""
    algorithm = resource.get("algorithm", AEAD_ALGORITHM)
    if algorithm != AEAD_ALGORITHM:
        raise DecryptionFailed("unsupported_algorithm")
    nonce, ciphertext = resource.get("nonce"), resource.get("ciphertext")
    associated_data = resource.get("associated_data") or ""
    if not (isinstance(nonce, str) and nonce and isinstance(ciphertext, str) and isinstance(associated_data, str)):
        raise DecryptionFailed("malformed")
    _aead(api_v3_key)  # a wrong key size is our configuration, not the sender's fault: ValueError
    return aead_open(api_v3_key, nonce, associated_data, ciphertext)


def encrypt_resource(api_v3_key: bytes, plaintext: bytes, *, associated_data: str = "",
                     original_type: str = "transaction", nonce: str | None = None) -> dict[str, str]:
    """A `resource` as the gateway sends it (the stand-in's side); the nonce is 12 characters, as WeChat
    Pay draws it, unless given."""
    nonce = nonce if nonce is not None else secrets.token_hex(6)
    sealed = _aead(api_v3_key).encrypt(nonce.encode("utf-8"), plaintext, associated_data.encode("utf-8"))
    return {"original_type": original_type, "algorithm": AEAD_ALGORITHM,
            "ciphertext": base64.b64encode(sealed).decode("ascii"), "associated_data": associated_data,
            "nonce": nonce}


# --- client-side payment calls --------------------------------------------------------------------------------


def jsapi_pay_sign(app_id: str, timestamp: str, nonce: str, package: str, private_key: PrivateKey) -> str:
    """`paySign` of `wx.requestPayment`; `package` is `prepay_id=…`."""
    return rsa_sign(signing_message(app_id, timestamp, nonce, package), private_key)


def jsapi_request_payment(app_id: str, prepay_id: str, *, private_key: PrivateKey, timestamp: int,
                          nonce: str) -> dict[str, str]:
    """The parameters of `wx.requestPayment` for a JSAPI order; signType takes no part in the signature."""
    package = f"prepay_id={prepay_id}"
    return {"appId": app_id, "timeStamp": str(timestamp), "nonceStr": nonce, "package": package,
            "signType": "RSA", "paySign": jsapi_pay_sign(app_id, str(timestamp), nonce, package, private_key)}


def app_pay_sign(app_id: str, timestamp: str, nonce: str, prepay_id: str, private_key: PrivateKey) -> str:
    """`sign` of an APP payment (the open SDK's PayReq)."""
    return rsa_sign(signing_message(app_id, timestamp, nonce, prepay_id), private_key)


def app_pay_request(app_id: str, mchid: str, prepay_id: str, *, private_key: PrivateKey, timestamp: int,
                    nonce: str) -> dict[str, str]:
    """The parameters the phone app hands the open SDK for an APP order; package is the fixed `Sign=WXPay`."""
    return {"appid": app_id, "partnerid": mchid, "prepayid": prepay_id, "package": "Sign=WXPay",
            "noncestr": nonce, "timestamp": str(timestamp),
            "sign": app_pay_sign(app_id, str(timestamp), nonce, prepay_id, private_key)}


# --- keys -------------------------------------------------------------------------------------------------------


def load_private_key(pem: bytes | str) -> PrivateKey:
    """The merchant's key (`apiclient_key.pem`, PKCS#8; PKCS#1 also read)."""
    key = serialization.load_pem_private_key(_as_bytes(pem), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the merchant key is not an RSA key")
    return key


def load_certificate(pem: bytes | str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(_as_bytes(pem))


def certificate_serial(certificate: x509.Certificate) -> str:
    """The serial as `Wechatpay-Serial` and `serial_no` write it: upper-case hex."""
    return f"{certificate.serial_number:X}"


def load_public_key(pem: bytes | str) -> PublicKey:
    """The platform's key, from a WeChat Pay public key (`PUBLIC KEY`) or a platform certificate."""
    data = _as_bytes(pem)
    key = (load_certificate(data).public_key() if b"-----BEGIN CERTIFICATE-----" in data
           else serialization.load_pem_public_key(data))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the platform key is not an RSA key")
    return key
