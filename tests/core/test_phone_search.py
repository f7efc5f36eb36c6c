"""Staff find a person or their payouts by phone in any Tanzanian form, not only 255…."""

import pytest
from django.urls import reverse

from core.admin_base import phone_search_term
from payments.models import Payment
from tests.factories import PaymentFactory
from tests.staff import paid_payout

FORMS = ["0754100111", "+255 754 100 111", "255754100111", "0754 100 111", "+255754100111"]


@pytest.mark.parametrize("written", FORMS)
def test_every_form_reads_as_the_stored_one(written):
    assert phone_search_term(written) == "255754100111"


def test_other_words_are_kept():
    assert phone_search_term("asha 0754100111") == "asha 255754100111"
    assert phone_search_term("BLNPO123") == "BLNPO123"


@pytest.mark.django_db
@pytest.mark.parametrize("written", FORMS)
def test_the_payout_list_finds_a_creator_by_phone_in_any_form(support, written):
    payout = paid_payout()
    payout.creator.phone_number = "255754100111"
    payout.creator.save()
    paid_payout()  # another creator
    response = support.get(reverse("admin:revenue_payout_changelist"), {"q": written})
    assert [p.pk for p in response.context["cl"].result_list] == [payout.pk]


@pytest.mark.django_db
def test_the_payment_list_finds_a_payment_by_phone_in_any_form(support):
    payment = PaymentFactory()
    Payment.objects.filter(pk=payment.pk).update(phone_number="255754100111")
    response = support.get(reverse("admin:payments_payment_changelist"), {"q": "+255 754 100 111"})
    assert [p.pk for p in response.context["cl"].result_list] == [payment.pk]


@pytest.mark.django_db
def test_the_people_list_finds_a_user_by_phone_in_any_form(root):
    payout = paid_payout()
    payout.creator.phone_number = "255754100111"
    payout.creator.save()
    response = root.get(reverse("admin:accounts_user_changelist"), {"q": "0754 100 111"})
    assert [u.pk for u in response.context["cl"].result_list] == [payout.creator.pk]
