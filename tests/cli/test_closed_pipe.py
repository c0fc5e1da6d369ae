"""``icbridge audit export | head``: the reader going away ends the command quietly."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

from bridge.clock import utcnow
from bridge.store import AuditEvent, open_store_url


def test_export_into_a_closed_pipe_exits_without_a_traceback(instance) -> None:  # type: ignore[no-untyped-def]
    store = open_store_url(f"sqlite:///{instance.config.parent / 'bridge.db'}", base_dir=instance.config.parent)
    now = utcnow()
    try:  # far more than a pipe buffer (64 KiB), so the writer is still writing when the reader leaves
        for i in range(3000):
            store.record_audit(AuditEvent(now - timedelta(seconds=i), "login.issued", "ok", biller="demo",
                                          detail="x" * 40))
    finally:
        store.close()
    process = subprocess.Popen([sys.executable, "-m", "bridge", "audit", "export", "--config", str(instance.config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().startswith(b"{")
    process.stdout.close()  # what `head -1` does after its line
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert err == ""
