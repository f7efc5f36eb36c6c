"""core.admin_base: read-only money rows, the capped count, and audited, summarised actions."""

from collections import Counter

import pytest
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages.storage.cookie import CookieStorage
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.admin_base import (
    REFUSALS_SHOWN,
    ActionReport,
    CappedCountPaginator,
    ReadOnlyAdmin,
    ReadOnlyTabularInline,
    apply_each,
    plural,
    tell,
)
from core.upsert import insert_all_on_conflict
from notifications.models import Notification
from payments.admin import OrderAdmin
from payments.models import Order
from revenue.models import Payout
from revenue.services import payout_reconcile
from tests.factories import OrderFactory, PayoutFactory
from tests.staff import messages_of, paid_payout

PAYOUTS = reverse("admin:revenue_payout_changelist")
READ_ONLY_ADMINS = [
    pytest.param(model_admin, id=model._meta.label)
    for model, model_admin in admin.site._registry.items()
    if isinstance(model_admin, ReadOnlyAdmin)
]


def admin_request(user, path: str = PAYOUTS):
    """A request as the admin sees it: a signed-in user and a place for messages."""
    request = RequestFactory().post(path)
    request.user = user
    request._messages = CookieStorage(request)
    return request


def notifications(count: int) -> None:
    insert_all_on_conflict(
        [
            Notification(kind=Notification.Kind.SALE, subject="Sale", body="You sold", dedupe_key=f"capped:{i}")
            for i in range(count)
        ],
        on_conflict="ON CONFLICT (dedupe_key) DO NOTHING",
    )


class SmallCap(CappedCountPaginator):
    CAP = 3


# CappedCountPaginator


@pytest.mark.django_db
def test_below_the_cap_the_count_is_exact():
    notifications(3)
    paginator = SmallCap(Notification.objects.order_by("id"), per_page=2)
    assert (paginator.count, paginator.capped, paginator.num_pages) == (3, False, 2)


@pytest.mark.django_db
def test_past_the_cap_the_count_stops_one_row_beyond_it_and_says_so():
    notifications(7)
    paginator = SmallCap(Notification.objects.order_by("id"), per_page=2)
    assert (paginator.count, paginator.capped) == (4, True)
    assert list(paginator.page_range) == [1, 2]


@pytest.mark.django_db
def test_the_count_is_one_unordered_limited_query():
    notifications(2)
    paginator = CappedCountPaginator(Notification.objects.order_by("-created_at", "-id"), per_page=50)
    with CaptureQueriesContext(connection) as queries:
        assert paginator.count == 2
        assert paginator.count == 2  # counted once
    (query,) = queries
    assert "LIMIT 100001" in query["sql"]
    assert "ORDER BY" not in query["sql"]


@pytest.mark.django_db
def test_a_changelist_past_the_cap_says_more_than_100000(support):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO notifications_notification (email, channel, kind, language, subject, body, dedupe_key, "
            "status, attempts, last_error, next_attempt_at, created_at, attachment_name, attachment_type) "
            "SELECT '', 'EMAIL', 'SALE', 'en', 'Sale', 'You sold', 'bulk:' || n, 'SENT', 1, '', now(), now(), '', '' "
            "FROM generate_series(1, %s) AS n",
            [CappedCountPaginator.CAP + 1],
        )
    response = support.get(reverse("admin:notifications_notification_changelist"))
    assert response.context["cl"].paginator.capped
    assert "more than 100,000 notifications" in response.content.decode()


@pytest.mark.django_db
def test_a_changelist_below_the_cap_shows_the_exact_count(finance):
    PayoutFactory()
    PayoutFactory()
    response = finance.get(PAYOUTS)
    assert not response.context["cl"].paginator.capped
    assert "2 payouts" in response.content.decode()


# ReadOnlyAdmin and ReadOnlyTabularInline


@pytest.mark.django_db
@pytest.mark.parametrize("model_admin", READ_ONLY_ADMINS)
def test_not_even_a_superuser_may_add_change_or_delete(model_admin, superuser):
    request = admin_request(superuser)
    assert model_admin.has_view_permission(request)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


@pytest.mark.django_db
def test_a_superuser_cannot_delete_a_payout_through_the_delete_page(root):
    payout = PayoutFactory()
    response = root.post(reverse("admin:revenue_payout_delete", args=[payout.pk]), {"post": "yes"})
    assert response.status_code == 403
    payout.refresh_from_db()
    assert payout.status == Payout.Status.PENDING


