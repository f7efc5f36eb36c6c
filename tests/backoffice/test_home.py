"""The staff home page: each role's work queues with counts that link to the same rows, volumes, cash."""

from datetime import timedelta
from decimal import Decimal

import pytest
import requests
import responses
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backoffice.home import volumes, volumes_refresh
from backoffice.models import DayVolume
from backoffice.queues import QUEUES
from clickpesa.models import WebhookEvent
from notifications.models import Notification
from payments.models import Payment
from payments.services import payment_mark_received
from revenue.models import Payout
from revenue.services import payout_retry
from tests.factories import PaymentFactory, PayoutFactory
from tests.staff import paid_payout, returned_payout

HOME = reverse("admin:index")


def needs_review_payment() -> Payment:
    """A payment ClickPesa says it collected less for: parked for review, nothing credited."""
    payment = PaymentFactory()
    payment_mark_received(payment, amount=payment.amount - Decimal("1000.00"), currency=payment.currency)
    payment.refresh_from_db()
    assert payment.status == Payment.Status.NEEDS_REVIEW
    return payment


def counts(client) -> dict[str, str]:
    response = client.get(HOME)
    assert response.status_code == 200
    return {item.queue.key: item.shown for item in home(response)["queues"]}


def home(response) -> dict:
    """What the staff_home tag gave the index template."""
    return next(c["home"] for c in response.context if "home" in c)


@pytest.mark.django_db
def test_finance_sees_finance_queues(finance):
    assert list(counts(finance)) == [
        "payments_review",
        "payouts_review",
        "payouts_returned",
        "payouts_unreconciled",
        "statement_unresolved",
        "approvals_waiting",
    ]


@pytest.mark.django_db
def test_support_sees_support_queues(support):
    assert list(counts(support)) == [
        "payments_review",
        "payouts_review",
        "payouts_returned",
        "payouts_waiting",
        "events_attention",
        "notifications_failed",
    ]


@pytest.mark.django_db
def test_a_superuser_sees_every_queue(root):
    assert list(counts(root)) == [q.key for q in QUEUES]


@pytest.mark.django_db
def test_the_counts_are_the_rows_waiting(root):
    needs_review_payment()
    paid_payout()
    paid_payout()
    returned_payout()
    stuck = PayoutFactory(submitted=False)
    Payout.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - timedelta(hours=2))
    WebhookEvent.objects.create(endpoint="payouts", body="{}", status=WebhookEvent.Status.UNMATCHED)
    Notification.objects.create(kind=Notification.Kind.RECEIPT, subject="s", body="b", dedupe_key="k", status="FAILED")
    found = counts(root)
    assert found["payments_review"] == "1"
    assert found["payouts_unreconciled"] == "2"
    assert found["payouts_returned"] == "1"
    assert found["payouts_waiting"] == "1"
    assert found["events_attention"] == "1"
    assert found["notifications_failed"] == "1"
    assert found["statement_unresolved"] == "0"


@pytest.mark.django_db
def test_a_retried_payout_leaves_the_returned_queue(root):
    payout = returned_payout()
    assert counts(root)["payouts_returned"] == "1"
    payout_retry(payout, requested_by=root.user)
    assert counts(root)["payouts_returned"] == "0"


@pytest.mark.django_db
def test_each_count_links_to_a_changelist_showing_those_rows(root):
    payment = needs_review_payment()
    PaymentFactory()  # pending, not in the queue
    page = root.get(HOME).content.decode()
    url = f"{reverse('admin:payments_payment_changelist')}?queue=payments_review"
    assert f'href="{url}"' in page
    listed = root.get(url)
    assert [p.pk for p in listed.context["cl"].result_list] == [payment.pk]


@pytest.mark.django_db
def test_an_unknown_queue_in_a_filter_is_not_an_error_page(root):
    response = root.get(reverse("admin:payments_payment_changelist"), {"queue": "nope"})
    assert response.status_code in (200, 302)


@pytest.mark.django_db
def test_volumes_show_today_and_30_days_in_one_money_format(finance):
    paid_payout()
    page = finance.get(HOME).content.decode()
    assert 'id="volumes"' in page
    volumes = {v.label: v for v in home(finance.get(HOME))["volumes"]}
    assert volumes["Payouts paid"].today.amount == Decimal("46000.00")
    assert volumes["Payments collected"].total == Decimal("52000.00")  # the sale behind it: 50,000 + 2.5 % + 750
    assert len(volumes["Payouts paid"].days) == 30
    assert "TZS 46,000.00" in page


