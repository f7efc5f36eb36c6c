"""A payout never sent to ClickPesa cannot be settled or returned by a report about it: it is held for review.

Only a holder of the checksum key could sign such a webhook (ClickPesa never saw the
payout), and applying it would book as paid, or hand back, money that never left.
"""

from decimal import Decimal

import pytest

from clickpesa.models import WebhookEvent
from notifications.models import Notification
from revenue.models import LedgerTransaction, Payout, PayoutStatusChange
from revenue.services import creator_balance
from revenue.submission import payout_claim
from tests.factories import PayoutFactory
from tests.webhooks import post_webhook, sample_body, use_checksum_key

FEE = Decimal("1180.00")
SAMPLES = {
    "SUCCESS": "payout_initiated_success",
    "PROCESSING": "payout_initiated_processing",
    "REFUNDED": "payout_refunded",
    "REVERSED": "payout_reversed",
}


@pytest.fixture(autouse=True)
def _key(settings):
    use_checksum_key(settings)


def deliver(client, payout, kind):
    body = sample_body(SAMPLES[kind], reference=payout.reference, amount=payout.amount + FEE, fee=str(FEE))
    return post_webhook(client, body, endpoint="payouts")


def ledger_kinds(payout):
    return sorted(payout.ledger_transactions.values_list("kind", flat=True))


@pytest.mark.parametrize("kind", ["SUCCESS", "REVERSED", "REFUNDED", "PROCESSING"])
@pytest.mark.django_db
def test_it_holds_a_signed_report_about_a_payout_never_submitted_and_moves_no_money(client, kind, finance_user):
    payout = PayoutFactory(submitted=False)
    balance_before = creator_balance(payout.creator)

    response = deliver(client, payout, kind)

    assert response.status_code == 200 and response.json()["status"] == "processed"
    payout.refresh_from_db()
    assert (payout.status, payout.needs_review, payout.submitted_at) == (Payout.Status.PENDING, True, None)
    assert "never submitted" in payout.notes
    assert ledger_kinds(payout) == [LedgerTransaction.Kind.PAYOUT_RESERVE]
    assert not PayoutStatusChange.objects.filter(payout=payout).exclude(from_status="").exists()
    assert creator_balance(payout.creator) == balance_before
    event = WebhookEvent.objects.get(pk=response.json()["event"])
    assert "never submitted" in event.detail
    alert = Notification.objects.get(kind=Notification.Kind.FINANCE_ALERT, recipient=finance_user)
    assert ":not-submitted:" in alert.dedupe_key
    assert alert.subject.endswith(f"Payout {payout.reference}: reported before it was submitted")


@pytest.mark.django_db
def test_the_held_payout_is_still_submitted_later(client):
    payout = PayoutFactory(submitted=False)
    deliver(client, payout, "SUCCESS")
    assert payout_claim(payout.pk) == 0  # still due: the submitter takes it as if nothing came


@pytest.mark.parametrize("kind", ["SUCCESS", "REVERSED"])
@pytest.mark.django_db
def test_once_a_submission_was_attempted_the_report_applies(client, kind):
    payout = PayoutFactory(submitted=False)
    assert payout_claim(payout.pk) == 0  # the attempt is counted before ClickPesa is called

    deliver(client, payout, kind)

    payout.refresh_from_db()
    assert payout.status == {"SUCCESS": Payout.Status.PAID, "REVERSED": Payout.Status.REVERSED}[kind]
    assert payout.needs_review is False
