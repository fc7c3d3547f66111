import tomllib
from pathlib import Path

import pytest

from app.config import ConfigError, Settings, load_settings
from app.redaction import redact_url

REPOSITORY_CONFIG = Path(__file__).resolve().parents[2] / "config.toml"


def test_config_toml_sets_every_key_to_its_documented_default() -> None:
    data = tomllib.loads(REPOSITORY_CONFIG.read_text())
    defaults = Settings().model_dump(mode="json")
    assert set(data) == set(defaults)
    for section, values in defaults.items():
        optional = {key for key, value in values.items() if value is None}  # shown commented out
        assert set(values) - optional <= set(data[section]) <= set(values), section
        for key in optional:
            assert f"# {key} = " in REPOSITORY_CONFIG.read_text(), f"{section}.{key} is not documented"
    assert load_settings(REPOSITORY_CONFIG, environ={}) == Settings()


def test_missing_file_means_defaults_unless_one_was_named(tmp_path: Path) -> None:
    assert load_settings(environ={}) == Settings()
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(environ={"FLOWPLANE_CONFIG": str(tmp_path / "nope.toml")})


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[api]\nport = 9000\n[auth]\nsession_ttl = "1h"\n')
    settings = load_settings(config, environ={"FLOWPLANE_API__PORT": "9100", "FLOWPLANE_EVENTS__ENABLED": "false"})
    assert settings.api.port == 9100
    assert settings.events.enabled is False
    assert settings.auth.session_ttl.total_seconds() == 3600


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"FLOWPLANE_API__PORT": "eighty"}, "api.port (from FLOWPLANE_API__PORT): "),
        ({"FLOWPLANE_API__PORT": "70000"}, "api.port (from FLOWPLANE_API__PORT): Input should be less than"),
        ({"FLOWPLANE_AUTH__SESSION_TTL": "12 hours"}, "auth.session_ttl (from FLOWPLANE_AUTH__SESSION_TTL): expected a"
                                                      " duration"),
        ({"FLOWPLANE_AUTH__LOGIN_RATE_LIMIT": "lots"}, "auth.login_rate_limit (from FLOWPLANE_AUTH__LOGIN_RATE_LIMIT):"
                                                       " expected a rate"),
        ({"FLOWPLANE_API__PROT": "1"}, "FLOWPLANE_API__PROT: unknown key api.prot (did you mean 'port'?)"),
        ({"FLOWPLANE_APU__PORT": "1"}, "FLOWPLANE_APU__PORT: unknown setting"),
        ({"FLOWPLANE_API_PORT": "1"}, "FLOWPLANE_API_PORT: unknown setting"),
        ({"FLOWPLANE_API__LOG_LEVEL": "loud"}, "api.log_level (from FLOWPLANE_API__LOG_LEVEL): Input should be"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key(environ: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(environ=environ)
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_file_errors_name_the_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[database]\nurll = 'x'\n")
    expected = r"database.urll \(from .*config.toml\): unknown setting \(did you mean 'url'"
    with pytest.raises(ConfigError, match=expected):
        load_settings(config, environ={})
    config.write_text("[database\n")
    with pytest.raises(ConfigError, match=r"config.toml: .*line 1"):
        load_settings(config, environ={})


def test_secrets_in_urls_are_never_echoed() -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(environ={"FLOWPLANE_DATABASE__URL": "1234"} | {"FLOWPLANE_DATABASE__POOL_SIZE": "0"})
    assert "1234" not in str(error.value)
    assert redact_url("postgresql://app:hunter2@db:5432/app") == "postgresql://app:***@db:5432/app"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_loading_builds_nothing_at_import() -> None:
    import subprocess
    import sys

    code = "import app.config, app.api.app, app.cli, app.bootstrap, gc, sqlalchemy; " \
           "print(sum(isinstance(o, sqlalchemy.Engine) for o in gc.get_objects()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "0"


def test_flowplane_config_prints_no_secret(tmp_path: Path) -> None:
    from tests.cli import invoke

    secrets = ["smtp-Pa55word", "url-Pa55word", "query-Pa55word", "redis-t0ken", "metrics-t0ken", "mgmt-Pa55word"]
    env = {"FLOWPLANE_EMAIL__SMTP_PASSWORD": secrets[0],
           "FLOWPLANE_DATABASE__URL": f"postgresql://app:{secrets[1]}@db/app?sslmode=require&Password={secrets[2]}",
           "FLOWPLANE_REDIS__URL": f"redis://db:6379/0?token={secrets[3]}",
           "FLOWPLANE_API__METRICS_TOKEN": secrets[4],
           "FLOWPLANE_RABBITMQ__MANAGEMENT_URL": f"http://guest:{secrets[5]}@rabbit:15672/"}
    ran = invoke(["config"], env, tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert [secret for secret in secrets if secret in ran.stdout] == []
    assert "sslmode=require" in ran.stdout and 'smtp_password = "***"' in ran.stdout


def test_flowplane_config_says_which_keys_are_unset_and_stays_valid_toml(tmp_path: Path) -> None:
    import tomllib

    from tests.cli import invoke

    ran = invoke(["config"], {}, tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert '= ""' not in ran.stdout and "None" not in ran.stdout
    assert "# url is not set: redis:// URL; empty keeps everything embedded (no Redis)." in ran.stdout
    assert "# smtp_password is not set: " in ran.stdout
    printed = tomllib.loads(ran.stdout)
    assert printed["api"]["port"] == 8000 and "url" not in printed["redis"]


def test_an_empty_metrics_token_is_unset_not_a_secret_an_empty_bearer_matches() -> None:
    assert load_settings(environ={"FLOWPLANE_API__METRICS_TOKEN": ""}).api.metrics_token is None
    token = load_settings(environ={"FLOWPLANE_API__METRICS_TOKEN": "s3cret"}).api.metrics_token
    assert token is not None and token.get_secret_value() == "s3cret"


def test_flowplane_config_prints_an_empty_value_set_over_a_default_that_is_not(tmp_path: Path) -> None:
    from tests.cli import invoke

    ran = invoke(["config"], {"FLOWPLANE_API__FORWARDED_ALLOW_IPS": ""}, tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert 'forwarded_allow_ips = ""' in ran.stdout  # printed back as config, it keeps meaning "trust no proxy"
