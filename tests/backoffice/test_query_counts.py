"""The back-office pages cost the same number of queries with 10 rows as with 1,000 (no N+1).

The 1,000 payouts are display data: Payout rows bulk-created for creators made by the real
factories, with no ledger behind them (the pages under test only read them). Balances are
never written; journal and fee rows come from the real services.
"""

from datetime import timedelta
from decimal import Decimal
from itertools import cycle

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clickpesa.models import WebhookEvent
from payments.services import LineSpec, order_create
from revenue.models import Payout, PayoutMethod, TransactionType
from tests.factories import BuyerFactory, CreatorFactory
from tests.staff import paid_payout

STATUSES = cycle([Payout.Status.PAID, Payout.Status.FAILED, Payout.Status.PENDING, Payout.Status.REVERSED])


def display_payouts(count: int, creators: list, start: int = 0) -> None:
    methods = {m.creator_id: m for m in PayoutMethod.objects.filter(creator__in=creators)}
    now = timezone.now()
    rows = []
    for i in range(start, start + count):
        creator = creators[i % len(creators)]
        method, status = methods[creator.pk], next(STATUSES)
        rows.append(
            Payout(
                creator=creator,
                reference=f"BLNPOSHOW{i:07d}",
                amount=Decimal("25000.00") + i,
                method=method,
                method_kind=method.kind,
                method_snapshot=method.snapshot(),
                status=status,
                gateway_id=f"PAYX{i}",
                gateway_fee=Decimal("1180.00") if status == Payout.Status.PAID else None,
                paid_at=now - timedelta(minutes=i) if status == Payout.Status.PAID else None,
                reconciled_at=now if i % 7 == 0 and status == Payout.Status.PAID else None,
            )
        )
    Payout.objects.bulk_create(rows, batch_size=500)


def display_events(count: int, start: int = 0) -> None:
    WebhookEvent.objects.bulk_create(
        WebhookEvent(
            endpoint=WebhookEvent.Endpoint.PAYOUTS,
            body='{"event": "PAYOUT INITIATED"}',
            event_name="PAYOUT INITIATED",
            order_reference=f"BLNPOSHOW{i:07d}",
            gateway_status="SUCCESS",
            checksum_result="valid",
            dedupe_key=f"{i:064d}",
            status=WebhookEvent.Status.PROCESSED,
        )
        for i in range(start, start + count)
    )


def queries(client, url: str, params: dict | None = None) -> int:
    client.get(url, params)  # warm the per-process caches (content types) once
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(captured)


@pytest.fixture
def creators(db) -> list:
    return [CreatorFactory() for _ in range(20)]


PAYOUT_PAGES = {
    "payouts": (reverse("admin:revenue_payout_changelist"), None),
    "payouts filtered": (
        reverse("admin:revenue_payout_changelist"),
        {"status__exact": "PAID", "reconciled": "no", "paid_at__date__gte": "2020-01-01", "q": "BLNPO"},
    ),
    "payouts by creator": (reverse("admin:revenue_payout_changelist"), "creator"),
    "admin index": (reverse("admin:index"), None),
}


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["finance", "support"])
@pytest.mark.parametrize("page", list(PAYOUT_PAGES))
def test_payout_pages_cost_the_same_with_10_or_1000_payouts(request, who, page, creators):
    client = request.getfixturevalue(who)
    url, params = PAYOUT_PAGES[page]
    if params == "creator":
        params = {"creator__id__exact": creators[0].pk}
    display_payouts(10, creators)
    few = queries(client, url, params)
    display_payouts(990, creators, start=10)
    assert Payout.objects.count() == 1000
    assert queries(client, url, params) == few
    # The home page counts each of the role's work queues and sums the month's volumes.
    assert few <= (24 if page == "admin index" else 14)


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["finance", "support"])
def test_the_payout_page_renders_among_1000_payouts(request, who, creators):
    client = request.getfixturevalue(who)
    payout = paid_payout()
    url = reverse("admin:revenue_payout_change", args=[payout.pk])
    few = queries(client, url)
    display_payouts(1000, creators)
    assert queries(client, url) == few


@pytest.mark.django_db
def test_the_fee_list_with_totals_costs_the_same_with_3_or_103_rows(finance):
    buyer = BuyerFactory()

    def sell(count: int) -> None:
        lines = [LineSpec(CreatorFactory(), TransactionType.MARKETPLACE, Decimal("1000.00")) for _ in range(count)]
        order_create(buyer, lines=lines)

    url = reverse("admin:revenue_platformfee_changelist")
    sell(3)
    few = queries(finance, url, {"status__exact": "PENDING"})
    sell(100)
    assert queries(finance, url, {"status__exact": "PENDING"}) == few


@pytest.mark.django_db
def test_the_ledger_entry_list_costs_the_same_with_few_or_many_entries(finance):
    url = reverse("admin:revenue_ledgerentry_changelist")
    paid_payout()
    few = queries(finance, url)
    for _ in range(10):  # 10 entries each: more than a page
        paid_payout()
    assert queries(finance, url) == few


@pytest.mark.django_db
def test_the_ledger_page_costs_the_same_with_few_or_many_creators(finance, creators):
    url = reverse("admin:revenue_ledger")
    few = queries(finance, url)
    for _ in range(40):
        CreatorFactory()
    assert queries(finance, url) == few


@pytest.mark.django_db
@pytest.mark.parametrize("params", [None, {"status__exact": "PROCESSED", "endpoint__exact": "payouts"}])
def test_the_event_list_costs_the_same_with_10_or_1000_events(support, params):
    url = reverse("admin:clickpesa_webhookevent_changelist")
    display_events(10)
    few = queries(support, url, params)
    display_events(990, start=10)
    assert queries(support, url, params) == few
