"""Payout actions end to end through the admin: reconcile (finance), retry and cancel (support)."""

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.urls import reverse

from clickpesa.payloads import GatewayStatus
from revenue.models import Payout, PayoutStatusChange
from revenue.services import creator_balance, payout_apply_gateway_status, payout_request
from tests.factories import PayoutFactory, PayoutMethodFactory
from tests.staff import messages_of, paid_payout, returned_payout

PAYOUTS = reverse("admin:revenue_payout_changelist")


def log_of(payout: Payout, flag: int = CHANGE) -> list[str]:
    return list(
        LogEntry.objects.filter(object_id=str(payout.pk), action_flag=flag, content_type__model="payout")
        .order_by("id")
        .values_list("change_message", flat=True)
    )


@pytest.mark.django_db
def test_finance_marks_paid_payouts_reconciled_with_who_and_when(finance, finance_user):
    payouts = [paid_payout(), paid_payout()]
    response = finance.action(PAYOUTS, "mark_reconciled", payouts)
    assert messages_of(response) == ["2 payouts marked reconciled"]
    for payout in payouts:
        payout.refresh_from_db()
        assert payout.reconciled_by == finance_user
        assert payout.reconciled_at is not None
        assert log_of(payout) == ["Marked reconciled"]


@pytest.mark.django_db
def test_reconciling_again_is_skipped_and_said_so(finance):
    done, fresh = paid_payout(), paid_payout()
    finance.action(PAYOUTS, "mark_reconciled", [done])
    response = finance.action(PAYOUTS, "mark_reconciled", [done, fresh])
    assert messages_of(response) == ["1 payout marked reconciled, 1 skipped: already reconciled"]
    assert log_of(done) == ["Marked reconciled"]


@pytest.mark.django_db
def test_a_payout_still_in_flight_is_not_reconciled(finance):
    pending = PayoutFactory()
    response = finance.action(PAYOUTS, "mark_reconciled", [pending])
    assert messages_of(response) == ["0 payouts marked reconciled, 1 skipped: not paid or returned"]
    pending.refresh_from_db()
    assert pending.reconciled_at is None
    assert log_of(pending) == []


@pytest.mark.django_db
def test_a_returned_payout_can_be_reconciled(finance):
    payout = returned_payout(GatewayStatus.REVERSED)
    finance.action(PAYOUTS, "mark_reconciled", [payout])
    payout.refresh_from_db()
    assert payout.reconciled_at is not None


@pytest.mark.django_db
def test_retry_asks_where_to_send_with_the_default_method_preselected(support):
    payout = returned_payout()
    other = PayoutMethodFactory(creator=payout.creator, is_default=False, provider="Airtel Money")
    response = support.action(PAYOUTS, "retry_payouts", [payout])
    page = response.content.decode()
    assert response.status_code == 200
    assert f'name="method_{payout.pk}"' in page
    assert f'<option value="{payout.method_id}" selected>' in page
    assert f'<option value="{other.pk}">' in page
    assert not Payout.objects.filter(retry_of=payout).exists()


@pytest.mark.django_db
def test_support_retries_a_failed_payout_to_another_method(support, support_user):
    payout = returned_payout()
    other = PayoutMethodFactory(creator=payout.creator, is_default=False, provider="Airtel Money")
    response = support.action(PAYOUTS, "retry_payouts", [payout], apply="1", **{f"method_{payout.pk}": other.pk})
    assert messages_of(response) == ["1 payout retried"]
    retry = Payout.objects.get(retry_of=payout)
    assert retry.status == Payout.Status.PENDING
    assert retry.method == other
    assert retry.amount == payout.amount
    assert retry.reference != payout.reference
    assert retry.requested_by == support_user
    assert creator_balance(payout.creator).in_flight == payout.amount
    assert log_of(payout) == [f"Retried as {retry.reference} to {retry.destination_label}"]
    assert log_of(retry, ADDITION) == [f"Retry of {payout.reference}"]


