"""Upkeep's URLs plus ``/bench/trivial``: the cheapest Django view behind the same middleware."""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.urls import path

from config.urls import urlpatterns as upkeep_urlpatterns


@login_not_required
def trivial(request):
    return HttpResponse(b"ok", content_type="text/plain")


# Last, so that resolving it walks every Upkeep pattern first (no head start over the API).
urlpatterns = [*upkeep_urlpatterns, path("bench/trivial", trivial)]
