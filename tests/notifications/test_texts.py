"""What notifications say: the reader's language, plain reasons, real currencies, Tanzanian time."""

import ast
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext

from notifications.models import Notification
from notifications.texts import TEXTS, buyer_reason, payout_reason, render
from payments.services import payment_mark_failed
from tests.factories import BuyerFactory, CreatorFactory, OrderFactory, PaymentFactory, capture

Kind = Notification.Kind

CONTEXTS = {
    Kind.SALE: {"name": "Asha", "buyer": "Juma", "order": 7, "amount": "TZS 9,200.00", "fee": "TZS 800.00"},
    Kind.RECEIPT: {
        "name": "Juma",
        "order": 7,
        "total": "TZS 10,750.00",
        "subtotal": "TZS 10,000.00",
        "processing_fee": "TZS 750.00",
        "reference": "BLN1",
    },
    Kind.PAYMENT_FAILED: {
        "name": "Juma",
        "order": 7,
        "total": "TZS 10,750.00",
        "gateway_message": "Insufficient balance",
    },
    Kind.PAYOUT_SENT: {"name": "Asha", "amount": "TZS 50,000.00", "destination": "M-Pesa ****1234"},
    Kind.PAYOUT_PAID: {"name": "Asha", "amount": "TZS 50,000.00", "destination": "M-Pesa ****1234", "reference": "P1"},
    Kind.MONTHLY_STATEMENT: {"name": "Asha", "month": "March 2026", "opening": "TZS 0.00", "closing": "TZS 9,200.00"},
    Kind.PAYOUT_RETURNED: {
        "name": "Asha",
        "amount": "TZS 50,000.00",
        "destination": "M-Pesa ****1234",
        "reason": "invalid account",
    },
    Kind.PAYMENT_REVERSED: {"name": "Juma", "order": 7, "total": "TZS 10,750.00", "reference": "BLN1"},
    Kind.SALE_REVERSED: {"name": "Asha", "order": 7, "amount": "TZS 9,200.00", "owed": "TZS 9,200.00"},
    Kind.REFUND_PAID: {
        "name": "Juma",
        "amount": "TZS 10,000.00",
        "destination": "Mobile wallet ****0002",
        "reference": "R1",
    },
    Kind.FINANCE_ALERT: {"title": "Collected amount differs", "detail": "Expected TZS 10,750.00"},
    Kind.STAFF_ALERT: {"title": "Event dead", "detail": "Event 12"},
}


def test_every_kind_has_a_text_and_a_test_context():
    assert set(TEXTS) == set(Kind) == set(CONTEXTS)


@pytest.mark.parametrize("kind", [k for k in Kind if k not in (Kind.FINANCE_ALERT, Kind.STAFF_ALERT)])
def test_every_text_people_receive_exists_in_swahili(kind):
    with translation.override("en"):
        english = render(kind, CONTEXTS[kind])
    with translation.override("sw"):
        swahili = render(kind, CONTEXTS[kind])

    assert swahili[0] != english[0]
    assert swahili[1] != english[1]
    assert swahili[1].startswith("Habari ")


@pytest.mark.django_db
def test_a_buyer_who_reads_english_gets_an_english_receipt():
    payment = capture(PaymentFactory(order=OrderFactory(amount=Decimal("10000.00"))))

    receipt = Notification.objects.get(kind=Kind.RECEIPT)
    assert receipt.language == "en"
    assert receipt.subject == f"Your receipt for order #{payment.order_id}"
    # 10,000 plus the processing fee: 2.5 % (250) and TZS 750.00.
    assert "We received your payment of TZS 11,000.00 for order" in receipt.body


@pytest.mark.django_db
def test_a_buyer_who_reads_swahili_gets_a_swahili_receipt():
    buyer = BuyerFactory(language="sw")
    payment = capture(PaymentFactory(order=OrderFactory(buyer=buyer, amount=Decimal("10000.00"))))

    receipt = Notification.objects.get(kind=Kind.RECEIPT)
    assert receipt.language == "sw"
    assert receipt.subject == f"Risiti yako ya oda #{payment.order_id}"
    assert "Tumepokea malipo yako ya TZS 11,000.00" in receipt.body
    assert "ada ya muamala ya TZS 1,000.00" in receipt.body
    assert "Asante" in receipt.body


