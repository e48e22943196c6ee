from __future__ import annotations

from django.urls import path
from examples.django_project import views

urlpatterns = [
    path("api/redeem", views.redeem),
    path("api/profile", views.profile),
    path("api/browse", views.browse),
    path("api/feedback", views.feedback),
]
