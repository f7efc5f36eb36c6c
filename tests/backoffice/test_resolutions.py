"""A resolution for every stuck state: each a service call, audited (LogEntry, notes), reported in one sentence."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from backoffice.models import StatementImport, StatementLine
from backoffice.reconciliation import StatementAlreadyImported, statement_import_csv
from clickpesa.models import WebhookEvent
from notifications.models import Notification
from payments.models import Order, Payment
from revenue.ledger import account_balance
from revenue.models import LedgerAccount, LedgerEntry, LedgerTransaction, Payout
from tests.backoffice.test_home import needs_review_payment
from tests.backoffice.test_statement_matching import line, on_the_day
from tests.factories import PaymentFactory, PayoutFactory
from tests.notifications.factories import NotificationFactory
from tests.staff import messages_of, paid_payout
from tests.webhooks import payment_body, post_webhook, use_checksum_key

pytestmark = pytest.mark.django_db
HEADER = "id,orderReference,date,description,entry,amount,currency,balance,type"


def page(obj) -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])


def logged(obj) -> list[str]:
    return list(
        LogEntry.objects.filter(object_id=str(obj.pk), content_type__model=obj._meta.model_name)
        .order_by("id")
        .values_list("change_message", flat=True)
    )


# Payments held for review


def test_finance_captures_a_short_payment_and_writes_off_the_shortfall(finance):
    payment = needs_review_payment()  # ClickPesa collected 1,000 less than due
    assert "Resolve this review" in finance.get(page(payment)).content.decode()
    url = reverse("admin:payments_payment_review", args=[payment.pk])
    response = finance.post(url, {"resolution": "capture", "collected": "10000.00"}, follow=True)

    report = (
        f"Payment {payment.reference} captured: order #{payment.order_id} paid, creators credited in full; "
        "ClickPesa collected TZS 10,000.00, the shortfall of TZS 1,000.00 written off to collection write-offs."
    )
    assert messages_of(response) == [report]
    payment.refresh_from_db()
    assert (payment.status, payment.order.status) == (Payment.Status.COMPLETED, Order.Status.PAID)
    write_offs = LedgerAccount.objects.get(kind=LedgerAccount.Kind.WRITE_OFFS, currency="TZS")
    cash = LedgerAccount.objects.get(kind=LedgerAccount.Kind.GATEWAY_CASH, creator__isnull=True, currency="TZS")
    assert account_balance(write_offs) == Decimal("1000.00")
    assert account_balance(cash) == Decimal("10000.00")  # what ClickPesa holds for it
    assert LedgerEntry.objects.filter(transaction__idempotency_key=f"payment:{payment.pk}:shortfall").count() == 2
    assert logged(payment) == [report]
    assert "Review: " in payment.notes


def test_finance_dismisses_a_review_with_a_reason_and_no_money_moves(finance):
    payment = needs_review_payment()
    url = reverse("admin:payments_payment_review", args=[payment.pk])
    response = finance.post(url, {"resolution": "dismiss", "reason": "Buyer refunded at ClickPesa"}, follow=True)
    assert messages_of(response) == [f"Review of payment {payment.reference} dismissed: marked failed; no money moved."]
    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert not LedgerEntry.objects.filter(transaction__payment_id=payment.pk).exists()


def test_a_dismissal_without_a_reason_is_refused_and_says_why(finance):
    payment = needs_review_payment()
    url = reverse("admin:payments_payment_review", args=[payment.pk])
    response = finance.post(url, {"resolution": "dismiss", "reason": " "}, follow=True)
    assert messages_of(response) == ["A reason is required to dismiss a review."]
    payment.refresh_from_db()
    assert payment.status == Payment.Status.NEEDS_REVIEW


def test_more_than_due_is_refused(finance):
    payment = needs_review_payment()
    url = reverse("admin:payments_payment_review", args=[payment.pk])
    response = finance.post(url, {"resolution": "capture", "collected": "99000"}, follow=True)
    assert "at most TZS 11,000.00" in messages_of(response)[0]
    assert not LedgerEntry.objects.filter(transaction__payment_id=payment.pk).exists()


def test_support_cannot_resolve_a_payment_review_and_is_told_which_permission(support):
    payment = needs_review_payment()
    assert "Resolve this review" not in support.get(page(payment)).content.decode()
    response = support.post(reverse("admin:payments_payment_review", args=[payment.pk]), {"resolution": "dismiss"})
    assert response.status_code == 403
    assert "Can resolve payments held for review" in response.content.decode()


# Payouts


def test_support_clears_a_payout_review_with_a_reason(support):
    payout = PayoutFactory()
    Payout.objects.filter(pk=payout.pk).update(needs_review=True)
    url = reverse("admin:revenue_payout_clear_review", args=[payout.pk])
    response = support.post(url, {"reason": "ClickPesa confirmed the amount by phone"}, follow=True)
    assert messages_of(response) == [f"Payout {payout.reference} cleared from review; no money moved."]
    payout.refresh_from_db()
    assert payout.needs_review is False and "ClickPesa confirmed the amount by phone" in payout.notes


def test_a_pending_payout_page_says_why_it_waits_and_support_submits_it_now(support):
    payout = PayoutFactory(submitted=False)
    Payout.objects.filter(pk=payout.pk).update(
        next_submission_at=None, submission_attempts=3, last_error="ClickPesa timed out"
    )
    content = support.get(page(payout)).content.decode()
    assert "tried 3 times" in content and "ClickPesa timed out" in content and "Submit now" in content
    response = support.post(reverse("admin:revenue_payout_submit_now", args=[payout.pk]), follow=True)
    assert messages_of(response)[0] == f"Payout {payout.reference} queued for submission to ClickPesa now."
    payout.refresh_from_db()
    assert payout.next_submission_at is not None or payout.submission_attempts == 4  # queued, or already tried
    assert logged(payout) == [f"Payout {payout.reference} queued for submission to ClickPesa now."]


def test_submit_now_is_refused_for_a_payout_clickpesa_has(support):
    payout = paid_payout()
    response = support.post(reverse("admin:revenue_payout_submit_now", args=[payout.pk]), follow=True)
    assert messages_of(response) == [f"Payout {payout.reference} is Paid."]


# Webhook events


def test_support_dismisses_an_unmatched_event_from_its_page(support):
    event = WebhookEvent.objects.create(
        endpoint="payouts", body="{}", order_reference="NOTOURS1", status=WebhookEvent.Status.UNMATCHED
    )
    assert "Resolve this event" in support.get(page(event)).content.decode()
    url = reverse("admin:clickpesa_webhookevent_dismiss", args=[event.pk])
    response = support.post(url, {"reason": "A test payout from ClickPesa's dashboard"}, follow=True)
    assert messages_of(response) == [f"Event #{event.pk} dismissed: nothing applied; the reason is kept on the event."]
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.IGNORED
    assert event.detail.endswith("A test payout from ClickPesa's dashboard")


def test_support_links_an_unmatched_payment_event_to_our_payment_and_it_is_captured_once(client, support, settings):
    use_checksum_key(settings)
    payment = PaymentFactory()
    garbled = payment.reference[:-1] + "X"  # ClickPesa's report names a reference we never issued
    assert post_webhook(client, payment_body(payment, reference=garbled)).json()["status"] == "unmatched"
    event = WebhookEvent.objects.get(order_reference=garbled)
    assert "Link and replay" in support.get(page(event)).content.decode()

    url = reverse("admin:clickpesa_webhookevent_link", args=[event.pk])
    response = support.post(url, {"reference": f" {payment.reference} "}, follow=True)

    event.refresh_from_db()
    assert messages_of(response) == [
        f"Event #{event.pk} linked to {payment.reference} and replayed: now Processed ({event.detail})"
    ]
    assert (event.status, event.order_reference, event.linked_reference) == (
        WebhookEvent.Status.PROCESSED,
        garbled,
        payment.reference,
    )
    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    assert LedgerTransaction.objects.filter(idempotency_key=f"payment:{payment.pk}:capture").count() == 1
    # The same body delivered again is a duplicate of the linked event: nothing more moves.
    assert post_webhook(client, payment_body(payment, reference=garbled)).json()["status"] == "duplicate"
    assert LedgerTransaction.objects.filter(idempotency_key=f"payment:{payment.pk}:capture").count() == 1


def test_linking_to_a_reference_nobody_has_or_an_event_not_unmatched_is_refused(support):
    event = WebhookEvent.objects.create(
        endpoint="payments", body="{}", order_reference="NOTOURS2", status=WebhookEvent.Status.UNMATCHED
    )
    url = reverse("admin:clickpesa_webhookevent_link", args=[event.pk])
    response = support.post(url, {"reference": "BLNNOSUCHREF"}, follow=True)
    assert messages_of(response) == ["No payment, payout or deposit has the reference 'BLNNOSUCHREF'."]
    processed = WebhookEvent.objects.create(endpoint="payments", body="{}", status=WebhookEvent.Status.PROCESSED)
    payment = PaymentFactory()
    response = support.post(
        reverse("admin:clickpesa_webhookevent_link", args=[processed.pk]), {"reference": payment.reference}, follow=True
    )
    assert messages_of(response) == [f"Event #{processed.pk} is not unmatched; only an unmatched event is linked."]
    event.refresh_from_db()
    assert (event.status, event.linked_reference) == (WebhookEvent.Status.UNMATCHED, "")


def test_an_event_already_processed_cannot_be_dismissed(support):
    event = WebhookEvent.objects.create(endpoint="payouts", body="{}", status=WebhookEvent.Status.PROCESSED)
    response = support.post(
        reverse("admin:clickpesa_webhookevent_dismiss", args=[event.pk]), {"reason": "x"}, follow=True
    )
    assert messages_of(response) == [f"Event #{event.pk} is not failed, dead or unmatched; nothing to dismiss."]


# Statements


def test_a_matched_payout_line_reconciles_its_payout(finance_user):
    paid = on_the_day(paid_payout)
    statement_import_csv(
        "\n".join([HEADER, line(paid.reference, "47180.00", type="Payout", entry="Debit")]).encode(),
        by=finance_user,
        currency="TZS",
    )
    paid.refresh_from_db()
    assert paid.reconciled_by == finance_user


def test_the_same_statement_twice_is_refused_with_a_pointer_to_the_first(finance_user):
    data = "\n".join([HEADER, line("CPW1", "1000", type="Withdraw", entry="Debit")]).encode()
    first = statement_import_csv(data, by=finance_user, currency="TZS", filename="may.csv")
    with pytest.raises(StatementAlreadyImported, match=rf"already imported as Statement #{first.pk} "):
        statement_import_csv(data, by=finance_user, currency="TZS", filename="may-again.csv")
    assert StatementImport.objects.count() == 1


def test_finance_accepts_a_differing_line_and_the_payout_is_reconciled_back_on_the_filtered_list(finance):
    paid = on_the_day(paid_payout)
    statement = statement_import_csv(
        "\n".join([HEADER, line(paid.reference, "47000.00", type="Payout", entry="Debit")]).encode(),
        by=finance.user,
        currency="TZS",
    )
    differing = statement.lines.get(outcome=StatementLine.Outcome.AMOUNT_DIFFERS)
    content = finance.get(page(differing)).content.decode()
    assert "Post an adjustment for the difference" in content and "amount=1000.00" in content
    filters = "queue=statement_unresolved"
    response = finance.post(
        reverse("admin:backoffice_statementline_accept", args=[differing.pk]), {"_changelist_filters": filters}
    )
    assert response["Location"] == f"{reverse('admin:backoffice_statementline_changelist')}?{filters}"
    paid.refresh_from_db()
    differing.refresh_from_db()
    assert paid.reconciled_at is not None and differing.resolved_by == finance.user


def test_finance_resolves_a_line_with_a_note(finance):
    statement = statement_import_csv(
        "\n".join([HEADER, line("BLNPONOBODY1", "1000", type="Payout", entry="Debit")]).encode(),
        by=finance.user,
        currency="TZS",
    )
    missing = statement.lines.get(outcome=StatementLine.Outcome.MISSING_OURS)
    url = reverse("admin:backoffice_statementline_resolve", args=[missing.pk])
    response = finance.post(url, {"note": "ClickPesa test transfer"}, follow=True)
    assert messages_of(response) == ["Line resolved: ClickPesa test transfer"]
    missing.refresh_from_db()
    assert missing.resolution.startswith("ClickPesa test transfer")


# Notifications


def test_support_resends_a_sent_receipt_from_its_page(support):
    receipt = NotificationFactory(status=Notification.Status.SENT, kind=Notification.Kind.RECEIPT)
    assert 'value="Resend"' in support.get(page(receipt)).content.decode()
    response = support.post(reverse("admin:notifications_notification_resend", args=[receipt.pk]), follow=True)
    assert messages_of(response)[0].startswith(f"Notification #{receipt.pk} queued to be sent again to ")


def test_a_queue_count_drops_after_its_resolution(finance):
    payment = needs_review_payment()
    home = reverse("admin:index")
    assert 'data-queue="payments_review">1<' in finance.get(home).content.decode()
    finance.post(
        reverse("admin:payments_payment_review", args=[payment.pk]), {"resolution": "capture", "collected": "11000"}
    )
    assert 'data-queue="payments_review">0<' in finance.get(home).content.decode()


def test_the_waiting_queue_counts_a_payout_past_the_threshold(root):
    payout = PayoutFactory(submitted=False)
    Payout.objects.filter(pk=payout.pk).update(created_at=timezone.now() - timedelta(hours=2))
    assert 'data-queue="payouts_waiting">1<' in root.get(reverse("admin:index")).content.decode()
