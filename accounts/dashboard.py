from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.urls import reverse

from accounts.models import ApiToken
from accounts.roles import ROLES
from console.dashboard import Card


def card(request) -> Card:
    User = get_user_model()
    counts = User.objects.filter(is_active=True).aggregate(
        **{slug: Count("pk", filter=Q(groups__name=role.name)) for slug, role in ROLES.items()}
    )
    tokens = ApiToken.objects.active().count()
    return Card(
        title="People",
        url=reverse("accounts:users"),
        stats=[
            *((role.name, counts[slug]) for slug, role in ROLES.items()),
            ("Active API tokens", tokens),
        ],
    )
