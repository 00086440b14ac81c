#!/usr/bin/env python3
"""Independent reference test vectors for FNP/1 (the faxnotify wire protocol).

This script re-implements, from the design document alone, the parts of FNP/1
that can be pinned down byte for byte:

* the frame encoding (design section 2 and 3),
* the notification payloads (section 7),
* the login crypto (section 4) and the callback handshake proofs (section 6),
* the worked example of section 9, with concrete values.

It uses nothing but the Python standard library (hashlib, hmac, struct, json,
ipaddress; os and sys for the output file) and shares no code with the Rust
implementation, so the Rust test suite can check its encoder, decoder and
crypto against an independent computation.

Usage:
    python3 scripts/fnp1_vectors.py              # writes core/tests/vectors/fnp1.json
    python3 scripts/fnp1_vectors.py --markdown   # also prints the tables for docs/protocol.md

The output is deterministic: running the script twice gives identical bytes.
"""

import hashlib
import hmac
import ipaddress
import json
import os
import struct
import sys

OUTPUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), os.pardir, "core", "tests", "vectors", "fnp1.json"
)

MAX_FRAME_LENGTH = 65_535  # [F-1]: length counts type + body
MAX_PRE_LOGIN_LENGTH = 4_145  # [F-1]: before LOGIN_OK on a control connection
MAX_STR_BYTES = 4_096  # section 2: a longer str is MALFORMED


# ---------------------------------------------------------------------------
# Field encodings (section 2). All integers are big-endian.
# ---------------------------------------------------------------------------


def enc_u8(v: int) -> bytes:
    return struct.pack(">B", v)


def enc_u16(v: int) -> bytes:
    return struct.pack(">H", v)


def enc_u32(v: int) -> bytes:
    return struct.pack(">I", v)


def enc_u64(v: int) -> bytes:
    return struct.pack(">Q", v)


def enc_n32(v: bytes) -> bytes:
    """n[32]: exactly 32 raw bytes, no length prefix."""
    assert len(v) == 32, "n[32] must be 32 bytes"
    return bytes(v)


def enc_str(v: str) -> bytes:
    """str: u16 byte length + UTF-8 bytes (at most 4 096 bytes)."""
    data = v.encode("utf-8")
    assert len(data) <= MAX_STR_BYTES, "str longer than 4096 bytes"
    return enc_u16(len(data)) + data


def enc_blob(v: bytes) -> bytes:
    """blob: u16 byte length + raw bytes."""
    assert len(v) <= 0xFFFF, "blob longer than 65535 bytes"
    return enc_u16(len(v)) + bytes(v)


def enc_addr(v: dict) -> bytes:
    """addr: u8 family (4 or 6) + 4 or 16 address bytes + u16 port."""
    ip = ipaddress.ip_address(v["address"])
    assert ip.version == v["family"], "addr family does not match the address"
    return enc_u8(v["family"]) + ip.packed + enc_u16(v["port"])


ENCODERS = {
    "u8": enc_u8,
    "u16": enc_u16,
    "u32": enc_u32,
    "u64": enc_u64,
    "n32": enc_n32,
    "str": enc_str,
    "blob": enc_blob,
    "addr": enc_addr,
}


# A small decoder, used only to check that every vector parses back to the
# values it was built from with no bytes left over ([F-4]).


