"""Log redaction: no token, credential header, secret field or traceback secret in a log."""

from __future__ import annotations

import io
import logging
import logging.config
from collections.abc import Iterator

import pytest
import structlog
from uvicorn.logging import AccessFormatter

from tokenveil import logs
from tokenveil.logs import RedactingFilter, RedactingFormatter, default_chain


@pytest.fixture
def chain() -> logs.RedactionChain:
    return default_chain(pii=False)


@pytest.fixture
def stream_logger(chain: logs.RedactionChain) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A module logger with its own handler, the redaction filter attached to the handler."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(chain))
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s %(extra_field)s"))
    logger = logging.getLogger("tests.edge.app")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_jwt_in_message_args_is_redacted_on_module_logger_handler(
    stream_logger: tuple[logging.Logger, io.StringIO], jwt_canary: str
) -> None:
    """A JWT passed as a %-arg to a module logger never reaches its handler's output."""
    logger, stream = stream_logger
    logger.info("verified %s for %s", jwt_canary, "u1", extra={"extra_field": "-"})
    out = stream.getvalue()
    assert jwt_canary not in out
    assert "[JWT]" in out
    assert "u1" in out


def test_authorization_and_cookie_headers_are_redacted_in_dict_and_asgi_forms(
    chain: logs.RedactionChain, jwt_canary: str, opaque_canary: str
) -> None:
    """Credential headers are masked as dict repr, ASGI header pairs and raw header lines."""
    forms = [
        repr({"authorization": f"Bearer {opaque_canary}", "host": "api"}),
        repr([(b"authorization", f"DPoP {opaque_canary}".encode()), (b"host", b"api")]),
        f"Cookie: __Host-session={opaque_canary}; theme=dark",
        f"Proxy-Authorization: Basic {opaque_canary}",
        f"sent Authorization: Bearer {jwt_canary}",
    ]
    for form in forms:
        out = chain(form)
        assert opaque_canary not in out
        assert jwt_canary not in out
        assert "[REDACTED]" in out
    assert "'host': 'api'" in chain(forms[0])


def test_secret_fields_and_query_tokens_are_redacted(
    chain: logs.RedactionChain, opaque_canary: str
) -> None:
    """refresh_token=, "password": "..." and ?access_token= lose their values, keep their names."""
    texts = [
        f"GET /items?page=2&access_token={opaque_canary}&x=1",
        f'body {{"grant_type": "refresh_token", "refresh_token": "{opaque_canary}"}}',
        f"password='{opaque_canary} with spaces'",
        f"client_secret={opaque_canary}",
    ]
    for text in texts:
        out = chain(text)
        assert opaque_canary not in out
        assert "with spaces" not in out
    assert chain(texts[0]).endswith("?page=2&access_token=[REDACTED]&x=[REDACTED]")
    assert '"grant_type": "refresh_token"' in chain(texts[1])


def test_chain_is_idempotent(
    chain: logs.RedactionChain, opaque_canary: str, jwt_canary: str
) -> None:
    """Redacting redacted text changes nothing; placeholders are never redacted again."""
    text = chain(f"GET /me?access_token={opaque_canary} Authorization: Bearer {opaque_canary}")
    assert chain(text) == text
    assert (
        chain(f"GET /me?access_token={jwt_canary}&q=1") == "GET /me?access_token=[JWT]&q=[REDACTED]"
    )


def test_ordinary_messages_are_left_unchanged(chain: logs.RedactionChain) -> None:
    """Redaction has no false positive on a typical operational line."""
    text = "user 42 got /orders?page=2 in 3.2 ms (token endpoint ok, authorization, cookie)"
    assert chain(text) == text


