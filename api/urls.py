"""Every ``/api/v1/`` route: the one place a new endpoint is added."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import views

app_name = "api"

EXTERNAL_ID = "<str:external_id>"

resources = [
    path(f"people/{EXTERNAL_ID}", views.PersonView.as_view(), name="person"),
    path(f"people/{EXTERNAL_ID}/payout-methods", views.PayoutMethodsView.as_view(), name="payout-methods"),
    path(
        f"people/{EXTERNAL_ID}/payout-methods/<int:method_id>/default",
        views.PayoutMethodDefaultView.as_view(),
        name="payout-method-default",
    ),
    path("orders", views.OrdersView.as_view(), name="orders"),
    path("orders/<int:order_id>", views.OrderView.as_view(), name="order"),
    path("orders/<int:order_id>/cancel", views.OrderCancelView.as_view(), name="order-cancel"),
    path("orders/<int:order_id>/payments", views.OrderPaymentsView.as_view(), name="order-payments"),
    path("orders/<int:order_id>/refunds", views.OrderRefundsView.as_view(), name="order-refunds"),
    path("payments/<str:reference>", views.PaymentView.as_view(), name="payment"),
    path(f"creators/{EXTERNAL_ID}/balance", views.BalanceView.as_view(), name="balance"),
    path(f"creators/{EXTERNAL_ID}/entries", views.EntriesView.as_view(), name="entries"),
    path(f"creators/{EXTERNAL_ID}/statements/<str:period>", views.StatementView.as_view(), name="statement"),
    path(f"creators/{EXTERNAL_ID}/payouts", views.CreatorPayoutsView.as_view(), name="creator-payouts"),
    path("payouts/<str:reference>", views.PayoutView.as_view(), name="payout"),
]

urlpatterns = [
    *resources,
    # The schema documents these routes only (the gateway's webhooks have their own at /api/schema/).
    path("schema/", SpectacularAPIView.as_view(patterns=[path("api/v1/", include(resources))]), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    # Last: an address matching none of the above (an id that is not a number, a slash too many).
    re_path(r"^(?P<path>.*)$", views.not_found),
]
