from django.urls import path

from fleet import views

app_name = "fleet"

urlpatterns = [
    path("", views.fleet_list, name="fleets"),
    path("new/", views.fleet_create, name="fleet_create"),
    path("deployments/<int:pk>/", views.deployment_detail, name="deployment"),
    path("deployments/<int:pk>/abort/", views.deployment_abort, name="deployment_abort"),
    path("<slug:name>/", views.fleet_detail, name="fleet"),
    path("<slug:name>/edit/", views.fleet_edit, name="fleet_edit"),
    path("<slug:name>/delete/", views.fleet_delete, name="fleet_delete"),
    path("<slug:name>/hosts/", views.host_add, name="host_add"),
    path("<slug:name>/hosts/<int:pk>/remove/", views.host_remove, name="host_remove"),
    path("<slug:name>/hosts/<int:pk>/check/", views.host_check, name="host_check"),
    path("<slug:name>/deploy/", views.deploy, name="deploy"),
]
