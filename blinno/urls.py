from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/payments/", include("payments.urls")),
    path("api/revenue/", include("revenue.urls")),
    path("", include("monitoring.urls")),
]