def test_exception_traceback_is_scrubbed(
    stream_logger: tuple[logging.Logger, io.StringIO], jwt_canary: str
) -> None:
    """logger.exception() keeps the frames but not the JWT held in the exception message."""
    logger, stream = stream_logger
    try:
        raise ValueError(f"cannot decode {jwt_canary}")
    except ValueError:
        logger.exception("failed", extra={"extra_field": "-"})
    out = stream.getvalue()
    assert jwt_canary not in out
    assert "Traceback (most recent call last)" in out
    assert "ValueError: cannot decode [JWT]" in out


def test_exception_messages_can_be_dropped(opaque_canary: str) -> None:
    """messages="drop" keeps type and frames, removes the message and chained causes' messages."""
    try:
        try:
            raise KeyError(opaque_canary)
        except KeyError as inner:
            raise RuntimeError(opaque_canary) from inner
    except RuntimeError as exc:
        text = logs.scrub_exception(exc, default_chain(pii=False), messages="drop")
    assert opaque_canary not in text
    assert "KeyError: [message dropped]" in text
    assert "RuntimeError: [message dropped]" in text


def test_extra_fields_are_redacted(
    stream_logger: tuple[logging.Logger, io.StringIO], opaque_canary: str, jwt_canary: str
) -> None:
    """extra= fields are redacted: secret names replaced whole, other values scanned."""
    logger, stream = stream_logger
    logger.info(
        "login",
        extra={"extra_field": {"auth": f"Bearer {jwt_canary}"}, "refresh_token": opaque_canary},
    )
    out = stream.getvalue()
    assert jwt_canary not in out
    record_holder: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            record_holder.append(record)

    keep = Keep()
    keep.addFilter(RedactingFilter(default_chain(pii=False)))
    logger.addHandler(keep)
    logger.info("again", extra={"extra_field": "-", "refresh_token": opaque_canary})
    logger.removeHandler(keep)
    assert record_holder[0].__dict__["refresh_token"] == "[REDACTED]"


def test_install_redacts_handlers_configured_later_and_is_idempotent(jwt_canary: str) -> None:
    """After install(), a logger whose handler is added later still writes no JWT; twice is once."""
    first = logs.install(default_chain(pii=False))
    assert logs.install() is first
    stream = io.StringIO()
    logger = logging.getLogger("tests.edge.later")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("token was %s", jwt_canary)
    finally:
        logger.removeHandler(handler)
    assert jwt_canary not in stream.getvalue()
    assert "token was [JWT]" in stream.getvalue()


def test_formatter_wrapper_redacts_the_rendered_line(jwt_canary: str) -> None:
    """RedactingFormatter redacts what any inner formatter renders, extras included."""
    formatter = RedactingFormatter(
        logging.Formatter("%(message)s %(who)s"), default_chain(pii=False)
    )
    record = logging.makeLogRecord({"msg": "hello", "who": f"Bearer {jwt_canary}"})
    out = formatter.format(record)
    assert jwt_canary not in out
    assert out.startswith("hello Bearer [REDACTED]")


def test_uvicorn_access_line_keeps_its_shape_without_query_token(opaque_canary: str) -> None:
    """uvicorn's AccessFormatter still works (args kept) and the query token is gone."""
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/me?access_token={opaque_canary}", "1.1", 400),
        None,
    )
    RedactingFilter(default_chain(pii=False)).filter(record)
    out = AccessFormatter('%(client_addr)s "%(request_line)s" %(status_code)s').format(record)
    assert opaque_canary not in out
    assert "GET /me?access_token=[REDACTED] HTTP/1.1" in out


def test_uvicorn_log_config_installs_the_filter_on_uvicorn_handlers(opaque_canary: str) -> None:
    """dictConfig(uvicorn_log_config()) makes uvicorn's own access logger redact tokens."""
    stream = io.StringIO()
    config = logs.uvicorn_log_config()
    for handler in config["handlers"].values():
        handler["stream"] = stream
    logs.install(default_chain(pii=False))
    logging.config.dictConfig(config)
    try:
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:1",
            "GET",
            f"/x?token={opaque_canary}",
            "1.1",
            400,
        )
    finally:
        for name in ("uvicorn", "uvicorn.access"):
            logging.getLogger(name).handlers.clear()
    assert "token=[REDACTED]" in stream.getvalue()
    assert opaque_canary not in stream.getvalue()


