"""statement_fetch: ClickPesa's GET /account/statement for a period, faked with `responses`, then reconciled."""

from datetime import date, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import responses
import time_machine
from django.core.cache import cache

from backoffice.models import StatementImport, StatementLine
from backoffice.reconciliation import statement_fetch
from clickpesa.client import AuthFailed, BadResponse, ClickPesaError, InvalidRequest, ServerError
from tests.factories import CreatorFactory, earn
from tests.staff import paid_payout

Outcome = StatementLine.Outcome
BASE = "https://clickpesa.test/third-parties"
STATEMENT = f"{BASE}/account/statement"
TOKEN = "Bearer statement-token"
DAR = ZoneInfo("Africa/Dar_es_Salaam")
MAY_14 = date(2026, 5, 14)
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clickpesa(settings):
    settings.CLICKPESA_BASE_URL = BASE
    settings.CLICKPESA_CLIENT_ID, settings.CLICKPESA_API_KEY = "client-1", "key-1"
    settings.CLICKPESA_CHECKSUM_KEY = ""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "fetch"}}
    cache.clear()


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        mock.post(f"{BASE}/generate-token", json={"success": True, "token": TOKEN})
        yield mock


@pytest.fixture
def books():
    """On 14 May 2026: a captured payment and a payout of TZS 46,000.00 paid with a fee of TZS 1,180.00."""
    with time_machine.travel(datetime(2026, 5, 14, 10, 0, tzinfo=DAR)):
        return {"payment": earn(CreatorFactory(), Decimal("20000.00")), "payout": paid_payout()}


def tx(reference: str, amount, *, type: str = "Payment", entry: str = "Credit", id: str = "CPS1", **extra) -> dict:
    return {
        "id": id,
        "orderReference": reference,
        "date": "2026-05-14T07:05:00.000Z",
        "description": type,
        "entry": entry,
        "amount": amount,
        "currency": "TZS",
        "balance": "1000000.00",
        "type": type,
        **extra,
    }


def fetch(by, start: date = MAY_14, end: date = MAY_14, currency: str = "TZS") -> StatementImport:
    return statement_fetch(currency=currency, period_start=start, period_end=end, by=by)


def test_it_asks_for_the_currency_and_both_dates_with_the_token(api, finance_user):
    api.get(STATEMENT, json={"transactions": []})
    fetch(finance_user, date(2026, 5, 1), date(2026, 5, 31), currency="USD")
    call = api.calls[-1]
    assert urlsplit(call.request.url).path == "/third-parties/account/statement"
    assert parse_qs(urlsplit(call.request.url).query) == {
        "currency": ["USD"],
        "startDate": ["2026-05-01"],
        "endDate": ["2026-05-31"],
    }
    assert (call.request.method, call.request.headers["Authorization"]) == ("GET", TOKEN)


def test_the_import_keeps_the_asked_period_source_and_a_name(api, finance_user):
    api.get(STATEMENT, json={"accountDetails": {"currency": "TZS"}, "transactions": []})
    statement = fetch(finance_user, date(2026, 5, 1), date(2026, 5, 31))
    statement.refresh_from_db()
    assert (statement.source, statement.period_start, statement.period_end, statement.row_count) == (
        StatementImport.Source.API,
        date(2026, 5, 1),
        date(2026, 5, 31),
        0,
    )
    assert (statement.filename, statement.imported_by) == ("API TZS 2026-05-01 to 2026-05-31", finance_user)


def test_rows_are_numbered_from_one_in_the_order_clickpesa_lists_them(api, finance_user, books):
    payout = books["payout"]
    api.get(
        STATEMENT,
        json={
            "transactions": [
                tx(books["payment"].reference, str(books["payment"].amount)),
                tx(payout.reference, "-46000.00", type="Payout", entry="Debit", id="CPS2"),
                tx(payout.reference, "-1180.00", type="Fee - Payout", entry="Debit", id="CPS3"),
            ]
        },
    )
    statement = fetch(finance_user)
    rows = statement.lines.filter(row_number__isnull=False).order_by("row_number")
    assert [(r.row_number, r.line_type, r.outcome) for r in rows] == [
        (1, "Payment", Outcome.MATCHED),
        (2, "Payout", Outcome.MATCHED),
        (3, "Fee - Payout", Outcome.MATCHED),
    ]


def test_signed_debits_are_read_as_their_size(api, finance_user, books):
    payout = books["payout"]
    api.get(STATEMENT, json={"transactions": [tx(payout.reference, "-46000.00", type="Payout", entry="Debit")]})
    line = fetch(finance_user).lines.get(order_reference=payout.reference, line_type="Payout")
    assert (line.amount, line.our_amount, line.payout) == (Decimal("46000.00"), Decimal("46000.00"), payout)