@pytest.mark.django_db
def test_a_second_click_on_retry_is_refused_clearly(support):
    payout = returned_payout(GatewayStatus.REFUNDED)
    support.action(PAYOUTS, "retry_payouts", [payout], apply="1", **{f"method_{payout.pk}": payout.method_id})
    response = support.action(
        PAYOUTS, "retry_payouts", [payout], apply="1", **{f"method_{payout.pk}": payout.method_id}
    )
    assert messages_of(response) == [
        "0 payouts retried, 1 refused: already retried",
        f"Payout {payout.reference} was already retried.",
    ]
    assert Payout.objects.filter(retry_of=payout).count() == 1


@pytest.mark.django_db
def test_retry_is_refused_when_the_balance_no_longer_covers_it(support):
    payout = returned_payout()
    payout_request(payout.creator)  # the returned money was paid out again another way
    response = support.action(PAYOUTS, "retry_payouts", [payout], apply="1")
    assert messages_of(response)[0] == "0 payouts retried, 1 refused: balance no longer covers it"
    assert "no longer covers" in messages_of(response)[1]
    assert not Payout.objects.filter(retry_of=payout).exists()


@pytest.mark.django_db
def test_retry_is_refused_for_a_paid_payout(support):
    payout = paid_payout()
    response = support.action(PAYOUTS, "retry_payouts", [payout], apply="1")
    assert messages_of(response)[0] == "0 payouts retried, 1 refused: not failed, refunded or reversed"
    assert not Payout.objects.filter(retry_of=payout).exists()


@pytest.mark.django_db
def test_retry_refuses_a_method_of_another_creator(support):
    payout = returned_payout()
    stranger_method = PayoutMethodFactory(creator=PayoutFactory().creator, is_default=False)
    response = support.action(
        PAYOUTS, "retry_payouts", [payout], apply="1", **{f"method_{payout.pk}": stranger_method.pk}
    )
    assert messages_of(response)[0] == "0 payouts retried, 1 refused: not one of the creator's methods"
    assert not Payout.objects.filter(retry_of=payout).exists()


@pytest.mark.django_db
def test_the_payout_page_offers_retry_only_when_it_can_succeed(support):
    payout = returned_payout()
    url = reverse("admin:revenue_payout_change", args=[payout.pk])
    retry_url = reverse("admin:revenue_payout_retry", args=[payout.pk])
    assert retry_url in support.get(url).content.decode()
    support.action(PAYOUTS, "retry_payouts", [payout], apply="1")
    assert retry_url not in support.get(url).content.decode()


@pytest.mark.django_db
def test_the_single_payout_retry_page_lists_that_payout(support):
    payout = returned_payout()
    response = support.get(reverse("admin:revenue_payout_retry", args=[payout.pk]))
    assert response.status_code == 200
    assert f'name="_selected_action" value="{payout.pk}"' in response.content.decode()


@pytest.mark.django_db
def test_cancel_needs_a_reason(support):
    payout = PayoutFactory()
    response = support.action(PAYOUTS, "cancel_payouts", [payout], apply="1", reason="  ")
    assert "A reason is required." in response.content.decode()
    payout.refresh_from_db()
    assert payout.status == Payout.Status.PENDING


@pytest.mark.django_db
def test_support_cancels_an_unsubmitted_payout_with_its_reason(support, support_user):
    payout = PayoutFactory(submitted=False)
    response = support.action(PAYOUTS, "cancel_payouts", [payout], apply="1", reason="creator changed number")
    assert messages_of(response) == ["1 payout cancelled"]
    payout.refresh_from_db()
    assert payout.status == Payout.Status.CANCELLED
    change = payout.status_changes.get(to_status=Payout.Status.CANCELLED)
    assert (change.source, change.changed_by, change.note) == (
        PayoutStatusChange.Source.ADMIN,
        support_user,
        "creator changed number",
    )
    assert creator_balance(payout.creator).available == payout.amount
    assert log_of(payout) == ["Cancelled: creator changed number"]


@pytest.mark.django_db
def test_cancel_is_refused_once_clickpesa_has_the_payout(support):
    payout = PayoutFactory()
    payout_apply_gateway_status(payout, GatewayStatus.PROCESSING, source="webhook")
    response = support.action(PAYOUTS, "cancel_payouts", [payout], apply="1", reason="too late")
    assert messages_of(response)[0] == "0 payouts cancelled, 1 refused: already submitted to ClickPesa"
    payout.refresh_from_db()
    assert payout.status == Payout.Status.PROCESSING