def test_structlog_processor_redacts_values_keys_and_exceptions(
    jwt_canary: str, opaque_canary: str
) -> None:
    """As a structlog processor: values scanned, secret keys replaced, exc_info scrubbed."""
    captured = structlog.testing.CapturingLogger()
    logger = structlog.wrap_logger(
        captured, processors=[logs.StructlogRedactor(default_chain(pii=False))]
    )
    try:
        raise RuntimeError(f"bad {jwt_canary}")
    except RuntimeError:
        logger.error(
            "refresh failed", token_value=jwt_canary, password=opaque_canary, exc_info=True
        )
    call = captured.calls[0]
    rendered = repr(call)
    assert jwt_canary not in rendered
    assert opaque_canary not in rendered
    assert call.kwargs["password"] == "[REDACTED]"
    assert "RuntimeError: bad [JWT]" in call.kwargs["exception"]


def test_capture_logs_sees_non_propagating_loggers_and_reflects_install(jwt_canary: str) -> None:
    """capture_logs() sees uvicorn.access-style loggers; raw before install(), redacted after."""
    logger = logging.getLogger("tests.edge.nopropagate")
    logger.propagate = False
    with logs.capture_logs() as raw:
        logger.info("t=%s", jwt_canary)
    assert any(jwt_canary in entry.text for entry in raw)
    logs.install(default_chain(pii=False))
    with logs.capture_logs() as redacted:
        logger.info("t=%s", jwt_canary)
    assert redacted
    assert all(jwt_canary not in entry.text for entry in redacted)
    assert redacted[0].logger == "tests.edge.nopropagate"


def test_query_values_are_redacted_except_harmless_parameters(chain: logs.RedactionChain) -> None:
    """Search terms in URLs (names no detector knows) are dropped; paging parameters stay."""
    out = chain('"GET /search?q=Quorvina+Tesselbrook&page=3&limit=20 HTTP/1.1" 200')
    assert "Quorvina" not in out
    assert "?q=[REDACTED]&page=3&limit=20 HTTP/1.1" in out


def test_personal_data_is_masked_by_the_pii_engine() -> None:
    """With the engine: emails, phones and cards in messages, even percent-encoded, are masked."""
    chain = default_chain()
    email = "zq.canary.logs@leak-test.example"
    out = chain(f"user {email} called from +33 6 41 27 93 58 paying 4539 1488 0343 6467")
    assert email not in out
    assert "41 27 93 58" not in out
    assert "0343 6467" not in out
    assert "[EMAIL]" in out
    encoded = chain('"GET /users/zq.canary.logs%40leak-test.example HTTP/1.1" 404')
    assert "zq.canary.logs" not in encoded
    assert "/users/[EMAIL]" in encoded


def test_bare_refresh_tokens_are_redacted(chain: logs.RedactionChain) -> None:
    """A tvr_ refresh token logged without any key name around it is still removed."""
    token = "tvr_" + "Zm9vYmFyYmF6cXV4" * 3
    out = chain(f"rotated {token} for usr_1")
    assert token not in out
    assert out == "rotated [REFRESH_TOKEN] for usr_1"


def test_capture_logs_sees_loggers_configured_inside_the_block() -> None:
    """A logger made non-propagating after capture started (dictConfig in a lifespan) is seen."""
    logger = logging.getLogger("tests.edge.late.child")
    parent = logging.getLogger("tests.edge.late")
    with logs.capture_logs() as captured:
        parent.propagate = False
        try:
            logger.warning("late %s", "line")
        finally:
            parent.propagate = True
    assert [entry.message for entry in captured] == ["late line"]
