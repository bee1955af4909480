from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db.models import Count, Max, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from notifications import preferences as prefs
from notifications import webhooks
from notifications.events import all_events
from notifications.forms import DeliveryFilterForm, PreferencesForm, WebhookForm
from notifications.models import Delivery, WebhookEndpoint

view_console = permission_required("accounts.view_console", raise_exception=True)
manage_webhooks = permission_required("accounts.manage_users", raise_exception=True)

PAGE_SIZE = 50
STATUS_TONES = {
    Delivery.Status.PENDING: "info",
    Delivery.Status.SENDING: "info",
    Delivery.Status.SENT: "ok",
    Delivery.Status.FAILED: "warn",
    Delivery.Status.DEAD: "bad",
}


@view_console
def preferences(request: HttpRequest) -> HttpResponse:
    """Each person ticks which events reach them by email."""
    current = prefs.effective(request.user)
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            changed = prefs.save(request.user, set(form.cleaned_data["events"]))
            if changed:
                messages.success(request, "Your email preferences were saved.")
            else:
                messages.info(request, "Nothing changed.")
            return redirect("notifications:preferences")
        ticked = set(request.POST.getlist("events"))
    else:
        form = PreferencesForm()
        ticked = {key for key, on in current.items() if on}
    rows = [
        {
            "key": e.key,
            "title": e.title,
            "description": e.description,
            "default": "on" if e.default_email else "off",
            "checked": e.key in ticked,
        }
        for e in all_events(selectable_only=True)
    ]
    context = {"form": form, "rows": rows, "has_email": bool(request.user.email)}
    return render(
        request, "notifications/preferences.html", context, status=400 if form.errors else 200
    )


@view_console
def deliveries(request: HttpRequest) -> HttpResponse:
    """The delivery log: every email and webhook attempt's outcome, newest first."""
    form = DeliveryFilterForm(request.GET or None)
    rows = Delivery.objects.for_log()
    if form.is_bound and form.is_valid():
        rows = form.filter(rows)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for delivery in page:
        delivery.tone = STATUS_TONES.get(delivery.status, "neutral")
    counts = dict(Delivery.objects.values_list("status").annotate(n=Count("id")).order_by("status"))
    summary = [
        {
            "status": value,
            "label": label,
            "count": counts.get(value, 0),
            "tone": STATUS_TONES[value],
        }
        for value, label in Delivery.Status.choices
    ]
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "summary": summary,
        "can_manage_webhooks": request.user.has_perm("accounts.manage_users"),
    }
    return render(
        request, "notifications/deliveries.html", context, status=400 if form.errors else 200
    )


def _render_webhooks(
    request: HttpRequest, form: WebhookForm, *, revealed: WebhookEndpoint | None = None
) -> HttpResponse:
    endpoints = WebhookEndpoint.objects.annotate(
        sent=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.SENT)),
        failing=Count(
            "deliveries",
            filter=Q(deliveries__status__in=[Delivery.Status.FAILED, Delivery.Status.DEAD]),
        ),
        last_sent_at=Max("deliveries__sent_at"),
    ).order_by("name")
    context = {"form": form, "endpoints": endpoints, "revealed": revealed}
    return render(
        request, "notifications/webhooks.html", context, status=400 if form.errors else 200
    )


@manage_webhooks
def webhook_list(request: HttpRequest) -> HttpResponse:
    """Webhook endpoints, and the form that adds one (its secret is shown once, right here)."""
    if request.method == "POST":
        form = WebhookForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            endpoint = webhooks.create_endpoint(
                name=data["name"], url=data["url"], events=data["events"]
            )
            messages.success(request, f"Webhook “{endpoint.name}” created.")
            return _render_webhooks(request, WebhookForm(), revealed=endpoint)
        return _render_webhooks(request, form)
    return _render_webhooks(request, WebhookForm())


@require_POST
@manage_webhooks
def webhook_enabled(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    enabled = request.POST.get("enabled") == "1"
    if webhooks.set_enabled(endpoint, enabled):
        state = "enabled" if enabled else "disabled"
        messages.success(request, f"Webhook “{endpoint.name}” {state}.")
    return redirect("notifications:webhooks")


@require_POST
@manage_webhooks
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    webhooks.delete_endpoint(endpoint)
    messages.success(request, f"Webhook “{endpoint.name}” deleted.")
    return redirect("notifications:webhooks")


@require_POST
@manage_webhooks
def webhook_test(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    if not endpoint.enabled:
        messages.error(request, f"Webhook “{endpoint.name}” is disabled; enable it first.")
        return redirect("notifications:webhooks")
    delivery = webhooks.send_test(endpoint, by=request.user)
    messages.success(
        request,
        f"Test delivery #{delivery.pk} to “{endpoint.name}” queued; its outcome appears in "
        "the delivery log.",
    )
    return redirect("notifications:webhooks")


@require_POST
@manage_webhooks
def webhook_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    webhooks.rotate_secret(endpoint)
    messages.success(request, f"Webhook “{endpoint.name}” has a new secret.")
    return _render_webhooks(request, WebhookForm(), revealed=endpoint)
