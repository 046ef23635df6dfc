#!/usr/bin/env python3
"""LNbits' own phoenixd funding source (lnbits.wallets.PhoenixdWallet, unmodified, from PyPI)
driven against a chanhub node's phoenixd-compatible API.

Configured as LNbits configures it: the PHOENIXD_API_ENDPOINT and PHOENIXD_API_PASSWORD
environment variables its settings read. Reads one JSON command per line on stdin and
answers one JSON line on stdout for each (LNbits logs to stderr):

  {"cmd": "status"}
  {"cmd": "create_invoice", "amount": SAT, "memo"?: STR, "description_hash"?: HEX,
   "unhashed_description"?: HEX}
  {"cmd": "pay_invoice", "bolt11": STR}
  {"cmd": "invoice_status", "checking_id": HASH} / {"cmd": "payment_status", ...}
  {"cmd": "wait_paid", "checking_id": HASH, "timeout": SECS}: until LNbits'
      paid_invoices_stream yields it (the stream runs from start-up)
"""

import asyncio
import json
import sys

from lnbits.settings import settings
from lnbits.wallets import PhoenixdWallet


def status_json(s):
    return {
        "success": s.success,
        "failed": s.failed,
        "pending": s.pending,
        "fee_msat": s.fee_msat,
        "preimage": s.preimage,
    }


async def main():
    settings.lnbits_running = True
    wallet = PhoenixdWallet()
    paid = set()
    arrived = asyncio.Event()

    async def follow():
        async for checking_id in wallet.paid_invoices_stream():
            paid.add(checking_id)
            arrived.set()

    stream = asyncio.create_task(follow())
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def answer(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    answer({"ready": True, "lnbits_wallet": type(wallet).__module__ + "." + type(wallet).__name__})
    while True:
        line = await reader.readline()
        if not line:
            break
        req = json.loads(line)
        cmd = req["cmd"]
        try:
            if cmd == "status":
                s = await wallet.status()
                answer({"error_message": s.error_message, "balance_msat": s.balance_msat})
            elif cmd == "create_invoice":
                kwargs = {}
                if "description_hash" in req:
                    kwargs["description_hash"] = bytes.fromhex(req["description_hash"])
                if "unhashed_description" in req:
                    kwargs["unhashed_description"] = bytes.fromhex(req["unhashed_description"])
                r = await wallet.create_invoice(req["amount"], memo=req.get("memo"), **kwargs)
                answer({
                    "ok": r.ok,
                    "checking_id": r.checking_id,
                    "payment_request": r.payment_request,
                    "preimage": r.preimage,
                    "error_message": r.error_message,
                })
            elif cmd == "pay_invoice":
                r = await wallet.pay_invoice(req["bolt11"], req.get("fee_limit_msat", 100000))
                answer({
                    "ok": r.ok,
                    "checking_id": r.checking_id,
                    "fee_msat": r.fee_msat,
                    "preimage": r.preimage,
                    "error_message": r.error_message,
                })
            elif cmd == "invoice_status":
                answer(status_json(await wallet.get_invoice_status(req["checking_id"])))
            elif cmd == "payment_status":
                answer(status_json(await wallet.get_payment_status(req["checking_id"])))
            elif cmd == "wait_paid":
                deadline = loop.time() + req.get("timeout", 60)
                while req["checking_id"] not in paid and loop.time() < deadline:
                    arrived.clear()
                    try:
                        await asyncio.wait_for(arrived.wait(), deadline - loop.time())
                    except asyncio.TimeoutError:
                        break
                answer({"paid": req["checking_id"] in paid})
            else:
                answer({"error": f"unknown command {cmd}"})
        except Exception as e:  # the test reads the failure rather than a dead pipe
            answer({"error": f"{type(e).__name__}: {e}"})
    settings.lnbits_running = False
    stream.cancel()
    await wallet.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
