"""Finance and Support at work in a real browser (headless Chromium, 1366x768) against a live server.

Finance: the home page's queues, a statement imported, its differing line accepted, the payouts
reconciled, a payment held for review captured, another (never credited) handed to the refund
flow and approved by a second person. Support: a payout cleared from review, a stuck one
submitted now. The home page's counts are read after each step; screenshots are kept under
.artifacts/ (ignored by git) for a person to look at.
"""

from pathlib import Path

import pytest
from django.utils import timezone

from backoffice.models import StatementLine
from payments.models import Payment
from revenue.models import Payout
from tests.backoffice.test_browser import CHROMIUM, sync_api
from tests.backoffice.test_home import needs_review_payment
from tests.factories import PayoutFactory
from tests.payments.test_refund_uncredited import paid_for_a_cancelled_order
from tests.staff import paid_payout, staff

ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts"
PASSWORD = "pass-for-tests-only"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium executable found; browsers are never downloaded"),
    # Serialized rollback brings back the groups (made by migrations) that flushing between tests removes.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


class Staff:
    """One person's browser tab: signs in, reads the home page's counts, keeps screenshots."""

    def __init__(self, browser, live_server, user) -> None:
        self.page = browser.new_page(viewport={"width": 1366, "height": 768})
        self.page.set_default_timeout(90_000)  # a loaded 2-core machine serves slowly; waiting is not tested
        self.url = live_server.url
        self.page.goto(f"{self.url}/admin/login/?next=/admin/")
        self.page.fill("#id_auth-username", user.username)
        self.page.fill("#id_auth-password", PASSWORD)
        self.page.click("button[type=submit].btn-primary")
        self.page.wait_for_selector("#work-queues")

    def home(self) -> dict[str, str]:
        self.page.goto(f"{self.url}/admin/")
        links = self.page.locator("#work-queues a[data-queue]")
        return {links.nth(i).get_attribute("data-queue"): links.nth(i).inner_text() for i in range(links.count())}

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    def message(self) -> str:
        self.page.wait_for_selector(".messagelist")
        return self.page.locator(".messagelist li").first.inner_text()


def browser_session():
    playwright = sync_api.sync_playwright().start()
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
    )
    return playwright, browser


def statement_csv(tmp_path: Path, *payouts: tuple[Payout, str]) -> Path:
    day = timezone.localdate().isoformat()
    rows = [f"CPW{p.pk},{p.reference},{day},Payout,Debit,{amount},TZS,,Payout" for p, amount in payouts]
    path = tmp_path / "statement.csv"
    path.write_text("\n".join(["id,orderReference,date,description,entry,amount,currency,balance,type", *rows]))
    return path


def test_finance_imports_a_statement_and_reconciles_its_payouts(live_server, tmp_path):
    clerk = staff("Finance", username="fiona")
    exact, differing = paid_payout(), paid_payout()
    review = needs_review_payment()
    csv = statement_csv(tmp_path, (exact, "47180.00"), (differing, "47000.00"))

    widths: dict[str, int] = {}
    playwright, browser = browser_session()
    try:
        fiona = Staff(browser, live_server, clerk)
        before = fiona.home()
        fiona.shot("finance-1-home")

        fiona.page.goto(f"{live_server.url}/admin/backoffice/statementimport/upload/")
        fiona.page.set_input_files("input[name=file]", str(csv))
        fiona.page.click("input[type=submit]")
        imported = fiona.message()
        fiona.shot("finance-2-statement-imported")
        after_import = fiona.home()

        fiona.page.click("a[data-queue=statement_unresolved]")
        fiona.page.wait_for_selector("#result_list")
        fiona.shot("finance-3-unresolved-lines")
        fiona.page.fill("#searchbar", differing.reference)
        fiona.page.press("#searchbar", "Enter")
        fiona.page.wait_for_url("**q=**")
        fiona.page.click("#result_list tbody tr th a")
        fiona.page.wait_for_selector("#line-resolution")
        fiona.shot("finance-4-line")
        fiona.page.click("text=Accept the match and reconcile the payout")
        accepted = fiona.message()
        back_on = fiona.page.url
        fiona.shot("finance-5-accepted")

        fiona.page.goto(f"{live_server.url}/admin/payments/payment/{review.pk}/change/")
        fiona.page.wait_for_selector("#payment-review")
        fiona.shot("finance-6-payment-review")
        fiona.page.fill("#id_collected", "10000.00")
        fiona.page.click("text=Capture as collected")
        captured = fiona.message()
        fiona.shot("finance-7-captured")
        after = fiona.home()
        fiona.shot("finance-8-home-after")
        for name, path in (
            ("payouts", "revenue/payout"),
            ("fees", "revenue/platformfee"),
            ("lines", "backoffice/statementline"),
        ):
            fiona.page.goto(f"{live_server.url}/admin/{path}/")
            fiona.page.wait_for_selector("#result_list")
            fiona.shot(f"finance-9-list-{name}")
            widths[name] = fiona.page.evaluate(
                "(() => { const r = document.querySelector('.results'); return r.scrollWidth - r.clientWidth; })()"
            )
    finally:
        browser.close()
        playwright.stop()

    assert before["payouts_unreconciled"] == "2" and before["payments_review"] == "1"
    assert "imported" in imported
    assert after_import["payouts_unreconciled"] == "1"  # the exact line reconciled its payout
    # The differing payout line, and our sales the statement lacks (missing on ClickPesa's side).
    unresolved = int(after_import["statement_unresolved"])
    assert unresolved >= 1
    assert accepted.startswith(f"Line accepted as the record of payout {differing.reference}")
    assert "queue=statement_unresolved" in back_on  # back on the filtered list
    assert captured.startswith(f"Payment {review.reference} captured")
    assert after["payouts_unreconciled"] == "0" and after["statement_unresolved"] == str(unresolved - 1)
    assert after["payments_review"] == "0"
    assert all(hidden <= 0 for hidden in widths.values()), widths  # no list hides columns at 1366 px
    exact.refresh_from_db()
    differing.refresh_from_db()
    assert exact.reconciled_by == clerk and differing.reconciled_by == clerk
    assert StatementLine.objects.filter(resolved_by=clerk).count() == 1
    assert Payment.objects.get(pk=review.pk).status == Payment.Status.COMPLETED


