#!/usr/bin/env python3
"""Peer benchmark: the Python `eventsourcing` library (9.5.x) on PostgreSQL.

Appends N events through the library's own PostgreSQL *application recorder*
(its real tables, SQL, table lock and NOTIFY), then reads them all back in
notification order, and reports events/s for both phases.

Needs, in the interpreter that runs it (this script installs nothing):

    pip install 'eventsourcing[postgres]==9.5.6' 'psycopg[binary]'

The `postgres` extra of 9.5.6 pulls only `psycopg[pool]>=3.2`: pure-Python
psycopg, which loads the system libpq (libpq5) at import and has no C speedups.
`psycopg[binary]` adds the prebuilt C implementation with its own libpq, which
is what the library's docs suggest for development and testing; the JSON
output's `psycopg_impl` says which one ran ("binary"/"c" or "python").

Example:
    python3 peer_eventsourcing.py --host 127.0.0.1 --port 5432 --user postgres \
        --dbname bench --events 1000000 --json
"""
import argparse
import importlib.metadata
import json
import os
import sys
import time
import uuid

import psycopg
from psycopg import sql
from eventsourcing.persistence import InfrastructureFactory, StoredEvent
from eventsourcing.utils import Environment

# The environment's name prefixes the table: the recorder writes "peer_bench_events".
ENV_NAME = "peer_bench"
EVENTS_PER_ORIGINATOR = 10
TOPIC = "peer_bench:Event"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5432)
    p.add_argument("--user", default="postgres")
    # libpq would skip PGPASSWORD if handed an explicit empty password, so fall back to it here.
    p.add_argument("--password", default=os.environ.get("PGPASSWORD", ""))
    p.add_argument("--dbname", required=True)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=1000, help="events per append transaction")
    p.add_argument("--payload-bytes", type=int, default=300)
    p.add_argument("--read-page", type=int, default=5000)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    if a.events <= 0 or a.batch <= 0 or a.read_page <= 0:
        p.error("--events, --batch and --read-page must be positive")

    env = Environment(ENV_NAME, {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_HOST": a.host, "POSTGRES_PORT": str(a.port), "POSTGRES_USER": a.user,
        "POSTGRES_PASSWORD": a.password, "POSTGRES_DBNAME": a.dbname,
        # One thread uses one connection; the default pool would open five.
        "POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "0",
        "CREATE_TABLE": "y",
    })
    factory = InfrastructureFactory.construct(env)
    drop = sql.SQL("DROP TABLE IF EXISTS {}.{}").format(
        sql.Identifier(factory.datastore.schema), sql.Identifier(f"{ENV_NAME}_events"))
    # The library has no "drop" API and CREATE TABLE IF NOT EXISTS would reuse old rows
    # (and the bigserial would not restart at 1), so start each run from an empty table.
    with factory.datastore.transaction(commit=True) as curs:
        curs.execute(drop)
    recorder = factory.application_recorder()

    payload = os.urandom(a.payload_bytes)
    appended = 0
    append_seconds = 0.0
    originator, version = uuid.uuid4(), 0
    while appended < a.events:
        batch = []
        for _ in range(min(a.batch, a.events - appended)):
            if version == EVENTS_PER_ORIGINATOR:
                originator, version = uuid.uuid4(), 0
            version += 1
            batch.append(StoredEvent(originator, version, TOPIC, payload))
        # Time only the recorder call: building StoredEvents is this script's cost, not the library's.
        t0 = time.perf_counter()
        ids = recorder.insert_events(batch)
        append_seconds += time.perf_counter() - t0
        assert ids is not None and len(ids) == len(batch), "recorder returned wrong notification ids"
        appended += len(batch)

    # Catch-up read: page by notification id exactly as a projection tailing the log would.
    read = 0
    last_id = 0
    t0 = time.perf_counter()
    while read < a.events:
        page = recorder.select_notifications(last_id, a.read_page, inclusive_of_start=False)
        if not page:
            break
        # Ids must rise strictly, or the library's ordering guarantee is broken.
        assert page[0].id > last_id and all(x.id < y.id for x, y in zip(page, page[1:]))
        read += len(page)
        last_id = page[-1].id
    read_seconds = time.perf_counter() - t0
    if read != a.events:  # not an assert: it must hold under python -O too
        sys.exit(f"read {read} events back, expected {a.events}")

    # Leave no ~0.5 GB table behind in the runner's database.
    with factory.datastore.transaction(commit=True) as curs:
        curs.execute(drop)
    factory.close()

    result = {
        "library": "eventsourcing",
        "version": importlib.metadata.version("eventsourcing"),
        "psycopg_impl": psycopg.pq.__impl__,
        "events": a.events,
        "batch": a.batch,
        "payload_bytes": a.payload_bytes,
        "append_seconds": round(append_seconds, 3),
        "append_events_per_second": round(a.events / append_seconds, 1),
        "read_seconds": round(read_seconds, 3),
        "read_events_per_second": round(a.events / read_seconds, 1),
    }
    if a.json:
        print(json.dumps(result))
    else:
        print(f"eventsourcing {result['version']} (psycopg {result['psycopg_impl']}): "
              f"{a.events} events, batch {a.batch}, payload {a.payload_bytes} B")
        print(f"  append: {append_seconds:.2f} s, {result['append_events_per_second']:.0f} events/s")
        print(f"  read:   {read_seconds:.2f} s, {result['read_events_per_second']:.0f} events/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