def dec_field(kind: str, data: bytes, pos: int):
    fixed = {"u8": ">B", "u16": ">H", "u32": ">I", "u64": ">Q"}
    if kind in fixed:
        (value,) = struct.unpack_from(fixed[kind], data, pos)
        return value, pos + struct.calcsize(fixed[kind])
    if kind == "n32":
        assert pos + 32 <= len(data), "truncated n[32]"
        return data[pos : pos + 32], pos + 32
    if kind in ("str", "blob"):
        (n,) = struct.unpack_from(">H", data, pos)
        pos += 2
        assert pos + n <= len(data), "truncated str/blob"
        raw = data[pos : pos + n]
        if kind == "str":
            assert n <= MAX_STR_BYTES
            return raw.decode("utf-8"), pos + n
        return raw, pos + n
    if kind == "addr":
        family = data[pos]
        size = {4: 4, 6: 16}[family]
        ip = ipaddress.ip_address(data[pos + 1 : pos + 1 + size])
        (port,) = struct.unpack_from(">H", data, pos + 1 + size)
        return {"family": family, "address": str(ip), "port": port}, pos + 1 + size + 2
    raise ValueError(kind)


def encode_fields(layout, values: dict) -> bytes:
    names = [name for name, _ in layout]
    assert sorted(names) == sorted(values), f"fields {sorted(values)} != layout {names}"
    return b"".join(ENCODERS[kind](values[name]) for name, kind in layout)


def decode_fields(layout, data: bytes) -> dict:
    pos, values = 0, {}
    for name, kind in layout:
        values[name], pos = dec_field(kind, data, pos)
    assert pos == len(data), "bytes left over after the last field"
    return values


def fields_to_json(layout, values: dict) -> dict:
    """Byte-valued fields (n[32], blob) become lowercase hex strings."""
    out = {}
    for name, kind in layout:
        v = values[name]
        out[name] = v.hex() if kind in ("n32", "blob") else v
    return out


# ---------------------------------------------------------------------------
# Frames (section 3): u32 length (type + body), u8 type, body.
# ---------------------------------------------------------------------------

FRAME_TYPES = {
    # name: (type, [(field, encoding), ...])
    "SERVER_HELLO": (0x01, [("version_min", "u16"), ("version_max", "u16"), ("caps", "u32"), ("server_name", "str")]),
    "LOGIN": (0x02, [("version", "u16"), ("user", "str"), ("client_nonce", "n32"), ("caps", "u32"), ("resume_session", "u64")]),
    "LOGIN_CHALLENGE": (0x03, [("server_nonce", "n32"), ("salt", "blob"), ("iterations", "u32")]),
    "LOGIN_PROOF": (0x04, [("proof", "n32")]),
    "LOGIN_OK": (0x05, [("session_id", "u64"), ("role", "u8"), ("lease_ms", "u32"), ("caps", "u32"), ("server_signature", "n32")]),
    "ADVERTISE": (0x06, [("port", "u16"), ("policy", "u8"), ("range_lo", "u16"), ("range_hi", "u16")]),
    "ADVERTISE_OK": (0x07, [("callback", "addr")]),
    "CALLBACK_STATUS": (0x08, [("state", "u8"), ("detail", "str")]),
    "PING": (0x10, [("nonce", "u64")]),
    "PONG": (0x11, [("nonce", "u64")]),
    "LOGOUT": (0x12, []),
    "BYE": (0x13, [("reason", "u8")]),
    "CB_CHALLENGE": (0x20, [("client_nonce", "n32")]),
    "CB_HELLO": (0x21, [("session_id", "u64"), ("server_nonce", "n32"), ("proof", "n32")]),
    "CB_READY": (0x22, [("last_seq", "u64"), ("proof", "n32")]),
    "NOTIFY": (0x23, [("seq", "u64"), ("kind", "u8"), ("payload", "blob")]),
    "ACK": (0x24, [("seq", "u64")]),
    "ERROR": (0x7F, [("code", "u16"), ("message", "str")]),
}


def body(name: str, values: dict) -> bytes:
    _, layout = FRAME_TYPES[name]
    return encode_fields(layout, values)


def frame(name: str, values: dict) -> bytes:
    ftype, layout = FRAME_TYPES[name]
    b = encode_fields(layout, values)
    length = 1 + len(b)
    assert 1 <= length <= MAX_FRAME_LENGTH
    out = enc_u32(length) + enc_u8(ftype) + b
    # Self-check: the frame parses back to the same values.
    (parsed_length,) = struct.unpack_from(">I", out, 0)
    assert parsed_length == len(out) - 4 and out[4] == ftype
    assert decode_fields(layout, out[5:]) == values
    return out


