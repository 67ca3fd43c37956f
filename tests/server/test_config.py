"""Settings: secrets never in repr, str or log dicts; every duration bounded, errors name only."""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import pytest

from tokenveil.config import Settings, mask_url
from tokenveil.errors import ConfigurationError

PASSWORD = "s3cr3t-Pa55word"
DB_URL = f"postgresql+asyncpg://app:{PASSWORD}@db.internal:5432/tokenveil"
REDIS_URL = f"redis://:{PASSWORD}@cache.internal:6379/0"


def test_settings_repr_str_and_log_dict_never_hold_url_passwords() -> None:
    """A password in database_url or redis_url never reaches repr, str or as_log_dict."""
    settings = Settings(database_url=DB_URL, redis_url=REDIS_URL, kek="A" * 43)
    for text in (repr(settings), str(settings), f"{settings}", repr(settings.as_log_dict())):
        assert PASSWORD not in text
        assert "A" * 43 not in text
    logged = settings.as_log_dict()
    assert logged["database_url"] == "postgresql+asyncpg://app:***@db.internal:5432/tokenveil"
    assert logged["redis_url"] == "redis://:***@cache.internal:6379/0"
    assert "kek" not in logged
    assert settings.sqlalchemy_url == DB_URL  # the real value is still there for the engine


def test_logging_the_settings_never_writes_the_password(caplog: pytest.LogCaptureFixture) -> None:
    """A careless log.info("%s", settings) is safe."""
    settings = Settings(database_url=DB_URL)
    with caplog.at_level(logging.INFO):
        logging.getLogger("tokenveil.test").info("settings: %s %r", settings, settings)
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://app@db/x?password={PASSWORD}",
        f"redis://default:{PASSWORD}@[::1]:6379",
        f"postgresql://app:{PASSWORD}@db:notaport/x",
    ],
)
def test_mask_url_hides_passwords_in_query_and_odd_urls(url: str) -> None:
    """Query-string passwords and unparsable ports are masked too."""
    assert PASSWORD not in mask_url(url)


#: Each holds a character that ends the authority for urlsplit, or that a naive parser splits on.
ODD_PASSWORDS = [
    "Zq9slash/Kx7Vb",
    "Zq9query?Kx7Vb",
    "Zq9hash#Kx7Vb",
    "Zq9at@Kx7Vb",
    "Zq9pct%41Kx7Vb",
    "Zq9colon:Kx7Vb",
    "Zq9/all?of#them@at%2Fonce:Kx7Vb",
]


@pytest.mark.parametrize("password", ODD_PASSWORDS)
def test_url_passwords_with_delimiters_never_reach_repr_str_or_log_dict(password: str) -> None:
    """A password holding '/', '?', '#', '@', '%' or ':' unescaped is masked whole in
    database_url and redis_url (urlsplit ends the authority at the first '/', '?' or '#')."""
    db_url = f"postgresql+asyncpg://app:{password}@db.internal:5432/tv"
    redis_url = f"redis://default:{password}@cache.internal:6379/0"
    settings = Settings(database_url=db_url, redis_url=redis_url)
    logged = settings.as_log_dict()
    texts = (repr(settings), str(settings), f"{settings}", repr(logged), str(logged))
    for text in texts:
        assert password not in text
        for piece in ("Zq9", "Kx7Vb"):  # no fragment of the password either
            assert piece not in text
    assert logged["database_url"] == "postgresql+asyncpg://app:***@db.internal:5432/tv"
    assert logged["redis_url"] == "redis://default:***@cache.internal:6379/0"
    assert settings.sqlalchemy_url == db_url


def test_mask_url_keeps_urls_without_secrets_readable() -> None:
    """No userinfo, no secret query: the URL is shown as it is (SQLite paths included)."""
    for url in ("sqlite+aiosqlite:////srv/tv.sqlite3", "redis://cache:6379/0", "memory://"):
        assert mask_url(url) == url
    assert mask_url("redis://cache/0?password=x@y") == "redis://***@y"


@pytest.mark.parametrize(
    "name",
    [
        "access_ttl",
        "refresh_idle_ttl",
        "refresh_absolute_ttl",
        "key_rotation_period",
        "state_poll_interval",
        "purge_expired_interval",
        "token_rate_window",
    ],
)
@pytest.mark.parametrize("value", [0, -1, math.inf, math.nan, True])
def test_durations_must_be_finite_and_positive(name: str, value: float) -> None:
    """Zero, negative, infinite, NaN or boolean durations are refused, the setting named."""
    with pytest.raises(ConfigurationError) as info:
        Settings(**{name: value})  # type: ignore[arg-type]
    assert name in str(info.value)


@pytest.mark.parametrize("value", [-1, 61, math.inf, math.nan])
def test_leeway_is_between_0_and_60_seconds(value: float) -> None:
    """More than a minute of clock skew only hides a broken clock."""
    with pytest.raises(ConfigurationError, match="leeway"):
        Settings(leeway=value)  # type: ignore[arg-type]


