"""The staff home page: each role's work queues with counts that link to the same rows, volumes, cash."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

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