@pytest.mark.django_db
def test_read_only_inlines_show_every_field_read_only_and_offer_no_edit(superuser):
    order = OrderFactory()
    request = admin_request(superuser)
    order_admin = admin.site._registry[Order]
    assert isinstance(order_admin, OrderAdmin)
    for inline in order_admin.get_inline_instances(request, order):
        assert isinstance(inline, ReadOnlyTabularInline)
        assert set(inline.get_readonly_fields(request, order)) == set(inline.fields)
        assert not inline.has_add_permission(request, order)
        assert not inline.has_change_permission(request, order)
        assert not inline.has_delete_permission(request, order)


@pytest.mark.django_db
def test_the_order_page_lists_its_lines_without_inputs(root):
    order = OrderFactory()
    page = root.get(reverse("admin:payments_order_change", args=[order.pk])).content.decode()
    line = order.lines.get()
    assert line.description in page
    assert 'name="lines-0-amount"' not in page
    assert 'name="lines-TOTAL_FORMS"' in page  # the inline is there, read-only


# plural and ActionReport.summary


@pytest.mark.parametrize(
    ("count", "text"), [(0, "0 payouts"), (1, "1 payout"), (2, "2 payouts"), (1000, "1000 payouts")]
)
def test_plural_counts_in_words(count, text):
    assert plural(count, "payout") == text


def test_plural_takes_an_irregular_form():
    assert (plural(1, "entry", "entries"), plural(3, "entry", "entries")) == ("1 entry", "3 entries")


def test_a_report_with_only_successes_is_a_success():
    report = ActionReport(done=["a", "b", "c"])
    assert report.summary("payout", "marked reconciled") == "3 payouts marked reconciled"
    assert report.level == messages.SUCCESS


def test_a_report_of_one_success_uses_the_singular():
    assert ActionReport(done=["a"]).summary("payout", "retried") == "1 payout retried"


def test_a_report_with_successes_and_refusals_is_a_warning_naming_each_reason():
    report = ActionReport(done=["a", "b"], skipped=Counter({"not paid or returned": 1, "already reconciled": 2}))
    assert report.summary("payout", "marked reconciled") == (
        "2 payouts marked reconciled, 3 skipped: already reconciled (2); not paid or returned"
    )
    assert report.level == messages.WARNING


def test_a_report_with_only_refusals_is_an_error():
    report = ActionReport(skipped=Counter({"already reconciled": 1}))
    assert report.summary("payout", "marked reconciled") == "0 payouts marked reconciled, 1 skipped: already reconciled"
    assert report.level == messages.ERROR


def test_a_report_speaks_of_its_own_noun_plural_and_skip_word():
    report = ActionReport(done=["a", "b"], skipped=Counter({"balance too low": 1}))
    assert report.summary("entry", "posted", noun_plural="entries", skip_word="refused") == (
        "2 entries posted, 1 refused: balance too low"
    )


def test_an_empty_report_is_a_success_of_nothing():
    report = ActionReport()
    assert (report.summary("payout", "retried"), report.level) == ("0 payouts retried", messages.SUCCESS)


# apply_each, with the registered PayoutAdmin and a real service


@pytest.fixture
def payout_admin():
    return admin.site._registry[Payout]


@pytest.fixture
def three_payouts(finance_user):
    """A paid payout, a paid one already reconciled, and a pending one."""
    done, pending = paid_payout(), PayoutFactory()
    reconciled = paid_payout()
    payout_reconcile(reconciled, by=finance_user)
    return done, reconciled, pending


def reconcile_each(payout_admin, request, payouts, **kwargs):
    return apply_each(
        payout_admin,
        request,
        payouts,
        lambda payout: payout_reconcile(payout, by=request.user),
        log_message=lambda payout, _: f"Marked reconciled ({payout.reference})",
        **kwargs,
    )


@pytest.mark.django_db
def test_apply_each_logs_a_change_for_each_success_only(payout_admin, finance_user, three_payouts):
    done, reconciled, pending = three_payouts
    report = reconcile_each(payout_admin, admin_request(finance_user), [done, reconciled, pending])

    assert report.done == [done]
    assert report.results == {done.pk: None}
    entry = LogEntry.objects.get()
    assert (entry.user, entry.action_flag, entry.object_id, entry.object_repr) == (
        finance_user,
        CHANGE,
        str(done.pk),
        str(done),
    )
    assert entry.content_type == ContentType.objects.get_for_model(Payout)
    assert entry.change_message == f"Marked reconciled ({done.reference})"


