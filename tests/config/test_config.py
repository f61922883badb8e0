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


# --- a PostgreSQL host without a type, and the type that contradicts it

@pytest.mark.parametrize("name", ["DB_HOST", "DATABASE_HOST", "DB_PORT", "DB_USERNAME", "DB_USER", "DB_PASSWORD",
                                  "DATABASE_PASSWORD"])
def test_a_connection_variable_without_a_type_means_postgres(name):
    config = load({**BASE, name: "5432" if "PORT" in name else "value"})
    assert config.database_type == "postgres"
    assert config.source("database.type") == f"inferred from {name}"
    assert config.notify_type == "postgres"


def test_a_connection_key_in_the_file_without_a_type_means_postgres(tmp_path):
    path = write_config(tmp_path, "database:\n  host: pg.internal\n  database: kube_node_manager\n")
    config = load({**BASE, "KUBENODE_CONFIG": path})
    assert (config.database_type, config["database.database"]) == ("postgres", "kube_node_manager")
    assert config.source("database.type") == f"inferred from file {path}: database.host"


def test_a_database_name_alone_keeps_sqlite():
    config = load({**BASE, "DB_DATABASE": "/tmp/kubenode-test.sqlite3"})
    assert config.database_type == "sqlite" and config.source("database.type") == "default"


@pytest.mark.parametrize("type_env,host_env", [({"DB_TYPE": "sqlite"}, {"DB_HOST": "pg"}),
                                               ({"DATABASE_TYPE": "sqlite3"}, {"DB_PASSWORD": "pw"})])
def test_sqlite_with_a_postgresql_setting_stops_with_one_line_naming_both(type_env, host_env):
    with pytest.raises(ConfigError) as info:
        load({**BASE, **type_env, **host_env})
    text = str(info.value)
    assert "\n" not in text
    assert f"from env {next(iter(type_env))}" in text and f"from env {next(iter(host_env))}" in text
    assert "pw" not in text.replace("PostgreSQL", "").replace("password", "")


# --- unknown keys and variables: warnings naming the nearest known key

def test_unknown_file_keys_are_warnings_naming_the_nearest_known_key(tmp_path):
    path = write_config(tmp_path, """
database:
  type: postgres
  hots: db.internal
progress:
  notify_type: redis
  redis:
    enabled: false
    adress: "r:6379"
""")
    config = load({**BASE, "KUBENODE_CONFIG": path})
    warnings = "\n".join(config.warnings)
    assert len(config.warnings) == 3, warnings
    assert f"unknown key database.hots in config file {path} is ignored; nearest known key: database.host" in warnings
    assert "unknown key progress.redis.adress" in warnings and "nearest known key: progress.redis.addr" in warnings
    assert "unknown key progress.redis.enabled" in warnings and "progress.notify_type" in warnings


def test_unknown_own_prefixed_variables_are_warnings_and_others_are_not():
    env = {**BASE, "PROGRESS_REDIS_ENABLED": "false", "DB_HOSTNAME": "x", "DATABASE_PROT": "1",
           "PROGRESS_NOTIFYTYPE": "redis", "HOME": "/root", "REDIS_URL": "x", "DATABASE_URL": ""}
    config = load(env)
    by_name = {w.split()[3]: w for w in config.warnings}
    assert set(by_name) == {"PROGRESS_REDIS_ENABLED", "DB_HOSTNAME", "DATABASE_PROT", "PROGRESS_NOTIFYTYPE"}
    assert by_name["PROGRESS_REDIS_ENABLED"].endswith("nearest known variable: PROGRESS_NOTIFY_TYPE")
    assert by_name["DB_HOSTNAME"].endswith("nearest known variable: DB_HOST")
    assert by_name["DATABASE_PROT"].endswith("nearest known variable: DATABASE_PORT")
    assert by_name["PROGRESS_NOTIFYTYPE"].endswith("nearest known variable: PROGRESS_NOTIFY_TYPE")


def test_every_known_variable_and_key_is_quiet(tmp_path):
    from kubenode.config import KEYS

    env = {**BASE, "DB_TYPE": "postgres"}
    for key in KEYS:
        for name in key.env:
            if name.startswith(("DB_", "DATABASE_", "PROGRESS_")) and name not in env:
                env[name] = ""  # present but empty: still a known name
    assert load(env).warnings == ()


# --- the config file without KUBENODE_CONFIG

def test_config_file_found_in_the_usual_locations(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    etc = tmp_path / "etc" / "config.yaml"
    locations = ("configs/config.yaml", str(etc))
    assert load(dict(BASE), config_locations=locations).config_file is None
    etc.parent.mkdir()
    etc.write_text("database:\n  type: postgres\n")
    config = load(dict(BASE), config_locations=locations)
    assert config.config_file == str(etc) and config.database_type == "postgres"
    assert config.describe_file() == f"{etc} (found at {etc} (KUBENODE_CONFIG not set))"
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "config.yaml").write_text("progress:\n  poll_interval: 250\n")
    config = load(dict(BASE), config_locations=locations)
    assert config.config_file == str(tmp_path / "configs" / "config.yaml")
    assert config["progress.poll_interval"] == 250 and config.database_type == "sqlite"
    assert config.source("progress.poll_interval") == f"file {config.config_file}: progress.poll_interval"
    # KUBENODE_CONFIG wins over both
    named = write_config(tmp_path, "progress:\n  poll_interval: 300\n")
    assert load({**BASE, "KUBENODE_CONFIG": named}, config_locations=locations)["progress.poll_interval"] == 300


def test_the_default_locations_are_the_documented_ones():
    from kubenode.config import CONFIG_FILE_LOCATIONS

    assert CONFIG_FILE_LOCATIONS == ("configs/config.yaml", "/etc/kubenode/config.yaml")
