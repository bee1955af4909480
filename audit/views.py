from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, Value, When
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from audit import approvals
from audit.forms import AuditFilterForm, ChangeFilterForm, DecisionForm, PayloadForm
from audit.models import AuditEvent, ChangeRequest

view_console = permission_required("accounts.view_console", raise_exception=True)
PAGE_SIZE = 50


@view_console
def log(request):
    form = AuditFilterForm(request.GET or None)
    events = AuditEvent.objects.order_by("-seq")
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if data["actor"]:
            events = events.filter(actor_label__icontains=data["actor"])
        if data["object_type"]:
            events = events.filter(object_type=data["object_type"])
        if data["object_id"]:
            events = events.filter(object_id=data["object_id"])
        if data["action"]:
            events = events.filter(action__startswith=data["action"])
        if data["since"]:
            events = events.filter(at__gte=data["since"])
        if data["until"]:
            events = events.filter(at__lte=data["until"])
    elif form.is_bound:
        events = events.none()
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "object_types": AuditEvent.objects.order_by()
        .values_list("object_type", flat=True)
        .distinct()[:200],
    }
    template = "audit/log.html#results" if request.htmx else "audit/log.html"
    return render(request, template, context, status=400 if form.errors else 200)


@view_console
def history(request, object_type: str, object_id: str):
    """The per-object history panel on its own (HTMX-refreshable)."""
    events = list(AuditEvent.objects.for_object(object_type, object_id)[:20])
    return render(
        request,
        "audit/_history.html",
        {"events": events, "object_type": object_type, "object_id": object_id},
    )


@view_console
def approval_list(request):
    form = ChangeFilterForm(request.GET or None)
    changes = (
        ChangeRequest.objects.select_related("requested_by")
        .annotate(
            open_first=Case(
                When(status="pending", then=Value(0)),
                When(status="approved", then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            )
        )
        .order_by("open_first", "-created_at")
    )
    if form.is_valid() and form.cleaned_data["status"]:
        changes = changes.filter(status=form.cleaned_data["status"])
    page = Paginator(changes, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "audit/approvals.html", {"page": page, "form": form})


def _detail_context(request, cr: ChangeRequest, **extra):
    user = request.user
    current = [a for a in cr.approvals.all() if a.version == cr.version]
    return {
        "cr": cr,
        "kind": approvals.kinds().get(cr.kind),
        "payload_json": json.dumps(cr.payload, indent=2, sort_keys=True),
        "current_approvals": current,
        "earlier_approvals": [a for a in cr.approvals.all() if a.version != cr.version],
        "approved_count": sum(1 for a in current if a.decision == "approve"),
        "can_decide": cr.status == "pending"
        and approvals.can_decide(cr, user)
        and all(a.approver_id != user.pk for a in current),
        "is_requester": user.pk == cr.requested_by_id,
        "can_apply": cr.status == "approved"
        and (user.pk == cr.requested_by_id or approvals.can_decide(cr, user)),
        "can_cancel": cr.is_open
        and (user.pk == cr.requested_by_id or user.has_perm("accounts.manage_users")),
        "decision_form": DecisionForm(initial={"version": cr.version}),
        "payload_form": PayloadForm(
            initial={"version": cr.version, "payload": json.dumps(cr.payload, indent=2)}
        ),
        **extra,
    }


def _get_change(pk: int) -> ChangeRequest:
    return get_object_or_404(
        ChangeRequest.objects.select_related("requested_by", "applied_by").prefetch_related(
            "approvals__approver"
        ),
        pk=pk,
    )


@view_console
def approval_detail(request, pk: int):
    cr = _get_change(pk)
    return render(request, "audit/approval_detail.html", _detail_context(request, cr))


def _refused(request, cr_pk: int, exc: approvals.ApprovalError):
    cr = _get_change(cr_pk)
    messages.error(request, exc.detail)
    return render(
        request, "audit/approval_detail.html", _detail_context(request, cr), status=exc.status
    )


@require_POST
@view_console
def approval_decide(request, pk: int, decision: str):
    try:
        approvals.check_decider(_get_change(pk), request.user)
    except approvals.ApprovalError as exc:
        return _refused(request, pk, exc)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _refused(request, pk, approvals.ApprovalError("the form was incomplete"))
    data = form.cleaned_data
    try:
        if decision == "approve":
            approvals.approve(pk, request.user, version=data["version"], comment=data["comment"])
            messages.success(request, "Your approval was recorded.")
        else:
            approvals.deny(pk, request.user, version=data["version"], comment=data["comment"])
            messages.success(request, "The change request was denied.")
    except approvals.ApprovalError as exc:
        return _refused(request, pk, exc)
    return redirect("audit:approval", pk=pk)


@require_POST
@view_console
def approval_apply(request, pk: int):
    try:
        cr = approvals.apply(pk, request.user)
    except approvals.ApprovalError as exc:
        return _refused(request, pk, exc)
    messages.success(request, f"Applied: {cr.title}")
    return redirect("audit:approval", pk=pk)


@require_POST
@view_console
def approval_cancel(request, pk: int):
    try:
        approvals.cancel(pk, request.user, reason=request.POST.get("reason", ""))
    except approvals.ApprovalError as exc:
        return _refused(request, pk, exc)
    messages.success(request, "The change request was cancelled.")
    return redirect("audit:approval", pk=pk)


@require_POST
@view_console
def approval_edit(request, pk: int):
    try:
        approvals.check_editor(_get_change(pk), request.user)
    except approvals.ApprovalError as exc:
        return _refused(request, pk, exc)
    form = PayloadForm(request.POST)
    if not form.is_valid():
        cr = _get_change(pk)
        return render(
            request,
            "audit/approval_detail.html",
            _detail_context(request, cr, payload_form=form),
            status=400,
        )
    try:
        approvals.edit_payload(
            pk,
            request.user,
            payload=form.cleaned_data["payload"],
            version=form.cleaned_data["version"],
        )
    except approvals.ApprovalError as exc:
        return _refused(request, pk, exc)
    messages.success(request, "The payload was changed; earlier approvals no longer count.")
    return redirect("audit:approval", pk=pk)
