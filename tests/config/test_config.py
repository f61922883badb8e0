"""Configuration: precedence, aliases, DATABASE_URL, ${VAR} expansion, and clear errors."""

import pytest

from kubenode.config import KEYS_BY_NAME, ConfigError, load

BASE = {"SECRET_KEY": "s" * 40}


def write_config(tmp_path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


def test_nothing_set_means_sqlite_and_memory():
    config = load(dict(BASE))
    assert config.database_type == "sqlite"
    assert config["database.database"].endswith("db.sqlite3")
    assert config.notify_type == "memory"
    assert config.source("database.type") == "default"
    assert config.source("progress.notify_type").startswith("default")


# (key, the value the file gives, the value the environment gives, the parsed env value)
DB_CASES = [
    ("database.type", "sqlite", "postgres", "postgres"),
    ("database.host", "file-host", "env-host", "env-host"),
    ("database.port", 6000, "6001", 6001),
    ("database.database", "file-db", "env-db", "env-db"),
    ("database.username", "file-user", "env-user", "env-user"),
    ("database.password", "file-pw", "env-pw", "env-pw"),
    ("database.ssl_mode", "disable", "require", "require"),
]


def _yaml_for(key: str, value) -> str:
    section, name = key.split(".")
    return f"{section}:\n  {name}: {value!r}\n" if isinstance(value, str) else f"{section}:\n  {name}: {value}\n"


@pytest.mark.parametrize("key,file_value,env_value,parsed", DB_CASES, ids=[c[0] for c in DB_CASES])
def test_database_precedence_for_every_key_and_alias(tmp_path, key, file_value, env_value, parsed):
    names = KEYS_BY_NAME[key].env
    db_names = [n for n in names if n.startswith("DB_")]
    database_names = [n for n in names if n.startswith("DATABASE_")]
    assert db_names and database_names, f"{key} must accept both DB_ and DATABASE_ spellings"
    path = write_config(tmp_path, _yaml_for(key, file_value))

    # The file beats the default.
    from_file = load({**BASE, "KUBENODE_CONFIG": path})
    assert from_file.source(key) == f"file {path}: {key}"

    # Every spelling is read on its own, and beats the file.
    for name in names:
        config = load({**BASE, "KUBENODE_CONFIG": path, name: env_value})
        assert config[key] == parsed, name
        assert config.source(key) == f"env {name}"

    # Each DB_ spelling beats every DATABASE_ spelling; within a prefix, the first alias wins.
    for db_name in db_names:
        for database_name in database_names:
            config = load({**BASE, "KUBENODE_CONFIG": path, db_name: env_value, database_name: "loser"})
            assert config.source(key) == f"env {db_name}"
    if len(db_names) > 1:
        config = load({**BASE, db_names[0]: env_value, db_names[1]: "loser"})
        assert config.source(key) == f"env {db_names[0]}"


def test_database_url_is_read_and_individual_variables_win(tmp_path):
    url = "postgres://alice:s3cret@db.example:6543/nodesdb?sslmode=require"
    config = load({**BASE, "DATABASE_URL": url})
    assert config.database_type == "postgres"
    assert (config["database.host"], config["database.port"], config["database.database"]) == (
        "db.example", 6543, "nodesdb")
    assert config["database.username"] == "alice"
    assert config["database.password"] == "s3cret"
    assert config["database.ssl_mode"] == "require"
    assert config.source("database.host") == "env DATABASE_URL"

    path = write_config(tmp_path, "database:\n  host: file-host\n")
    config = load({**BASE, "DATABASE_URL": url, "DB_HOST": "override", "KUBENODE_CONFIG": path})
    assert config["database.host"] == "override"
    assert config["database.port"] == 6543  # URL still beats the file and the default


def test_database_url_with_unsupported_scheme_is_a_clear_error():
    with pytest.raises(ConfigError, match="DATABASE_URL: database type 'mysql' is not supported"):
        load({**BASE, "DATABASE_URL": "mysql://u:p@h/db"})


def test_progress_variables(tmp_path):
    env = {
        **BASE, "DB_TYPE": "postgres",
        "PROGRESS_ENABLE_DATABASE": "true", "PROGRESS_NOTIFY_TYPE": "redis",
        "PROGRESS_POLL_INTERVAL": "750", "PROGRESS_REDIS_ADDR": "redis.svc:6380",
        "PROGRESS_REDIS_PASSWORD": "pw", "PROGRESS_REDIS_DB": "3",
        "PROGRESS_REDIS_SENTINEL_ADDRS": "s1:26379, s2:26379",
        "PROGRESS_REDIS_SENTINEL_MASTER_NAME": "kube",
    }
    config = load(env)
    assert config.notify_type == "redis"
    assert config["progress.poll_interval"] == 750
    assert config["progress.redis.addr"] == "redis.svc:6380"
    assert config["progress.redis.password"] == "pw"
    assert config["progress.redis.db"] == 3
    assert config["progress.redis.sentinel_addrs"] == ["s1:26379", "s2:26379"]
    assert config["progress.redis.sentinel_master_name"] == "kube"
    for key, name in [("progress.notify_type", "PROGRESS_NOTIFY_TYPE"), ("progress.redis.db", "PROGRESS_REDIS_DB")]:
        assert config.source(key) == f"env {name}"


def test_progress_from_file_and_defaults_by_database_type(tmp_path):
    path = write_config(tmp_path, """
database:
  type: postgres
progress:
  enable_database: true
  notify_type: polling
  poll_interval: 250
  redis:
    addr: "r:1234"
    db: 2
    sentinel_addrs: ["a:1", "b:2"]
""")
    config = load({**BASE, "KUBENODE_CONFIG": path})
    assert config.notify_type == "polling"
    assert config["progress.poll_interval"] == 250
    assert config["progress.redis.sentinel_addrs"] == ["a:1", "b:2"]
    assert config.source("progress.redis.db") == f"file {path}: progress.redis.db"
    # PostgreSQL without a notify_type: the postgres notifier; enable_database=false forces memory.
    assert load({**BASE, "DB_TYPE": "postgres"}).notify_type == "postgres"
    forced = load({**BASE, "DB_TYPE": "postgres", "PROGRESS_ENABLE_DATABASE": "false"})
    assert forced.notify_type == "memory"
    assert "enable_database=false" in forced.source("progress.notify_type")


def test_variables_in_the_file_are_expanded_from_the_environment(tmp_path):
    path = write_config(tmp_path, """
database:
  type: postgres
  host: "${PGHOST_FOR_TEST}"
  password: "${DB_PASSWORD_FROM_SECRET}"
  database: "${MISSING_DB_VAR:-fallback_db}"
  username: "prefix-${USER_SUFFIX}"
""")
    config = load({**BASE, "KUBENODE_CONFIG": path, "PGHOST_FOR_TEST": "pg.internal",
                   "DB_PASSWORD_FROM_SECRET": "hunter2", "USER_SUFFIX": "ops"})
    assert config["database.host"] == "pg.internal"
    assert config["database.password"] == "hunter2"
    assert config["database.database"] == "fallback_db"
    assert config["database.username"] == "prefix-ops"


@pytest.mark.parametrize("env,file_text,message", [
    ({"DB_PORT": "abc"}, None, "database.port: 'abc' from env DB_PORT is not a port number"),
    ({"DATABASE_PORT": "70000"}, None, "database.port: '70000' from env DATABASE_PORT is not a port number"),
    ({}, "database:\n  port: five\n", "database.port: 'five' from file {path}: database.port is not a port number"),
    ({"PROGRESS_NOTIFY_TYPE": "kafka"}, None,
     "progress.notify_type: 'kafka' from env PROGRESS_NOTIFY_TYPE is not one of: memory, postgres, redis, polling"),
    ({}, "progress:\n  notify_type: carrier-pigeon\n",
     "progress.notify_type: 'carrier-pigeon' from file {path}: progress.notify_type is not one of"),
    ({"DB_TYPE": "oracle"}, None, "database.type: 'oracle' from env DB_TYPE is not one of: postgres, sqlite"),
    ({"PROGRESS_POLL_INTERVAL": "fast"}, None, "progress.poll_interval: 'fast' from env PROGRESS_POLL_INTERVAL"),
    ({"PROGRESS_ENABLE_DATABASE": "maybe"}, None, "progress.enable_database: 'maybe' from env"),
    ({"DB_SSL_MODE": "sometimes"}, None, "database.ssl_mode: 'sometimes' from env DB_SSL_MODE is not one of"),
    ({"PROGRESS_NOTIFY_TYPE": "postgres"}, None, "progress.notify_type: 'postgres' from env PROGRESS_NOTIFY_TYPE "
                                                 "needs database.type postgres"),
    ({}, "database: [unclosed\n", "KUBENODE_CONFIG={path!r}: malformed YAML at line"),
    ({}, "- just\n- a list\n", "KUBENODE_CONFIG={path!r}: the file must hold a mapping of sections"),
], ids=["port-env", "port-range", "port-file", "notify-env", "notify-file", "db-type", "poll", "bool", "sslmode",
        "notify-needs-pg", "yaml", "not-mapping"])
def test_invalid_values_give_one_clear_line(tmp_path, env, file_text, message):
    full = {**BASE, **env}
    path = ""
    if file_text is not None:
        path = write_config(tmp_path, file_text)
        full["KUBENODE_CONFIG"] = path
    with pytest.raises(ConfigError) as info:
        load(full)
    text = str(info.value)
    assert "\n" not in text
    assert message.format(path=path) in text


def test_unreadable_config_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"KUBENODE_CONFIG='.*nope.yaml': cannot read the config file"):
        load({**BASE, "KUBENODE_CONFIG": str(missing)})


def test_secret_key_required_unless_debug():
    with pytest.raises(ConfigError, match="server.secret_key: not set .* DEBUG is off"):
        load({})
    assert load({"DEBUG": "true"})["server.debug"] is True


def test_configuration_reference_lists_every_key():
    from pathlib import Path

    from kubenode.config import reference_markdown

    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    generated = doc.split("<!-- keys: generated from kubenode/config.py (KEYS); a test keeps them equal -->\n")[1]
    assert generated.split("<!-- /keys -->")[0] == reference_markdown(), (
        "docs/configuration.md is out of date: regenerate the table with `manage.py config_show --reference`")