# ---------------------------------------------------------------------------
# Notification payloads (section 7): the NOTIFY payload blob holds the fields
# of its kind in order.
# ---------------------------------------------------------------------------

NOTIFICATION_KINDS = {
    1: ("FAX_RECEIVED", [("job", "u64"), ("from", "str"), ("to", "str"), ("pages", "u16"), ("received_at_ms", "u64")]),
    2: ("JOB_STATUS", [("job", "u64"), ("state", "u8"), ("page", "u16"), ("pages", "u16"), ("attempt", "u16"), ("detail", "str")]),
    3: ("SERVER_MESSAGE", [("text", "str")]),
    4: ("DEVICE_STATUS", [("device", "str"), ("state", "u8"), ("detail", "str")]),
    5: ("FAX_UPDATED", [("job", "u64"), ("change", "u8"), ("by", "str"), ("comment", "str")]),
}


def payload(kind: int, values: dict) -> bytes:
    _, layout = NOTIFICATION_KINDS[kind]
    out = encode_fields(layout, values)
    assert decode_fields(layout, out) == values
    return out


# ---------------------------------------------------------------------------
# Crypto (section 4 and 6).
# ---------------------------------------------------------------------------


def hmac_sha256(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def xor(a: bytes, b: bytes) -> bytes:
    assert len(a) == len(b)
    return bytes(x ^ y for x, y in zip(a, b))


def scram_keys(password: str, salt: bytes, iterations: int) -> dict:
    salted_password = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations, 32)
    client_key = hmac_sha256(salted_password, b"Client Key")
    return {
        "salted_password": salted_password,
        "client_key": client_key,
        "stored_key": sha256(client_key),
        "server_key": hmac_sha256(salted_password, b"Server Key"),
    }


def cb_hello_proof(session_key: bytes, client_nonce: bytes, server_nonce: bytes, session_id: int) -> bytes:
    msg = b"FNP/1 callback" + b"\x00" + client_nonce + server_nonce + enc_u64(session_id)
    return hmac_sha256(session_key, msg)


def cb_ready_proof(session_key: bytes, client_nonce: bytes, server_nonce: bytes, session_id: int, last_seq: int) -> bytes:
    msg = b"FNP/1 ready" + b"\x00" + client_nonce + server_nonce + enc_u64(session_id) + enc_u64(last_seq)
    return hmac_sha256(session_key, msg)


def self_test_primitives() -> None:
    """Check the primitives against published vectors before trusting them."""
    # PBKDF2-HMAC-SHA256 ("password", "salt"), widely published (RFC 7914 style).
    assert hashlib.pbkdf2_hmac("sha256", b"password", b"salt", 1, 32).hex() == (
        "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"
    )
    assert hashlib.pbkdf2_hmac("sha256", b"password", b"salt", 4096, 32).hex() == (
        "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
    )
    # RFC 7677 section 3 (SCRAM-SHA-256, user "user", password "pencil"): the
    # same key schedule, with the textual AuthMessage of RFC 5802.
    keys = scram_keys("pencil", bytes.fromhex("5b6d99689d12358eeca04b141236fa81"), 4096)
    cnonce = "rOprNGfwEbeRWgbNEkqO"
    snonce = cnonce + "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    auth_message = (
        f"n=user,r={cnonce},r={snonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r={snonce}"
    ).encode("ascii")
    proof = xor(keys["client_key"], hmac_sha256(keys["stored_key"], auth_message))
    assert proof.hex() == "747cdb65aa56224e2352137e52d7bdcad6a0f738df30782caa69a2cfb0277554"
    assert hmac_sha256(keys["server_key"], auth_message).hex() == (
        "eabae24d1062db75a9451ff0b6ea7e98c8546549ff741e672d3251b2397de46e"
    )


