from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from two_factor.urls import urlpatterns as two_factor_urls

urlpatterns = [
    path("admin/", admin.site.urls),
    # Staff sign-in and two-factor enrolment: /account/login/, /account/two_factor/setup/, ...
    path("", include(two_factor_urls)),
    path("api/payments/", include("payments.urls")),
    path("api/revenue/", include("revenue.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/v1/", include("api.urls")),
    path("", include("monitoring.urls")),
]
