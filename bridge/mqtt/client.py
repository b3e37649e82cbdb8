"""The one place an aiomqtt client is built (the bridge's session and the one-shot commands alike),
and the broker's errors turned into a sentence a user can act on."""

from __future__ import annotations

import ssl

import aiomqtt

from bridge.config.models import MqttSettings, TlsSettings
from bridge.events import Publication

#: How long a connect may take before it counts as failed.
CONNECT_TIMEOUT_SECONDS = 10.0


def build_client(settings: MqttSettings, *, client_id: str, timeout: float = CONNECT_TIMEOUT_SECONDS,
                 will: Publication | None = None, persistent: bool = False) -> aiomqtt.Client:
    """A client with the bridge's broker, credentials and TLS.

    `persistent`: the bridge's own session (clean session off), so that while it is away the broker
    queues its QoS 1 messages and redelivers the ones received but not acknowledged. The one-shot
    commands pass their own `client_id`: the bridge's would make the broker disconnect the bridge.
    """
    return aiomqtt.Client(
        settings.host, settings.port,
        username=settings.username,
        password=settings.password.get_secret_value() if settings.password else None,
        identifier=client_id,
        keepalive=settings.keepalive,
        will=aiomqtt.Will(will.topic, will.payload, qos=will.qos, retain=will.retain) if will is not None else None,
        timeout=timeout,
        tls_context=tls_context(settings.tls) if settings.tls is not None else None,
        tls_insecure=settings.tls.insecure if settings.tls is not None else None,
        clean_session=False if persistent else None,
    )


def tls_context(settings: TlsSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    if settings.cert_file is not None and settings.key_file is not None:
        context.load_cert_chain(str(settings.cert_file), str(settings.key_file))
    return context


#: The broker's CONNACK codes for a refused login: MQTT 3.1.1 (4, 5) and MQTT 5 / paho's
#: `ReasonCode` (134 bad user name or password, 135 not authorized).
_LOGIN_REFUSED = {4, 5, 134, 135}


def describe_error(exc: BaseException) -> str:
    """One line a user can act on, for the errors a broker connection really meets.

    Decided from the error's type and code, never its wording: aiomqtt raises connect failures as
    `MqttError(str(os_error)) from None`, so the socket's own error is its `__context__`.
    """
    cause = exc.__context__ if isinstance(exc, aiomqtt.MqttError) and exc.__context__ is not None else exc
    text = str(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"the broker's TLS certificate is not trusted ({text}); check mqtt.tls.ca_file"
    if isinstance(exc, aiomqtt.MqttCodeError) and _code(exc.rc) in _LOGIN_REFUSED:
        return f"the broker refused the login ({text}); check mqtt.username and mqtt.password"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused: is the broker running and listening on that port?"
    return text or type(exc).__name__


def _code(rc: object) -> int | None:
    value = getattr(rc, "value", rc)  # a paho ReasonCode, or a plain int
    return value if isinstance(value, int) else None