# ---------------------------------------------------------------------------
# Inputs (fixed, so the output is deterministic).
# ---------------------------------------------------------------------------

SESSION_ID = 0x0123456789ABCDEF

SERVER_HELLO = {"version_min": 1, "version_max": 1, "caps": 1, "server_name": "fax.example"}
LOGIN = {"version": 1, "user": "alice", "client_nonce": b"\x01" * 32, "caps": 1, "resume_session": 0}
# RFC 8265: OpaqueString leaves "correct horse" unchanged, UsernameCaseMapped leaves "alice" unchanged.
PASSWORD = "correct horse"
LOGIN_CHALLENGE = {"server_nonce": b"\x02" * 32, "salt": b"\x5a" * 16, "iterations": 4096}
LOGIN_OK_WITHOUT_SIGNATURE = {"session_id": SESSION_ID, "role": 1, "lease_ms": 30_000, "caps": 1}
CALLBACK = {"client_nonce": b"\x03" * 32, "server_nonce": b"\x04" * 32, "session_id": SESSION_ID, "last_seq": 5}

NOTIFICATIONS = [
    (1, {"job": 42, "from": "+1 555 0100", "to": "sales", "pages": 3, "received_at_ms": 1_700_000_000_000}),
    (2, {"job": 42, "state": 3, "page": 3, "pages": 3, "attempt": 1, "detail": "delivered"}),
    (3, {"text": "hi!"}),
    (4, {"device": "ttyS0", "state": 2, "detail": "receiving"}),
    (5, {"job": 42, "change": 2, "by": "bob", "comment": "forwarded to accounts"}),
]


def compute_auth() -> dict:
    auth_message = body("SERVER_HELLO", SERVER_HELLO) + body("LOGIN", LOGIN) + body("LOGIN_CHALLENGE", LOGIN_CHALLENGE)
    keys = scram_keys(PASSWORD, LOGIN_CHALLENGE["salt"], LOGIN_CHALLENGE["iterations"])
    client_signature = hmac_sha256(keys["stored_key"], auth_message)
    proof = xor(keys["client_key"], client_signature)

    # LOGIN_OK body up to (excluding) server_signature: session_id, role, lease_ms, caps.
    ok = LOGIN_OK_WITHOUT_SIGNATURE
    login_ok_prefix = enc_u64(ok["session_id"]) + enc_u8(ok["role"]) + enc_u32(ok["lease_ms"]) + enc_u32(ok["caps"])
    server_signature = hmac_sha256(keys["server_key"], auth_message + login_ok_prefix)
    session_key = hmac_sha256(keys["client_key"], b"FNP/1 session" + b"\x00" + auth_message)

    cb = CALLBACK
    hello_proof = cb_hello_proof(session_key, cb["client_nonce"], cb["server_nonce"], cb["session_id"])
    ready_proof = cb_ready_proof(session_key, cb["client_nonce"], cb["server_nonce"], cb["session_id"], cb["last_seq"])

    # [A-1]: the server recovers ClientKey from the proof and checks it against StoredKey.
    recovered = xor(proof, hmac_sha256(keys["stored_key"], auth_message))
    assert sha256(recovered) == keys["stored_key"]

    return {
        **keys,
        "auth_message": auth_message,
        "client_signature": client_signature,
        "proof": proof,
        "server_signature": server_signature,
        "session_key": session_key,
        "cb_hello_proof": hello_proof,
        "cb_ready_proof": ready_proof,
    }


# Section 12 [T-6] [T-7]: the same login and callback over TLS. The exporter
# values stand for TLS-Exporter("EXPORTER-Channel-Binding", "", 32) of the
# control and of the callback connection; the proofs are computed from them.
TLS_EXPORTER_CONTROL = bytes(range(0xC0, 0xE0))
TLS_EXPORTER_CALLBACK = bytes(range(0xE0, 0x100))


