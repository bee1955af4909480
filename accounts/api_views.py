from django.http import JsonResponse

from accounts.api import api_view
from accounts.roles import role_of


@api_view(permission="accounts.view_console")
def me(request):
    """Who the token acts as: lets a pipeline check its token before it does anything."""
    role = role_of(request.user)
    token = request.api_token
    return JsonResponse(
        {
            "username": request.user.get_username(),
            "role": role.slug if role else None,
            "token": {"name": token.name, "prefix": token.prefix},
        }
    )