@pytest.mark.django_db
def test_apply_each_keeps_each_success_when_others_are_refused(payout_admin, finance_user, three_payouts):
    done, reconciled, pending = three_payouts
    reconcile_each(payout_admin, admin_request(finance_user), [pending, done, reconciled])
    done.refresh_from_db()
    pending.refresh_from_db()
    assert (done.reconciled_at is not None, done.reconciled_by) == (True, finance_user)
    assert pending.reconciled_at is None


@pytest.mark.django_db
def test_apply_each_counts_refusals_under_the_short_reasons_given(payout_admin, finance_user, three_payouts):
    done, reconciled, pending = three_payouts
    report = reconcile_each(
        payout_admin,
        admin_request(finance_user),
        [done, reconciled, pending],
        reasons={"already_reconciled": "already reconciled", "not_final": "not paid or returned"},
    )
    assert report.skipped == Counter({"already reconciled": 1, "not paid or returned": 1})
    assert report.refusals == [
        f"Payout {reconciled.reference} is already reconciled.",
        f"Payout {pending.reference} is Pending; only paid or returned payouts are reconciled.",
    ]
    assert report.summary("payout", "marked reconciled") == (
        "1 payout marked reconciled, 2 skipped: already reconciled; not paid or returned"
    )


@pytest.mark.django_db
def test_apply_each_falls_back_to_the_services_message_for_an_unnamed_refusal(payout_admin, finance_user):
    pending = PayoutFactory()
    report = reconcile_each(payout_admin, admin_request(finance_user), [pending], reasons={"other": "x"})
    message = f"Payout {pending.reference} is Pending; only paid or returned payouts are reconciled."
    assert report.skipped == Counter({message: 1})
    assert report.level == messages.ERROR
    assert not LogEntry.objects.exists()


@pytest.mark.django_db
def test_apply_each_counts_the_same_reason_once_per_object(payout_admin, finance_user):
    pendings = [PayoutFactory(), PayoutFactory()]
    report = reconcile_each(payout_admin, admin_request(finance_user), pendings, reasons={"not_final": "not final"})
    assert report.summary("payout", "marked reconciled") == "0 payouts marked reconciled, 2 skipped: not final (2)"


# tell


@pytest.mark.django_db
def test_tell_shows_the_summary_at_the_reports_level(payout_admin, finance_user):
    request = admin_request(finance_user)
    report = ActionReport(done=["a"], skipped=Counter({"already reconciled": 1}), refusals=["Payout X is reconciled."])
    tell(payout_admin, request, report, "payout", "marked reconciled")
    assert [(m.level, m.message) for m in request._messages] == [
        (messages.WARNING, "1 payout marked reconciled, 1 skipped: already reconciled")
    ]


@pytest.mark.django_db
def test_tell_spells_out_refusals_when_asked_up_to_a_limit(payout_admin, finance_user):
    request = admin_request(finance_user)
    refusals = [f"Payout BLNPO{i} is Paid; only returned payouts are retried." for i in range(REFUSALS_SHOWN + 2)]
    report = ActionReport(skipped=Counter({"not returned": len(refusals)}), refusals=refusals)
    tell(payout_admin, request, report, "payout", "retried", skip_word="refused", spell_out_refusals=True)
    shown = [(m.level, m.message) for m in request._messages]
    assert shown[0] == (messages.ERROR, f"0 payouts retried, {len(refusals)} refused: not returned ({len(refusals)})")
    assert shown[1:] == [(messages.ERROR, text) for text in refusals[:REFUSALS_SHOWN]]


@pytest.mark.django_db
def test_the_reconcile_action_reports_in_one_sentence_through_the_admin(finance, three_payouts):
    done, reconciled, pending = three_payouts
    response = finance.action(PAYOUTS, "mark_reconciled", [done, reconciled, pending])
    assert messages_of(response) == ["1 payout marked reconciled, 2 skipped: already reconciled; not paid or returned"]
    assert LogEntry.objects.filter(action_flag=CHANGE, object_id=str(done.pk)).count() == 1
