import pytest
from django.contrib.auth import get_user_model


@pytest.mark.django_db
def test_database_is_postgresql(settings):
    from django.db import connection

    assert connection.vendor == "postgresql"
    get_user_model().objects.create_user("someone", password="x")
    assert get_user_model().objects.count() == 1
