"""Cost of encryption at rest and of the per-request metrics hook, against a baseline in the same run.

    python bench/bench_encryption.py [--messages 400]

Prints JSON: message write/read times through ConversationStore on SQLite with
and without a key ring, AES-GCM operations per second, and the time one
``metrics.record_request`` call adds to a request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from nexus_server_ext import metrics
from nexus_server_ext.security.crypto import KeyRing, attach_keyring, new_key
from nexus_server_ext.store import Database
from nexus_server_ext.store.conversations import ConversationStore
from nexus_server_ext.store.users import UserStore

TEXT = "Explain why this pandas groupby is slow and suggest a vectorised version. " * 8


async def store_round(db: Database, n: int) -> dict[str, float]:
    uid = await UserStore(db).ensure("bench")
    store = ConversationStore(db)
    conversation = await store.create(uid, "bench")
    t0 = time.perf_counter()
    for _ in range(n):
        await store.add_message(uid, conversation.id, "user", TEXT)
    t1 = time.perf_counter()
    for _ in range(20):
        _, messages = await store.get(uid, conversation.id)
    t2 = time.perf_counter()
    assert messages[-1].content == TEXT
    return {"write_ms_per_message": (t1 - t0) / n * 1000, "read_ms_per_message": (t2 - t1) / (20 * n) * 1000}


def run_store(n: int, encrypted: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        db.migrate()
        if encrypted:
            attach_keyring(db.engine, KeyRing(new_key()))
        try:
            return asyncio.run(store_round(db, n))
        finally:
            db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=400)
    args = parser.parse_args()

    # Interleaved, best of three each: SQLite commit times on a shared machine are noisy.
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for _ in range(3):
        for enc in (False, True):
            runs[enc].append(run_store(args.messages, encrypted=enc))
    baseline, encrypted = ({k: min(r[k] for r in runs[enc]) for k in runs[enc][0]} for enc in (False, True))

    ring = KeyRing(new_key())
    sealed = ring.encrypt(TEXT)
    n = 20000
    t0 = time.perf_counter()
    for _ in range(n):
        ring.encrypt(TEXT)
    t1 = time.perf_counter()
    for _ in range(n):
        ring.decrypt(sealed)
    t2 = time.perf_counter()
    for _ in range(n):
        metrics.record_request("BenchHandler", "GET", 200, 0.003, "bench")
    t3 = time.perf_counter()

    def overhead(key: str) -> float:
        return (encrypted[key] / baseline[key] - 1) * 100

    result: dict[str, Any] = {
        "messages": args.messages,
        "message_chars": len(TEXT),
        "baseline_plaintext": baseline,
        "encrypted": encrypted,
        "write_overhead_pct": overhead("write_ms_per_message"),
        "read_overhead_pct": overhead("read_ms_per_message"),
        "aes_gcm_encrypt_per_s": n / (t1 - t0),
        "aes_gcm_decrypt_per_s": n / (t2 - t1),
        "metrics_record_request_us": (t3 - t2) / n * 1e6,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