def compute_tls(auth: dict) -> dict:
    plain = auth["auth_message"]
    auth_message = plain + TLS_EXPORTER_CONTROL  # [T-6]: the binding ends AuthMessage
    proof = xor(auth["client_key"], hmac_sha256(auth["stored_key"], auth_message))
    ok = LOGIN_OK_WITHOUT_SIGNATURE
    login_ok_prefix = enc_u64(ok["session_id"]) + enc_u8(ok["role"]) + enc_u32(ok["lease_ms"]) + enc_u32(ok["caps"])
    server_signature = hmac_sha256(auth["server_key"], auth_message + login_ok_prefix)
    session_key = hmac_sha256(auth["client_key"], b"FNP/1 session" + b"\x00" + auth_message)
    cb = CALLBACK
    # [T-7]: the callback's own binding follows the plain proofs' inputs.
    hello = hmac_sha256(
        session_key,
        b"FNP/1 callback\x00" + cb["client_nonce"] + cb["server_nonce"] + enc_u64(cb["session_id"]) + TLS_EXPORTER_CALLBACK,
    )
    ready = hmac_sha256(
        session_key,
        b"FNP/1 ready\x00" + cb["client_nonce"] + cb["server_nonce"] + enc_u64(cb["session_id"]) + enc_u64(cb["last_seq"])
        + TLS_EXPORTER_CALLBACK,
    )
    # A relay sees two TLS connections with different exporters: the proof
    # the client makes for its connection does not verify on the server's.
    other = bytes(32)
    relayed = hmac_sha256(auth["stored_key"], plain + other)
    assert sha256(xor(proof, relayed)) != auth["stored_key"]
    return {
        "exporter_control": TLS_EXPORTER_CONTROL,
        "exporter_callback": TLS_EXPORTER_CALLBACK,
        "auth_message": auth_message,
        "proof": proof,
        "server_signature": server_signature,
        "session_key": session_key,
        "cb_hello_proof": hello,
        "cb_ready_proof": ready,
    }


AUTH_ORDER = [
    "salted_password",
    "client_key",
    "stored_key",
    "server_key",
    "auth_message",
    "client_signature",
    "proof",
    "server_signature",
    "session_key",
    "cb_hello_proof",
    "cb_ready_proof",
]


def auth_inputs_json() -> dict:
    return {
        "password": PASSWORD,
        "server_hello": fields_to_json(FRAME_TYPES["SERVER_HELLO"][1], SERVER_HELLO),
        "login": fields_to_json(FRAME_TYPES["LOGIN"][1], LOGIN),
        "login_challenge": fields_to_json(FRAME_TYPES["LOGIN_CHALLENGE"][1], LOGIN_CHALLENGE),
        "login_ok": dict(LOGIN_OK_WITHOUT_SIGNATURE),
        "callback": {
            "client_nonce": CALLBACK["client_nonce"].hex(),
            "server_nonce": CALLBACK["server_nonce"].hex(),
            "session_id": CALLBACK["session_id"],
            "last_seq": CALLBACK["last_seq"],
        },
    }