def test_json_numbers_are_read_exactly(api, finance_user, books):
    """47180.10 as a float is 47180.099999...: the client reads JSON numbers as Decimal."""
    payout = books["payout"]
    api.get(
        STATEMENT,
        body=f'{{"transactions": [{{"id": "CPS9", "orderReference": "{payout.reference}", "date": '
        '"2026-05-14T07:05:00Z", "entry": "Debit", "amount": 47180.10, "currency": "TZS", "balance": 952819.90, '
        '"type": "Payout"}]}',
        content_type="application/json",
    )
    line = fetch(finance_user).lines.get(gateway_id="CPS9")
    assert (line.amount, line.running_balance) == (Decimal("47180.10"), Decimal("952819.90"))
    assert line.outcome == Outcome.AMOUNT_DIFFERS


def test_a_bare_array_of_rows_is_a_statement_too(api, finance_user, books):
    payment = books["payment"]
    api.get(STATEMENT, json=[tx(payment.reference, str(payment.amount))])
    assert fetch(finance_user).lines.get(order_reference=payment.reference).outcome == Outcome.MATCHED


def test_dates_come_in_utc_and_are_kept_as_instants(api, finance_user, books):
    payment = books["payment"]
    api.get(STATEMENT, json=[tx(payment.reference, str(payment.amount), date="2026-05-14T20:59:00Z")])
    line = fetch(finance_user).lines.get(order_reference=payment.reference)
    assert line.occurred_at == datetime(2026, 5, 14, 23, 59, tzinfo=DAR)


def test_what_the_period_holds_and_clickpesa_lacks_is_listed(api, finance_user, books):
    api.get(STATEMENT, json={"transactions": []})
    statement = fetch(finance_user)
    missing = statement.lines.filter(outcome=Outcome.MISSING_THEIRS)
    # The captured payment, the sale behind the payout, and the payout itself.
    assert sorted(missing.values_list("line_type", flat=True)) == ["Payment", "Payment", "Payout"]
    assert missing.get(payout__isnull=False).payout == books["payout"]


def test_overlong_fields_from_clickpesa_are_cut_to_their_columns(api, finance_user):
    api.get(
        STATEMENT, json=[tx("X" * 90, "10", id="I" * 90, description="D" * 700, type="T" * 60, entry="Credit!!!!!!")]
    )
    line = fetch(finance_user).lines.get()
    assert (len(line.gateway_id), len(line.order_reference), len(line.description), len(line.line_type)) == (
        64,
        64,
        500,
        40,
    )
    assert line.entry == "Credit!!!!"


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        pytest.param({"transactions": "none"}, BadResponse, id="rows not a list"),
        pytest.param({"transactions": [{"id": "CPS1", "type": "Payment"}]}, BadResponse, id="row without amount"),
        pytest.param({"transactions": [tx("BLN1", "lots")]}, BadResponse, id="amount not a number"),
    ],
)
def test_an_unusable_answer_is_refused_and_nothing_kept(api, finance_user, answer, error):
    api.get(STATEMENT, json=answer)
    with pytest.raises(error, match="ClickPesa's statement answer is unusable"):
        fetch(finance_user)
    assert not StatementImport.objects.exists()


@pytest.mark.parametrize(
    ("status", "error"), [(400, InvalidRequest), (500, ServerError), (503, ServerError), (403, AuthFailed)]
)
def test_a_refusal_from_clickpesa_is_raised_with_its_message_and_nothing_kept(api, finance_user, status, error):
    api.get(STATEMENT, status=status, json={"message": "Invalid currency: currency must be either TZS or USD"})
    with pytest.raises(error) as caught:
        fetch(finance_user)
    assert isinstance(caught.value, ClickPesaError)
    assert "Invalid currency" in caught.value.message
    assert not StatementImport.objects.exists()


def test_without_credentials_nothing_is_sent(settings, finance_user):
    settings.CLICKPESA_CLIENT_ID = ""
    with responses.RequestsMock() as offline:
        with pytest.raises(AuthFailed, match="not configured"):
            fetch(finance_user)
        assert len(offline.calls) == 0
    assert not StatementImport.objects.exists()


def test_a_second_fetch_reuses_the_token(api, finance_user):
    api.get(STATEMENT, json={"transactions": []})
    fetch(finance_user)
    fetch(finance_user, date(2026, 5, 15), date(2026, 5, 15))  # another day: the same one twice is refused
    assert [c.request.url.rsplit("/", 1)[-1].split("?")[0] for c in api.calls] == [
        "generate-token",
        "statement",
        "statement",
    ]
    assert StatementImport.objects.count() == 2
