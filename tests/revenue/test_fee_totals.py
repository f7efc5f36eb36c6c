"""The platform fees list shows the totals of exactly the rows its filters select."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from revenue.models import TransactionType
from tests.factories import CreatorFactory, earn

FEES = reverse("admin:revenue_platformfee_changelist")


def totals(response) -> list[dict]:
    return response.context["totals"]


@pytest.mark.django_db
def test_the_totals_cover_every_fee_row_when_unfiltered(finance):
    creator = CreatorFactory()
    earn(creator, Decimal("10000.00"))  # marketplace 8 %: fee 800, creator 9,200
    earn(creator, Decimal("20000.00"), transaction_type=TransactionType.TIP)  # tip 3 %: 600, 19,400
    assert totals(finance.get(FEES)) == [
        {
            "currency": "TZS",
            "rows": 2,
            "platform_fees": Decimal("1400.00"),
            "creator_amounts": Decimal("28600.00"),
        }
    ]


@pytest.mark.django_db
def test_the_totals_follow_the_filters(finance):
    creator, other = CreatorFactory(), CreatorFactory()
    earn(creator, Decimal("10000.00"))
    earn(creator, Decimal("20000.00"), transaction_type=TransactionType.TIP)
    earn(other, Decimal("50000.00"))
    response = finance.get(FEES, {"transaction_type__exact": "MARKETPLACE", "creator__id__exact": creator.pk})
    assert totals(response) == [
        {"currency": "TZS", "rows": 1, "platform_fees": Decimal("800.00"), "creator_amounts": Decimal("9200.00")}
    ]
    page = response.content.decode()
    assert "Totals of the 1 filtered fee row" in page and "TZS 9,200.00" in page


@pytest.mark.django_db
def test_the_totals_cost_one_aggregate_query(finance):
    earn(CreatorFactory())
    with CaptureQueriesContext(connection) as queries:
        finance.get(FEES, {"status__exact": "COLLECTED"})
    sums = [q["sql"] for q in queries if 'SUM("revenue_platformfee"."platform_fee")' in q["sql"]]
    assert len(sums) == 1
    assert 'SUM("revenue_platformfee"."creator_amount")' in sums[0]
