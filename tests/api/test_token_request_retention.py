"""The log of token requests is kept `api.request_retention_days` days: `manage.py api_prune` deletes older rows
(the newer ones stay); bad input deletes nothing."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone

from api.models import TokenRequest
from api.tokens import create_token
from tests.progress.helpers import override_config

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows():
    user = User.objects.create_user("rita")
    token, _ = create_token(user, "ci", "read")
    now = timezone.now()
    made = {}
    for age in (0, 5, 29, 31, 89, 91, 400):
        made[age] = TokenRequest.objects.create(created_at=now - timedelta(days=age, minutes=1), token=token,
                                                token_name=token.name, user=user, username="rita", method="GET",
                                                path="/api/v1/clusters", status=200).pk
    return made


def ages_left(rows) -> list[int]:
    kept = set(TokenRequest.objects.values_list("pk", flat=True))
    return sorted(age for age, pk in rows.items() if pk in kept)


def test_the_default_retention_is_90_days_and_prune_deletes_only_older_rows(rows):
    out = StringIO()
    call_command("api_prune", stdout=out)
    assert out.getvalue().strip() == "pruned 2 token request(s)"
    assert ages_left(rows) == [0, 5, 29, 31, 89]


def test_the_retention_comes_from_the_configuration_and_a_flag_overrides_it(rows, settings):
    override_config(settings, {"api.request_retention_days": 30})
    call_command("api_prune", stdout=StringIO())
    assert ages_left(rows) == [0, 5, 29]
    call_command("api_prune", "--days", "3", stdout=StringIO())
    assert ages_left(rows) == [0]


def test_prune_deletes_in_batches_until_none_is_left(rows):
    from api.tokens import prune_requests

    assert prune_requests(1, batch=2) == 6
    assert ages_left(rows) == [0]


@pytest.mark.parametrize("days", ["0", "-3"])
def test_a_bad_retention_deletes_nothing(rows, days):
    with pytest.raises(CommandError, match="at least 1"):
        call_command("api_prune", "--days", days, stdout=StringIO())
    assert ages_left(rows) == sorted(rows)


def test_the_retention_key_refuses_a_bad_value():
    from kubenode.config import ConfigError, load

    with pytest.raises(ConfigError, match="api.request_retention_days"):
        load({"DEBUG": "true", "API_REQUEST_RETENTION_DAYS": "0"}, config_locations=())
