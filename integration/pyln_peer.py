#!/usr/bin/env python3
"""An independent BOLT 8 peer (Core Lightning's pyln-proto) against a chanhub node.

Usage: pyln_peer.py NODE_ID HOST PORT

Completes the Noise handshake as initiator, exchanges init on regtest, pings and waits for
the pong. Prints one JSON line describing what happened; exits non-zero on any failure.
"""

import json
import os
import struct
import sys

from pyln.proto.wire import PrivateKey, PublicKey, connect

REGTEST = bytes.fromhex("06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f")
# var_onion_optin (9), option_static_remotekey (13), payment_secret (15): all optional bits.
FEATURES = ((1 << 9) | (1 << 13) | (1 << 15)).to_bytes(2, "big")
NUM_PONG_BYTES = 42


def init_message():
    networks = b"\x01" + bytes([len(REGTEST)]) + REGTEST
    return (struct.pack("!HH", 16, 0) + struct.pack("!H", len(FEATURES)) + FEATURES
            + networks)


def parse_init(msg):
    msg_type, = struct.unpack("!H", msg[:2])
    if msg_type != 16:
        raise SystemExit(f"expected init, got type {msg_type}")
    glen, = struct.unpack("!H", msg[2:4])
    gf = msg[4:4 + glen]
    off = 4 + glen
    flen, = struct.unpack("!H", msg[off:off + 2])
    features = msg[off + 2:off + 2 + flen]
    tlvs = msg[off + 2 + flen:]
    networks = []
    # Single-byte BigSize types and lengths are all chanhub sends in init.
    while tlvs:
        t, ln = tlvs[0], tlvs[1]
        value = tlvs[2:2 + ln]
        if t == 1:
            networks = [value[i:i + 32].hex() for i in range(0, len(value), 32)]
        tlvs = tlvs[2 + ln:]
    return gf.hex(), features.hex(), networks


def main():
    node_id, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    local = PrivateKey(os.urandom(32))
    conn = connect(local, PublicKey(bytes.fromhex(node_id)), host, port)
    conn.send_message(init_message())
    global_features, features, networks = parse_init(conn.read_message())
    if REGTEST.hex() not in networks:
        raise SystemExit(f"node did not announce regtest: {networks}")
    # ping: num_pong_bytes, then 3 bytes of ignored padding.
    conn.send_message(struct.pack("!HHH", 18, NUM_PONG_BYTES, 3) + b"\x00" * 3)
    for _ in range(10):
        msg = conn.read_message()
        msg_type, = struct.unpack("!H", msg[:2])
        if msg_type == 19:
            ignored_len, = struct.unpack("!H", msg[2:4])
            if ignored_len != NUM_PONG_BYTES:
                raise SystemExit(f"pong carries {ignored_len} bytes, asked {NUM_PONG_BYTES}")
            print(json.dumps({
                "our_node_id": local.public_key().serializeCompressed().hex(),
                "init_features": features,
                "init_global_features": global_features,
                "init_networks": networks,
                "pong_bytes": ignored_len,
            }))
            return
    raise SystemExit("no pong among the first 10 messages")


if __name__ == "__main__":
    main()
