from django.apps import apps
from django.contrib import admin

# Models that have no rows of their own to show.
UNREGISTERED_ON_PURPOSE = {"accounts.console"}
OUR_APPS = {
    "console",
    "accounts",
    "audit",
    "notifications",
    "releases",
    "monitoring",
    "backups",
    "maintenance",
    "security",
    "performance",
    "dbhealth",
    "fleet",
    "flags",
}


def test_every_model_is_registered_in_django_admin():
    missing = {
        model._meta.label_lower
        for model in apps.get_models()
        if model._meta.app_label in OUR_APPS and not admin.site.is_registered(model)
    } - UNREGISTERED_ON_PURPOSE
    assert missing == set()


def test_the_admin_index_opens_for_an_admin(login, alice):
    assert login(alice).get("/admin/").status_code == 200


def test_the_admin_is_closed_to_a_viewer(login, dave):
    response = login(dave).get("/admin/")
    assert response.status_code == 302
