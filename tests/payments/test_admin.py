"""The payment pages of the back-office: what Finance and Support see, search, and Support's re-query.

ClickPesa is faked at the HTTP layer with `responses`.
"""

import pytest
import responses
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.urls import reverse

from clickpesa.models import WebhookEvent
from payments.models import Payment
from revenue.models import LedgerTransaction
from tests.factories import BuyerFactory, OrderFactory, PaymentFactory, capture
from tests.staff import AdminClient, messages_of, staff
from tests.webhooks import payment_body, post_webhook, use_checksum_key

BASE = "https://clickpesa.invalid/third-parties"
PAYMENTS = reverse("admin:payments_payment_changelist")


def _page(payment: Payment) -> str:
    return reverse("admin:payments_payment_change", args=[payment.pk])


@pytest.fixture
def clickpesa(settings):
    """ClickPesa's API, answered by `responses`: a token, then whatever each test registers."""
    settings.CLICKPESA_BASE_URL = BASE
    settings.CLICKPESA_CLIENT_ID, settings.CLICKPESA_API_KEY = "client", "key"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.post(f"{BASE}/generate-token", json={"success": True, "token": "Bearer t"})
        yield api


@pytest.fixture
def paid_by_webhook(client, settings) -> Payment:
    """A payment captured by ClickPesa's real webhook: one event and one ledger transaction to show."""
    use_checksum_key(settings)
    payment = PaymentFactory()
    assert post_webhook(client, payment_body(payment)).json()["status"] == "processed"
    payment.refresh_from_db()
    return payment


def _queries_about(api: responses.RequestsMock, payment: Payment) -> list:
    return [call for call in api.calls if call.request.url.endswith(f"/payments/{payment.reference}")]


@pytest.mark.django_db
def test_finance_sees_a_payments_events_and_its_ledger_transactions(finance, paid_by_webhook):
    event = WebhookEvent.objects.get(order_reference=paid_by_webhook.reference)
    capture_txn = LedgerTransaction.objects.get(payment=paid_by_webhook)

    page = finance.get(_page(paid_by_webhook))

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="related-events"' in html
    assert reverse("admin:clickpesa_webhookevent_change", args=[event.pk]) in html
    assert "PAYMENT RECEIVED" in html
    assert 'id="related-ledger"' in html
    assert f"#{capture_txn.pk} Payment capture" in html


@pytest.mark.django_db
def test_support_sees_a_payments_events_but_not_its_ledger(support, paid_by_webhook):
    event = WebhookEvent.objects.get(order_reference=paid_by_webhook.reference)

    page = support.get(_page(paid_by_webhook))

    assert page.status_code == 200
    html = page.content.decode()
    assert reverse("admin:clickpesa_webhookevent_change", args=[event.pk]) in html
    assert 'id="related-ledger"' not in html
    assert "Payment capture" not in html


@pytest.mark.django_db
def test_a_staff_member_without_the_event_permission_sees_neither(paid_by_webhook):
    clerk = staff(None, username="clerk")
    clerk.user_permissions.add(Permission.objects.get(codename="view_payment"))

    page = AdminClient(clerk).get(_page(paid_by_webhook))

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="related-events"' not in html
    assert 'id="related-ledger"' not in html


@pytest.mark.django_db
def test_a_payment_without_events_says_so(support):
    payment = PaymentFactory()

    html = support.get(_page(payment)).content.decode()

    assert f"No event received for {payment.reference}." in html


@pytest.mark.django_db
def test_a_payment_is_found_by_its_reference(support):
    wanted, other = PaymentFactory(), PaymentFactory()

    page = support.get(PAYMENTS, {"q": wanted.reference})

    html = page.content.decode()
    assert page.status_code == 200
    assert wanted.reference in html
    assert other.reference not in html


@pytest.mark.django_db
def test_a_payment_is_found_by_its_buyers_name(support):
    wanted = PaymentFactory(order=OrderFactory(buyer=BuyerFactory(first_name="Neema", last_name="Mushi")))
    other = PaymentFactory()

    html = support.get(PAYMENTS, {"q": "Mushi"}).content.decode()

    assert wanted.reference in html
    assert other.reference not in html


@pytest.mark.django_db
def test_the_list_links_each_payment_to_its_order_and_shows_its_amount(finance):
    payment = PaymentFactory()

    html = finance.get(PAYMENTS).content.decode()

    order_url = reverse("admin:payments_order_change", args=[payment.order_id])
    assert f'<a href="{order_url}">#{payment.order_id}</a>' in html
    assert "TZS 11,000.00" in html


@pytest.mark.django_db
def test_support_is_offered_the_requery_action_and_finance_is_not(support, finance):
    PaymentFactory()

    assert 'value="requery_payments"' in support.get(PAYMENTS).content.decode()
    assert 'value="requery_payments"' not in finance.get(PAYMENTS).content.decode()


@pytest.mark.django_db
def test_finance_cannot_requery_a_payment(finance, clickpesa):
    payment = PaymentFactory()

    finance.action(PAYMENTS, "requery_payments", [payment])

    assert _queries_about(clickpesa, payment) == []
    payment.refresh_from_db()
    assert (payment.status, payment.last_polled_at) == (Payment.Status.PENDING, None)
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_a_payment_requery_clickpesa_does_not_answer_is_refused_and_changes_nothing(support, clickpesa):
    payment = PaymentFactory()
    clickpesa.get(f"{BASE}/payments/{payment.reference}", status=503, json={"message": "maintenance"})

    response = support.action(PAYMENTS, "requery_payments", [payment])

    assert messages_of(response)[0] == "0 payments re-queried, 1 skipped: ClickPesa did not answer"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert not WebhookEvent.objects.exists()
    assert not LogEntry.objects.filter(object_id=str(payment.pk), content_type__model="payment").exists()


@pytest.mark.django_db
def test_a_payment_requery_clickpesa_knows_nothing_about_is_reported_with_a_next_step(support, support_user, clickpesa):
    payment = PaymentFactory()
    clickpesa.get(f"{BASE}/payments/{payment.reference}", status=404, json={"message": "Not found"})

    response = support.action(PAYMENTS, "requery_payments", [payment])

    # Not a green success: a warning that says what to do next.
    assert messages_of(response) == [
        "0 payments re-queried, 1 skipped: ClickPesa has no record",
        f"{payment.reference}: ClickPesa has no record of it. The buyer never completed it at ClickPesa: it stays "
        "pending (the poller keeps asking); ask the buyer to pay again.",
    ]
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert payment.last_polled_at is not None


@pytest.mark.django_db
def test_requerying_a_completed_payment_records_clickpesas_word_and_moves_no_money(support, clickpesa):
    payment = capture(PaymentFactory())
    clickpesa.get(
        f"{BASE}/payments/{payment.reference}",
        json=[
            {
                "id": f"GW{payment.pk}",
                "status": "SUCCESS",
                "orderReference": payment.reference,
                "collectedAmount": str(payment.amount),
                "collectedCurrency": "TZS",
                "createdAt": "2026-05-14T07:00:00.000Z",
                "updatedAt": "2026-05-14T07:00:04.000Z",
            }
        ],
    )

    response = support.action(PAYMENTS, "requery_payments", [payment])

    assert messages_of(response)[0] == "1 payment re-queried"
    event = WebhookEvent.objects.get(order_reference=payment.reference)
    assert (event.source, event.status, event.detail) == (
        WebhookEvent.Source.POLL,
        WebhookEvent.Status.IGNORED,
        "payment already completed",
    )
    assert LedgerTransaction.objects.filter(payment=payment).count() == 1
