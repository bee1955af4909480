from django.apps import AppConfig


class DbhealthConfig(AppConfig):
    name = "dbhealth"
    verbose_name = "Database upkeep: indexes, statistics, integrity"
