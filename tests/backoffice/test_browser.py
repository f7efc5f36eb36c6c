"""A finance clerk in a real browser: logs in, filters payouts, marks one reconciled.

Runs headless Chromium through Playwright against a live server. The machine's own
Chromium is used (never a downloaded build); without one the test is skipped and says why.
"""

import os
import shutil
from pathlib import Path

import pytest

from revenue.models import Payout
from tests.factories import PayoutFactory
from tests.staff import paid_payout, staff

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str | None:
    """CHROMIUM_PATH if set, else the first Chromium found on this machine."""
    for candidate in (os.environ.get("CHROMIUM_PATH"), *CHROMIUM_CANDIDATES):
        if not candidate:
            continue
        found = candidate if Path(candidate).is_file() else shutil.which(candidate)
        if found and os.access(found, os.X_OK):
            return found
    return None


sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
CHROMIUM = chromium_path()
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium executable found (set CHROMIUM_PATH or install the distribution's chromium package); "
        "browsers are never downloaded",
    ),
]


@pytest.mark.django_db(transaction=True)
def test_finance_logs_in_filters_payouts_and_marks_one_reconciled(live_server):
    # The database is prepared and checked outside the browser session: Playwright's sync
    # API runs an event loop in this thread, where Django refuses synchronous queries.
    clerk = staff("Finance", username="clerk")
    target, other_paid, pending = paid_payout(), paid_payout(), PayoutFactory()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            # A loaded 2-core CI machine serves the admin slowly; waiting is not what is tested.
            page.set_default_timeout(90_000)
            page.goto(f"{live_server.url}/admin/login/?next=/admin/revenue/payout/")
            page.fill("#id_auth-username", clerk.username)
            page.fill("#id_auth-password", "pass-for-tests-only")
            page.click("button[type=submit].btn-primary")
            page.wait_for_url("**/admin/revenue/payout/")

            page.click("#changelist-filter a[href*='status__exact=PAID']")
            page.wait_for_url("**status__exact=PAID**")
            page.click("#changelist-filter a[href*='reconciled=no']")
            page.wait_for_url("**reconciled=no**")
            listed = page.locator("#result_list tbody tr").all_inner_texts()
            assert len(listed) == 2
            assert not any(pending.reference in row for row in listed)

            page.check(f"input[name=_selected_action][value='{target.pk}']")
            page.select_option("select[name=action]", "mark_reconciled")
            page.click("button[name=index]")
            page.wait_for_selector(".messagelist")
            message = page.locator(".messagelist li").first.inner_text()
            after = page.locator("#result_list tbody tr").all_inner_texts()
        finally:
            browser.close()

    assert message == "1 payout marked reconciled"
    assert len(after) == 1 and other_paid.reference in after[0]  # still filtered on "not reconciled"
    target.refresh_from_db()
    other_paid.refresh_from_db()
    assert target.reconciled_by == clerk and target.reconciled_at is not None
    assert other_paid.reconciled_at is None
    assert Payout.objects.filter(reconciled_at__isnull=False).count() == 1