@pytest.mark.django_db
def test_the_cash_check_says_how_to_compare_without_a_statement(finance, settings):
    settings.CLICKPESA_CLIENT_ID = ""
    page = finance.get(HOME).content.decode()
    assert "no statement with balances imported yet" in page
    assert "Import a statement" in page


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["finance", "support", "root"])
def test_the_home_page_costs_the_same_queries_at_two_table_sizes(request, who, django_assert_max_num_queries):
    client = request.getfixturevalue(who)
    paid_payout()
    returned_payout()
    needs_review_payment()
    client.get(HOME)  # warm per-process caches (content types, permissions)
    with CaptureQueriesContext(connection) as few:
        client.get(HOME)
    for _ in range(4):
        paid_payout()
        returned_payout()
        needs_review_payment()
    with django_assert_max_num_queries(len(few)):
        client.get(HOME)


@pytest.mark.django_db
def test_approvals_waiting_are_counted_for_finance_and_link_to_their_list(finance, settings):
    from decimal import Decimal

    from revenue.services import payout_request
    from tests.factories import CreatorFactory, earn

    settings.PAYOUT_APPROVAL_THRESHOLD = {"TZS": Decimal("9000.00")}
    creator = CreatorFactory()
    earn(creator)
    payout_request(creator)

    assert counts(finance)["approvals_waiting"] == "1"
    listed = finance.get("/admin/revenue/approval/", {"queue": "approvals_waiting"})
    assert listed.status_code == 200
    assert "1 approval" in listed.content.decode()


@pytest.mark.django_db
def test_stored_volumes_of_ended_days_show_what_the_tables_say(finance):
    with time_machine.travel(timezone.now() - timedelta(days=3)):
        paid_payout()
    paid_payout()
    live = {v.label: v.days for v in home(finance.get(HOME))["volumes"]}
    assert volumes_refresh() == 3 * 29  # every ended day of the 30, each volume, empty days too
    with CaptureQueriesContext(connection) as queries:
        stored = {v.label: v.days for v in volumes()}
    assert len(queries) == 4  # the stored days, then today per volume
    assert stored == live
    assert sum(d.amount for d in stored["Payouts paid"]) == Decimal("92000.00")


@pytest.mark.django_db
def test_an_ended_day_not_yet_stored_is_summed_from_the_tables(finance):
    with time_machine.travel(timezone.now() - timedelta(days=5)):
        paid_payout()
    volumes_refresh()
    five_days_ago = timezone.localdate() - timedelta(days=5)
    DayVolume.objects.filter(day=five_days_ago).delete()  # as before the first hourly refresh
    by_day = {d.day: d.amount for d in next(v for v in volumes() if v.label == "Payouts paid").days}
    assert by_day[five_days_ago] == Decimal("46000.00")


@pytest.mark.django_db
def test_a_refresh_rewrites_stored_days_from_the_tables(finance):
    with time_machine.travel(timezone.now() - timedelta(days=2)):
        payout = paid_payout()
    volumes_refresh()
    Payout.objects.filter(pk=payout.pk).update(amount=Decimal("40000.00"))  # what a later change would do
    volumes_refresh()
    two_days_ago = timezone.localdate() - timedelta(days=2)
    assert DayVolume.objects.get(metric="payouts", day=two_days_ago).amount == Decimal("40000.00")


@pytest.fixture
def process_cache(settings):
    """A cache of this process alone: the balance API's answer cached by one test never reaches another."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "home"}}
    cache.clear()


@pytest.mark.django_db
def test_an_unreachable_balance_api_is_asked_again_after_a_minute_not_on_every_view(finance, settings, process_cache):
    settings.CLICKPESA_CLIENT_ID, settings.CLICKPESA_API_KEY = "home-client", "home-key"
    base = settings.CLICKPESA_BASE_URL
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.post(f"{base}/generate-token", body=requests.ConnectionError("ClickPesa unreachable"))
        cash = home(finance.get(HOME))["cash"]
        assert cash.theirs is None and cash.source == "no statement with balances imported yet"
        asked = len(api.calls)
        assert asked >= 1
        home(finance.get(HOME))
        assert len(api.calls) == asked  # the failure is remembered: no second wait for ClickPesa's timeout
    with time_machine.travel(timezone.now() + timedelta(seconds=61)), responses.RequestsMock() as api:
        api.post(f"{base}/generate-token", json={"success": True, "token": "Bearer home-token"})
        api.get(f"{base}/account/balance", body='[{"currency":"TZS","balance":1000.00}]')
        cash = home(finance.get(HOME))["cash"]
    assert (cash.source, cash.theirs, cash.difference) == (
        "ClickPesa's balance API",
        Decimal("1000.00"),
        Decimal("1000.00"),
    )
