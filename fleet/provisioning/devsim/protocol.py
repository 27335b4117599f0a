"""ADB wire-protocol constants and codecs (device side).

Sources: AOSP ``packages/modules/adb/protocol.txt`` (message header, CNXN/AUTH/OPEN/OKAY/WRTE/CLSE,
flow control), ``SYNC.TXT`` and ``file_sync_protocol.h`` (sync service records, STAT/STA2/LST2,
LIST/LIS2, SEND/RECV, DATA/DONE/OKAY/FAIL), ``shell_protocol.h`` (shell v2 packet ids) and
``adb.h`` (versions, payload sizes, AUTH types).

A message is a 24-byte little-endian header ``command, arg0, arg1, data_length, data_crc32,
magic`` (magic = command XOR 0xffffffff) followed by ``data_length`` bytes of payload. Since
protocol version 0x01000001 the payload checksum is neither computed nor checked.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

A_SYNC = 0x434E5953
A_CNXN = 0x4E584E43
A_AUTH = 0x48545541
A_OPEN = 0x4E45504F
A_OKAY = 0x59414B4F
A_CLSE = 0x45534C43
A_WRTE = 0x45545257
A_STLS = 0x534C5453

COMMAND_NAMES = {
    A_SYNC: "SYNC",
    A_CNXN: "CNXN",
    A_AUTH: "AUTH",
    A_OPEN: "OPEN",
    A_OKAY: "OKAY",
    A_CLSE: "CLSE",
    A_WRTE: "WRTE",
    A_STLS: "STLS",
}

A_VERSION_MIN = 0x01000000
A_VERSION_SKIP_CHECKSUM = 0x01000001
A_VERSION = 0x01000001

MAX_PAYLOAD_V1 = 4 * 1024
#: adbd's payload limit since Android 9 (``MAX_PAYLOAD`` in adb.h).
MAX_PAYLOAD = 1024 * 1024

ADB_AUTH_TOKEN = 1
ADB_AUTH_SIGNATURE = 2
ADB_AUTH_RSAPUBLICKEY = 3
TOKEN_SIZE = 20

HEADER = struct.Struct("<6I")

# shell protocol v2 (shell_protocol.h): 1 byte id + 4 byte little-endian length + data.
SHELL_STDIN = 0
SHELL_STDOUT = 1
SHELL_STDERR = 2
SHELL_EXIT = 3
SHELL_CLOSE_STDIN = 4
SHELL_WINDOW_SIZE = 5
SHELL_HEADER = struct.Struct("<BI")

# sync service (file_sync_protocol.h)
SYNC_DATA_MAX = 64 * 1024
ID_LSTAT_V1 = b"STAT"
ID_STAT_V2 = b"STA2"
ID_LSTAT_V2 = b"LST2"
ID_LIST_V1 = b"LIST"
ID_LIST_V2 = b"LIS2"
ID_DENT_V1 = b"DENT"
ID_DENT_V2 = b"DNT2"
ID_SEND_V1 = b"SEND"
ID_RECV_V1 = b"RECV"
ID_DONE = b"DONE"
ID_DATA = b"DATA"
ID_OKAY = b"OKAY"
ID_FAIL = b"FAIL"
ID_QUIT = b"QUIT"

#: STAT reply: id, mode, size, mtime.
SYNC_STAT_V1 = struct.Struct("<4sIII")
#: STA2/LST2 reply: id, error, dev, ino, mode, nlink, uid, gid, size, atime, mtime, ctime.
SYNC_STAT_V2 = struct.Struct("<4sIQQIIIIQqqq")
#: DENT record: id, mode, size, mtime, namelen (then name).
SYNC_DENT_V1 = struct.Struct("<4sIIII")
#: DNT2 record: stat_v2 fields then namelen (then name).
SYNC_DENT_V2 = struct.Struct("<4sIQQIIIIQqqqI")
SYNC_REQUEST = struct.Struct("<4sI")

S_IFDIR = 0o040000
S_IFREG = 0o100000

#: Linux errno values the sync service reports in STA2 (bionic uses Linux numbers).
ENOENT = 2
EACCES = 13


@dataclass
class Message:
    """One decoded ADB message."""

    command: int
    arg0: int
    arg1: int
    data: bytes = b""

    @property
    def name(self) -> str:
        return COMMAND_NAMES.get(self.command, f"0x{self.command:08x}")


def checksum(data: bytes) -> int:
    """The legacy payload checksum (sum of bytes, mod 2**32), used below version 0x01000001."""
    return sum(data) & 0xFFFFFFFF


def pack_message(command: int, arg0: int, arg1: int, data: bytes = b"", *, crc: bool = False):
    """Encode one message: header + payload bytes. ``crc`` fills the legacy checksum."""
    header = HEADER.pack(
        command,
        arg0 & 0xFFFFFFFF,
        arg1 & 0xFFFFFFFF,
        len(data),
        checksum(data) if crc else 0,
        command ^ 0xFFFFFFFF,
    )
    return header + data


def unpack_header(raw: bytes) -> tuple[int, int, int, int, int, int]:
    """Decode a 24-byte header; raises ``ValueError`` when the magic does not match."""
    command, arg0, arg1, length, crc, magic = HEADER.unpack(raw)
    if magic != command ^ 0xFFFFFFFF:
        raise ValueError(f"bad ADB message magic for command 0x{command:08x}")
    return command, arg0, arg1, length, crc, magic


def shell_packet(packet_id: int, data: bytes = b"") -> bytes:
    """Encode one shell-v2 packet."""
    return SHELL_HEADER.pack(packet_id, len(data)) + data


def parse_banner(data: bytes) -> tuple[str, dict[str, str], set[str]]:
    """Parse a connection banner ``system:serial:key=v;key=v;features=a,b``.

    Returns ``(system_type, properties, features)``.
    """
    text = data.rstrip(b"\0").decode("utf-8", "replace")
    parts = text.split(":", 2)
    system = parts[0]
    props: dict[str, str] = {}
    features: set[str] = set()
    if len(parts) == 3:
        for item in parts[2].split(";"):
            if "=" not in item:
                continue
            key, value = item.split("=", 1)
            if key == "features":
                features = {f for f in value.split(",") if f}
            else:
                props[key] = value
    return system, props, features


def device_banner(props: dict[str, str], features: list[str]) -> bytes:
    """The device banner adbd sends in its CNXN (``get_connection_string`` in adbd/main.cpp)."""
    keys = ("ro.product.name", "ro.product.model", "ro.product.device")
    body = "".join(f"{k}={props.get(k, '')};" for k in keys)
    return f"device::{body}features={','.join(features)}".encode()


def android_pubkey_to_rsa(blob: bytes):
    """Decode an adb public key (``base64(RSAPublicKey struct) user@host``) to a cryptography key.

    The struct (``android_pubkey.h``): u32 modulus size in words (64), u32 n0inv, u32[64]
    modulus (little-endian), u32[64] R^2 mod n, u32 exponent. Raises ``ValueError`` if malformed.
    """
    import base64

    from cryptography.hazmat.primitives.asymmetric import rsa

    text = blob.rstrip(b"\0").split(b" ", 1)[0]
    raw = base64.b64decode(text)
    if len(raw) != 524:
        raise ValueError("unexpected adb public key size")
    words = struct.unpack("<I", raw[:4])[0]
    if words != 64:
        raise ValueError("unexpected adb public key modulus size")
    modulus = int.from_bytes(raw[8 : 8 + 256], "little")
    exponent = struct.unpack("<I", raw[520:524])[0]
    return rsa.RSAPublicNumbers(exponent, modulus).public_key()


def verify_token_signature(public_key, token: bytes, signature: bytes) -> bool:
    """True if ``signature`` is adb's RSA PKCS#1 v1.5 signature of ``token`` (taken as a SHA-1
    digest, as ``RSA_sign(NID_sha1, token, ...)`` in adb's auth.cpp does)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, utils

    try:
        public_key.verify(signature, token, padding.PKCS1v15(), utils.Prehashed(hashes.SHA1()))
    except (InvalidSignature, ValueError):
        return False
    return True