def example_frames(auth: dict) -> list:
    """One frame of every type, in type order (ADVERTISE_OK also as IPv6)."""
    fax_received = payload(*NOTIFICATIONS[0])
    return [
        ("SERVER_HELLO", "SERVER_HELLO", SERVER_HELLO),
        ("LOGIN", "LOGIN", LOGIN),
        ("LOGIN_CHALLENGE", "LOGIN_CHALLENGE", LOGIN_CHALLENGE),
        ("LOGIN_PROOF", "LOGIN_PROOF", {"proof": auth["proof"]}),
        ("LOGIN_OK", "LOGIN_OK", {**LOGIN_OK_WITHOUT_SIGNATURE, "server_signature": auth["server_signature"]}),
        ("ADVERTISE", "ADVERTISE", {"port": 6003, "policy": 1, "range_lo": 6000, "range_hi": 6010}),
        ("ADVERTISE_OK", "ADVERTISE_OK", {"callback": {"family": 4, "address": "192.0.2.10", "port": 6003}}),
        ("ADVERTISE_OK_V6", "ADVERTISE_OK", {"callback": {"family": 6, "address": "2001:db8::10", "port": 6003}}),
        (
            "CALLBACK_STATUS",
            "CALLBACK_STATUS",
            {"state": 2, "detail": "callback to port 6003 failed; delivering over the control connection"},
        ),
        ("PING", "PING", {"nonce": 0x1122334455667788}),
        ("PONG", "PONG", {"nonce": 0x1122334455667788}),
        ("LOGOUT", "LOGOUT", {}),
        ("BYE", "BYE", {"reason": 3}),
        ("CB_CHALLENGE", "CB_CHALLENGE", {"client_nonce": CALLBACK["client_nonce"]}),
        (
            "CB_HELLO",
            "CB_HELLO",
            {"session_id": SESSION_ID, "server_nonce": CALLBACK["server_nonce"], "proof": auth["cb_hello_proof"]},
        ),
        ("CB_READY", "CB_READY", {"last_seq": CALLBACK["last_seq"], "proof": auth["cb_ready_proof"]}),
        ("NOTIFY", "NOTIFY", {"seq": 6, "kind": 1, "payload": fax_received}),
        ("ACK", "ACK", {"seq": 6}),
        ("ERROR", "ERROR", {"code": 2, "message": "authentication failed"}),
    ]


def worked_example(auth: dict) -> list:
    """Section 9 with concrete values: a fresh session, so CB_READY last_seq is 0."""
    cb = CALLBACK
    ready0 = cb_ready_proof(auth["session_key"], cb["client_nonce"], cb["server_nonce"], cb["session_id"], 0)
    steps = [
        ("C->S", "CB_CHALLENGE", {"client_nonce": cb["client_nonce"]}),
        ("S->C", "CB_HELLO", {"session_id": SESSION_ID, "server_nonce": cb["server_nonce"], "proof": auth["cb_hello_proof"]}),
        ("C->S", "CB_READY", {"last_seq": 0, "proof": ready0}),
        ("S->C", "NOTIFY", {"seq": 1, "kind": 3, "payload": payload(3, {"text": "hi!"})}),
        ("C->S", "ACK", {"seq": 1}),
    ]
    out = [(direction, name, fields, frame(name, fields)) for direction, name, fields in steps]

    # The design's own bytes for section 9.
    spec_lengths = [0x21, 0x49, 0x29, 0x11, 0x09]
    for (_, _, _, raw), expected in zip(out, spec_lengths):
        assert struct.unpack_from(">I", raw, 0)[0] == expected
    assert out[2][3][5:13] == b"\x00" * 8  # CB_READY last_seq 0
    assert out[3][3].hex() == "00000011230000000000000001030005000368692" + "1"
    assert out[4][3].hex() == "000000092400000000000000 01".replace(" ", "")
    return out


def check_size_limits() -> None:
    """The size facts docs/protocol.md relies on."""
    longest_user = dict(LOGIN, user="a" * MAX_STR_BYTES)
    assert len(frame("LOGIN", longest_user)) - 4 == MAX_PRE_LOGIN_LENGTH
    big = payload(3, {"text": "x" * MAX_STR_BYTES})
    largest_payload = big + b"\x00" * (65_523 - len(big))  # extra bytes are allowed by [N-1]
    assert len(frame("NOTIFY", {"seq": 1, "kind": 3, "payload": largest_payload})) - 4 == MAX_FRAME_LENGTH
    # Every other pre-login frame fits under the pre-login limit even at its largest.
    largest = {
        "SERVER_HELLO": dict(SERVER_HELLO, server_name="s" * MAX_STR_BYTES),
        "LOGIN_CHALLENGE": dict(LOGIN_CHALLENGE, salt=b"\x00" * 64),
        "LOGIN_PROOF": {"proof": b"\x00" * 32},
        "LOGIN_OK": {**LOGIN_OK_WITHOUT_SIGNATURE, "server_signature": b"\x00" * 32},
        "ERROR": {"code": 1, "message": "m" * MAX_STR_BYTES},
    }
    for name, values in largest.items():
        assert len(frame(name, values)) - 4 < MAX_PRE_LOGIN_LENGTH, name