@pytest.mark.django_db
def test_a_creator_who_reads_swahili_is_told_of_a_sale_in_swahili():
    creator = CreatorFactory(language="sw")
    capture(PaymentFactory(order=OrderFactory(creators=[creator], amount=Decimal("25000.00"))))

    sale = Notification.objects.get(kind=Kind.SALE, recipient=creator)
    assert sale.subject == "Umepata mauzo: TZS 23,000.00"
    assert "Mapato yako ya TZS 23,000.00 (baada ya ada ya Blinno ya TZS 2,000.00)" in sale.body
    assert "sasa yanapatikana kwa kutolewa" in sale.body


@pytest.mark.django_db
def test_a_held_sale_names_the_release_date_in_the_readers_language(settings):
    settings.EARNINGS_HOLD_DAYS = 3
    creator = CreatorFactory(language="sw")
    with time_machine.travel(datetime(2027, 1, 3, 9, 0, tzinfo=UTC), tick=False):
        capture(PaymentFactory(order=OrderFactory(creators=[creator], amount=Decimal("25000.00"))))

    sale = Notification.objects.get(kind=Kind.SALE, recipient=creator)
    assert "Januari" in sale.body and "2027" in sale.body


@pytest.mark.django_db
def test_a_buyer_is_told_why_a_payment_failed_in_plain_words():
    payment = PaymentFactory()

    payment_mark_failed(payment, reason="Insufficient balance")

    notice = Notification.objects.get(kind=Kind.PAYMENT_FAILED)
    assert "did not go through: your mobile money balance was not enough." in notice.body
    assert "Insufficient balance" not in notice.body
    assert "No money was taken." in notice.body


@pytest.mark.django_db
def test_a_swahili_buyer_is_told_why_a_payment_failed_in_swahili():
    payment = PaymentFactory(order=OrderFactory(buyer=BuyerFactory(language="sw")))

    payment_mark_failed(payment, reason="Insufficient balance")

    notice = Notification.objects.get(kind=Kind.PAYMENT_FAILED)
    assert notice.subject == f"Malipo yako ya oda #{payment.order_id} hayakufanikiwa"
    assert "hayakufanikiwa: salio lako la pesa ya simu halikutosha." in notice.body
    assert "Hakuna pesa iliyokatwa." in notice.body


@pytest.mark.parametrize(
    ("gateway_message", "reason"),
    [
        ("Insufficient balance", "your mobile money balance was not enough"),
        ("Request timeout", "the request on your phone expired before it was confirmed"),
        ("Transaction expired", "the request on your phone expired before it was confirmed"),
        ("Cancelled by user", "the payment was cancelled on your phone"),
        ("Invalid PIN", "the PIN entered was not accepted"),
        ("Transaction limit exceeded", "the amount is above your wallet's limit"),
        ("Rejected by operator", "the payment was declined"),
        ("Mapping error at provider", "the payment could not be completed"),
        ("", "the payment could not be completed"),
    ],
)
def test_gateway_messages_become_reasons_a_buyer_understands(gateway_message, reason):
    with translation.override("en"):
        assert buyer_reason(gateway_message) == reason


@pytest.mark.parametrize(
    ("gateway_message", "reason"),
    [
        (
            "The payout was reversed due to invalid account information.",
            "the account details were not accepted; please check your payout method "
            "(ClickPesa: The payout was reversed due to invalid account information.)",
        ),
        ("reversed", "the bank or mobile money operator sent it back"),
        (
            "The payout was refunded due to a processing error.",
            "ClickPesa could not process it (ClickPesa: The payout was refunded due to a processing error.)",
        ),
        ("cancelled", "it was cancelled before it was sent"),
        ("failed", "the payment provider refused it"),
        ("Beneficiary wallet is dormant", "Beneficiary wallet is dormant"),
        ("", "no reason was given"),
    ],
)
def test_payout_returns_are_explained_in_words_a_creator_understands(gateway_message, reason):
    with translation.override("en"):
        assert payout_reason(gateway_message) == reason


