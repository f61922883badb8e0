"""Shared fixtures. Each area keeps its fixtures in its own module under tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.daphne",
    "tests.fixtures.kube",
    "tests.fixtures.apiserver",
    "tests.fixtures.browser",
    "tests.fixtures.roles",
    "tests.fixtures.logins",
]
