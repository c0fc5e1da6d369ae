"""SIGKILL one node under a bounded load of logins: nothing issued goes unaudited, no ticket works twice, B serves on.

Each worker thread is a stream of payers, each with a unique account: mint a launch URL,
open it, send the SP's AuthnRequest with the session cookie, keep the SAMLResponse. Steps
alternate between the nodes; a step whose node is gone is retried on the other one, as a
load balancer would (the retry of a launch is the dangerous case: node A may have used
the ticket just before it died).
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest
from saml_peers import parse_post_page

from .conftest import Cluster, Node

pytestmark = pytest.mark.slow

WORKERS = 6
KILL_AFTER_LOGINS = 5  # node A dies once this many logins completed (bounded by KILL_WAIT seconds)
KILL_WAIT = 15.0
LOAD_AFTER_KILL = 3.0  # seconds
NAME_ID = re.compile(rb"NameID[^>]*>([^<]+)<")


@dataclass
class Tally:
    """What the clients saw. Appends from several threads: list.append is atomic in CPython."""

    launches: Counter[str] = field(default_factory=Counter)  # launch URL -> number of 303 answers
    received: list[str] = field(default_factory=list)  # NameIDs of the SAMLResponses that arrived
    # Status codes node B answered after the kill: (status, True when B was the fallback for a request to A).
    b_after_kill: list[tuple[int, bool]] = field(default_factory=list)
    b_failures_after_kill: list[str] = field(default_factory=list)
    worker_errors: list[str] = field(default_factory=list)  # checked by the test's own thread, where they fail it
    killed_at: float | None = None


def send(tally: Tally, cluster: Cluster, first: Node, do) -> httpx.Response | None:  # type: ignore[no-untyped-def]
    """``do(node)`` on ``first``, then on the other node if ``first`` does not answer."""
    for node in (first, cluster.b if first is cluster.a else cluster.a):
        try:
            response: httpx.Response = do(node)
        except httpx.TransportError as exc:
            if node is cluster.b and tally.killed_at is not None:
                tally.b_failures_after_kill.append(repr(exc))
            continue
        if node is cluster.b and tally.killed_at is not None:
            tally.b_after_kill.append((response.status_code, node is not first))
        return response
    return None


def one_login(cluster: Cluster, tally: Tally, tag: str, nodes: tuple[Node, Node, Node]) -> None:
    with cluster.browser() as browser:
        created = send(tally, cluster, nodes[0], lambda n: cluster.create_login(
            browser, n, email=f"{tag}@example.com", account_number=tag))
        if created is None or created.status_code != 201:
            return
        url = created.json()["url"]
        launched = send(tally, cluster, nodes[1], lambda n: browser.get(n.at(url)))
        if launched is None or launched.status_code != 303:
            return
        tally.launches[url] += 1
        sso_url, _request_id = cluster.sp.start_redirect()
        answered = send(tally, cluster, nodes[2], lambda n: browser.get(n.at(sso_url)))
        if answered is None or answered.status_code != 200:
            return
        xml = base64.b64decode(parse_post_page(answered.text).saml_response)
        match = NAME_ID.search(xml)
        if match is None:
            tally.worker_errors.append(f"a SAMLResponse without a NameID: {xml[:300]!r}")
            return
        tally.received.append(match.group(1).decode())


def worker(cluster: Cluster, tally: Tally, number: int, stop: threading.Event) -> None:
    a, b = cluster.a, cluster.b
    plans = [(a, b, a), (b, a, b), (a, a, b), (b, b, a)]
    i = 0
    while not stop.is_set():
        try:
            one_login(cluster, tally, f"w{number}-{i}", plans[(number + i) % len(plans)])
        except Exception as exc:  # an exception here would die with the thread, unseen by pytest
            tally.worker_errors.append(f"w{number}-{i}: {exc!r}")
        i += 1


def test_sigkill_of_one_node_under_load_loses_no_audit_row_and_reuses_no_ticket(own_cluster: Cluster):
    cluster = own_cluster
    tally = Tally()
    stop = threading.Event()
    threads = [threading.Thread(target=worker, args=(cluster, tally, n, stop)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    waited_until = time.monotonic() + KILL_WAIT
    while len(tally.received) < KILL_AFTER_LOGINS and time.monotonic() < waited_until:
        time.sleep(0.05)
    received_before_kill = len(tally.received)
    cluster.a.kill()
    tally.killed_at = time.monotonic()
    time.sleep(LOAD_AFTER_KILL)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)

    with cluster.store() as store:
        events = store.audit_events()
    issued = Counter(e.email for e in events if e.event == "login.issued" and e.outcome == "ok")
    consumed = Counter(e.account for e in events if e.event == "ticket.consumed")

    assert tally.worker_errors == []
    assert received_before_kill > 0, "the load had not started before the kill"
    assert len(tally.received) > received_before_kill, "no login completed after the kill"
    # Every assertion a browser received has its audit row (and only one).
    assert set(tally.received) <= set(issued), set(tally.received) - set(issued)
    assert all(issued[email] == 1 for email in tally.received)
    # No launch URL answered 303 twice; no ticket consumed twice, even across the kill and the retries.
    assert max(tally.launches.values()) == 1
    assert max(consumed.values()) == 1
    # Node B kept serving: everything sent to it after the kill was answered, and with success.
    assert tally.b_failures_after_kill == []
    # What was sent to B first succeeded (201 created, 303 launched, 200 signed in). A request that A may
    # have served before it died can be refused on B as already used (400): the rule that no ticket is used twice.
    success = (200, 201, 303)
    assert tally.b_after_kill, "node B answered nothing after the kill"
    assert all(status in success for status, fallback in tally.b_after_kill if not fallback), tally.b_after_kill
    assert all(status in (*success, 400) for status, fallback in tally.b_after_kill if fallback), tally.b_after_kill
    assert httpx.get(f"{cluster.b.url}/readyz", timeout=5.0).status_code == 200