def test_a_swahili_creator_is_told_in_swahili_why_a_payout_came_back():
    context = {
        **CONTEXTS[Kind.PAYOUT_RETURNED],
        "reason": "The payout was reversed due to invalid account information.",
    }

    with translation.override("sw"):
        subject, body = render(Kind.PAYOUT_RETURNED, context)

    assert subject == "Malipo yako ya TZS 50,000.00 yamerudishwa"
    assert "hayakuweza kukamilika: taarifa za akaunti hazikukubaliwa" in body
    assert "Pesa imerudi kwenye salio lako linalopatikana." in body


def _po_entries(text: str) -> list[tuple[str, str]]:
    """The (msgid, msgstr) pairs of a .po file, without its header."""
    entries: list[list[str]] = []
    field = None
    for line in text.splitlines():
        if line.startswith("msgid "):
            entries.append([ast.literal_eval(line[6:]), ""])
            field = 0
        elif line.startswith("msgstr "):
            entries[-1][1] = ast.literal_eval(line[7:])
            field = 1
        elif line.startswith('"') and field is not None:
            entries[-1][field] += ast.literal_eval(line)
    return [(msgid, msgstr) for msgid, msgstr in entries if msgid]


def test_every_message_is_translated_and_compiled():
    entries = _po_entries((settings.BASE_DIR / "locale" / "sw" / "LC_MESSAGES" / "django.po").read_text())

    assert len(entries) > 20
    assert [msgid for msgid, msgstr in entries if not msgstr] == []
    # The committed .mo is what Django reads: it must say what the .po says.
    with translation.override("sw"):
        assert [msgid for msgid, msgstr in entries if gettext(msgid) != msgstr] == []


@pytest.mark.django_db
def test_amounts_show_their_real_currency():
    capture(PaymentFactory(order=OrderFactory(amount=Decimal("12.50"), currency="USD")))

    receipt = Notification.objects.get(kind=Kind.RECEIPT)
    # 12.50 plus a processing fee of 2.5 % (0.31) and USD 0.30.
    assert "payment of USD 13.11" in receipt.body
    assert "(USD 12.50 plus a processing fee of USD 0.61)" in receipt.body
    assert "TZS" not in receipt.body


def test_times_are_shown_in_dar_es_salaam_in_the_readers_language():
    context = {**CONTEXTS[Kind.SALE], "held_until": datetime(2027, 1, 5, 21, 30, tzinfo=UTC)}

    with translation.override("en"):
        _, english = render(Kind.SALE, context)
    with translation.override("sw"):
        _, swahili = render(Kind.SALE, context)

    # 21:30 UTC is 00:30 the next day in Dar es Salaam (UTC+3).
    assert "held until 6 January 2027, 00:30 EAT, then available for payout" in english
    assert "yameshikiliwa hadi 6 Januari 2027, 00:30 EAT, kisha yatapatikana kwa kutolewa" in swahili


def test_a_date_is_shown_in_the_readers_language():
    with translation.override("sw"):
        _, body = render(Kind.SALE, {**CONTEXTS[Kind.SALE], "held_until": date(2027, 3, 1)})

    assert "hadi 1 Machi 2027," in body


def test_an_amount_without_its_currency_is_refused():
    with pytest.raises(TypeError, match="without its currency"):
        render(Kind.SALE, {**CONTEXTS[Kind.SALE], "amount": Decimal("9200.00")})


def test_a_payout_notice_shows_the_withholding_tax_in_the_readers_language():
    context = {
        **CONTEXTS[Kind.PAYOUT_PAID],
        "amount": "TZS 47,500.00",
        "withholding_tax": "TZS 2,500.00",
        "gross": "TZS 50,000.00",
    }
    with translation.override("en"):
        _, english = render(Kind.PAYOUT_PAID, context)
    with translation.override("sw"):
        _, swahili = render(Kind.PAYOUT_PAID, context)
    assert "Withholding tax of TZS 2,500.00 was deducted from TZS 50,000.00" in english
    assert "Kodi ya zuio ya TZS 2,500.00 imekatwa kutoka TZS 50,000.00" in swahili
    with translation.override("en"):
        _, plain = render(Kind.PAYOUT_PAID, CONTEXTS[Kind.PAYOUT_PAID])
    assert "Withholding" not in plain and "  " not in plain
