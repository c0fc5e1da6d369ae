"""Two bridge nodes on one PostgreSQL store: first launches for one new account, spread over both nodes at
the same moment, create one IC customer record (the lease is in the shared store, not in a process)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from store_backends import postgres_schema

from .live_ic import LiveBridge, serve_live

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBridge]:
    with postgres_schema() as url:
        yield from serve_live(tmp_path_factory.mktemp("rest-sso-nodes"), store_url=url, nodes=2)


def test_concurrent_first_launches_on_two_nodes_create_one_customer_record(two_nodes: LiveBridge) -> None:
    biller, key = two_nodes.add_rest_biller()
    first, second = two_nodes.nodes
    urls = [two_nodes.launch_url(biller.name, key).replace(first, node) for node in (first, second, first, second)]
    pages: list[httpx.Response | None] = []
    start = threading.Barrier(len(urls))

    def launch(url: str) -> None:
        start.wait()
        pages.append(two_nodes.open(url)[1])

    threads = [threading.Thread(target=launch, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(pages) == 4 and all(p is not None and 'data-ok="true"' in p.text for p in pages)
    assert two_nodes.ic.customer_records(biller.biller_guid, "101Invoice") == 1
    branches = sorted(str(row.detail).split(";")[0] for row in two_nodes.audit(biller.name, "rest_sso"))
    assert branches == ["branch=created"] + ["branch=existing"] * 3