def test_leeway_bounds_are_accepted() -> None:
    """0 and 60 are both fine."""
    assert Settings(leeway=0).leeway == 0
    assert Settings(leeway=60).leeway == 60


def test_state_poll_interval_at_most_60_seconds() -> None:
    """A poll slower than a minute delays every revocation and kill switch too long."""
    with pytest.raises(ConfigurationError, match="state_poll_interval"):
        Settings(state_poll_interval=61)
    assert Settings(state_poll_interval=60).state_poll_interval == 60


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("TOKENVEIL_STATE_POLL_INTERVAL", "nan"),
        ("TOKENVEIL_LEEWAY", "3600"),
        ("TOKENVEIL_ACCESS_TTL", "inf"),
        ("TOKENVEIL_PURGE_EXPIRED_INTERVAL", "-5"),
        ("TOKENVEIL_TOKEN_RATE_WINDOW", "inf"),
        ("TOKENVEIL_TOKEN_RATE_PER_ADDRESS", "0"),
        ("TOKENVEIL_TOKEN_RATE_PER_CLIENT", "-3"),
    ],
)
def test_bad_environment_values_are_clean_configuration_errors(variable: str, raw: str) -> None:
    """From the environment, a bad duration is one ConfigurationError naming the setting."""
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({variable: raw})
    assert variable.removeprefix("TOKENVEIL_").lower() in str(info.value)
    assert raw not in str(info.value)


@pytest.mark.parametrize("name", ["token_rate_per_address", "token_rate_per_client"])
@pytest.mark.parametrize("value", [0, -1, 2.5, math.inf, math.nan, True])
def test_token_rate_limits_are_positive_whole_numbers(name: str, value: float) -> None:
    """A rate limit of zero, below zero, fractional, infinite or boolean is refused, named."""
    with pytest.raises(ConfigurationError) as info:
        Settings(**{name: value})  # type: ignore[arg-type]
    assert name in str(info.value)


def test_token_rate_limits_from_the_environment() -> None:
    """TOKENVEIL_TOKEN_RATE_* set the limits; the defaults are 200 per address and 1000 per
    client in 10 s windows."""
    assert (
        Settings().token_rate_per_address,
        Settings().token_rate_per_client,
        Settings().token_rate_window,
    ) == (200, 1000, 10.0)
    settings = Settings.from_env(
        {
            "TOKENVEIL_TOKEN_RATE_PER_ADDRESS": "5",
            "TOKENVEIL_TOKEN_RATE_PER_CLIENT": "7",
            "TOKENVEIL_TOKEN_RATE_WINDOW": "2.5",
        }
    )
    assert settings.token_rate_per_address == 5
    assert settings.token_rate_per_client == 7
    assert settings.token_rate_window == 2.5


def test_a_bad_secret_setting_is_named_but_never_echoed() -> None:
    """An invalid value of a secret setting is refused without repeating it."""
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({"TOKENVEIL_DATABASE_URL": DB_URL, "TOKENVEIL_LEEWAY": PASSWORD})
    assert "leeway" in str(info.value)
    assert PASSWORD not in str(info.value)
    assert PASSWORD not in repr(info.value)


def test_replace_keeps_validation_and_masking(tmp_path: Path) -> None:
    """A copy made with replace() is validated and masked like the original."""
    settings = Settings(data_dir=tmp_path).replace(database_url=DB_URL)
    assert PASSWORD not in repr(settings)
    assert dataclasses.is_dataclass(settings)
    with pytest.raises(ConfigurationError):
        settings.replace(leeway=120)


@pytest.mark.parametrize("value", [0, -1, 2.5, math.inf, math.nan, True])
def test_the_per_username_failure_budget_is_a_positive_whole_number(value: float) -> None:
    """token_rate_failures_per_username is validated like the other budgets: named, refused."""
    with pytest.raises(ConfigurationError) as info:
        Settings(token_rate_failures_per_username=value)  # type: ignore[arg-type]
    assert "token_rate_failures_per_username" in str(info.value)


def test_the_per_username_failure_budget_from_the_environment() -> None:
    """TOKENVEIL_TOKEN_RATE_FAILURES_PER_USERNAME sets it (default 10 per window); a bad value
    is a ConfigurationError naming the setting, not its value."""
    assert Settings().token_rate_failures_per_username == 10
    env = {"TOKENVEIL_TOKEN_RATE_FAILURES_PER_USERNAME": "4"}
    assert Settings.from_env(env).token_rate_failures_per_username == 4
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({"TOKENVEIL_TOKEN_RATE_FAILURES_PER_USERNAME": "-7"})
    assert "token_rate_failures_per_username" in str(info.value)
    assert "-7" not in str(info.value)