# ---------------------------------------------------------------------------
# Output.
# ---------------------------------------------------------------------------


def build() -> dict:
    self_test_primitives()
    check_size_limits()
    auth = compute_auth()

    frames = []
    for key, ftype_name, values in example_frames(auth):
        ftype, layout = FRAME_TYPES[ftype_name]
        raw = frame(ftype_name, values)
        frames.append({"name": key, "type": ftype, "hex": raw.hex(), "fields": fields_to_json(layout, values)})

    # Three frames written out byte by byte from the design, not by the encoder above.
    by_name = {f["name"]: f["hex"] for f in frames}
    assert by_name["LOGIN"] == (
        "00000036" "02" "0001" "0005" "616c696365" + "01" * 32 + "00000001" "0000000000000000"
    )
    assert by_name["CB_READY"] == "00000029" "22" "0000000000000005" + auth["cb_ready_proof"].hex()
    assert by_name["NOTIFY"] == (
        "00000032" "23" "0000000000000006" "01" "0026"  # length 50, NOTIFY, seq 6, kind 1, payload 38 bytes
        "000000000000002a" "000b" "2b31203535352030313030" "0005" "73616c6573" "0003" "0000018bcfe56800"
    )

    notifications = []
    for kind, values in NOTIFICATIONS:
        name, layout = NOTIFICATION_KINDS[kind]
        notifications.append(
            {"kind": kind, "name": name, "fields": fields_to_json(layout, values), "payload": payload(kind, values).hex()}
        )

    example = []
    for direction, name, fields, raw in worked_example(auth):
        layout = FRAME_TYPES[name][1]
        example.append(
            {"direction": direction, "connection": "callback", "name": name, "hex": raw.hex(), "fields": fields_to_json(layout, fields)}
        )

    doc = {
        "auth": {"inputs": auth_inputs_json(), **{k: auth[k].hex() for k in AUTH_ORDER}},
        "tls": {k: v.hex() for k, v in compute_tls(auth).items()},
        "frames": frames,
        "notifications": notifications,
        "worked_example": example,
    }
    return doc


def split_frame_hex(h: str) -> str:
    """'length type body' for readability."""
    return " ".join(part for part in (h[:8], h[8:10], h[10:]) if part)


HEX_INTEGERS = ("session_id", "nonce")  # shown as 0x... in the tables


def show_field(name: str, kind: str, value) -> str:
    """One field value for the markdown tables (`value` as it appears in the JSON)."""
    if kind == "str":
        return json.dumps(value, ensure_ascii=False)
    if kind == "addr":
        return f"family {value['family']} {value['address']} port {value['port']}"
    if kind in ("n32", "blob"):
        raw = bytes.fromhex(value)
        if raw and raw == raw[:1] * len(raw):
            return f"{raw[:1].hex()}×{len(raw)}"
        return value
    if name in HEX_INTEGERS:
        return f"0x{value:016x}"
    return str(value)


def show_fields(layout, fields: dict, overrides=None) -> str:
    overrides = overrides or {}
    shown = [f"{name} {overrides.get(name) or show_field(name, kind, fields[name])}" for name, kind in layout]
    return ", ".join(shown) or "(empty)"


