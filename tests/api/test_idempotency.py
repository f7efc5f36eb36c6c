"""Idempotency-Key with Stripe's semantics: replay, refusal of reuse, one effect for two at once."""

from datetime import timedelta

from django.db import connection
from django.utils import timezone

from api.idempotency import idempotency_prune
from api.models import IdempotencyRecord
from payments.models import Order
from tests.api.conftest import Api, error, make_key
from tests.conftest import run_concurrently

ORDER = {"buyer": "u-1", "lines": [{"creator": "c-1", "transaction_type": "tip", "amount": "1000.00"}]}


def test_every_post_needs_a_key(api, people):
    response = api.post("orders", ORDER, key=None)
    assert response.status_code == 400
    assert error(response) == {
        "code": "idempotency_key_missing",
        "message": "Every POST needs an Idempotency-Key header.",
        "field": "Idempotency-Key",
    }
    assert not Order.objects.exists()


def test_a_key_too_long_is_refused(api, people):
    response = api.post("orders", ORDER, key="k" * 256)
    assert error(response)["code"] == "idempotency_key_invalid"


def test_the_same_key_and_body_replay_the_first_answer(api, people):
    first = api.post("orders", ORDER, key="order-1")
    again = api.post("orders", ORDER, key="order-1")
    assert first.status_code == again.status_code == 201
    assert again.content == first.content  # byte for byte, keys in their order
    assert again["Idempotent-Replayed"] == "true"
    assert again["Content-Type"] == "application/json"
    assert Order.objects.count() == 1


def test_a_refusal_is_replayed_too(api, people):
    body = {**ORDER, "buyer": "nobody"}
    first = api.post("orders", body, key="order-2")
    again = api.post("orders", body, key="order-2")
    assert first.status_code == again.status_code == 422
    assert again.json() == first.json()


def test_the_same_key_with_another_body_is_a_422(api, people):
    api.post("orders", ORDER, key="order-3")
    other = {**ORDER, "lines": [{"creator": "c-1", "transaction_type": "tip", "amount": "2000.00"}]}
    response = api.post("orders", other, key="order-3")
    assert response.status_code == 422
    assert error(response)["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1


def test_the_same_key_on_another_path_is_a_422(api, people):
    api.post("orders", ORDER, key="k-4")
    response = api.post("creators/c-1/payouts", ORDER, key="k-4")
    assert error(response)["code"] == "idempotency_key_reused"


def test_keys_belong_to_their_api_key(api, people):
    other = Api(make_key(["storefront"], name="mobile"))
    assert api.post("orders", ORDER, key="shared").status_code == 201
    assert other.post("orders", ORDER, key="shared").status_code == 201
    assert Order.objects.count() == 2


def test_two_requests_with_one_key_at_once_make_one_order(transactional_db, settings):
    settings.API_IDEMPOTENCY_WAIT_SECONDS = 20
    api = Api(make_key(["storefront"]))
    api.put("people/u-1", {"name": "Buyer"})
    api.put("people/c-1", {"name": "Creator", "is_creator": True})

    def create(_: int):
        connection.close()
        response = Api(api.key).post("orders", ORDER, key="together")
        return response.status_code, response.json()

    results = run_concurrently(create, 4)
    assert Order.objects.count() == 1
    assert {status for status, _ in results} == {201}
    assert len({body["id"] for _, body in results}) == 1


def test_a_second_request_that_cannot_wait_is_told_in_progress(api, people, settings):
    """The first request's claim is still open (its work not finished): the second gets a 409."""
    settings.API_IDEMPOTENCY_WAIT_SECONDS = 0
    api.post("orders", ORDER, key="busy")
    IdempotencyRecord.objects.filter(key="busy").update(
        status=IdempotencyRecord.Status.IN_PROGRESS, response_status=None, response_body=None, locked_at=timezone.now()
    )
    response = api.post("orders", ORDER, key="busy")
    assert response.status_code == 409
    assert error(response)["code"] == "idempotency_key_in_progress"
    assert Order.objects.count() == 1


def test_a_claim_left_by_a_dead_request_is_taken_over(api, people, settings):
    api.post("orders", ORDER, key="probe")
    probe = IdempotencyRecord.objects.get(key="probe")
    IdempotencyRecord.objects.create(
        api_key=probe.api_key,
        key="orphan",
        fingerprint=probe.fingerprint,
        locked_at=timezone.now() - timedelta(seconds=settings.API_IDEMPOTENCY_LEASE_SECONDS + 1),
    )
    response = api.post("orders", ORDER, key="orphan")
    assert response.status_code == 201
    assert IdempotencyRecord.objects.get(key="orphan").status == IdempotencyRecord.Status.DONE


def test_old_keys_are_pruned_after_the_keep_time(api, people, settings):
    api.post("orders", ORDER, key="old")
    api.post("orders", ORDER, key="new")
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=settings.API_IDEMPOTENCY_KEEP_HOURS, minutes=1)
    )
    assert settings.API_IDEMPOTENCY_KEEP_HOURS >= 24
    assert idempotency_prune() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
