from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/payments/", include("payments.urls")),
    path("api/revenue/", include("revenue.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("", include("monitoring.urls")),
]
