"""Push ingest: every device event applied exactly once, in device_seq order, under the named
conflict rules. One push is one transaction: the ledger, the effects, the stored results, the
audit trail and the pull feed commit together or not at all.

The hot path is written for throughput (see bench/ingest.py): the state a batch reads is fetched
with one query per table and memoised, checks that depend only on (actor, role, event type) or on a
bin are made once per batch, a unit changed by several events of a batch is serialised once, and
the rows of the big tables (events, units, changes) go to the driver as plain tuples in one
executemany (SQLite) or COPY (PostgreSQL). What depends on the events alone (their rows but for the
result) is built before the write lock, and the events' primary key, not a lookup per event,
catches an event id used before.

The write lock is the limit, so a batch is worked out before it takes it (_plan): applied to a read
snapshot, every read recorded. Holding the lock, it reads those rows again; if none changed, it only
writes what it worked out, otherwise (another push touched the same units, a supervisor changed a
bin) it is applied again from the start, as every batch once was.

The package, by job: turns.py orders a device's batches and takes the write turns; batch.py is the
state a batch reads and the writes it collects; steps.py applies each event to it, with the
verdicts of verdicts.py and the corrections of corrections.py; bulk.py writes the big tables;
office.py runs a supervisor's actions on the server the same way.
"""

from .batch import Device, unit_from_row
from .office import reassign_by_supervisor, release_by_supervisor, resolve_by_supervisor
from .turns import PushRefused, PushResult, push_batch

__all__ = ["Device", "PushRefused", "PushResult", "push_batch", "reassign_by_supervisor", "release_by_supervisor",
           "resolve_by_supervisor", "unit_from_row"]
