app_name = "api_fleet"

urlpatterns: list = []