def markdown(doc: dict) -> str:
    out = []
    inputs = doc["auth"]["inputs"]
    out.append("### Authentication vectors\n")
    out.append("Inputs (`bb×k` = the byte bb repeated k times):\n")
    out.append("| input | value |")
    out.append("|---|---|")
    out.append(f"| SERVER_HELLO | {show_fields(FRAME_TYPES['SERVER_HELLO'][1], inputs['server_hello'])} |")
    out.append(f"| LOGIN | {show_fields(FRAME_TYPES['LOGIN'][1], inputs['login'])} |")
    out.append(f"| password | {json.dumps(inputs['password'])} (unchanged by OpaqueString; `alice` unchanged by UsernameCaseMapped) |")
    out.append(f"| LOGIN_CHALLENGE | {show_fields(FRAME_TYPES['LOGIN_CHALLENGE'][1], inputs['login_challenge'])} |")
    login_ok_layout = FRAME_TYPES["LOGIN_OK"][1][:-1]  # without server_signature
    out.append(f"| LOGIN_OK | {show_fields(login_ok_layout, inputs['login_ok'])} |")
    callback_layout = [("client_nonce", "n32"), ("server_nonce", "n32"), ("session_id", "u64"), ("last_seq", "u64")]
    out.append(f"| CB_HELLO / CB_READY | {show_fields(callback_layout, inputs['callback'])} |")
    out.append("")
    out.append("Results (lowercase hex):\n")
    out.append("| value | hex |")
    out.append("|---|---|")
    for k in AUTH_ORDER:
        out.append(f"| {k} | `{doc['auth'][k]}` |")
    out.append("")

    out.append("### One frame of every type\n")
    out.append("Whole frames: `length` (u32), `type` (u8) and body, separated by spaces for reading.")
    out.append("ADVERTISE_OK_V6 is a second ADVERTISE_OK, with an IPv6 address.\n")
    out.append("| frame | fields | hex |")
    out.append("|---|---|---|")
    for f in doc["frames"]:
        layout = [layout for ftype, layout in FRAME_TYPES.values() if ftype == f["type"]][0]
        overrides = {"payload": "(the FAX_RECEIVED payload below)"}
        out.append(f"| {f['name']} | {show_fields(layout, f['fields'], overrides)} | `{split_frame_hex(f['hex'])}` |")
    out.append("")

    out.append("### Notification payloads\n")
    out.append("| kind | name | fields | payload hex |")
    out.append("|---|---|---|---|")
    for n in doc["notifications"]:
        layout = NOTIFICATION_KINDS[n["kind"]][1]
        out.append(f"| {n['kind']} | {n['name']} | {show_fields(layout, n['fields'])} | `{n['payload']}` |")
    out.append("")

    out.append("### Worked example with concrete values\n")
    out.append("The callback handshake and first delivery of a new session (design section 9),")
    out.append("with the session, nonces and session_key of the authentication vectors above:\n")
    out.append("```")
    for step in doc["worked_example"]:
        arrow = step["direction"].replace("->", "→")
        label = {
            "CB_CHALLENGE": "CB_CHALLENGE",
            "CB_HELLO": "CB_HELLO",
            "CB_READY": "CB_READY last_seq 0",
            "NOTIFY": 'NOTIFY seq 1, SERVER_MESSAGE "hi!"',
            "ACK": "ACK 1",
        }[step["name"]]
        out.append(f"{arrow} (callback)  {label}")
        out.append(f"    {split_frame_hex(step['hex'])}")
    out.append("```")
    return "\n".join(out) + "\n"


def main(argv) -> int:
    if any(a not in ("--markdown",) for a in argv):
        print(__doc__, file=sys.stderr)
        return 2
    doc = build()
    text = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    path = os.path.normpath(OUTPUT)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    if "--markdown" in argv:
        sys.stdout.write(markdown(doc))
    else:
        print(f"wrote {os.path.relpath(path)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
