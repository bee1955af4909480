from django.urls import path

from flags import views

app_name = "flags"

urlpatterns = [
    path("", views.flag_list, name="list"),
    path("new/", views.flag_new, name="new"),
    path("<int:pk>/", views.flag_detail, name="detail"),
    path("<int:pk>/edit/", views.flag_edit, name="edit"),
    path("<int:pk>/start/", views.flag_start, name="start"),
    path("<int:pk>/pause/", views.flag_pause, name="pause"),
    path("<int:pk>/resume/", views.flag_resume, name="resume"),
    path("<int:pk>/kill/", views.flag_kill, name="kill"),
    path("<int:pk>/unkill/", views.flag_unkill, name="unkill"),
    path("<int:pk>/decide/", views.flag_decide, name="decide"),
]
