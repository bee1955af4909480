from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import permission_required
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST

from accounts import actions, ratelimit
from accounts.forms import RoleForm, TokenForm, UserCreateForm
from accounts.models import ApiToken
from accounts.roles import role_of
from accounts.tokens import create_token, revoke_token
from audit.context import Actor
from audit.trail import record

view_console = permission_required("accounts.view_console", raise_exception=True)
manage_users = permission_required("accounts.manage_users", raise_exception=True)


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")
        if ratelimit.is_locked(username, request.client_ip):
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, "Too many failed sign-ins. Wait 15 minutes and try again.")
            with transaction.atomic():
                record(
                    "auth.login_locked",
                    object_type="auth.user",
                    object_id=username,
                    object_repr=username,
                    actor=Actor.for_user(None, request_id=request.request_id, ip=request.client_ip),
                )
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        user = form.get_user()
        ratelimit.clear(user.get_username())
        with transaction.atomic():
            record(
                "auth.login",
                user,
                actor=Actor.for_user(
                    user, request_id=self.request.request_id, ip=self.request.client_ip
                ),
            )
        return response

    def form_invalid(self, form):
        username = self.request.POST.get("username", "")
        ratelimit.note_failure(username, self.request.client_ip)
        with transaction.atomic():
            record(
                "auth.login_failed",
                object_type="auth.user",
                object_id=username[:100],
                object_repr=username[:100],
                actor=Actor.for_user(
                    None, request_id=self.request.request_id, ip=self.request.client_ip
                ),
            )
        return super().form_invalid(form)


@require_POST
def logout(request):
    user = request.user
    with transaction.atomic():
        record("auth.logout", user)
    return auth_views.LogoutView.as_view()(request)


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:profile")

    def form_valid(self, form):
        with transaction.atomic():
            response = super().form_valid(form)
            record("user.password_changed", self.request.user)
        messages.success(self.request, "Your password was changed.")
        return response


@view_console
def profile(request):
    """Your account: role, password, API tokens."""
    form = TokenForm(user=request.user)
    new_token = None
    if request.method == "POST":
        form = TokenForm(request.POST, user=request.user)
        if form.is_valid():
            _, new_token = create_token(request.user, form.cleaned_data["name"])
            form = TokenForm(user=request.user)
    tokens = ApiToken.objects.filter(user=request.user).order_by("revoked_at", "-created_at")
    return render(
        request,
        "accounts/profile.html",
        {"form": form, "tokens": tokens, "new_token": new_token, "role": role_of(request.user)},
        status=400 if form.errors else 200,
    )


@require_POST
@view_console
def revoke(request, token_id: int):
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    if revoke_token(token):
        messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("accounts:profile")


@manage_users
def users(request):
    User = get_user_model()
    form = UserCreateForm()
    if request.method == "POST":
        form = UserCreateForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            if data["role"].slug == "admin":
                user = actions.create_user(
                    data["username"],
                    role=actions.ROLES["viewer"],
                    password=data["password"],
                    email=data["email"],
                )
                cr = actions.change_role(
                    user, data["role"], by=request.user, reason="new user to be made Admin"
                )
                messages.info(
                    request,
                    f"{user} was created as Viewer; making them Admin "
                    f"awaits a second admin (change request #{cr.pk}).",
                )
            else:
                user = actions.create_user(
                    data["username"],
                    role=data["role"],
                    password=data["password"],
                    email=data["email"],
                )
                messages.success(request, f"{user} was created as {data['role'].name}.")
            return redirect("accounts:users")
    people = User.objects.order_by("username").prefetch_related("groups")
    rows = [{"user": u, "role": role_of(u)} for u in people]
    return render(
        request,
        "accounts/users.html",
        {"rows": rows, "form": form},
        status=400 if form.errors else 200,
    )


@require_POST
@manage_users
def set_role(request, user_id: int):
    user = get_object_or_404(get_user_model(), pk=user_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a valid role.")
        return redirect("accounts:users")
    if user == request.user:
        messages.error(request, "You cannot change your own role; ask another admin.")
        return redirect("accounts:users")
    cr = actions.change_role(
        user, form.cleaned_data["role"], by=request.user, reason=form.cleaned_data["reason"]
    )
    if cr is not None:
        messages.info(
            request,
            f"Making {user} an Admin needs a second admin: change request #{cr.pk} is waiting.",
        )
    else:
        messages.success(request, f"{user} is now {form.cleaned_data['role'].name}.")
    return redirect("accounts:users")


@require_POST
@manage_users
def set_active(request, user_id: int):
    user = get_object_or_404(get_user_model(), pk=user_id)
    active = request.POST.get("active") == "1"
    if user == request.user and not active:
        messages.error(request, "You cannot deactivate yourself.")
        return redirect("accounts:users")
    actions.set_active(user, active)
    messages.success(request, f"{user} is now {'active' if active else 'deactivated'}.")
    return redirect("accounts:users")