def test_support_clears_a_payout_review_and_submits_a_stuck_payout(live_server):
    agent = staff("Support", username="sam")
    flagged = PayoutFactory()
    Payout.objects.filter(pk=flagged.pk).update(needs_review=True, notes="ClickPesa reported another amount")
    stuck = PayoutFactory(submitted=False)
    Payout.objects.filter(pk=stuck.pk).update(
        created_at=timezone.now() - timezone.timedelta(hours=3),
        next_submission_at=None,
        submission_attempts=3,
        last_error="ClickPesa timed out",
    )

    playwright, browser = browser_session()
    try:
        sam = Staff(browser, live_server, agent)
        before = sam.home()
        sam.shot("support-1-home")

        sam.page.click("a[data-queue=payouts_review]")
        sam.page.click(f"text={flagged.reference}")
        sam.page.wait_for_selector(".payout-clear-review")
        sam.shot("support-2-payout-review")
        sam.page.fill("#id_review_reason", "ClickPesa confirmed the amount")
        sam.page.click("text=Clear review")
        cleared = sam.message()

        sam.page.goto(f"{live_server.url}/admin/")
        sam.page.click("a[data-queue=payouts_waiting]")
        sam.page.click(f"text={stuck.reference}")
        sam.page.wait_for_selector("#payout-wait-reason")
        why = sam.page.locator("#payout-wait-reason").inner_text()
        sam.shot("support-3-stuck-payout")
        sam.page.click(".payout-submit-now input[type=submit]")
        submitted = sam.message()
        sam.shot("support-4-submitted")
        after = sam.home()
        sam.shot("support-5-home-after")
    finally:
        browser.close()
        playwright.stop()

    assert before["payouts_review"] == "1" and before["payouts_waiting"] == "1"
    assert cleared == f"Payout {flagged.reference} cleared from review; no money moved."
    assert "tried 3 times" in why and "ClickPesa timed out" in why
    assert submitted == f"Payout {stuck.reference} queued for submission to ClickPesa now."
    assert after["payouts_review"] == "0"
    flagged.refresh_from_db()
    assert flagged.needs_review is False


def test_finance_hands_a_payment_review_to_the_refund_flow_and_a_second_person_approves_it(live_server):
    asker, approver = staff("Finance", username="fiona"), staff("Finance", username="fred")
    payment = paid_for_a_cancelled_order()  # the buyer paid after the order was cancelled: never credited

    playwright, browser = browser_session()
    try:
        fiona = Staff(browser, live_server, asker)
        before = fiona.home()
        fiona.page.goto(f"{live_server.url}/admin/payments/payment/{payment.pk}/change/")
        fiona.page.wait_for_selector("#refund-uncredited")
        fiona.shot("refund-1-review")
        fiona.page.fill("#id_refund_note", "Order cancelled, then the buyer paid")
        fiona.page.click("text=Refund the buyer (four eyes)")
        asked = fiona.message()
        fiona.shot("refund-2-asked")
        waiting = fiona.home()

        fred = Staff(browser, live_server, approver)
        fred.page.click("a[data-queue=approvals_waiting]")
        fred.page.wait_for_selector("#result_list")
        fred.page.check("#result_list input[name=_selected_action]")
        fred.page.select_option("select[name=action]", "approve_approvals")
        fred.page.click("button[name=index]")
        approved = fred.message()
        fred.shot("refund-3-approved")
        after = fred.home()
        fred.shot("refund-4-home-after")
    finally:
        browser.close()
        playwright.stop()

    assert (before["payments_review"], before["approvals_waiting"]) == ("1", "0")
    assert asked.startswith("Refund #") and "another person approves it" in asked
    assert (waiting["payments_review"], waiting["approvals_waiting"]) == ("1", "1")  # still in review until approved
    assert approved == "1 request approved"
    assert (after["payments_review"], after["approvals_waiting"]) == ("0", "0")
    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    refund_payout = Payout.objects.get(purpose=Payout.Purpose.REFUND)
    assert refund_payout.amount == payment.amount and refund_payout.reference in payment.failure_reason
