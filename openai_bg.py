#!/usr/bin/env python3
"""openai_bg: run OpenAI background responses from plain synchronous Python.

Long Responses API jobs (deep research with ``o3-deep-research`` or
``o4-mini-deep-research``, long reasoning runs) are started in *background
mode* and then polled or streamed until they finish, or cancelled.  This
module does that and nothing else, in one file that needs nothing but the
Python standard library (3.7 or newer), so it can be copied into any
repository, cron job or locked-down host::

    import openai_bg

    result = openai_bg.create_and_wait(
        model="o4-mini-deep-research", tools=[{"type": "web_search_preview"}],
        input="Summarise this week's fusion news", timeout=3600,
        on_update=lambda r: print(r.response_id, r.status))  # the id first
    print(result.text)
    for source in result.citations:
        print(source.title, source.uri)

Results are :class:`LlmResponse` dataclasses shaped like the ``LlmResponse`` of
the adk-rust reference implementation; ``to_dict()`` gives its exact JSON.
Scripts call the module-level functions, which share one :class:`Client` built
from the environment (``OPENAI_API_KEY``, ``OPENAI_BASE_URL`` ...);
applications build their own :class:`Client`.  Many jobs at once:
:func:`as_completed` / :func:`wait_many`.  ``Client(journal=True)`` records
every job in a local SQLite :class:`Journal`, so that no id dies with its
process.  Webhook deliveries are checked with :func:`verify_webhook` /
:func:`unwrap_webhook`.

Run ``python openai_bg.py --help`` for the command-line tool.

The file reads top to bottom: constants, errors, data types, the
:class:`Client`, the module-level functions, streams, waiting (one job, then
many), webhooks, the journal; then the internals (conversion, redaction, the
retry policy, the transport) and last the command line.  Each rule lives in
one named place: the retry policy in :func:`_retry_decision`, "pending or
final" in :data:`PENDING_STATUSES`, redaction in :func:`redact`, every
socket in :class:`_Transport`.  The command line uses only the public names
above it (it could be cut out into its own file).

License: MIT.
"""

from __future__ import annotations

import collections
import io
import json
import logging
import os
import re
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field, fields
from enum import Enum

__version__ = "0.3.0"

__all__ = [
    # client and module-level functions
    "Client", "poll_response", "cancel_response", "create_response",
    "wait_response", "create_and_wait", "stream_response",
    "create_response_stream", "verify_webhook", "unwrap_webhook",
    "delete_response", "as_completed", "wait_many", "Outcome",
    "ResponseStream",
    # the journal
    "Journal", "JournalEntry", "JournalError", "default_journal_path",
    "JOURNAL_SCHEMA", "JOURNAL_OFF", "JOURNAL_STATUSES",
    # data types
    "LlmResponse", "Content", "TextPart", "ThinkingPart", "FunctionCallPart",
    "ServerToolCallPart", "ServerToolResponsePart", "UsageMetadata",
    "CitationMetadata", "CitationSource", "FinishReason",
    # errors
    "OpenAIError", "APIError", "APIStatusError", "BadRequestError",
    "AuthenticationError", "PermissionDeniedError", "NotFoundError",
    "ConflictError", "UnprocessableEntityError", "RateLimitError",
    "InternalServerError", "RedirectError", "APIConnectionError",
    "APITimeoutError", "APIResponseDecodeError", "ResponseTooLargeError",
    "WaitTimeoutError", "InvalidWebhookSignatureError",
    "InvalidWebhookPayloadError", "SettingError", "JobInterrupted",
    # interrupts, ids, redaction
    "HeldInterrupts", "interrupt_on_signals", "check_response_id", "redact",
    # constants
    "DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_RESPONSE_BYTES", "DEFAULT_WEBHOOK_TOLERANCE",
    "MIN_POLL_INTERVAL", "PENDING_STATUSES", "RETRYABLE_STATUSES",
    "QUEUED_WARNING_SECONDS",
]

# Typing is for the checker only: importing ``typing`` at run time would cost
# import time that a cron job pays on every start.
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    import argparse
    import email.message
    import http.client
    import http.server
    import types
    import socket
    import ssl
    from typing import (Any, Callable, Deque, Dict, Iterable, Iterator, List,
                        Mapping, NoReturn, Optional, Sequence, Set, TextIO,
                        Tuple, Type, Union)

    Part = Union["TextPart", "ThinkingPart", "FunctionCallPart",
                 "ServerToolCallPart", "ServerToolResponsePart"]
    JSONDict = Dict[str, Any]
    Input = Union[str, List[JSONDict]]
    Headers = Union[Mapping[str, str], "email.message.Message"]
    OnUpdate = Optional[Callable[["LlmResponse"], object]]
    OnEvent = Optional[Callable[[JSONDict], object]]


###############################################################################
# Constants
###############################################################################

#: Where requests go when neither ``base_url`` nor ``OPENAI_BASE_URL`` is set.
DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: Seconds one HTTP attempt may take in total: connect, headers and body.
#: For a stream: connect and headers, then each silence between bytes.
DEFAULT_TIMEOUT = 60.0
#: Extra attempts after a retryable failure (the official SDK's default).
DEFAULT_MAX_RETRIES = 2
#: A body (or one streamed event) larger than this is refused.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: Seconds a webhook's timestamp may be off the clock, either way.
DEFAULT_WEBHOOK_TOLERANCE = 300
#: The shortest fixed ``poll_interval`` accepted: no busy loops.
MIN_POLL_INTERVAL = 0.05
#: Statuses of a job that is still running; every other status is final.
PENDING_STATUSES = frozenset({"queued", "in_progress"})
#: HTTP statuses retried for polls and cancels (and every status >= 500).
RETRYABLE_STATUSES = frozenset({408, 409, 429})

_logger = logging.getLogger("openai_bg")
# A library stays silent unless its user configures logging (or OPENAI_LOG):
# without this, Python would print our warnings to stderr by itself.
_logger.addHandler(logging.NullHandler())


###############################################################################
# Exceptions
###############################################################################

class OpenAIError(Exception):
    """Root of every error this module raises (besides ``ValueError`` and
    ``TypeError`` for bad arguments, raised before anything is sent).

    Attributes:
        response_id: the id of the background response the failure concerns,
            when one is known (for example a job created by
            :meth:`Client.create_and_wait` whose wait then failed), else None.
    """

    response_id: Optional[str] = None

    def __init__(self, message: str = "") -> None:
        # Every message passes the redaction point: a server may echo a key.
        super().__init__(redact(message))


class JobInterrupted(KeyboardInterrupt):
    """Ctrl-C (a ``KeyboardInterrupt``) during :meth:`Client.create_and_wait`
    after the job was created.

    Attributes:
        response_id: the job's id.
        cancelled: True when the job was cancelled before this was raised.
    """

    def __init__(self, response_id: str, cancelled: bool) -> None:
        super().__init__(response_id, cancelled)
        self.response_id = response_id
        self.cancelled = cancelled


class SettingError(OpenAIError, ValueError):
    """A setting is missing or unusable; raised before anything is sent.

    Attributes:
        setting: the keyword argument it is about (``"api_key"``,
            ``"base_url"``, ``"organization"``, ``"project"``, ``"secret"``).
        variable: the environment variable that can give it, or None.
        problem: what is wrong, worded to follow the setting's name.
        advice: what to do about it, in a caller's terms, or None.
    """

    def __init__(self, setting: str, problem: str,
                 variable: Optional[str] = None,
                 advice: Optional[str] = None) -> None:
        name = "%s (or $%s)" % (setting, variable) if variable else setting
        super().__init__("%s %s%s" % (name, problem,
                                      "; " + advice if advice else ""))
        self.setting, self.variable = setting, variable
        self.problem, self.advice = problem, advice


class APIError(OpenAIError):
    """A request to the API failed.

    Attributes:
        message: the human-readable message (also ``str(exc)``).
        method, url: the request that failed (the URL never holds the key).
        body: the decoded ``error`` object of the answer, or the whole decoded
            body when it has no ``{"error": ...}`` envelope, or its text.
        code, param, type: from the error object, when the server sent them.
        may_have_been_created: True when a create failed in a way that leaves
            it unknown whether the job was started (and is being billed):
            list your responses before trying again.  ``response_id`` is set
            when the server's answer named the job.
    """

    def __init__(self, message: str, *, method: str = "", url: str = "",
                 body: object = None, code: Optional[str] = None,
                 param: Optional[str] = None, type: Optional[str] = None,
                 may_have_been_created: bool = False) -> None:
        super().__init__(message)
        self.message: str = self.args[0]
        self.method = method
        self.url = redact(url)
        self.body = _redact_value(body)
        self.code = code
        self.param = param
        self.type = type
        self.may_have_been_created = may_have_been_created

    def _extend(self, note: str) -> None:
        """Add ``note`` to the message (and so to ``str(exc)``)."""
        self.message = redact("%s -- %s" % (self.message, note))
        self.args = (self.message,)


class APIStatusError(APIError):
    """The API answered with a non-2xx HTTP status.

    Attributes (besides those of :class:`APIError`):
        status_code: the HTTP status.
        request_id: the ``x-request-id`` header (on Azure OpenAI,
            ``apim-request-id``), for support.
        headers: the response headers, as a dict with lower-case names.
    """

    def __init__(self, message: str, *, status_code: int,
                 request_id: Optional[str] = None,
                 headers: Optional[Dict[str, str]] = None,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.status_code = status_code
        self.request_id = request_id
        self.headers = headers or {}


class BadRequestError(APIStatusError):
    """HTTP 400."""


class AuthenticationError(APIStatusError):
    """HTTP 401: the API key is wrong, revoked or missing."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403."""


class NotFoundError(APIStatusError):
    """HTTP 404: no such response (or an unstored one that has expired)."""


class ConflictError(APIStatusError):
    """HTTP 409."""


class UnprocessableEntityError(APIStatusError):
    """HTTP 422."""


class RateLimitError(APIStatusError):
    """HTTP 429: rate limit or quota."""


class InternalServerError(APIStatusError):
    """HTTP 500 or above."""


class RedirectError(APIStatusError):
    """HTTP 3xx.  Redirects are never followed: the OpenAI API does not
    redirect, so one means a wrong ``base_url``, and following it could hand
    the API key to another host.

    Attributes (besides those of :class:`APIStatusError`):
        location: the redirect target from the ``Location`` header, or None.
    """

    def __init__(self, message: str, *, location: Optional[str] = None,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.location = location


class APIConnectionError(APIError):
    """No usable HTTP answer: connection refused or reset, DNS, TLS, proxy,
    a truncated body, or a malformed HTTP response."""


class APITimeoutError(APIConnectionError):
    """One attempt took longer than the client's ``timeout`` in total (for a
    stream: the server was silent for longer than ``timeout``).

    Attributes (besides those of :class:`APIError`):
        silence: for a stream that went quiet, the seconds it was silent;
            None when a whole attempt ran out of time.
    """

    def __init__(self, message: str, *, silence: Optional[float] = None,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.silence = silence


class APIResponseDecodeError(APIError):
    """A 2xx answer whose body is not a Response object: not JSON, not
    UTF-8, not a JSON object, or an object without a string ``status``
    (a proxy's login page, an empty body ...).

    Attributes (besides those of :class:`APIError`):
        status_code: the HTTP status.
        request_id: the ``x-request-id`` (or ``apim-request-id``) header,
            or None.
        body: the start of the body, as text (or the decoded JSON).
    """

    def __init__(self, message: str, *, status_code: int = 200,
                 request_id: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.status_code = status_code
        self.request_id = request_id


class ResponseTooLargeError(APIError):
    """The body (or one streamed event) was larger than the client's
    ``max_response_bytes``.

    Attributes (besides those of :class:`APIError`):
        limit: the limit in bytes.
    """

    def __init__(self, message: str, *, limit: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.limit = limit


class WaitTimeoutError(OpenAIError, TimeoutError):
    """:meth:`Client.wait_response` reached its ``timeout`` before the job
    finished.  Also a built-in ``TimeoutError``.

    Attributes:
        response_id: the job's id.
        response: the last :class:`LlmResponse` seen (after the cancel, when
            one was asked for and succeeded), or None if no poll succeeded.
        polled_response: the last response seen before any cancel, or None.
        status: its status (``polled_response.status``), or None.
        elapsed: seconds spent waiting.
        cancelled: True when the job was cancelled because of the timeout
            (for many jobs: every pending one was).
        pending: for many jobs (:meth:`Client.as_completed`,
            :meth:`Client.wait_many`), each id still pending with its last
            polled response (or None); ``response_id`` is the first of them.
            For one job, ``{response_id: polled_response}``.
    """

    def __init__(self, message: str, *, response_id: str,
                 response: Optional[LlmResponse], elapsed: float,
                 cancelled: bool = False,
                 polled_response: Optional[LlmResponse] = None,
                 pending: Optional[Dict[str, Optional[LlmResponse]]] = None
                 ) -> None:
        super().__init__(message)
        self.pending = pending if pending is not None else \
            {response_id: polled_response}
        self.response_id = response_id
        self.response = response
        self.polled_response = polled_response
        self.status = polled_response.status if polled_response else None
        self.elapsed = elapsed
        self.cancelled = cancelled


class InvalidWebhookSignatureError(OpenAIError, ValueError):
    """A webhook delivery that does not verify: a missing header, a timestamp
    that is not an integer or is outside the tolerance, a malformed
    ``webhook-signature``, or no signature that matches.  Also a
    ``ValueError``.  The message says which, and never holds the secret or
    the expected signature.

    Attributes:
        reason: one of ``missing-header``, ``bad-timestamp``,
            ``timestamp-too-old``, ``timestamp-too-new``, ``bad-signature``,
            ``no-match``.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class InvalidWebhookPayloadError(OpenAIError, ValueError):
    """A correctly signed webhook body that is not an event: not UTF-8, or
    not a JSON object.  (Also a ``ValueError``.)

    Attributes:
        reason: ``"not-utf-8"`` or ``"not-json-object"``.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


###############################################################################
# Data types (the reference's LlmResponse family)
###############################################################################

class FinishReason(str, Enum):
    """Why the model stopped; the values are the reference's JSON strings."""

    STOP = "Stop"
    MAX_TOKENS = "MaxTokens"
    SAFETY = "Safety"
    RECITATION = "Recitation"
    OTHER = "Other"


def _drop_none(pairs: Sequence[Tuple[str, object]]) -> JSONDict:
    return {key: value for key, value in pairs if value is not None}


class _FlatJSON:
    """``to_dict()`` is the fields that are not None, by name: the JSON of
    the reference's parts (untagged enum variants) and usage counts."""

    __slots__ = ()

    def to_dict(self) -> JSONDict:
        instance: Any = self  # every subclass is a dataclass
        return _drop_none([(f.name, getattr(self, f.name))
                           for f in fields(instance)])


@dataclass
class TextPart(_FlatJSON):
    """Answer text (a non-empty ``output_text`` of a ``message`` item)."""

    # One object per output item, thousands per body: no __dict__.
    __slots__ = ("text",)

    text: str


@dataclass
class ThinkingPart(_FlatJSON):
    """The reasoning summary of a ``reasoning`` item."""

    thinking: str
    signature: Optional[str] = None


@dataclass
class FunctionCallPart(_FlatJSON):
    """A ``function_call`` item: your function, for you to run.

    ``args`` is the parsed ``arguments`` JSON (``{}`` when it does not parse)
    and ``id`` is the item's ``call_id``, as the reference does.
    """

    name: str
    args: Any
    id: Optional[str] = None
    thought_signature: Optional[str] = None


@dataclass
class ServerToolCallPart(_FlatJSON):
    """A built-in tool call run by OpenAI (web search, code interpreter ...),
    or an output item type this module does not know: the item as sent."""

    # One object per output item, thousands per body: no __dict__.
    __slots__ = ("server_tool_call",)

    server_tool_call: JSONDict


@dataclass
class ServerToolResponsePart(_FlatJSON):
    """The output of a server-side tool (``shell_call_output``, and any other
    ``*_output`` item): the item as sent."""

    # One object per output item, thousands per body: no __dict__.
    __slots__ = ("server_tool_response",)

    server_tool_response: JSONDict


@dataclass
class Content:
    """The converted ``output`` of a response: role ``"model"`` and parts."""

    role: str
    parts: List[Part] = field(default_factory=list)

    def to_dict(self) -> JSONDict:
        return {"role": self.role, "parts": [p.to_dict() for p in self.parts]}


@dataclass
class UsageMetadata(_FlatJSON):
    """Token counts.  The first three are always set; the rest are None
    when the API did not report them."""

    prompt_token_count: int = 0
    candidates_token_count: int = 0
    total_token_count: int = 0
    cache_read_input_token_count: Optional[int] = None
    cache_creation_input_token_count: Optional[int] = None
    thinking_token_count: Optional[int] = None
    audio_input_token_count: Optional[int] = None
    audio_output_token_count: Optional[int] = None
    cost: Optional[float] = None
    is_byok: Optional[bool] = None
    provider_usage: Any = None


@dataclass
class CitationSource:
    """One ``url_citation``."""

    uri: Optional[str] = None
    title: Optional[str] = None
    start_index: Optional[int] = None
    end_index: Optional[int] = None
    """Indices into :attr:`LlmResponse.text`: ``r.text[s.start_index:
    s.end_index]`` is the cited span."""
    license: Optional[str] = None
    publication_date: Optional[str] = None

    def to_dict(self) -> JSONDict:
        # camelCase keys, every key present: the reference's serde output.
        return {"uri": self.uri, "title": self.title,
                "startIndex": self.start_index, "endIndex": self.end_index,
                "license": self.license,
                "publicationDate": self.publication_date}


@dataclass
class CitationMetadata:
    """The citations of a response, in the order they appear."""

    citation_sources: List[CitationSource] = field(default_factory=list)

    def to_dict(self) -> JSONDict:
        return {"citationSources": [s.to_dict()
                                    for s in self.citation_sources]}


@dataclass
class LlmResponse:
    """One state of a background response, shaped like the reference's
    ``LlmResponse``.

    ``provider_metadata["openai"]`` holds ``response_id`` and ``status`` (and,
    for finished jobs, ``service_tier``, ``built_in_tool_outputs`` ...).
    ``raw`` is the decoded JSON body as the API sent it, so nothing is lost;
    it is left out of ``repr``, ``==`` and :meth:`to_dict`.
    """

    content: Optional[Content] = None
    usage_metadata: Optional[UsageMetadata] = None
    finish_reason: Optional[FinishReason] = None
    citation_metadata: Optional[CitationMetadata] = None
    partial: bool = False
    turn_complete: bool = False
    interrupted: bool = False
    error_code: Optional[str] = None
    error_message: Optional[str] = None
    provider_metadata: Optional[JSONDict] = None
    raw: Optional[JSONDict] = field(default=None, repr=False, compare=False)

    def _openai_metadata(self) -> JSONDict:
        meta = (self.provider_metadata or {}).get("openai")
        return meta if isinstance(meta, dict) else {}

    @property
    def response_id(self) -> str:
        """The response's id (``resp_...``); ``""`` for a body that named
        none (only a malformed one: a create's result always has an id)."""
        return self._openai_metadata().get("response_id") or ""

    @property
    def status(self) -> Optional[str]:
        """``queued``, ``in_progress``, ``completed``, ``incomplete``,
        ``failed``, ``cancelled``, or a status the API adds later."""
        return self._openai_metadata().get("status")

    @property
    def done(self) -> bool:
        """True for any status but ``queued`` and ``in_progress``."""
        return self.status not in PENDING_STATUSES

    @property
    def text(self) -> str:
        """All answer text joined with no separator, ``""`` when none: the
        official SDK's ``output_text``."""
        if self.content is None:
            return ""
        return "".join(p.text for p in self.content.parts
                       if isinstance(p, TextPart))

    @property
    def citations(self) -> List[CitationSource]:
        """``citation_metadata.citation_sources``, or ``[]``."""
        if self.citation_metadata is None:
            return []
        return self.citation_metadata.citation_sources

    def to_dict(self) -> JSONDict:
        """The JSON the reference's serde derive produces for this value."""
        out: JSONDict = {
            "content": self.content.to_dict() if self.content else None,
            "usage_metadata": (self.usage_metadata.to_dict()
                               if self.usage_metadata else None),
            "finish_reason": (self.finish_reason.value
                              if self.finish_reason else None),
        }
        if self.citation_metadata is not None:
            out["citation_metadata"] = self.citation_metadata.to_dict()
        out.update(partial=self.partial, turn_complete=self.turn_complete,
                   interrupted=self.interrupted, error_code=self.error_code,
                   error_message=self.error_message)
        if self.provider_metadata is not None:
            out["provider_metadata"] = self.provider_metadata
        return out



###############################################################################
# The client
###############################################################################

class Client:
    """A configured connection to the OpenAI Responses API (or a compatible
    gateway).  Safe to share between threads; ``with Client(...) as c:`` or
    :meth:`close` closes its kept-alive connections.

    Arguments (each falls back to an environment variable, then a default):

    - ``api_key``: ``OPENAI_API_KEY``; required.  May be a callable that
      returns the key or a bearer token (a Microsoft Entra ID token for Azure
      OpenAI, which expires): it is called for each request, and what it
      returns is redacted like a key.
    - ``base_url``: ``OPENAI_BASE_URL``, then ``https://api.openai.com/v1``.
      A user name or password in it is refused (it would be printed).
    - ``organization``: ``OPENAI_ORG_ID``; ``project``: ``OPENAI_PROJECT_ID``.
    - ``timeout``: seconds one HTTP attempt may take in total (connect,
      headers and the whole body); default 60.  For a stream it bounds
      connect plus headers, then each silence between bytes.
    - ``max_retries``: extra attempts after a retryable failure; default 2.
    - ``default_headers`` / ``default_query``: added to every request (Azure
      OpenAI and gateways need them).
    - ``ssl_context``: your own :class:`ssl.SSLContext`; otherwise TLS is
      verified against the system CAs, ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``,
      or the file named by ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE``.
    - ``max_response_bytes``: a larger body (or streamed event) raises
      :class:`ResponseTooLargeError`; default 64 MiB.
    - ``webhook_secret``: ``OPENAI_WEBHOOK_SECRET``; for :meth:`verify_webhook`
      (one given here is checked at once: :class:`SettingError`).
    - ``journal``: record every job this client starts in a local SQLite
      :class:`Journal`, so that no id is lost with its process.  None or
      False (the default): off - a library writes no file unasked; True: the
      default location (off when ``$OPENAI_BG_JOURNAL`` says so); a path;
      or a :class:`Journal`.  A journal that cannot be opened raises
      :class:`JournalError` here; one that fails later logs one warning and
      is switched off for this client - it never costs a result.

    Proxies come from ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY``, read
    when the client sends its first request.  Redirects are never followed.
    """

    def __init__(self, api_key: Union[str, Callable[[], str], None] = None,
                 *,
                 base_url: Optional[str] = None,
                 organization: Optional[str] = None,
                 project: Optional[str] = None,
                 timeout: float = DEFAULT_TIMEOUT,
                 max_retries: int = DEFAULT_MAX_RETRIES,
                 default_headers: Optional[Mapping[str, str]] = None,
                 default_query: Optional[Mapping[str, object]] = None,
                 ssl_context: Optional[ssl.SSLContext] = None,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
                 webhook_secret: Optional[str] = None,
                 journal: Union[None, bool, str, Journal] = None) -> None:
        self._key_source = api_key if callable(api_key) else None
        key = "" if callable(api_key) else _api_key_from(api_key)
        self.base_url = _base_url_from(base_url)
        self.organization = _setting(organization, "organization",
                                     "OPENAI_ORG_ID")
        self.project = _setting(project, "project", "OPENAI_PROJECT_ID")
        self.timeout = _positive_number(timeout, "timeout", _MAX_TIMEOUT)
        self.max_retries = _int_at_least(max_retries, "max_retries", 0)
        self.max_response_bytes = _int_at_least(max_response_bytes,
                                                "max_response_bytes", 1)
        if webhook_secret is not None:
            _webhook_key(webhook_secret)  # a bad secret: said now, not later
        self.webhook_secret = webhook_secret
        self._headers = _request_headers(key, self.organization, self.project,
                                         default_headers)
        self._query = _query_string(default_query)
        _register_secrets(key, self._headers, default_query)
        self._key: Optional[str] = None if self._key_source else key
        self._transport = _Transport(ssl_context, _ca_bundle_from_env())
        self.journal = _journal_from(journal)
        # Seams for tests and simulations: how the client sleeps and tells
        # time while retrying and waiting.
        self._sleep: Callable[[float], None] = time.sleep
        self._clock: Callable[[], float] = time.monotonic

    def __repr__(self) -> str:
        return "%s(base_url=%r, organization=%r, project=%r, timeout=%r, " \
               "max_retries=%r)" % (type(self).__name__, self.base_url,
                                    self.organization, self.project,
                                    self.timeout, self.max_retries)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the kept-alive connections.  The client stays usable: a
        later request opens a new connection."""
        self._transport.close()

    # -- operations --------------------------------------------------------

    def poll_response(self, response_id: str) -> LlmResponse:
        """Fetch the current state of a response:
        ``GET {base_url}/responses/{response_id}``."""
        return self._poll(response_id)[0]

    def cancel_response(self, response_id: str) -> LlmResponse:
        """Cancel a background response:
        ``POST {base_url}/responses/{response_id}/cancel`` with no body.

        Returns the converted answer, whose status is normally
        ``cancelled`` but may be another final status if the job had
        already ended.  Cancelling twice is harmless."""
        path = "/responses/%s/cancel" % _quote_id(response_id)
        answer = self._request("POST", path, None)
        result = _response_from_json(_decode_json(answer), response_id)
        self._journaled("_seen_response", result)
        return result

    def delete_response(self, response_id: str) -> None:
        """Delete a stored response: ``DELETE {base_url}/responses/{id}``
        (stored answers otherwise stay 30 days).  A journaled client marks
        the job ``deleted``."""
        path = "/responses/%s" % _quote_id(response_id)
        try:
            self._request("DELETE", path, None)
        except NotFoundError:
            self._journaled("_gone", response_id, "expired")
            raise
        self._journaled("_gone", response_id, "deleted")

    def create_response(self, *, model: str, input: Input,
                        **params: object) -> LlmResponse:
        """Start a response: ``POST {base_url}/responses``.

        ``background=True`` and ``store=True`` are sent unless you pass them;
        every other keyword goes into the JSON body as given (``tools``,
        ``instructions``, ``reasoning`` ...), so new API parameters work
        without a new release - but a keyword of the wait (``timeout``,
        ``on_update`` ...), a near-miss of one (``cancel_on_timout``) or a
        function is refused with ``TypeError`` before anything is sent.  The
        result is normally ``queued``; its ``response_id`` is what you poll.
        To stream, use :meth:`create_response_stream`.

        This call is retried only where the server cannot have accepted the
        request (nothing was sent, HTTP 429, or ``x-should-retry: true``).
        Any other failure raises at once with ``may_have_been_created=True``:
        a response may exist and be running."""
        if params.get("stream"):
            raise ValueError("create_response cannot stream: use "
                             "create_response_stream(...) (or "
                             "create_and_wait(..., stream=True))")
        payload = _create_payload(model, input, params)
        key = self._journal_create(payload)
        try:
            result = _created_response(
                self._request("POST", "/responses", payload, create=True))
        except BaseException as exc:
            self._journal_create_failed(key, exc)
            raise
        self._journal_created(key, result.response_id, result)
        return result

    def stream_response(self, response_id: str, *,
                        starting_after: Optional[int] = None
                        ) -> ResponseStream:
        """Open the event stream of a background response:
        ``GET {base_url}/responses/{id}?stream=true`` (``&starting_after=N``
        to resume after event N).  Returns a :class:`ResponseStream`."""
        return self._stream(response_id, starting_after, None)

    def _stream(self, response_id: str, starting_after: Optional[int],
                budget: Optional[float]) -> ResponseStream:
        path = "/responses/%s" % _quote_id(response_id)
        query = "stream=true"
        if starting_after is not None:
            query += "&starting_after=%d" % _int_at_least(
                starting_after, "starting_after", 0)
        answer = self._request("GET", path, None, stream=True, query=query,
                               budget=budget)
        if not answer.is_event_stream:  # a gateway that does not stream
            return ResponseStream.from_body(
                _response_from_json(_decode_json(answer), response_id))
        return ResponseStream(answer, response_id, self.max_response_bytes)

    def create_response_stream(self, *, model: str, input: Input,
                               **params: object) -> ResponseStream:
        """Start a background response and stream its events:
        ``POST {base_url}/responses`` with ``background``, ``store`` and
        ``stream`` true.  The stream's ``response_id`` is known when this
        returns (it reads up to the first event that names it).

        The create rules of :meth:`create_response` hold; a stream that
        breaks before the id is known raises with
        ``may_have_been_created=True``."""
        for name in ("background", "stream", "store"):
            if params.get(name, True) is not True:
                raise ValueError("create_response_stream always sends %s="
                                 "true; do not pass %s=%r"
                                 % (name, name, params[name]))
        payload = _create_payload(model, input, dict(params, stream=True))
        key = self._journal_create(payload)
        try:
            answer = self._request("POST", "/responses", payload, create=True,
                                   stream=True)
            if not answer.is_event_stream:
                stream = ResponseStream.from_body(_created_response(answer))
            else:
                stream = ResponseStream(answer, None, self.max_response_bytes,
                                        created=True)
        except BaseException as exc:
            self._journal_create_failed(key, exc)
            raise
        self._journal_created(key, stream.response_id, stream.response)
        return stream

    def wait_response(self, response_id: str, *,
                      timeout: Optional[float] = None,
                      poll_interval: Optional[float] = None,
                      on_update: OnUpdate = None,
                      cancel_on_timeout: bool = False,
                      stream: bool = False,
                      on_event: OnEvent = None) -> LlmResponse:
        """Wait until the response leaves ``queued`` / ``in_progress`` and
        return that final :class:`LlmResponse`.

        - ``timeout``: seconds to wait in all (None: no limit).  Past it,
          :class:`WaitTimeoutError` (a ``TimeoutError``) carrying the last
          response; with ``cancel_on_timeout=True`` the job is cancelled
          first.  Retry sleeps and requests are cut to what is left of it.
        - ``poll_interval``: a fixed delay between polls (at least
          ``MIN_POLL_INTERVAL``).  By default the delay adapts: 10 % of the
          time waited so far, at least 1 s and at most 30 s.  A server's
          ``openai-poll-after-ms`` header takes precedence.
        - ``on_update(response)``: called for every response seen.
        - ``stream=True``: follow the job's event stream instead of polling,
          resuming after drops and falling back to polling when streaming is
          refused; ``on_event(event)`` gets each event once, in order.

        Network errors, timeouts, 408, 409, 429 and 5xx (after each poll's own
        retries) do not end the wait - unless no request has ever reached a
        server, which fails fast with the connection error.  Other API errors
        (401, 403, 404 ...) raise at once.  Ctrl-C (``KeyboardInterrupt``)
        propagates; the job keeps running."""
        check_response_id(response_id)
        wait = _Wait(self, response_id, timeout, poll_interval, on_update,
                     on_event, cancel_on_timeout)
        return wait.follow(None) if stream else wait.poll_until_done()

    def create_and_wait(self, *, model: str, input: Input,
                        timeout: Optional[float] = None,
                        poll_interval: Optional[float] = None,
                        on_update: OnUpdate = None,
                        cancel_on_timeout: bool = False,
                        cancel_on_interrupt: bool = True,
                        stream: bool = False,
                        on_event: OnEvent = None,
                        **params: object) -> LlmResponse:
        """:meth:`create_response` (or :meth:`create_response_stream` with
        ``stream=True``), then :meth:`wait_response` on it.

        With ``cancel_on_interrupt`` (the default) a ``KeyboardInterrupt``
        after the create - in ``on_update`` too - cancels the job, then
        :class:`JobInterrupted` (a ``KeyboardInterrupt``) is raised, naming
        the job and whether it was cancelled.  Any :class:`OpenAIError`
        raised during the wait carries the job's id in ``response_id``: a
        paid-for job is never lost.  Keywords that are not the wait's go
        into the create's body (see :meth:`create_response`)."""
        _check_wait_arguments(timeout, poll_interval, on_update, on_event)
        opened: Optional[ResponseStream] = None
        response_id = ""
        try:
            # Under the CLI, Ctrl-C waits for the create's answer, so the job
            # it names can be cancelled (a second one stops at once).
            with HeldInterrupts(second_stops=True):
                created, opened = self._create_to_wait_for(
                    stream, dict(params, model=model, input=input))
                response_id = (created.response_id if created else
                               opened.response_id if opened else None) or ""
            wait = _Wait(self, response_id, timeout, poll_interval, on_update,
                         on_event, cancel_on_timeout)
            if created is not None:
                wait.seen(created)
                return created if created.done else wait.poll_until_done()
            return wait.follow(opened)
        except KeyboardInterrupt as interrupt:
            if opened is not None:
                opened.close()
            if not response_id:
                raise
            cancelled = cancel_on_interrupt and \
                self._cancel_quietly(response_id) is not None
            raise JobInterrupted(response_id, cancelled) from interrupt
        except OpenAIError as exc:
            exc.response_id = response_id or exc.response_id
            raise

    def _create_to_wait_for(self, stream: bool, params: JSONDict) -> Tuple[
            Optional[LlmResponse], Optional[ResponseStream]]:
        """The create: its response, or its live event stream."""
        if not stream:
            return self.create_response(**params), None
        opened = self.create_response_stream(**params)
        if not opened.live and opened.response is not None:
            return opened.response, None  # a gateway that does not stream
        return None, opened

    def as_completed(self, response_ids: Iterable[str], *,
                     timeout: Optional[float] = None,
                     poll_interval: Optional[float] = None,
                     on_update: OnUpdate = None,
                     max_workers: int = 8) -> Iterator[Outcome]:
        """Wait for many jobs at once: yield one :class:`Outcome` per job
        as each ends, in the order they end.  An id given twice is waited
        for once.

        Each job keeps the adaptive delay of :meth:`wait_response` (10 % of
        the time waited, 1-30 s; ``poll_interval`` fixes it;
        ``openai-poll-after-ms`` wins), and all of them share one schedule
        served by at most ``max_workers`` threads over this client's
        kept-alive connections: threads and connections stay bounded
        whatever the number of jobs.  A 429 pauses the whole batch.  A job
        whose wait fails (404, 401 ...) ends with ``error`` set; the others
        go on.  ``on_update(response)`` is called for every response seen,
        one call at a time, from the batch's threads.  Past ``timeout`` (for
        the whole call) :class:`WaitTimeoutError` names the jobs still
        pending in ``pending``.  Stopping the iteration (``break``) stops
        the polling; the jobs keep running."""
        return _Batch(self, _unique_ids(response_ids), timeout, poll_interval,
                      on_update, max_workers).run()

    def wait_many(self, response_ids: Iterable[str], *,
                  timeout: Optional[float] = None, return_when: str = "all",
                  poll_interval: Optional[float] = None,
                  on_update: OnUpdate = None,
                  cancel_on_timeout: bool = False,
                  cancel_on_interrupt: bool = False,
                  max_workers: int = 8) -> Dict[str, Outcome]:
        """:meth:`as_completed`, collected: a dict id -> :class:`Outcome`,
        in the order the ids were given.  ``return_when``: ``"all"``;
        ``"first"`` (the first job to end); ``"first_failure"`` (the first
        that ends other than ``completed`` or with an error, else all).
        Jobs still running when it returns keep running.  With
        ``cancel_on_timeout`` every job still pending at the timeout is
        cancelled before :class:`WaitTimeoutError` is raised (its
        ``cancelled`` says whether all were); with ``cancel_on_interrupt``
        a ``KeyboardInterrupt`` cancels every unfinished job before it
        propagates."""
        if return_when not in ("all", "first", "first_failure"):
            raise ValueError("return_when must be 'all', 'first' or "
                             "'first_failure', got %r" % (return_when,))
        ids = _unique_ids(response_ids)
        ended: Dict[str, Outcome] = {}
        try:
            for outcome in self.as_completed(
                    ids, timeout=timeout, poll_interval=poll_interval,
                    on_update=on_update, max_workers=max_workers):
                ended[outcome.response_id] = outcome
                if return_when == "first" or (return_when == "first_failure"
                                              and not outcome.completed):
                    break
        except WaitTimeoutError as exc:
            if cancel_on_timeout:
                exc.cancelled = self._cancel_all(list(exc.pending))
            raise
        except KeyboardInterrupt:
            if cancel_on_interrupt:
                self._cancel_all([rid for rid in ids if rid not in ended])
            raise
        return {rid: ended[rid] for rid in ids if rid in ended}

    def _cancel_all(self, response_ids: List[str]) -> bool:
        return all([self._cancel_quietly(rid) is not None
                    for rid in response_ids])

    def verify_webhook(self, payload: Union[bytes, str], headers: Headers,
                       secret: Optional[str] = None, *,
                       tolerance: int = DEFAULT_WEBHOOK_TOLERANCE) -> None:
        """:func:`verify_webhook`, with this client's ``webhook_secret``."""
        verify_webhook(payload, headers, secret or self.webhook_secret,
                       tolerance=tolerance)

    def unwrap_webhook(self, payload: Union[bytes, str], headers: Headers,
                       secret: Optional[str] = None, *,
                       tolerance: int = DEFAULT_WEBHOOK_TOLERANCE
                       ) -> JSONDict:
        """:func:`unwrap_webhook`, with this client's ``webhook_secret``."""
        return unwrap_webhook(payload, headers, secret or self.webhook_secret,
                              tolerance=tolerance)

    # -- the HTTP exchange with retries ------------------------------------

    def _poll(self, response_id: str, budget: Optional[float] = None
              ) -> Tuple[LlmResponse, http.client.HTTPMessage]:
        path = "/responses/" + _quote_id(response_id)
        try:
            answer = self._request("GET", path, None, budget=budget)
        except NotFoundError:  # gone: deleted after 30 days, or unstored
            self._journaled("_gone", response_id, "expired")
            raise
        response = _response_from_json(_decode_json(answer), response_id)
        self._journaled("_seen_response", response)
        return response, answer.headers

    # -- the journal: never costs a result -----------------------------------

    def _journaled(self, method: str, *args: Any) -> Any:
        """Call a journal method; a failure switches the journal off for
        this client, with one warning."""
        journal = self.journal
        if journal is None:
            return None
        try:
            return getattr(journal, method)(*args)
        except JournalError as exc:
            self.journal = None
            _logger.warning(
                "the journal failed and is off for the rest of this run: %s",
                exc, extra={"openai_bg_event": "journal-failed",
                            "path": exc.path, "fix": exc.fix,
                            "error": str(exc)})
            return None

    def _journal_create(self, payload: JSONDict) -> Optional[int]:
        if self.journal is None:
            return None
        _json_body(payload)  # what cannot be sent is refused before a row
        key: Optional[int] = self._journaled("_before_create", self, payload)
        return key

    def _journal_created(self, key: Optional[int],
                         response_id: Optional[str],
                         response: Optional[LlmResponse]) -> None:
        if key is not None:
            status = response.status if response is not None else None
            self._journaled("_created", key, response_id, status or "queued")
            if response is not None and response.done:
                self._journaled("_seen_response", response)

    def _journal_create_failed(self, key: Optional[int],
                               exc: BaseException) -> None:
        """A create that certainly started no job leaves no row; one that
        may have keeps it as ``maybe-created``, with the id if known."""
        if key is None:
            return
        if isinstance(exc, APIError) and not exc.may_have_been_created:
            self._journaled("_not_created", key)
        else:
            self._journaled("_created", key, exc.response_id if isinstance(
                exc, OpenAIError) else None, "maybe-created")

    def _request(self, method: str, path: str, payload: Optional[JSONDict],
                 *, create: bool = False, stream: bool = False,
                 query: str = "", budget: Optional[float] = None) -> _Answer:
        """Send with retries (the rules are :func:`_retry_decision`); return
        the first 2xx answer.  ``budget`` caps the time all attempts and
        sleeps may take (what is left of a wait)."""
        request = _Request(self, method, path, payload, create, stream, query)
        ends = None if budget is None else self._clock() + budget
        retries_taken = 0
        while True:
            limit = self.timeout if ends is None else \
                min(self.timeout, max(ends - self._clock(), 0.001))
            started = time.monotonic()
            outcome = self._transport.attempt(request, limit)
            answer = outcome.answer
            if answer is not None and _logger.isEnabledFor(logging.DEBUG):
                _logger.debug("%s %s -> HTTP %d, %d bytes in %.0f ms (request "
                              "id %s)", method, path, answer.status,
                              len(answer.body),
                              (time.monotonic() - started) * 1e3,
                              _request_id(answer.headers))
            if answer is not None and answer.ok:
                return answer
            error = outcome.error if answer is None else \
                _status_error(answer, request)
            assert error is not None
            delay, maybe_created = _retry_decision(
                outcome, request, retries_taken, self.max_retries)
            if ends is not None and delay is not None and \
                    self._clock() + delay >= ends:
                delay = None  # the wait ends first: report what happened
            if delay is None:
                if maybe_created:
                    raise _maybe_created(error) from None
                raise error from None
            retries_taken += 1
            _logger.debug("retrying %s %s after %s (retry %d of %d) in "
                          "%.2f s", method, path, error, retries_taken,
                          self.max_retries, delay)
            self._sleep(delay)

    def _current_headers(self) -> Dict[str, str]:
        """The headers of the next request: with a token source, its latest
        token (checked, and redacted from then on, once per new token)."""
        if self._key_source is None:
            return self._headers
        try:
            key = self._key_source()
        except Exception as exc:
            raise OpenAIError("api_key(): the callable raised %s: %s"
                              % (type(exc).__name__, exc)) from exc
        if key is None or key != self._key:
            key = _api_key_from(key, True)
            _add_secrets([key])
            self._key = key
        return dict(self._headers, Authorization="Bearer " + key)

    def _cancel_quietly(self, response_id: str) -> Optional[LlmResponse]:
        try:
            return self.cancel_response(response_id)
        except OpenAIError as exc:
            _logger.error("could not cancel response %s: %s", response_id, exc)
            return None


def _journal_from(journal: Union[None, bool, str, Journal]
                  ) -> Optional[Journal]:
    if journal is None or journal is False:
        return None
    if isinstance(journal, Journal):
        return journal
    if journal is True:
        return Journal() if default_journal_path() is not None else None
    if isinstance(journal, (str, os.PathLike)):
        return Journal(os.fspath(journal))
    raise TypeError("journal must be None, a bool, a path or a Journal, "
                    "not %s" % type(journal).__name__)


###############################################################################
# Interrupts that wait for a step to end
###############################################################################

def interrupt_on_signals() -> Callable[[], None]:
    """Make SIGTERM and SIGHUP raise ``KeyboardInterrupt`` like Ctrl-C (a
    closed terminal, ``timeout``, a stopped container then cancel a job
    instead of orphaning it), and let :class:`HeldInterrupts` hold all
    three.  A signal the process was started ignoring (``nohup``) stays
    ignored; off the main thread nothing changes.  Returns what undoes it."""
    import signal
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None and signal.getsignal(number) in (
                signal.SIG_DFL, signal.default_int_handler):
            previous[number] = signal.signal(number, _interrupt)

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return restore


def _interrupt(signum: int, frame: Optional[types.FrameType]) -> None:
    held = HeldInterrupts
    if held.on_signal is not None:
        held.on_signal()
    if held.holding and not (held.pending and held.second_stops):
        held.pending = True
    else:
        held.pending = False
        raise KeyboardInterrupt


class HeldInterrupts:
    """``with HeldInterrupts():`` around a step that must not be cut in two
    (a create, whose answer names the job to cancel; taking an event off a
    queue and printing it): an interrupt during it is raised when it ends
    (with ``then_raise=False``, dropped; with ``second_stops=True`` a second
    one is raised at once).  Only the handlers of
    :func:`interrupt_on_signals` honour it, and only on the main thread: a
    script's own Ctrl-C is never held.

    ``HeldInterrupts.on_signal``, when set, is called at once on every such
    signal, held or not (a server can stop taking work while the main
    thread is busy)."""

    holding = False
    pending = False
    second_stops = False
    on_signal: Optional[Callable[[], None]] = None

    def __init__(self, then_raise: bool = True,
                 second_stops: bool = False) -> None:
        self.then_raise = then_raise
        self.second_stops = second_stops
        self.active = threading.current_thread() is threading.main_thread()

    def __enter__(self) -> None:
        if self.active:
            HeldInterrupts.second_stops = self.second_stops
            HeldInterrupts.holding = True

    def __exit__(self, *exc_info: object) -> None:
        if not self.active:
            return
        HeldInterrupts.holding = False
        pending, HeldInterrupts.pending = HeldInterrupts.pending, False
        if pending and self.then_raise:
            raise KeyboardInterrupt


###############################################################################
# Module-level functions over a default client
###############################################################################

_default_client: Optional[Client] = None
_default_lock = threading.Lock()


def _client() -> Client:
    global _default_client
    with _default_lock:
        if _default_client is None:
            _default_client = Client()
            import atexit
            atexit.register(_default_client.close)
        return _default_client


def poll_response(response_id: str) -> LlmResponse:
    return _client().poll_response(response_id)


def cancel_response(response_id: str) -> LlmResponse:
    return _client().cancel_response(response_id)


def as_completed(response_ids: Iterable[str], *,
                 timeout: Optional[float] = None,
                 poll_interval: Optional[float] = None,
                 on_update: OnUpdate = None,
                 max_workers: int = 8) -> Iterator[Outcome]:
    return _client().as_completed(response_ids, timeout=timeout,
                                  poll_interval=poll_interval,
                                  on_update=on_update, max_workers=max_workers)


def wait_many(response_ids: Iterable[str], *, timeout: Optional[float] = None,
              return_when: str = "all", poll_interval: Optional[float] = None,
              on_update: OnUpdate = None, cancel_on_timeout: bool = False,
              cancel_on_interrupt: bool = False,
              max_workers: int = 8) -> Dict[str, Outcome]:
    return _client().wait_many(
        response_ids, timeout=timeout, return_when=return_when,
        poll_interval=poll_interval, on_update=on_update,
        cancel_on_timeout=cancel_on_timeout,
        cancel_on_interrupt=cancel_on_interrupt, max_workers=max_workers)


def delete_response(response_id: str) -> None:
    _client().delete_response(response_id)


def create_response(*, model: str, input: Input, **params: object) -> LlmResponse:
    return _client().create_response(model=model, input=input, **params)


def stream_response(response_id: str, *,
                    starting_after: Optional[int] = None) -> ResponseStream:
    return _client().stream_response(response_id,
                                     starting_after=starting_after)


def create_response_stream(*, model: str, input: Input,
                           **params: object) -> ResponseStream:
    return _client().create_response_stream(model=model, input=input,
                                            **params)


def wait_response(response_id: str, *, timeout: Optional[float] = None,
                  poll_interval: Optional[float] = None,
                  on_update: OnUpdate = None, cancel_on_timeout: bool = False,
                  stream: bool = False, on_event: OnEvent = None
                  ) -> LlmResponse:
    return _client().wait_response(
        response_id, timeout=timeout, poll_interval=poll_interval,
        on_update=on_update, cancel_on_timeout=cancel_on_timeout,
        stream=stream, on_event=on_event)


def create_and_wait(*, model: str, input: Input, timeout: Optional[float] = None,
                    poll_interval: Optional[float] = None,
                    on_update: OnUpdate = None,
                    cancel_on_timeout: bool = False,
                    cancel_on_interrupt: bool = True, stream: bool = False,
                    on_event: OnEvent = None, **params: object) -> LlmResponse:
    return _client().create_and_wait(
        model=model, input=input, timeout=timeout, poll_interval=poll_interval,
        on_update=on_update, cancel_on_timeout=cancel_on_timeout,
        cancel_on_interrupt=cancel_on_interrupt, stream=stream,
        on_event=on_event, **params)


# help(openai_bg.wait_response) says all that help(Client.wait_response) says.
for _name in ("poll_response", "cancel_response", "create_response",
              "wait_response", "create_and_wait", "stream_response",
              "create_response_stream", "delete_response", "as_completed",
              "wait_many"):
    globals()[_name].__doc__ = "%s\n\n    On a client built from the " \
        "environment on first use." % getattr(Client, _name).__doc__
del _name


###############################################################################
# Streams of server-sent events
###############################################################################

#: Stream events that end a job and carry its final ``response``.
_TERMINAL_EVENTS = frozenset({"response.completed", "response.failed",
                              "response.incomplete"})


class ResponseStream:
    """The server-sent events of one background response, as an iterator of
    event dicts (the decoded JSON of each ``data`` field, as sent).

    Iteration ends after a terminal event (``response.completed`` /
    ``.failed`` / ``.incomplete``), at ``data: [DONE]``, or when the server
    closes the stream cleanly (a cancelled job's stream just ends).  A
    connection broken mid-stream raises :class:`APIConnectionError`; a
    silence longer than the client's ``timeout`` :class:`APITimeoutError`.
    An event whose data is not a JSON object is skipped with a warning.

    Attributes:
        response_id: from the first event that names it, else the id asked
            for.
        last_sequence_number: of the last event read (None before any): pass
            it as ``starting_after`` to resume.
        response: the :class:`LlmResponse` of the terminal event (or of a
            plain JSON answer from a gateway that does not stream), else None.
        error: the ``error`` object of the last ``error`` event, else None.
    """

    def __init__(self, answer: Optional[_Answer], response_id: Optional[str],
                 limit: int, created: bool = False) -> None:
        self.response_id = response_id
        self.last_sequence_number: Optional[int] = None
        self._response: Optional[LlmResponse] = None
        self._final: Optional[JSONDict] = None  # the terminal event's body
        self.error: Optional[JSONDict] = None
        self._answer = answer
        self._named_by_event = False
        self._parser = _SSEParser(limit)
        self._ready: Deque[JSONDict] = collections.deque()
        self._finished = answer is None
        if created:
            self._read_until_id()

    @classmethod
    def from_body(cls, response: LlmResponse) -> ResponseStream:
        """A stream with no events, for a server that answered with JSON."""
        stream = cls(None, response.response_id, 1)
        stream._response = response
        return stream

    @property
    def live(self) -> bool:
        """True while the connection is open (False for a JSON answer)."""
        return self._answer is not None

    def limit_silence(self, seconds: float) -> None:
        """Let the next wait for bytes last at most ``seconds`` (a deadline
        of the caller's), instead of the client's whole ``timeout``."""
        if self._answer is not None:
            self._answer.limit_silence(seconds)

    @property
    def response(self) -> Optional[LlmResponse]:
        if self._response is None and self._final is not None:
            self._response = _response_from_json(self._final, self.response_id)
        return self._response

    def __iter__(self) -> ResponseStream:
        return self

    def __next__(self) -> JSONDict:
        while not self._ready:
            if self._finished:
                self.close()
                raise StopIteration
            self._read_more()
        event = self._ready.popleft()
        if event.get("type") in _TERMINAL_EVENTS:
            self._finished = True
        return event

    def __enter__(self) -> ResponseStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (an unfinished stream is never reused)."""
        self._finished = True
        answer, self._answer = self._answer, None
        if answer is not None:
            answer.close()

    def _read_more(self) -> None:
        """Read until at least one event is ready or the stream ends."""
        assert self._answer is not None
        chunk = self._answer.read_chunk()
        fields = self._parser.feed(chunk) if chunk else self._parser.end()
        for data in fields:
            if data == "[DONE]":
                self._finished = True
                break
            event = _event_from_data(data)
            if event is not None:
                self._take(event)
        if not chunk:
            self._finished = True

    def _take(self, event: JSONDict) -> None:
        sequence = _count_or_none(event.get("sequence_number"))
        if sequence is not None:
            self.last_sequence_number = sequence
        carried = event.get("response")
        if isinstance(carried, dict):
            named = _str_or_none(carried.get("id"))
            if named and not self._named_by_event:  # the server's word wins
                self.response_id, self._named_by_event = named, True
            if event.get("type") in _TERMINAL_EVENTS:
                self._final = carried  # converted when asked for
        if event.get("type") == "error":
            nested = event.get("error")
            self.error = nested if isinstance(nested, dict) else event
        self._ready.append(event)

    def _read_until_id(self) -> None:
        """Buffer events until one names the response (a create stream);
        a stream that breaks first leaves the create ambiguous."""
        try:
            while self.response_id is None and not self._finished:
                self._read_more()
        except APIError as exc:
            self.close()
            raise _maybe_created(exc) from None
        if self.response_id is None:
            raise _maybe_created(APIConnectionError(
                "the create's event stream ended before naming the response"))


def _event_from_data(data: str) -> Optional[JSONDict]:
    event = _loads_or_none(data)
    if isinstance(event, dict):
        return event
    _logger.warning("skipped a stream event whose data is not a JSON object: "
                    "%s", _snippet(data))
    return None


class _SSEParser:
    """Server-sent events framing: returns the ``data`` of each complete
    event.  Lines end in LF, CRLF or CR (an LF that starts a chunk after one
    that ended in CR completes that CRLF); ``:`` lines are comments;
    ``event``, ``id`` and ``retry`` fields are accepted and unused (each
    event's JSON names its type).  Each byte is looked at once: the work per
    chunk is proportional to the chunk.  ``limit`` bounds what one event
    holds (its data lines as sent, and the line still arriving), however the
    stream is cut into reads."""

    __slots__ = ("limit", "line", "pending", "data", "held", "after_cr")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.line: List[bytes] = []  # pieces of the unfinished last line
        self.pending = 0             # their length
        self.data: List[bytes] = []  # the data lines of the current event
        self.held = 0                # their length
        self.after_cr = False

    def feed(self, chunk: bytes) -> List[str]:
        if self.after_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self.after_cr = chunk[-1:] == b"\r"
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = chunk.split(b"\n")
        last = lines.pop()
        if lines:
            if self.line:
                lines[0] = b"".join(self.line) + lines[0]
            self.line, self.pending = [], 0
            found = self._lines(lines)
        else:
            found = []
        if last:
            self.line.append(last)
            self.pending += len(last)
            self._check()
        return found

    def end(self) -> List[str]:
        """The stream closed: an event without its blank line is dropped
        (the SSE standard, and the official SDK, do the same)."""
        self.line, self.data, self.pending, self.held = [], [], 0, 0
        return []

    def _lines(self, lines: List[bytes]) -> List[str]:
        found = []
        for raw in lines:
            if not raw:
                if self.data:
                    found.append(b"\n".join(self.data).decode("utf-8",
                                                              "replace"))
                    self.data, self.held = [], 0
            elif raw[:5] == b"data:":
                value = raw[6:] if raw[5:6] == b" " else raw[5:]
                self.data.append(value)
                self.held += len(raw)
                self._check()
            elif raw == b"data":
                self.data.append(b"")
        return found

    def _check(self) -> None:
        if self.held + self.pending > self.limit:
            raise ResponseTooLargeError(
                "a stream event exceeds the limit of %d bytes "
                "(max_response_bytes)" % self.limit, limit=self.limit)


###############################################################################
# Waiting for a job: polling, streaming, and the fallback between them
###############################################################################

# Adaptive wait: poll after 10 % of the job's age, at least 1 s, at most 30 s.
_WAIT_MIN_INTERVAL = 1.0
_WAIT_MAX_INTERVAL = 30.0
_WAIT_AGE_FRACTION = 0.1
# A server's openai-poll-after-ms is honoured between these bounds: no busy
# loop on "0", no day-long sleep on a typo.
_WAIT_MIN_HINT = 0.1
# Unstored background responses are kept about ten minutes.
_EXPIRY_HINT_SECONDS = 600.0
#: A job still ``queued`` after this many seconds of waiting is reported
#: (once, as a warning): background jobs can stay queued indefinitely.
QUEUED_WARNING_SECONDS = 600.0
# A stream request answered with one of these cannot stream: poll instead.
_STREAM_REFUSED_STATUSES = frozenset({400, 404, 405, 415, 501})


class _Wait:
    """The state of one wait: the job, what was seen, and the deadline."""

    def __init__(self, client: Client, response_id: str,
                 timeout: Optional[float], poll_interval: Optional[float],
                 on_update: OnUpdate, on_event: OnEvent,
                 cancel_on_timeout: bool) -> None:
        _check_wait_arguments(timeout, poll_interval, on_update, on_event)
        self.client = client
        self.response_id = response_id
        self.timeout = None if timeout is None else float(timeout)
        self.poll_interval = poll_interval
        self.on_update = on_update
        self.on_event = on_event
        self.cancel_on_timeout = cancel_on_timeout
        self.start = client._clock()
        self.last: Optional[LlmResponse] = None
        self.polls = 0
        self.reached_server = False
        self.sequence: Optional[int] = None
        self.warned_queued = False
        self.sleep = client._sleep

    def elapsed(self) -> float:
        return self.client._clock() - self.start

    def remaining(self) -> Optional[float]:
        return None if self.timeout is None else self.timeout - self.elapsed()

    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def seen(self, response: LlmResponse) -> None:
        previous = self.last.status if self.last else None
        self.last = response
        self.reached_server = True
        if response.status != previous:
            _logger.info("response %s is %s", self.response_id,
                         response.status)
        if response.status == "queued" and not self.warned_queued and \
                self.elapsed() >= QUEUED_WARNING_SECONDS:
            self.warned_queued = True
            _logger.warning(
                "response %s is still queued after %.0f minutes; the wait "
                "goes on (cancel_response(%r) cancels it)", self.response_id,
                self.elapsed() / 60, self.response_id,
                extra={"openai_bg_event": "queued-too-long",
                       "response_id": self.response_id,
                       "elapsed": self.elapsed()})
        self.client._journaled("_seen_response", response)
        if self.on_update is not None:
            self.on_update(response)

    def deliver(self, event: JSONDict) -> None:
        """Pass an event on once, in order: repeats are dropped."""
        sequence = _count_or_none(event.get("sequence_number"))
        if sequence is not None:
            if self.sequence is not None and sequence <= self.sequence:
                return
            self.sequence = sequence
        if self.on_event is not None:
            self.on_event(event)
        carried = event.get("response")
        if isinstance(carried, dict) and \
                event.get("type") not in _TERMINAL_EVENTS:
            self.seen(_response_from_json(carried, self.response_id))

    def poll(self) -> Optional[float]:
        """Poll once; return the server's requested delay, if any.  Transient
        failures are logged (the wait goes on); others raise."""
        try:
            response, headers = self.client._poll(self.response_id,
                                                  self.remaining())
        except APIError as exc:
            self.failed(exc, "polling")
            return None
        self.polls += 1
        self.seen(response)
        return _poll_after_hint(headers)

    def failed(self, exc: APIError, doing: str) -> None:
        """Raise ``exc`` unless the wait should go on after it."""
        if isinstance(exc, APIStatusError):
            self.reached_server = True
        if _keeps_waiting(exc, self.reached_server):
            _logger.warning("%s %s failed (%s); still waiting", doing,
                            self.response_id, exc)
            return
        exc.response_id = self.response_id
        if isinstance(exc, APIConnectionError):
            exc._extend("no request has reached a server yet: check the "
                        "base URL (--base-url / OPENAI_BASE_URL) and proxy")
        elif isinstance(exc, NotFoundError) and \
                self.elapsed() >= _EXPIRY_HINT_SECONDS:
            exc._extend("after %.0f s of waiting: a background response "
                        "created with store=false is deleted about 10 "
                        "minutes after it starts" % self.elapsed())
        raise exc

    def next_delay(self, hint: Optional[float]) -> float:
        delay = hint if hint is not None else (
            self.poll_interval if self.poll_interval is not None
            else _adaptive_interval(self.elapsed()))
        left = self.remaining()
        return delay if left is None else max(0.0, min(delay, left))

    def time_out(self) -> NoReturn:
        """Raise :class:`WaitTimeoutError` (cancelling first if asked)."""
        elapsed = self.elapsed()
        polled = self.last
        status = polled.status if polled else None
        cancelled = False
        if self.cancel_on_timeout:
            result = self.client._cancel_quietly(self.response_id)
            if result is not None:
                self.last, cancelled = result, True
        raise WaitTimeoutError(
            "response %s is still %s after waiting %.1f s%s"
            % (self.response_id, status or "unknown", elapsed,
               "; it was cancelled" if cancelled else ""),
            response_id=self.response_id, response=self.last, elapsed=elapsed,
            cancelled=cancelled, polled_response=polled)

    def poll_until_done(self) -> LlmResponse:
        """Poll on the adaptive (or fixed) schedule until the job is final."""
        while True:
            hint = self.poll()
            if self.last is not None and self.last.done:
                return self.last
            if self.expired():
                self.time_out()
            delay = self.next_delay(hint)
            _logger.debug("response %s is %s after %.1f s (%d polls); next "
                          "poll in %.1f s", self.response_id,
                          self.last.status if self.last else "unknown",
                          self.elapsed(), self.polls, delay)
            self.sleep(delay)

    def follow(self, stream: Optional[ResponseStream]) -> LlmResponse:
        """Follow the job's events to its end, resuming after drops; poll
        instead when the server will not stream."""
        failures = 0
        while True:
            if stream is None:
                stream = self.reopen(failures)
                if stream is None:
                    return self.poll_until_done()
            with stream:
                final, events, ended = self.drain(stream)
            stream = None
            if final is not None:
                return final
            if self.expired():
                self.time_out()
            failures = 0 if events else failures + 1
            if ended:
                self.poll()  # ended without a terminal event: where is it?
                if self.last is not None and self.last.done:
                    return self.last

    def reopen(self, failures: int) -> Optional[ResponseStream]:
        """Resume the stream after the last event delivered; None when the
        server will not stream."""
        while True:
            if failures:
                self.sleep(self.next_delay(_backoff(failures - 1)))
            if self.expired():
                self.time_out()
            try:
                stream = self.client._stream(self.response_id, self.sequence,
                                             self.remaining())
            except APIStatusError as exc:
                if exc.status_code not in _STREAM_REFUSED_STATUSES:
                    self.failed(exc, "streaming")
                    failures += 1
                    continue
                why = str(exc)
            except APIResponseDecodeError as exc:  # a 2xx page, not events
                why = "no event stream: %s" % exc
            except APIError as exc:
                self.failed(exc, "streaming")
                failures += 1
                continue
            else:
                if stream.live:
                    return stream
                why = "answered without events"
            _logger.info("streaming %s refused (%s); polling instead",
                         self.response_id, why)
            return None

    def drain(self, stream: ResponseStream
              ) -> Tuple[Optional[LlmResponse], int, bool]:
        """Deliver a stream's events within what is left of the wait: (the
        final response or None, how many events arrived, whether the stream
        ended cleanly).  A broken stream is not an error here: it is
        resumed."""
        events = 0
        try:
            while not self.expired():
                left = self.remaining()
                if left is not None:
                    stream.limit_silence(left)
                event = next(stream, None)
                if event is None:
                    break
                events += 1
                self.reached_server = True
                self.deliver(event)
            else:
                return None, events, False
        except APIConnectionError as exc:
            if not self.expired():
                self.warn_broken(exc)
            return None, events, False
        final = stream.response
        if final is not None:
            self.seen(final)
        return final, events, True

    def warn_broken(self, exc: APIConnectionError) -> None:
        if isinstance(exc, APITimeoutError) and exc.silence is not None:
            _logger.warning("%s: no events for %.3g s; reconnecting",
                            self.response_id, exc.silence)
        else:
            _logger.warning("the stream of %s broke (%s); resuming",
                            self.response_id, exc)


def _check_wait_arguments(timeout: Optional[float],
                          poll_interval: Optional[float],
                          on_update: OnUpdate, on_event: OnEvent) -> None:
    if timeout is not None:
        _positive_number(timeout, "timeout")
    if poll_interval is not None:
        _positive_number(poll_interval, "poll_interval", _WAIT_MAX_INTERVAL * 120)
        if poll_interval < MIN_POLL_INTERVAL:
            raise ValueError("poll_interval must be at least %g s (no busy "
                             "loops), got %r" % (MIN_POLL_INTERVAL,
                                                 poll_interval))
    for name, value in (("on_update", on_update), ("on_event", on_event)):
        if value is not None and not callable(value):
            raise TypeError("%s must be callable, not %s"
                            % (name, type(value).__name__))


def _adaptive_interval(elapsed: float) -> float:
    return min(_WAIT_MAX_INTERVAL,
               max(_WAIT_MIN_INTERVAL, _WAIT_AGE_FRACTION * elapsed))


def _poll_after_hint(headers: http.client.HTTPMessage) -> Optional[float]:
    seconds = _seconds(headers.get("openai-poll-after-ms"), 1000.0)
    if seconds is None:
        return None
    return min(max(seconds, _WAIT_MIN_HINT), _WAIT_MAX_INTERVAL)


###############################################################################
# Many jobs at once: one schedule, a few threads
###############################################################################
# Each job keeps the single wait's adaptive delay; all of them sit in one
# priority queue (when each is next due) served by at most ``max_workers``
# threads over the client's kept-alive pool, so threads and connections stay
# bounded whatever the number of jobs.  A 429 pauses the whole batch.

@dataclass
class Outcome:
    """How one job of :meth:`Client.as_completed` / :meth:`Client.wait_many`
    ended: its final ``response``, or the ``error`` that ended its wait (a
    404, a 401 ...); one job's error never stops the others."""

    response_id: str
    response: Optional[LlmResponse] = None
    error: Optional[OpenAIError] = None

    @property
    def status(self) -> Optional[str]:
        """The final status, or None when the wait ended with an error."""
        return self.response.status if self.response is not None else None

    @property
    def completed(self) -> bool:
        return self.status == "completed"


class _Batch:
    """The shared schedule of many waits (a heap of (when due, order, id)),
    its worker threads, and the queue their outcomes arrive on."""

    def __init__(self, client: Client, ids: List[str],
                 timeout: Optional[float], poll_interval: Optional[float],
                 on_update: OnUpdate, max_workers: int) -> None:
        import queue
        _check_wait_arguments(timeout, poll_interval, on_update, None)
        self.client = client
        self.ids = ids
        self.start = time.monotonic()
        self.deadline = None if timeout is None else self.start + timeout
        self.poll_interval = poll_interval
        self.on_update = on_update
        self.workers = min(_int_at_least(max_workers, "max_workers", 1),
                           len(ids))
        self.due = [(self.start, order, rid) for order, rid in enumerate(ids)]
        self.order = len(ids)
        self.last: Dict[str, LlmResponse] = {}
        self.reached: Set[str] = set()
        self.pending = set(ids)
        self.outcomes: queue.Queue[Any] = queue.Queue()
        self.lock = threading.Condition()
        self.callback_lock = threading.Lock()
        self.paused_until = 0.0
        self.stopped = False

    def run(self) -> Iterator[Outcome]:
        """Yield each outcome as its job ends; at the deadline raise
        :class:`WaitTimeoutError` naming the jobs still pending."""
        import queue
        threads = [threading.Thread(target=self._work, daemon=True,
                                    name="openai-bg batch")
                   for _ in range(self.workers)]
        for thread in threads:
            thread.start()
        try:
            for _ in range(len(self.ids)):
                while True:
                    left = None if self.deadline is None else \
                        self.deadline - time.monotonic()
                    if left is not None and left <= 0:
                        self._time_out()
                    try:  # short waits: Ctrl-C is noticed
                        found = self.outcomes.get(timeout=min(left or 0.5, 0.5))
                        break
                    except queue.Empty:
                        continue
                if isinstance(found, BaseException):
                    raise found  # an on_update that raised
                yield found
        finally:
            self.stop()

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            self.lock.notify_all()

    def _time_out(self) -> NoReturn:
        self.stop()
        waiting = [rid for rid in self.ids if rid in self.pending]
        shown = ", ".join(waiting[:10]) + (
            " and %d more" % (len(waiting) - 10) if len(waiting) > 10 else "")
        raise WaitTimeoutError(
            "%d of %d responses still pending after waiting %.1f s: %s"
            % (len(waiting), len(self.ids), time.monotonic() - self.start,
               shown), response_id=waiting[0], response=None,
            elapsed=time.monotonic() - self.start,
            pending={rid: self.last.get(rid) for rid in waiting})

    # -- the workers ---------------------------------------------------------

    def _work(self) -> None:
        try:
            while True:
                response_id = self._next()
                if response_id is None:
                    return
                self._poll(response_id)
        except BaseException as exc:  # from on_update: end the batch with it
            self.outcomes.put(exc)
            self.stop()

    def _next(self) -> Optional[str]:
        """The id due first, once it is due (None: the batch is over)."""
        import heapq
        with self.lock:
            while not self.stopped:
                if self.due:
                    when = max(self.due[0][0], self.paused_until)
                    wait = when - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self.due)[2]
                elif not self.pending:
                    return None
                else:
                    wait = 0.5  # every job is being polled by others
                self.lock.wait(wait)
            return None

    def _poll(self, response_id: str) -> None:
        left = None if self.deadline is None else \
            max(0.001, self.deadline - time.monotonic())
        try:
            response, headers = self.client._poll(response_id, left)
        except RateLimitError as exc:  # slow the whole batch, not one job
            self._pause(_retry_after(exc.headers) or _backoff(1))
            return self._again(response_id, None)
        except APIError as exc:
            if isinstance(exc, APIStatusError):
                self.reached.add(response_id)
            if _keeps_waiting(exc, response_id in self.reached):
                _logger.warning("polling %s failed (%s); still waiting",
                                response_id, exc)
                return self._again(response_id, None)
            exc.response_id = response_id
            return self._finish(Outcome(response_id, error=exc))
        self.reached.add(response_id)
        self.last[response_id] = response
        if self.on_update is not None:
            with self.callback_lock:  # one at a time, whatever the thread
                self.on_update(response)
        if response.done:
            return self._finish(Outcome(response_id, response))
        self._again(response_id, _poll_after_hint(headers))

    def _again(self, response_id: str, hint: Optional[float]) -> None:
        import heapq
        delay = hint if hint is not None else (
            self.poll_interval if self.poll_interval is not None
            else _adaptive_interval(time.monotonic() - self.start))
        with self.lock:
            heapq.heappush(self.due, (time.monotonic() + delay, self.order,
                                      response_id))
            self.order += 1
            self.lock.notify()

    def _pause(self, seconds: float) -> None:
        with self.lock:
            self.paused_until = max(self.paused_until,
                                    time.monotonic() + min(seconds,
                                                           _WAIT_MAX_INTERVAL))

    def _finish(self, outcome: Outcome) -> None:
        with self.lock:
            self.pending.discard(outcome.response_id)
            self.lock.notify_all()
        self.outcomes.put(outcome)


def _unique_ids(response_ids: Iterable[str]) -> List[str]:
    if isinstance(response_ids, str):
        raise TypeError("response_ids must be a list of ids, not one str")
    ids = list(dict.fromkeys(response_ids))  # waited for once, in order
    for response_id in ids:
        check_response_id(response_id)
    if not ids:
        raise ValueError("response_ids is empty")
    return ids


###############################################################################
# Webhooks (Standard Webhooks signatures, as OpenAI sends them)
###############################################################################

def verify_webhook(payload: Union[bytes, str], headers: Headers,
                   secret: Optional[str] = None, *,
                   tolerance: int = DEFAULT_WEBHOOK_TOLERANCE) -> None:
    """Check that a webhook delivery was signed by OpenAI with ``secret``
    (default: ``OPENAI_WEBHOOK_SECRET``), within ``tolerance`` seconds of
    now either way.  Raises :class:`InvalidWebhookSignatureError` when it
    was not.

    ``payload`` is the body exactly as received (``bytes``, or ``str``
    encoded as UTF-8); ``headers`` any mapping or ``email.message.Message``
    (what ``http.server`` hands you), looked up case-insensitively.  The body
    is not parsed: use :func:`unwrap_webhook` for the event."""
    key = _webhook_key(secret)
    tolerance = _int_at_least(tolerance, "tolerance", 0)
    body = _payload_bytes(payload)
    webhook_id, timestamp, signatures = _webhook_headers(headers)
    _check_webhook_time(timestamp, tolerance)
    import base64
    import hashlib
    import hmac
    signed = b"%s.%s.%s" % (webhook_id.encode("utf-8"),
                            timestamp.encode("utf-8"), body)
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    if not any(hmac.compare_digest(expected, given) for given in signatures):
        raise InvalidWebhookSignatureError(
            "no webhook-signature entry matches the payload (wrong secret, "
            "or a body changed on the way)", reason="no-match")


def unwrap_webhook(payload: Union[bytes, str], headers: Headers,
                   secret: Optional[str] = None, *,
                   tolerance: int = DEFAULT_WEBHOOK_TOLERANCE) -> JSONDict:
    """:func:`verify_webhook`, then return the decoded event
    (``{"id": "evt_...", "type": "response.completed", "data": {"id":
    "resp_..."}, ...}``).  A verified body that is not UTF-8 or not a JSON
    object raises :class:`InvalidWebhookPayloadError`."""
    verify_webhook(payload, headers, secret, tolerance=tolerance)
    body = _payload_bytes(payload)
    try:  # verified over the bytes, then decoded strictly: never altered
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidWebhookPayloadError(
            "the webhook payload is not valid: it is not UTF-8 (byte %d)"
            % exc.start, reason="not-utf-8") from None
    event = _loads_or_none(text)
    if not isinstance(event, dict):
        raise InvalidWebhookPayloadError(
            "the webhook payload is not valid: it is not a JSON object: %s"
            % _snippet(body), reason="not-json-object")
    return event


def _payload_bytes(payload: Union[bytes, str]) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if not isinstance(payload, str):
        raise TypeError("payload must be bytes or str, not %s"
                        % type(payload).__name__)
    try:
        return payload.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidWebhookPayloadError(
            "the webhook payload is not valid: the str holds characters "
            "UTF-8 cannot carry (pass the body's bytes as received)",
            reason="not-utf-8") from None


def _webhook_key(secret: Optional[str]) -> bytes:
    if not secret:  # None or empty: the variable
        secret = os.environ.get("OPENAI_WEBHOOK_SECRET") or None
    if secret is None:
        raise SettingError("secret", "is not set", "OPENAI_WEBHOOK_SECRET",
                           "pass secret=... or set the variable")
    if not isinstance(secret, str):
        raise TypeError("secret must be a str, not %s" % type(secret).__name__)
    if not secret.startswith("whsec_"):
        return secret.encode("utf-8")
    import base64
    import binascii
    try:
        return base64.b64decode(secret[6:], validate=True)
    except (binascii.Error, ValueError):
        raise SettingError("secret", "is not valid: the part after 'whsec_' "
                           "is not base64", "OPENAI_WEBHOOK_SECRET") from None


def _webhook_headers(headers: Headers) -> Tuple[str, str, List[bytes]]:
    found = {}
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        value = _header_value(headers, name)
        if value is None:
            raise InvalidWebhookSignatureError(
                "the %s header is missing" % name, reason="missing-header")
        found[name] = value
    # Entries of other scheme versions ("v1a,...") are passed over, as the
    # official SDK's comparison passes over them; none usable is malformed.
    signatures = []
    for entry in found["webhook-signature"].split():
        signature = entry[3:] if entry.startswith("v1,") else entry
        if signature and "," not in signature:
            signatures.append(signature.encode("ascii", "replace"))
    if not signatures:
        raise InvalidWebhookSignatureError(
            "the webhook-signature header holds no 'v1,<base64>' entry",
            reason="bad-signature")
    return found["webhook-id"], found["webhook-timestamp"], signatures


def _header_value(headers: Headers, name: str) -> Optional[str]:
    getter = getattr(headers, "get", None)
    if getter is None:
        raise TypeError("headers must be a mapping or email.message.Message, "
                        "not %s" % type(headers).__name__)
    value = getter(name)
    if value is None:
        for key, candidate in headers.items():
            if isinstance(key, str) and key.lower() == name:
                value = candidate
                break
    return value if isinstance(value, str) else None


def _check_webhook_time(timestamp: str, tolerance: int) -> None:
    try:
        sent = int(timestamp)
    except ValueError:
        raise InvalidWebhookSignatureError(
            "the webhook-timestamp header is not an integer",
            reason="bad-timestamp") from None
    now = int(time.time())
    if now - sent > tolerance:
        raise InvalidWebhookSignatureError(
            "the webhook timestamp is %d s old, over the tolerance of %d s"
            % (now - sent, tolerance), reason="timestamp-too-old")
    if sent - now > tolerance:
        raise InvalidWebhookSignatureError(
            "the webhook timestamp is %d s in the future, over the tolerance "
            "of %d s" % (sent - now, tolerance), reason="timestamp-too-new")
###############################################################################
# The journal: every job a journaled client starts, in a local SQLite file
###############################################################################
# The API cannot list responses, so a job whose id dies with its process is
# lost (and billed).  A journaled client writes a row before a create is
# sent and names the job in it before the create returns; every response
# it sees afterwards keeps the row current, and a final one keeps the whole
# answer.  A journal that fails never costs a result: one warning, and the
# client goes on without it.

#: The journal's schema version (``PRAGMA user_version``).
JOURNAL_SCHEMA = 1
#: Values of ``$OPENAI_BG_JOURNAL`` that switch the journal off.
JOURNAL_OFF = frozenset({"off", "0", "false", "no", ""})
#: Statuses the journal adds to the API's: a create that may or may not
#: have started a job, a job the API no longer knows, one deleted.
JOURNAL_STATUSES = frozenset({"creating", "maybe-created", "expired",
                              "deleted"})
# "Last seen" is written at most this often while a status is unchanged.
_JOURNAL_SEEN_SECONDS = 60.0
_JOURNAL_BUSY_SECONDS = 10.0
_JOURNAL_COLUMNS = ("key, response_id, status, model, title, created_at, "
                    "last_seen_at, usage, host, organization, project, "
                    "changed_at")
_JOURNAL_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS jobs (
    key INTEGER PRIMARY KEY AUTOINCREMENT,
    response_id TEXT UNIQUE,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seen_at REAL,
    changed_at REAL,
    host TEXT, organization TEXT, project TEXT,
    model TEXT, title TEXT,
    usage TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_time ON jobs (created_at);
-- The big bodies apart: a listing reads small rows only.
CREATE TABLE IF NOT EXISTS bodies (
    key INTEGER PRIMARY KEY,
    request TEXT,
    final TEXT
);
CREATE TRIGGER IF NOT EXISTS bodies_follow AFTER DELETE ON jobs
BEGIN DELETE FROM bodies WHERE key = old.key; END
"""


class JournalError(OpenAIError):
    """The journal cannot be opened, read or written: ``sqlite3`` missing
    from this Python, a corrupt file, one written by a newer version, a
    folder that cannot be written, a full disk.

    Attributes:
        path: the journal file.
        fix: what to do about it, in a few words.
    """

    def __init__(self, message: str, *, path: str, fix: str) -> None:
        super().__init__("%s: %s (%s)" % (path, message, fix))
        self.path = path
        self.fix = fix


@dataclass
class JournalEntry:
    """One job in the journal.  Times are Unix epoch seconds (UTC)."""

    key: int  # the row's number, for the journal's own use
    response_id: Optional[str]
    status: str
    model: Optional[str]
    title: Optional[str]
    created_at: float
    last_seen_at: Optional[float]
    usage: Optional[JSONDict]
    host: Optional[str]
    organization: Optional[str]
    project: Optional[str]
    changed_at: Optional[float]
    #: The create's body (for a re-run); only from :meth:`Journal.get`.
    request: Optional[JSONDict] = None
    #: The final response's body as the API sent it; only from
    #: :meth:`Journal.get`.
    final: Optional[JSONDict] = None

    @property
    def done(self) -> bool:
        """Whether the job has ended (or is gone): nothing more to wait for."""
        return self.status not in PENDING_STATUSES and \
            self.status not in ("creating", "maybe-created")

    @property
    def response(self) -> Optional[LlmResponse]:
        """The final :class:`LlmResponse`, from the stored body, or None."""
        if self.final is None:
            return None
        return _response_from_json(self.final, self.response_id)


def default_journal_path() -> Optional[str]:
    """Where the journal lives: ``$OPENAI_BG_JOURNAL`` (None when it says
    off), else ``$XDG_STATE_HOME/openai-bg/jobs.sqlite3``, else
    ``~/.local/state/openai-bg/jobs.sqlite3`` (on Windows
    ``%LOCALAPPDATA%\\openai-bg\\jobs.sqlite3``)."""
    value = os.environ.get("OPENAI_BG_JOURNAL")
    if value is not None:
        return None if value.strip().lower() in JOURNAL_OFF else value
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        base = os.environ["LOCALAPPDATA"]
    else:
        base = os.environ.get("XDG_STATE_HOME") or os.path.join(
            os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "openai-bg", "jobs.sqlite3")


class Journal:
    """A local record of background jobs (SQLite, WAL mode).  Safe to share
    between threads and processes.

    ``Journal(path=None)`` opens the default location
    (:func:`default_journal_path`), creating it - its folder ``0700``, the
    file ``0600`` - on first use.  Read it with :meth:`jobs` and
    :meth:`get`; :meth:`forget` and :meth:`prune` remove rows.  A journaled
    :class:`Client` (``journal=True``) writes it.  Raises
    :class:`JournalError` when the file cannot be used; a journal written by
    a newer version is refused and never modified.

    Never stored: the API key, header values, the webhook secret, proxy
    credentials; whatever text a secret the client knows may hide in is
    redacted before it is written."""

    def __init__(self, path: Optional[str] = None) -> None:
        chosen = path if path is not None else default_journal_path()
        if chosen is None:
            raise JournalError("the journal is switched off",
                               path="$OPENAI_BG_JOURNAL",
                               fix="unset OPENAI_BG_JOURNAL to use it")
        self.path = os.path.abspath(os.path.expanduser(chosen))
        self._lock = threading.RLock()
        self._db = self._open()
        # id -> (status, usage, when written): what not to write again
        self._seen: Dict[str, Tuple[str, str, float]] = {}

    def __repr__(self) -> str:
        return "Journal(%r)" % self.path

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- reading -------------------------------------------------------------

    def jobs(self, *, finished_within: Optional[float] = None,
             limit: Optional[int] = None) -> List[JournalEntry]:
        """Jobs, newest first.  With ``finished_within`` (seconds): every
        unfinished job, and those finished whose row changed that recently;
        without: all of them."""
        sql = "SELECT %s FROM jobs" % _JOURNAL_COLUMNS
        args: List[object] = []
        if finished_within is not None:
            sql += " WHERE status IN ('queued', 'in_progress', 'creating', " \
                   "'maybe-created') OR coalesce(changed_at, created_at) >= ?"
            args.append(time.time() - finished_within)
        # "+": scan the small rows and sort what is kept (3x faster on a
        # big journal than visiting every row through the time index).
        sql += " ORDER BY +created_at DESC, key DESC"
        if limit is not None:
            sql += " LIMIT %d" % _int_at_least(limit, "limit", 0)
        return [_journal_entry(row) for row in self._read(sql, args)]

    def get(self, response_id: str) -> Optional[JournalEntry]:
        """The job with this id, its create body and final body included;
        None when the journal does not know it."""
        rows = self._read("SELECT %s, request, final FROM jobs LEFT JOIN "
                          "bodies USING (key) WHERE response_id = ?"
                          % _JOURNAL_COLUMNS, [response_id])
        if not rows:
            return None
        entry = _journal_entry(rows[0][:-2])
        entry.request, entry.final = map(_json_dict, rows[0][-2:])
        return entry

    # -- changing ------------------------------------------------------------

    def forget(self, response_id: str) -> bool:
        """Remove a job's row; whether there was one."""
        return self._write(("DELETE FROM jobs WHERE response_id = ?",
                            [response_id])) > 0

    def prune(self, days: float) -> int:
        """Remove finished jobs created more than ``days`` days ago; how
        many were removed."""
        if isinstance(days, bool) or not isinstance(days, (int, float)) or \
                not 0 <= days < float("inf"):
            raise ValueError("days must be a number >= 0, got %r" % (days,))
        before = time.time() - days * 86400
        return self._write((
            "DELETE FROM jobs WHERE created_at < ? AND status NOT IN "
            "('queued', 'in_progress', 'creating', 'maybe-created')",
            [before]))

    def track(self, response_id: str) -> None:
        """Add a job started elsewhere (nothing if it is known)."""
        check_response_id(response_id)
        self._write(("INSERT OR IGNORE INTO jobs (response_id, status, "
                     "created_at) VALUES (?, 'queued', ?)",
                     [response_id, time.time()]))
        with self._lock:
            self._seen.pop(response_id, None)

    # -- what a journaled client writes -------------------------------------

    def find(self, body: JSONDict) -> List[JournalEntry]:
        """The jobs created with this create body, newest first - whether
        they streamed or asked for reasoning summaries or not (``run
        --each`` finds what an earlier run of a prompt started)."""
        wanted = _create_identity(body)
        rows = self._read("SELECT %s, request FROM jobs JOIN bodies USING "
                          "(key) WHERE model = ? AND title = ? ORDER BY "
                          "created_at DESC, key DESC" % _JOURNAL_COLUMNS,
                          [redact(str(body.get("model"))),
                           _journal_title(body)])
        return [_journal_entry(row[:-1]) for row in rows
                if _create_identity(_loads_or_none(row[-1] or "{}")) == wanted]

    def _before_create(self, client: Client, body: JSONDict) -> int:
        """The row of a create about to be sent; its local key."""
        import urllib.parse
        text = redact(json.dumps(body, allow_nan=False))
        return self._write(
            ("INSERT INTO jobs (status, created_at, host, organization, "
             "project, model, title) VALUES ('creating', ?, ?, ?, ?, ?, ?)",
             [time.time(), urllib.parse.urlsplit(client.base_url).hostname,
              client.organization, client.project,
              redact(str(body["model"])), _journal_title(body)]),
            ("INSERT INTO bodies (key, request) VALUES (last_insert_rowid(), "
             "?)", [text]), lastrowid=True)

    def _created(self, key: int, response_id: Optional[str],
                 status: str) -> None:
        """The create's answer (or first event) named the job, or the
        create failed in a way that may have started one."""
        now = time.time()
        self._write(("DELETE FROM jobs WHERE response_id = ? AND key != ?",
                     [response_id, key]),  # it was tracked before
                    ("UPDATE jobs SET response_id = coalesce(?, response_id), "
                     "status = ?, changed_at = ?, last_seen_at = ? "
                     "WHERE key = ?", [response_id, status, now, now, key]))

    def _not_created(self, key: int) -> None:
        self._write(("DELETE FROM jobs WHERE key = ?", [key]))

    def _seen_response(self, response: LlmResponse) -> None:
        """Record a response of a journaled job: on a status change, and a
        final one's body and usage whenever they change (the poll after a
        cancel brings the usage); else "last seen" at most once a minute."""
        response_id = response.response_id or ""
        status = response.status or "unknown"
        final = status not in PENDING_STATUSES
        usage = json.dumps(_usage_summary(response)) if final else ""
        now = time.time()
        with self._lock:
            known = self._seen.get(response_id)
        if known is not None and known[:2] == (status, usage) and \
                now - known[2] < _JOURNAL_SEEN_SECONDS:
            return
        update = ("UPDATE jobs SET last_seen_at = ?, changed_at = CASE WHEN "
                  "status = ? THEN changed_at ELSE ? END, status = ?, "
                  "usage = coalesce(?, usage) WHERE response_id = ?",
                  [now, status, now, status, usage or None, response_id])
        if final:
            self._write(update, (
                "INSERT OR REPLACE INTO bodies (key, request, final) SELECT "
                "key, (SELECT request FROM bodies WHERE key = jobs.key), ? "
                "FROM jobs WHERE response_id = ?",
                [redact(json.dumps(response.raw or {})), response_id]))
        else:
            self._write(update)
        with self._lock:  # an id the journal does not hold is not asked
            self._seen[response_id] = (status, usage, now)  # again at once

    def _gone(self, response_id: str, status: str) -> None:
        """The API no longer knows the job (``expired``) or it was
        ``deleted``."""
        self._write(("UPDATE jobs SET status = ?, changed_at = ?, "
                     "last_seen_at = ? WHERE response_id = ?",
                     [status, time.time(), time.time(), response_id]))
        with self._lock:
            self._seen.pop(response_id, None)

    # -- the file ------------------------------------------------------------

    def _open(self) -> Any:
        try:
            import sqlite3
        except ImportError:
            raise JournalError(
                "this Python has no sqlite3 module", path=self.path,
                fix="use a Python built with sqlite3, or --no-journal / "
                    "OPENAI_BG_JOURNAL=off") from None
        _make_private_file(self.path)
        try:
            db = sqlite3.connect(self.path, timeout=_JOURNAL_BUSY_SECONDS,
                                 isolation_level=None,
                                 check_same_thread=False)
        except sqlite3.Error as exc:
            raise _journal_error(self.path, exc) from None
        try:
            _prepare(db, self.path)
        except BaseException:
            db.close()
            raise
        return db

    def _read(self, sql: str, args: Sequence[object]) -> List[Any]:
        import sqlite3
        try:
            with self._lock:
                rows: List[Any] = self._db.execute(sql, args).fetchall()
                return rows
        except sqlite3.Error as exc:
            raise _journal_error(self.path, exc) from None

    def _write(self, *statements: Tuple[str, Sequence[object]],
               lastrowid: bool = False) -> int:
        """Statements in one short transaction; the rows the last one
        changed (or the key it inserted)."""
        import sqlite3
        try:
            with self._lock:
                if len(statements) > 1:
                    self._db.execute("BEGIN IMMEDIATE")
                try:
                    for sql, args in statements:
                        cursor = self._db.execute(sql, args)
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
                if self._db.in_transaction:
                    self._db.execute("COMMIT")
                count: int = cursor.lastrowid if lastrowid else cursor.rowcount
                return count
        except sqlite3.Error as exc:
            raise _journal_error(self.path, exc) from None


def _journal_title(body: JSONDict) -> str:
    """A job's title: its input's first 200 characters, on one line."""
    title = body.get("input")
    if not isinstance(title, str):
        title = json.dumps(title)[:1000]
    return redact(" ".join(title.split())[:200])


def _create_identity(body: object) -> str:
    """What makes two creates the same job for ``find``: the body with the
    defaults a create adds, less how it was followed."""
    if not isinstance(body, dict):
        return ""
    same = {k: v for k, v in body.items() if k not in ("stream", "reasoning")}
    same.setdefault("background", True)
    same.setdefault("store", True)
    return redact(json.dumps(same, sort_keys=True, default=str))


def _make_private_file(path: str) -> None:
    """The journal's folder (``0700``) and file (``0600``), whatever the
    umask, made before SQLite opens it; an existing one is left as it is."""
    folder = os.path.dirname(path)
    try:
        if not os.path.isdir(folder):
            os.makedirs(folder, 0o700, exist_ok=True)
            os.chmod(folder, 0o700)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise JournalError(exc.strerror or str(exc), path=path,
                           fix="make the folder writable, or set "
                               "OPENAI_BG_JOURNAL to another file") from None
    os.close(descriptor)
    os.chmod(path, 0o600)


def _prepare(db: Any, path: str) -> None:
    """Check the schema version before anything is written (a newer one is
    refused untouched), then create the schema, retrying while another
    process is creating it."""
    import sqlite3
    deadline = time.monotonic() + _JOURNAL_BUSY_SECONDS
    while True:
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > JOURNAL_SCHEMA:
                raise JournalError(
                    "written by a newer openai_bg (schema %d; this one "
                    "reads %d)" % (version, JOURNAL_SCHEMA), path=path,
                    fix="upgrade openai_bg, or use another journal file")
            db.execute("PRAGMA busy_timeout = %d"
                       % (_JOURNAL_BUSY_SECONDS * 1000))
            if version < JOURNAL_SCHEMA:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("BEGIN IMMEDIATE")
                for statement in _JOURNAL_SCHEMA_SQL.split(";\n"):
                    db.execute(statement)
                db.execute("PRAGMA user_version = %d" % JOURNAL_SCHEMA)
                db.execute("COMMIT")
            db.execute("PRAGMA synchronous = NORMAL")
            return
        except sqlite3.OperationalError as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise _journal_error(path, exc) from None
            time.sleep(0.05)  # another process is creating it
        except sqlite3.Error as exc:
            raise _journal_error(path, exc) from None


def _journal_error(path: str, exc: BaseException) -> JournalError:
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        fix = "move the file away; openai-bg starts a new one"
    elif "full" in text or "disk" in text.lower():
        fix = "free some disk space"
    elif "readonly" in text or "unable to open" in text:
        fix = "make the folder writable, or set OPENAI_BG_JOURNAL to " \
              "another file"
    elif "locked" in text:
        fix = "another process holds it too long; try again"
    else:
        fix = "check the file, or use --no-journal / OPENAI_BG_JOURNAL=off"
    return JournalError(text, path=path, fix=fix)


def _journal_entry(row: Sequence[Any]) -> JournalEntry:
    (key, response_id, status, model, title, created_at, last_seen_at, usage,
     host, organization, project, changed_at) = row
    return JournalEntry(key, response_id, status, model, title, created_at,
                        last_seen_at, _json_dict(usage), host, organization,
                        project, changed_at)


def _json_dict(text: Optional[str]) -> Optional[JSONDict]:
    """A JSON object stored as text, or None (no text, or not an object)."""
    value = _loads_or_none(text or "null")
    return value if isinstance(value, dict) else None


def _usage_summary(response: LlmResponse) -> JSONDict:
    """What a finished job used: tokens, and web searches."""
    usage = response.usage_metadata
    raw = response.raw or {}
    searches = sum(1 for item in _dicts(raw.get("output"))
                   if item.get("type") == "web_search_call")
    return {"input_tokens": usage.prompt_token_count if usage else None,
            "output_tokens": usage.candidates_token_count if usage else None,
            "reasoning_tokens": usage.thinking_token_count if usage else None,
            "web_search_calls": searches}


###############################################################################
# Conversion: Response JSON -> LlmResponse
###############################################################################
# Every reader below takes whatever JSON it is given: a field of the wrong type
# is treated as absent, so a malformed body yields a best-effort LlmResponse,
# never a TypeError.  Only a body that is not a Response at all is an error.

# Output item types the reference lists in
# provider_metadata["openai"]["built_in_tool_outputs"].
_BUILT_IN_TOOL_TYPES = frozenset({
    "web_search_call", "file_search_call", "computer_call",
    "image_generation_call", "code_interpreter_call", "local_shell_call",
    "shell_call", "shell_call_output", "apply_patch_call",
    "apply_patch_call_output", "mcp_call", "mcp_list_tools",
    "mcp_approval_request",
})


def _tool_part_class(kind: object) -> Callable[[JSONDict], Part]:
    """The one rule for items that are not message, reasoning or function
    call: a ``*_output`` item is a tool response, any other a tool call.
    Unlike the reference, which drops types it does not convert, we keep
    every one: never lost, never an exception."""
    if isinstance(kind, str) and kind.endswith("_output"):
        return ServerToolResponsePart
    return ServerToolCallPart


# The rule worked out once for the built-in types, the commonest items.
_BUILT_IN_TOOL_PARTS = {kind: _tool_part_class(kind)
                        for kind in _BUILT_IN_TOOL_TYPES}


def _str_or_none(value: object) -> Optional[str]:
    return value if isinstance(value, str) else None


def _count_or_none(value: object) -> Optional[int]:
    """A token count: a non-negative int (bools and strings do not count)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _dicts(value: object) -> List[JSONDict]:
    """The dict members of a JSON array (nothing, if it is not one)."""
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, dict)]


def _convert_usage(usage: object) -> Optional[UsageMetadata]:
    if not isinstance(usage, dict):
        return None
    prompt = _count_or_none(usage.get("input_tokens")) or 0
    candidates = _count_or_none(usage.get("output_tokens")) or 0
    total = _count_or_none(usage.get("total_tokens"))
    input_details = usage.get("input_tokens_details")
    output_details = usage.get("output_tokens_details")
    if not isinstance(input_details, dict):
        input_details = {}
    if not isinstance(output_details, dict):
        output_details = {}
    return UsageMetadata(
        prompt_token_count=prompt,
        candidates_token_count=candidates,
        total_token_count=prompt + candidates if total is None else total,
        cache_read_input_token_count=_count_or_none(
            input_details.get("cached_tokens")),
        cache_creation_input_token_count=_count_or_none(
            input_details.get("cache_write_tokens")),
        thinking_token_count=_count_or_none(
            output_details.get("reasoning_tokens")))


def _citations(annotations: object, offset: int) -> List[CitationSource]:
    """The ``url_citation`` annotations of one text part, with indices
    shifted by ``offset``, the part's position in the joined text."""
    found = []
    for annotation in _dicts(annotations):
        if annotation.get("type") != "url_citation":
            continue
        start = _count_or_none(annotation.get("start_index"))
        end = _count_or_none(annotation.get("end_index"))
        found.append(CitationSource(
            _str_or_none(annotation.get("url")),
            _str_or_none(annotation.get("title")),
            None if start is None else start + offset,
            None if end is None else end + offset))
    return found


def _parse_arguments(arguments: object) -> object:
    if not isinstance(arguments, str):
        return {}
    parsed = _loads_or_none(arguments)
    return {} if parsed is None else parsed


def _summary_text(summary: object) -> str:
    if not isinstance(summary, list):
        return ""
    texts = []
    for entry in summary:
        text = entry.get("text") if isinstance(entry, dict) else None
        if isinstance(text, str):
            texts.append(text)
    return "".join(texts)


class _Output:
    """What one walk over ``output`` collects: parts, citations, metadata."""

    __slots__ = ("parts", "citations", "refusals", "phase",
                 "encrypted_content", "tool_names", "built_in_tool_outputs",
                 "history_parts", "text_length")

    def __init__(self, items: object) -> None:
        self.parts: List[Part] = []
        self.citations: List[CitationSource] = []
        self.refusals: List[str] = []
        self.phase: Optional[str] = None
        self.encrypted_content: Optional[str] = None
        self.tool_names: List[str] = []
        self.built_in_tool_outputs: List[JSONDict] = []
        self.history_parts: List[JSONDict] = []
        self.text_length = 0  # of the text parts so far: citation offsets
        if isinstance(items, list):
            self._walk(items)

    def _walk(self, items: List[object]) -> None:
        # One flat loop handing each item to its rule: a deep-research body
        # has thousands of items, and this walk is most of the conversion,
        # so built-in tool items (the commonest) are handled in the loop.
        rules = {"reasoning": self._add_reasoning, "message": self._add_message,
                 "function_call": self._add_function_call,
                 "mcp_list_tools": self._add_tool_list}
        built_in, add_part = _BUILT_IN_TOOL_PARTS, self.parts.append
        add_output = self.built_in_tool_outputs.append
        for item in items:
            if not isinstance(item, dict):
                continue
            kind = item.get("type")
            if not isinstance(kind, str):
                kind = ""
            part_class = built_in.get(kind)
            if part_class is not None:
                add_output(item)
                add_part(part_class(item))
            rule = rules.get(kind)
            if rule is not None:
                rule(item)
            elif part_class is None:
                add_part(_tool_part_class(kind)(item))

    def _add_tool_list(self, item: JSONDict) -> None:
        self.tool_names.extend(
            name for name in (_str_or_none(t.get("name"))
                              for t in _dicts(item.get("tools"))) if name)

    def _add_reasoning(self, item: JSONDict) -> None:
        self.history_parts.append({"server_tool_call": item})
        encrypted = item.get("encrypted_content")
        if isinstance(encrypted, str):
            self.encrypted_content = encrypted
        thinking = _summary_text(item.get("summary"))
        if thinking:
            self.parts.append(ThinkingPart(thinking))

    def _add_function_call(self, item: JSONDict) -> None:
        self.parts.append(FunctionCallPart(
            name=_str_or_none(item.get("name")) or "",
            args=_parse_arguments(item.get("arguments")),
            id=_str_or_none(item.get("call_id"))))

    def _add_message(self, item: JSONDict) -> None:
        phase = _str_or_none(item.get("phase"))
        if phase is not None:
            self.phase = phase
        for entry in _dicts(item.get("content")):
            kind = entry.get("type")
            if kind == "output_text":
                text = entry.get("text")
                if not isinstance(text, str) or not text:
                    continue
                annotations = entry.get("annotations")
                if annotations:
                    self.citations.extend(
                        _citations(annotations, self.text_length))
                self.parts.append(TextPart(text))
                self.text_length += len(text)
            elif kind == "refusal":
                refusal = _str_or_none(entry.get("refusal"))
                if refusal:
                    self.refusals.append(refusal)

    def metadata(self, response_id: str, status: str,
                 body: JSONDict) -> JSONDict:
        """``{"response_id", "status", ...}`` as the reference builds it."""
        meta: JSONDict = {"response_id": response_id, "status": status}
        optional = [
            ("service_tier", _str_or_none(body.get("service_tier"))),
            ("phase", self.phase),
            ("tool_search_selected", self.tool_names or None),
            ("encrypted_content", self.encrypted_content),
            ("built_in_tool_outputs", self.built_in_tool_outputs or None),
            ("conversation_history_parts", self.history_parts or None),
            ("refusal", "\n".join(self.refusals) or None),
        ]
        meta.update(_drop_none(optional))
        return meta


def _finish_reason(status: str, body: JSONDict) -> Optional[FinishReason]:
    if status == "completed":
        return FinishReason.STOP
    if status == "incomplete":
        details = body.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        if isinstance(reason, str) and "max_output_tokens" in reason:
            return FinishReason.MAX_TOKENS
        if isinstance(reason, str) and "content_filter" in reason:
            return FinishReason.SAFETY
        return FinishReason.STOP
    return None


def _response_from_json(body: object, requested_id: Optional[str] = None
                        ) -> LlmResponse:
    """Convert a decoded Response body.  Raises :class:`APIResponseDecodeError`
    when ``body`` is not a JSON object with a string ``status``; any other
    malformation is tolerated."""
    if not isinstance(body, dict):
        raise APIResponseDecodeError(
            "expected a JSON object (a Response), got %s"
            % type(body).__name__, body=body)
    status = body.get("status")
    if not isinstance(status, str):
        raise APIResponseDecodeError(
            "the JSON object has no string 'status', so it is not a Response",
            body=body)
    response_id = _str_or_none(body.get("id")) or requested_id or ""
    if status in PENDING_STATUSES:
        meta: JSONDict = {"response_id": response_id, "status": status}
        result = LlmResponse(provider_metadata={"openai": meta}, raw=body)
    else:
        result = _final_response(body, response_id, status)
        meta = result._openai_metadata()
    if requested_id is not None and response_id != requested_id:
        meta["requested_id"] = requested_id
        _logger.warning("asked for response %r but the server answered with "
                        "%r", requested_id, response_id)
    return result


def _final_response(body: JSONDict, response_id: str, status: str
                    ) -> LlmResponse:
    converter = _Output(body.get("output"))
    finish = _finish_reason(status, body)
    if converter.refusals and finish is not None:
        finish = FinishReason.SAFETY
    result = LlmResponse(
        content=Content("model", converter.parts) if converter.parts else None,
        usage_metadata=_convert_usage(body.get("usage")),
        finish_reason=finish,
        citation_metadata=(CitationMetadata(converter.citations)
                           if converter.citations else None),
        turn_complete=status in ("completed", "incomplete", "failed",
                                 "cancelled"),
        provider_metadata={"openai": converter.metadata(response_id, status,
                                                        body)},
        raw=body)
    if status == "failed":
        error = body.get("error")
        if not isinstance(error, dict):
            error = {}
        result.error_code = _str_or_none(error.get("code")) or "unknown"
        # A gateway may echo a credential into the message: never keep it.
        result.error_message = redact(_str_or_none(error.get("message"))
                                       or "Background response failed")
    elif status == "cancelled":
        result.error_code = "cancelled"
        result.error_message = "Background response was cancelled"
    return result


def _finite_or_none(text: str) -> Optional[float]:
    value = float(text)
    return value if value - value == 0.0 else None  # inf - inf is NaN


def _loads(text: str) -> object:
    """``json.loads`` for what servers send: ``NaN``, ``Infinity`` and
    numbers too large for a float become ``null`` (absent), so ``to_dict()``
    stays JSON that any service reads."""
    return json.loads(text, parse_constant=_none, parse_float=_finite_or_none)


def _none(_: str) -> None:
    return None


def _loads_or_none(text: str) -> object:
    """:func:`_loads`, or None for text that is not JSON - or nests deeper
    than Python's recursion limit allows."""
    try:
        return _loads(text)
    except (ValueError, RecursionError):
        return None


###############################################################################
# Redaction: the one point every message, log record and CLI line passes
###############################################################################

# Header and query names whose values are secrets.
_CREDENTIAL_WORDS = ("authorization", "key", "token", "secret", "cookie",
                     "password", "credential")
# Every credential any client of this process holds, in every spelling a
# server may echo it (raw and percent-encoded), longest first.  It is
# module-level because log records are formatted by handlers that know no
# client; it only ever grows, by what clients are given.
_SECRETS: Tuple[str, ...] = ()
_SECRETS_LOCK = threading.Lock()


def redact(text: str) -> str:
    """``text`` with every API key and webhook secret this process has used
    replaced by ``[redacted]`` (exception messages and log records already
    are; use it for text of your own that may quote one)."""
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return text


def _redact_value(value: object) -> object:
    """A decoded body for an exception attribute, with secrets redacted."""
    if isinstance(value, str):
        return redact(value)
    if _SECRETS and isinstance(value, (dict, list)):
        try:
            text = json.dumps(value)
            redacted = redact(text)
            return value if redacted == text else json.loads(redacted)
        except (ValueError, RecursionError):
            return None  # too deep to check: keep nothing rather than a secret
    return value


def _is_credential_name(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _CREDENTIAL_WORDS)


def _register_secrets(api_key: str, headers: Mapping[str, str],
                      query: Optional[Mapping[str, object]]) -> None:
    values = [api_key]
    for name, value in list(headers.items()) + list((query or {}).items()):
        if _is_credential_name(name):
            values.extend((str(value), str(value).split(" ")[-1]))
    _add_secrets(values)


def _add_secrets(values: Sequence[str]) -> None:
    global _SECRETS
    import urllib.parse
    forms: Set[str] = set()
    for value in values:
        if len(value) >= 4:  # shorter ones would blank out ordinary text
            forms.update((value, urllib.parse.quote(value, safe=""),
                          urllib.parse.quote(value),
                          urllib.parse.quote_plus(value)))
    with _SECRETS_LOCK:
        _SECRETS = tuple(sorted(set(_SECRETS) | forms, key=len, reverse=True))


class _RedactingFilter(logging.Filter):
    """Formats each record of our logger once, redacted, before any handler
    (the user's included) sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            record.msg = redact(record.getMessage())
            record.args = None
        return True


_logger.addFilter(_RedactingFilter())


class _StderrLog(logging.Handler):
    """``OPENAI_LOG``'s lines: on stderr as it is at each write, one line
    each (server text could otherwise forge lines or move the cursor)."""

    def emit(self, record: logging.LogRecord) -> None:
        line = " ".join(_CONTROL_CHARACTER.sub(
            " ", self.format(record)).split()) + "\n"
        stream = sys.stderr
        try:
            try:
                stream.write(line)
            except UnicodeEncodeError:
                encoding = stream.encoding or "ascii"
                stream.write(line.encode(encoding, "backslashreplace")
                             .decode(encoding))
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass  # no stderr, or a closed one: nowhere to log to


def _setup_logging_from_env() -> None:
    # OPENAI_LOG is the official SDK's switch; without it we stay silent.
    level = os.environ.get("OPENAI_LOG", "").strip().lower()
    if level in ("debug", "info"):
        handler = _StderrLog()
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(name)s %(levelname)s %(message)s"))
        _logger.addHandler(handler)
        _logger.setLevel(logging.DEBUG if level == "debug" else logging.INFO)


_setup_logging_from_env()


###############################################################################
# Arguments: checked before anything is sent, named in the caller's words
###############################################################################

_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
# Header values we send: visible ASCII and spaces (HTTP carries nothing else
# reliably, and a smart quote in a pasted key is a mistake, not a byte).
_HEADER_TEXT = re.compile(r"[\x20-\x7e\t]*\Z")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
# A socket timeout beyond this is a typo (and 1e10 overflows the C API).
_MAX_TIMEOUT = 7 * 24 * 3600.0


def _api_key_from(api_key: Optional[str], called: bool = False) -> str:
    if api_key is None and not called:
        api_key = os.environ.get("OPENAI_API_KEY")
    if api_key is not None and not isinstance(api_key, str):
        raise TypeError("%s must be a str, not %s"
                        % ("what api_key() returns" if called else "api_key",
                           type(api_key).__name__))
    if not api_key or not api_key.strip():
        if called:
            raise SettingError("api_key()", "returned no key")
        raise SettingError("api_key", "is not set", "OPENAI_API_KEY",
                           "pass api_key=... or set the variable")
    _check_header_text(api_key, "api_key()" if called else "api_key",
                       None if called else "OPENAI_API_KEY")
    return api_key


def _check_header_text(value: str, what: str,
                       variable: Optional[str] = None) -> None:
    """Refuse what HTTP cannot carry; the value may be a secret, so the
    message names the argument and the position, never the value."""
    if not _HEADER_TEXT.match(value):
        bad = next(i for i, c in enumerate(value)
                   if not _HEADER_TEXT.match(c))
        raise SettingError(
            what, "contains a character HTTP headers cannot carry at "
            "position %d (%s)" % (bad, "a line break or NUL"
                                  if value[bad] in "\r\n\x00" else
                                  "a pasted smart quote or non-ASCII "
                                  "letter?"), variable)


def _setting(value: Optional[str], name: str, variable: str) -> Optional[str]:
    if value is None:
        value = os.environ.get(variable) or None
    if value is not None:
        if not isinstance(value, str):
            raise TypeError("%s must be a str, not %s"
                            % (name, type(value).__name__))
        _check_header_text(value, name, variable)
    return value


def _base_url_from(base_url: Optional[str]) -> str:
    base_url = base_url or os.environ.get("OPENAI_BASE_URL") or \
        DEFAULT_BASE_URL
    if not isinstance(base_url, str):
        raise TypeError("base_url must be a str, not %s"
                        % type(base_url).__name__)
    _parse_endpoint(base_url)
    scheme, rest = base_url.split(":", 1)
    return scheme.lower() + ":" + rest.rstrip("/")


def _parse_endpoint(base_url: str) -> _Endpoint:
    """Split a base URL, refusing what would send requests nowhere or print
    a password: a message never repeats userinfo."""
    import urllib.parse
    parts = urllib.parse.urlsplit(base_url)
    if "@" in parts.netloc:
        raise SettingError("base_url", "must not hold a user name or "
                           "password (they would be printed in messages)",
                           "OPENAI_BASE_URL",
                           "send credentials with default_headers")
    problem = None
    if parts.scheme.lower() not in ("http", "https"):
        problem = "it must start with http:// or https://"
    elif _CONTROL_CHARACTER.search(base_url) or " " in base_url:
        problem = "it contains a space or control character (a stray " \
                  "newline?)"
    elif not parts.hostname:
        problem = "it has no host name"
    elif parts.query or parts.fragment:
        problem = "it has a query or fragment (use default_query)"
    else:
        try:
            port = parts.port
        except ValueError:
            port, problem = None, "its port is not a number from 0 to 65535"
    if problem is not None:
        raise SettingError("base_url", "%r is not usable: %s"
                           % (base_url, problem), "OPENAI_BASE_URL")
    scheme = parts.scheme.lower()
    port = port or (443 if scheme == "https" else 80)
    host = parts.hostname or ""
    prefix = urllib.parse.quote(parts.path.rstrip("/"), safe="/%:@!$&'()*+,;=~")
    return _Endpoint(scheme, host, port, prefix)


def _request_headers(api_key: str, organization: Optional[str],
                     project: Optional[str],
                     default_headers: Optional[Mapping[str, str]]
                     ) -> Dict[str, str]:
    headers = {
        "Accept": "application/json",
        "User-Agent": "openai_bg/%s (Python %d.%d)"
                      % ((__version__,) + sys.version_info[:2]),
        "Authorization": "Bearer " + api_key,
    }
    if organization:
        headers["OpenAI-Organization"] = organization
    if project:
        headers["OpenAI-Project"] = project
    _check_mapping(default_headers, "default_headers")
    headers.update(default_headers or {})
    for name, value in headers.items():
        _check_header(name, value)
    return headers


def _check_mapping(value: object, name: str) -> None:
    if value is not None and not hasattr(value, "items"):
        raise TypeError("%s must be a mapping (a dict), not %s"
                        % (name, type(value).__name__))


def _check_header(name: str, value: str) -> None:
    if not isinstance(name, str) or not isinstance(value, str):
        raise TypeError("header names and values must be str, got %r"
                        % (type(name).__name__ if not isinstance(name, str)
                           else name,))
    if not _HEADER_NAME.match(name):
        raise ValueError("invalid header name %r (letters, digits and "
                         "-_.!#$%%&'*+^`|~ only)" % (name,))
    _check_header_text(value, "the value of header %r" % name)


def _query_string(default_query: Optional[Mapping[str, object]]) -> str:
    _check_mapping(default_query, "default_query")
    if not default_query:
        return ""
    import urllib.parse
    return urllib.parse.urlencode(dict(default_query), doseq=True)


def _ca_bundle_from_env() -> Optional[str]:
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        path = os.environ.get(variable)
        if path:
            if not os.path.exists(path):
                raise ValueError("%s names %r, which does not exist"
                                 % (variable, path))
            return path
    return None


def check_response_id(response_id: object) -> str:
    """``response_id`` if it can name a job, else ``TypeError`` or
    ``ValueError`` saying what is wrong (a stray newline, an empty id):
    for ids read from files or arguments, before anything is sent."""
    if not isinstance(response_id, str):
        raise TypeError("response_id must be a str, not %s"
                        % type(response_id).__name__)
    if not response_id:
        raise ValueError("response_id must not be empty")
    if response_id in (".", ".."):
        raise ValueError("response_id %r is not a valid id" % response_id)
    if _CONTROL_CHARACTER.search(response_id):
        raise ValueError("response_id %r contains a control character "
                         "(a stray newline? strip the id)" % response_id)
    if response_id != response_id.strip():
        raise ValueError("response_id %r has spaces around it (strip the id)"
                         % response_id)
    return response_id


def _quote_id(response_id: str) -> str:
    import urllib.parse
    return urllib.parse.quote(check_response_id(response_id), safe="")


def _int_at_least(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be an int, not %s"
                        % (name, type(value).__name__))
    if value < minimum:
        raise ValueError("%s must be at least %d, got %d"
                         % (name, minimum, value))
    return value


def _positive_number(value: object, name: str,
                     maximum: Optional[float] = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("%s must be a number, not %s"
                        % (name, type(value).__name__))
    if not 0 < value < float("inf"):
        raise ValueError("%s must be a positive finite number, got %r"
                         % (name, value))
    if maximum is not None and value > maximum:
        raise ValueError("%s must be at most %g seconds, got %r"
                         % (name, maximum, value))
    return float(value)


def _create_payload(model: str, input: Input, params: JSONDict) -> JSONDict:
    if not isinstance(model, str) or not model.strip():
        raise TypeError("model must be a non-empty str, got %r" % (model,))
    if not isinstance(input, (str, list)) or (input == "" or input == []):
        raise TypeError("input must be a non-empty str or list of input "
                        "items, got %r" % (input,))
    for name, value in params.items():
        _check_body_param(name, value)
    payload: JSONDict = {"model": model, "input": input}
    payload.update(params)
    payload.setdefault("background", True)
    payload.setdefault("store", True)
    return payload


# Keywords of the wait: in a create's body they are a mistake (and so is a
# near-miss of one, or of "stream"), refused before anything is sent.
_WAIT_KEYWORDS = ("timeout", "poll_interval", "on_update", "on_event",
                  "cancel_on_timeout", "cancel_on_interrupt")


def _check_body_param(name: str, value: object) -> None:
    import difflib
    if name in _WAIT_KEYWORDS:
        raise TypeError("%s= is a keyword of the wait (create_and_wait, "
                        "wait_response), not a body parameter" % name)
    near = difflib.get_close_matches(name, _WAIT_KEYWORDS + ("stream",), 1,
                                     0.8)
    if near and name != "stream":
        raise TypeError("unexpected keyword %s=: did you mean %s=?"
                        % (name, near[0]))
    if callable(value):
        raise TypeError("%s= is a function; body parameters are JSON (did "
                        "you mean on_update= or on_event=?)" % name)


def _json_body(payload: JSONDict) -> bytes:
    try:
        return json.dumps(payload, allow_nan=False).encode("utf-8")
    except TypeError as exc:
        raise TypeError("the request body is not JSON-serializable: %s"
                        % exc) from None
    except (ValueError, RecursionError) as exc:
        raise ValueError("the request body cannot be sent as JSON: %s (NaN "
                         "and infinity are not JSON)" % exc) from None


###############################################################################
# Answers: decoding bodies, and errors from statuses
###############################################################################

_STATUS_ERRORS: Dict[int, Type[APIStatusError]] = {
    400: BadRequestError, 401: AuthenticationError,
    403: PermissionDeniedError, 404: NotFoundError, 409: ConflictError,
    422: UnprocessableEntityError, 429: RateLimitError,
}


def _snippet(data: Union[bytes, str], size: int = 200) -> str:
    """The start of a body, for a message (messages are redacted)."""
    text = data[:size * 4]
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = " ".join(text.split())
    return text[:size] + ("..." if len(text) > size else "")


def _decode_json(answer: _Answer) -> object:
    """The JSON of a 2xx answer; :class:`APIResponseDecodeError` if it is
    not JSON (or nests deeper than Python can decode)."""
    try:
        return _loads(answer.body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        what = "an empty body" if not answer.body.strip() else (
            "a body that is not UTF-8" if isinstance(exc, UnicodeError)
            else "JSON nested too deeply" if isinstance(exc, RecursionError)
            else "a body that is not JSON (%s)" % (
                answer.headers.get("content-type") or "no content type"))
        raise APIResponseDecodeError(
            "HTTP %d from %s carried %s: %s" % (
                answer.status, answer.where, what, _snippet(answer.body)),
            status_code=answer.status,
            request_id=_request_id(answer.headers),
            body=_snippet(answer.body)) from None


def _created_response(answer: _Answer) -> LlmResponse:
    """The create's 2xx answer as a response.  An answer that is not a
    usable Response still means the server accepted the request: raise
    with ``may_have_been_created`` (and the id, when it names one)."""
    body: Any = None
    try:
        body = _decode_json(answer)
        result = _response_from_json(body)
        if result.response_id or result.done:
            _logger.info("created response %s (%s)", result.response_id,
                         result.status)
            return result
        raise APIResponseDecodeError(
            "the answer to the create has no 'id', so the job cannot be "
            "polled", body=body)
    except APIResponseDecodeError as exc:
        if isinstance(body, dict) and isinstance(body.get("id"), str):
            exc.response_id = body["id"]
            exc._extend("the job's id is %s" % body["id"])
        raise _maybe_created(exc) from None


def _request_id(headers: Union[Mapping[str, str], http.client.HTTPMessage]
                ) -> Optional[str]:
    """OpenAI's ``x-request-id``, or Azure API Management's
    ``apim-request-id``: what support asks for."""
    return headers.get("x-request-id") or headers.get("apim-request-id")


def _decode_error_body(data: str) -> Tuple[object, JSONDict]:
    """(body for the exception, the error object or {}) of an error answer:
    the ``{"error": {...}}`` envelope, a bare ``{"message": ...}`` object as
    some gateways and mock servers send, or text."""
    decoded = _loads_or_none(data)
    if decoded is None:
        return (_snippet(data) if data else None), {}
    if isinstance(decoded, dict):
        inner = decoded.get("error")
        if isinstance(inner, dict):
            return inner, inner
        if isinstance(inner, str):
            return decoded, {"message": inner}
        return decoded, decoded
    return decoded, {}


def _status_error(answer: _Answer, request: _Request) -> APIStatusError:
    # Some gateways echo the key in their 401 message: the exception redacts
    # its message and body; the headers are redacted here.
    body, error = _decode_error_body(answer.body.decode("utf-8", "replace"))
    headers = {k.lower(): redact(v) for k, v in answer.headers.items()}
    message = _str_or_none(error.get("message"))
    if message is None and isinstance(body, str):
        message = body
    request_id = _request_id(headers)
    text = "HTTP %d %s from %s" % (answer.status, answer.reason or "",
                                   answer.where)
    if message:
        text += ": " + message
    if request_id:
        text += " (request id %s)" % request_id
    kwargs: Dict[str, Any] = dict(
        status_code=answer.status, request_id=request_id, headers=headers,
        method=request.method, url=request.url, body=body,
        code=_str_or_none(error.get("code")),
        param=_str_or_none(error.get("param")),
        type=_str_or_none(error.get("type")))
    if 300 <= answer.status < 400:
        location = headers.get("location")
        return RedirectError(
            "HTTP %d redirect from %s to %s: openai_bg never follows "
            "redirects (the OpenAI API does not redirect; check base_url)"
            % (answer.status, answer.where, location),
            location=location, **kwargs)
    cls = _STATUS_ERRORS.get(answer.status)
    if cls is None:
        cls = InternalServerError if answer.status >= 500 else APIStatusError
    return cls(" ".join(text.split()), **kwargs)


def _maybe_created(error: APIError) -> APIError:
    """Mark a failed create whose request reached the server."""
    error.may_have_been_created = True
    error._extend("the request was sent, so a response may have been "
                  "created (and billed): check before creating it again")
    return error


###############################################################################
# The retry policy (every rule about trying again is here)
###############################################################################

_INITIAL_RETRY_DELAY = 0.5
_MAX_RETRY_DELAY = 8.0
# A server that asks us to wait longer than this is saying "not now": raise.
_MAX_RETRY_AFTER = 60.0


def _retry_decision(outcome: _Outcome, request: _Request, retries_taken: int,
                    max_retries: int) -> Tuple[Optional[float], bool]:
    """What to do after a failed attempt: (seconds to wait before the next
    one, or None to raise; whether a failed create may have been accepted).

    A create is retried only where the server cannot have accepted it:
    nothing was sent, HTTP 429, or ``x-should-retry: true``.  Anything else
    retries while ``max_retries`` allows: transport failures (but not an
    untrusted certificate), 408, 409, 429, 5xx, and whatever the server
    marks ``x-should-retry: true``.  A stream request refused with a status
    that means "no streaming here" is not retried: the wait polls instead."""
    create, answer = request.create, outcome.answer
    if answer is None:
        maybe_created = create and outcome.sent
        if maybe_created or not outcome.retryable or \
                retries_taken >= max_retries:
            return None, maybe_created
        return _backoff(retries_taken), False
    status, headers = answer.status, answer.headers
    maybe_created = create and (status >= 500 or status == 408)
    should = headers.get("x-should-retry")
    if should in ("true", "false"):
        retry = should == "true"
    elif create:
        retry = status == 429
    else:
        retry = _status_is_retryable(status) and not (
            request.stream and status in _STREAM_REFUSED_STATUSES)
    hint = _retry_after(headers)
    if not retry or retries_taken >= max_retries or \
            (hint is not None and hint > _MAX_RETRY_AFTER):
        return None, maybe_created
    return (_backoff(retries_taken) if hint is None else hint), False


def _status_is_retryable(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= 500


def _keeps_waiting(exc: APIError, reached_server: bool) -> bool:
    """Whether a wait goes on after a poll failed: yes for what a retry
    could mend - but a connection error before any request ever reached a
    server is a wrong base URL or proxy, not a hiccup."""
    if isinstance(exc, APIConnectionError):
        return reached_server or isinstance(exc, APITimeoutError)
    if isinstance(exc, APIStatusError):
        return _status_is_retryable(exc.status_code)
    return False


def _seconds(value: Optional[str], per_second: float = 1.0
             ) -> Optional[float]:
    """A header's non-negative finite number as seconds, or None (absent,
    garbage, NaN, infinite, negative)."""
    if value is None:
        return None
    try:
        seconds = float(value) / per_second
    except ValueError:
        return None
    return seconds if 0 <= seconds < float("inf") else None


def _retry_after(headers: Union[http.client.HTTPMessage, Mapping[str, str]]
                 ) -> Optional[float]:
    """The server's requested delay in seconds, or None if it gave none
    (or gave something that is not a number or a date)."""
    seconds = _seconds(headers.get("retry-after-ms"), 1000.0)
    if seconds is not None:
        return seconds
    value = headers.get("retry-after")
    seconds = _seconds(value)
    if seconds is not None or value is None:
        return seconds
    import email.utils
    try:
        date = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return None if date is None else max(0.0, date.timestamp() - time.time())


def _backoff(retries_taken: int) -> float:
    import random
    delay = min(_INITIAL_RETRY_DELAY * 2.0 ** retries_taken, _MAX_RETRY_DELAY)
    return delay * (1 - 0.25 * random.random())


###############################################################################
# Transport: kept-alive connections, each exchange bounded by a deadline
###############################################################################
# The one seam between the client and the network.  Built on http.client's
# answer parser over sockets this module opens itself, so that it controls
# what "sent" means (a CONNECT or a TLS handshake is not sending the
# request), bounds every read by the attempt's deadline, and keeps
# connections alive between polls: over TLS a new connection costs three
# round trips, a kept-alive one costs one.

#: Idle connections kept per host (and proxy): at least as many as threads
#: that poll at once.
_POOL_MAX_IDLE = 32
#: Seconds an idle connection is kept: under the 4-minute idle cut of common
#: load balancers, which drop flows silently.
_POOL_IDLE_SECONDS = 60.0
_READ_CHUNK = 64 * 1024
_MAX_HEAD_BYTES = 64 * 1024


class _Endpoint:
    """Where a base URL points."""

    __slots__ = ("scheme", "host", "port", "prefix")

    def __init__(self, scheme: str, host: str, port: int, prefix: str) -> None:
        self.scheme, self.host, self.port, self.prefix = \
            scheme, host, port, prefix


class _Route:
    """How to reach an endpoint: directly, through an HTTP proxy, or through
    a proxy's CONNECT tunnel; ``key`` tells connections apart in the pool."""

    __slots__ = ("endpoint", "host_header", "connect_to", "tunnel",
                 "proxy_authorization", "absolute", "key")

    def __init__(self, endpoint: _Endpoint, proxy: Optional[str]) -> None:
        self.endpoint = endpoint
        host = "[%s]" % endpoint.host if ":" in endpoint.host else endpoint.host
        default_port = 443 if endpoint.scheme == "https" else 80
        self.host_header = host if endpoint.port == default_port else \
            "%s:%d" % (host, endpoint.port)
        self.connect_to = (endpoint.host, endpoint.port)
        self.proxy_authorization: Optional[str] = None
        self.tunnel = self.absolute = False
        if proxy is not None:
            self._through(proxy)
        self.key = (endpoint.scheme, endpoint.host, endpoint.port,
                    self.connect_to, self.tunnel, self.proxy_authorization)

    def _through(self, proxy: str) -> None:
        import urllib.parse
        parts = urllib.parse.urlsplit(proxy if "://" in proxy
                                      else "http://" + proxy)
        self.connect_to = (parts.hostname or "", parts.port or 8080)
        self.tunnel = self.endpoint.scheme == "https"
        self.absolute = not self.tunnel
        if parts.username is not None:
            import base64
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            token = base64.b64encode(("%s:%s" % (user, password))
                                     .encode("utf-8")).decode("ascii")
            _add_secrets([password, token])
            self.proxy_authorization = "Basic " + token


class _Request:
    """One request as every attempt sends it."""

    __slots__ = ("method", "path", "base_url", "url", "headers", "body",
                 "create", "stream", "limit", "sent")

    def __init__(self, client: Client, method: str, path: str,
                 payload: Optional[JSONDict], create: bool, stream: bool,
                 query: str) -> None:
        query = "&".join(q for q in (query, client._query) if q)
        self.method = method
        self.path = path + ("?" + query if query else "")
        self.base_url = client.base_url
        self.url = client.base_url + self.path  # redacted where it is shown
        self.body: Optional[bytes] = None
        headers = client._current_headers()
        if payload is not None or method == "POST":
            # A cancel has an empty body, and no form Content-Type.
            self.body = b"" if payload is None else _json_body(payload)
            headers = dict(headers, **{"Content-Type": "application/json"})
        if stream:
            headers = dict(headers, Accept="text/event-stream")
        self.headers = headers
        self.create = create
        self.stream = stream
        self.limit = client.max_response_bytes
        self.sent = False  # did a byte of it leave this machine?

    def encode(self, route: _Route) -> bytes:
        endpoint = route.endpoint
        target = endpoint.prefix + self.path
        if route.absolute:
            target = "%s://%s%s" % (endpoint.scheme, route.host_header, target)
        lines = ["%s %s HTTP/1.1" % (self.method, target),
                 "Host: " + route.host_header]
        lines.extend("%s: %s" % item for item in self.headers.items())
        if route.absolute and route.proxy_authorization:
            lines.append("Proxy-Authorization: " + route.proxy_authorization)
        if self.body is not None:
            lines.append("Content-Length: %d" % len(self.body))
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head + (self.body or b"")


class _Answer:
    """A final HTTP answer: status, headers, and the body (read whole, or
    for an event stream, read as it arrives through :meth:`read_chunk`)."""

    __slots__ = ("status", "reason", "headers", "body", "where", "_live")

    def __init__(self, request: _Request, response: http.client.HTTPResponse,
                 body: bytes, live: Optional[_LiveBody] = None) -> None:
        self.status = response.status
        self.reason = response.reason
        self.headers = response.headers
        self.body = body
        self.where = "%s %s" % (request.method, request.url)
        self._live = live

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def is_event_stream(self) -> bool:
        return self._live is not None

    def read_chunk(self) -> bytes:
        """The next bytes of a stream; ``b""`` when it ended cleanly."""
        return self._live.read_chunk() if self._live is not None else b""

    def limit_silence(self, seconds: float) -> None:
        if self._live is not None:
            self._live.limit_silence(seconds)

    def close(self) -> None:
        if self._live is not None:
            self._live.close()


class _Outcome:
    """One attempt: an answer, or an error with what the retry policy needs
    (whether a byte was sent, whether trying again could help)."""

    __slots__ = ("answer", "error", "sent", "retryable")

    def __init__(self, answer: Optional[_Answer] = None,
                 error: Optional[APIError] = None, sent: bool = False,
                 retryable: bool = False) -> None:
        self.answer, self.error = answer, error
        self.sent, self.retryable = sent, retryable


class _DeadlineReader(io.RawIOBase):
    """Socket reads that block only until the attempt's deadline - or, for a
    stream past its headers, ``idle`` seconds of silence each - so a server
    that trickles bytes cannot hold a call past ``timeout``."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self.sock = sock
        self.deadline = deadline
        self.idle: Optional[float] = None
        self.started = False  # has a byte of the answer arrived?

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.sock.settimeout(self.idle if self.idle is not None
                             else _remaining(self.deadline))
        count = self.sock.recv_into(buffer)
        if count:
            self.started = True
        return count


class _AnswerFile(io.BufferedReader):
    """The buffered reader of one answer.  Flushing a reader does nothing;
    this one also does nothing once closed, so that http.client's answer
    objects, collected after their file, never complain."""

    def flush(self) -> None:
        pass


class _FileOf:
    """What http.client's answer parser wants of a socket: ``makefile``."""

    def __init__(self, file: io.BufferedIOBase) -> None:
        self.file = file

    def makefile(self, *args: object, **kwargs: object) -> io.BufferedIOBase:
        return self.file


class _NoAnswer(Exception):
    """Internal: the connection failed before a byte of the answer came."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _Connection:
    """One open socket (plain, TLS, or TLS through a tunnel)."""

    __slots__ = ("sock", "route", "idle_since", "session_saved")

    def __init__(self, sock: socket.socket, route: _Route) -> None:
        self.sock = sock
        self.route = route
        self.idle_since = 0.0
        self.session_saved = False

    def is_stale(self) -> bool:
        """An idle connection with something to read has been closed (or
        broken) by the server."""
        pending = getattr(self.sock, "pending", None)
        if pending is not None and pending():
            return True
        import select
        if hasattr(select, "poll"):  # select() breaks above fd 1023
            poller = select.poll()
            poller.register(self.sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([self.sock], [], [], 0)[0])

    def close(self) -> None:
        self.sock.close()


class _LiveBody:
    """The rest of a streamed answer, on its connection."""

    def __init__(self, transport: _Transport, conn: _Connection,
                 response: http.client.HTTPResponse, request: _Request,
                 reader: _DeadlineReader, idle: float) -> None:
        self.transport = transport
        self.conn: Optional[_Connection] = conn
        self.response = response
        self.request = request
        self.reader = reader
        self.idle = idle

    def limit_silence(self, seconds: float) -> None:
        """Wait at most ``seconds`` (and never more than ``timeout``) for
        the next bytes: what is left of a wait bounds its stream too."""
        self.reader.idle = max(min(self.idle, seconds), 0.001)

    def read_chunk(self) -> bytes:
        if self.conn is None:
            return b""
        import http.client
        try:
            chunk = self.response.read1(_READ_CHUNK)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            if _is_timeout(exc):
                raise APITimeoutError(
                    "%s %s: no bytes for %.3g s (the stream went quiet)"
                    % (self.request.method, self.request.url,
                       self.reader.idle or self.idle),
                    method=self.request.method, url=self.request.url,
                    silence=self.reader.idle or self.idle) from None
            raise _transport_error(exc, self.request, self.idle)[0] from None
        if not chunk:
            conn, self.conn = self.conn, None
            self.transport.finished(conn, self.response)
        return chunk

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()


# Every live transport, so that a forked child drops its parent's idle
# connections before its first request.
_TRANSPORTS: "weakref.WeakSet[_Transport]" = weakref.WeakSet()


def _forget_parents_connections() -> None:
    for transport in list(_TRANSPORTS):
        transport.forget_parent()


if hasattr(os, "register_at_fork"):  # POSIX; elsewhere there is no fork
    os.register_at_fork(after_in_child=_forget_parents_connections)


class _Transport:
    """Every socket of one client: a pool of idle connections per route
    (most recently used first), TLS sessions to resume, and the exchange."""

    def __init__(self, ssl_context: Optional[ssl.SSLContext],
                 ca_bundle: Optional[str]) -> None:
        self._context = ssl_context
        self._ca_bundle = ca_bundle
        self._lock = threading.Lock()
        self._idle: Dict[Tuple[object, ...], List[_Connection]] = {}
        self._sessions: Dict[Tuple[object, ...], Any] = {}
        self._routes: Dict[str, _Route] = {}
        _TRANSPORTS.add(self)
        # Connections opened, and TLS sessions resumed: for tests and the
        # benchmark.
        self.opened = self.resumed = 0

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    def attempt(self, request: _Request, timeout: float) -> _Outcome:
        """One exchange within ``timeout`` seconds.  A kept-alive connection
        that turns out dead before answering is replaced at once (no retry
        spent); a create always goes out on a new connection."""
        import http.client
        deadline = time.monotonic() + timeout
        route = self._route(request.base_url)
        conn = None if request.create else self._checkout(route)
        while True:
            request.sent, reused = False, conn is not None
            try:
                if conn is None:
                    conn = self._open(route, deadline)
                return _Outcome(self._exchange(conn, request, deadline,
                                               timeout))
            except _NoAnswer as exc:
                _close(conn)
                if reused:
                    conn = None
                    continue
                error: BaseException = exc.cause
            except APIError as exc:  # an oversized body: no retry helps
                _close(conn)
                return _Outcome(error=exc, sent=request.sent)
            except (OSError, http.client.HTTPException) as exc:
                _close(conn)
                error = exc
            except BaseException:
                _close(conn)  # a half-read answer is never reused
                raise
            api_error, retryable = _transport_error(error, request, timeout)
            return _Outcome(error=api_error, sent=request.sent,
                            retryable=retryable)

    def _exchange(self, conn: _Connection, request: _Request,
                  deadline: float, timeout: float) -> _Answer:
        import http.client
        reader = _DeadlineReader(conn.sock, deadline)
        try:
            conn.sock.settimeout(_remaining(deadline))
            request.sent = True
            conn.sock.sendall(request.encode(conn.route))
            response = _read_head(reader, request.method)
        except (OSError, http.client.HTTPException) as exc:
            if reader.started or _is_timeout(exc):
                raise
            raise _NoAnswer(exc) from None
        if request.stream and response.status // 100 == 2 and \
                (response.headers.get("content-type") or "").startswith(
                    "text/event-stream"):
            reader.idle = timeout
            return _Answer(request, response, b"",
                           _LiveBody(self, conn, response, request, reader,
                                     timeout))
        body = _read_body(response, request.limit, request)
        self.finished(conn, response)
        return _Answer(request, response, body)

    def finished(self, conn: _Connection, response: http.client.HTTPResponse
                 ) -> None:
        """A whole answer was read: keep the connection, unless the server
        said it closes it."""
        tls: Any = conn.sock
        if not conn.session_saved and hasattr(tls, "session"):
            # Under TLS 1.3 the ticket comes after the handshake: read it
            # once, after the first answer, to resume the next connection.
            self._sessions[conn.route.key] = tls.session
            conn.session_saved = True
        if response.will_close or not response.isclosed():
            conn.close()
            return
        conn.idle_since = time.monotonic()
        with self._lock:
            idle = self._idle.setdefault(conn.route.key, [])
            idle.append(conn)
            if len(idle) > _POOL_MAX_IDLE:
                idle.pop(0).close()

    def _checkout(self, route: _Route) -> Optional[_Connection]:
        now = time.monotonic()
        with self._lock:
            idle = self._idle.get(route.key)
            while idle:
                conn = idle.pop()
                if now - conn.idle_since < _POOL_IDLE_SECONDS and \
                        not conn.is_stale():
                    return conn
                conn.close()
        return None

    def forget_parent(self) -> None:
        """After ``os.fork()`` the child must not talk on its parent's
        connections (closing its copies does not touch the parent's)."""
        self._lock = threading.Lock()  # another thread may have held it
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    def _route(self, base_url: str) -> _Route:
        route = self._routes.get(base_url)
        if route is None:
            endpoint = _parse_endpoint(base_url)
            route = _Route(endpoint, _proxy_for(endpoint))
            self._routes[base_url] = route
        return route

    def _open(self, route: _Route, deadline: float) -> _Connection:
        import socket
        sock = socket.create_connection(route.connect_to,
                                        _remaining(deadline))
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if route.tunnel:
                _open_tunnel(sock, route, deadline)
            if route.endpoint.scheme == "https":
                sock.settimeout(_remaining(deadline))
                sock = self._tls_context().wrap_socket(
                    sock, server_hostname=route.endpoint.host,
                    session=self._sessions.get(route.key))
                self.resumed += bool(sock.session_reused)
        except BaseException:
            sock.close()
            raise
        self.opened += 1
        return _Connection(sock, route)

    def _tls_context(self) -> ssl.SSLContext:
        if self._context is None:
            # Loading the system CAs costs tens of milliseconds: only pay
            # for it when a URL needs TLS.
            import ssl
            self._context = ssl.create_default_context(cafile=self._ca_bundle)
        return self._context


def _close(conn: Optional[_Connection]) -> None:
    if conn is not None:
        conn.close()


def _is_timeout(exc: BaseException) -> bool:
    import socket
    return isinstance(exc, (TimeoutError, socket.timeout))


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the deadline passed")
    return left


def _proxy_for(endpoint: _Endpoint) -> Optional[str]:
    """The proxy from ``HTTPS_PROXY`` / ``HTTP_PROXY`` unless ``NO_PROXY``
    exempts the host, as urllib reads them."""
    import urllib.request
    proxy = urllib.request.getproxies().get(endpoint.scheme)
    if proxy and not urllib.request.proxy_bypass(endpoint.host):
        return proxy
    return None


def _open_tunnel(sock: socket.socket, route: _Route, deadline: float) -> None:
    """CONNECT through an HTTPS proxy.  Nothing of the request has left
    yet: a failure here is a connection error any request may retry."""
    target = "%s:%d" % (route.endpoint.host, route.endpoint.port)
    lines = ["CONNECT %s HTTP/1.1" % target, "Host: " + target]
    if route.proxy_authorization:
        lines.append("Proxy-Authorization: " + route.proxy_authorization)
    sock.settimeout(_remaining(deadline))
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    head = bytearray()
    while head[-4:] != b"\r\n\r\n":  # the end only: no rescan per byte
        if len(head) > _MAX_HEAD_BYTES:
            raise ConnectionError("the proxy's CONNECT answer is too long")
        sock.settimeout(_remaining(deadline))
        byte = sock.recv(1)  # byte by byte: what follows belongs to TLS
        if not byte:
            raise ConnectionError("the proxy closed the connection during "
                                  "CONNECT")
        head += byte
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[1].startswith("2"):
        raise ConnectionError("the proxy refused CONNECT %s: %s"
                              % (target, status_line or "no answer"))


def _read_head(reader: _DeadlineReader, method: str
               ) -> http.client.HTTPResponse:
    """The final answer's status and headers.  Interim 1xx answers (103
    Early Hints, 102 Processing) are skipped, as RFC 9110 requires."""
    import http.client
    file = _AnswerFile(reader, _READ_CHUNK)
    sock: Any = _FileOf(file)
    while True:
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()
        if response.status >= 200 or response.status == 101:
            return response
        vars(response)["fp"] = None  # keep the shared file open


def _read_body(response: http.client.HTTPResponse, limit: int,
               request: _Request) -> bytes:
    # ``length`` is http.client's reading of Content-Length: None when the
    # body is chunked or runs to the end of the connection.
    if response.length is not None:
        if response.length > limit:
            raise ResponseTooLargeError(
                "the response body is %d bytes, over the limit of %d bytes "
                "(max_response_bytes)" % (response.length, limit),
                limit=limit, method=request.method, url=request.url)
        return bytes(response.read())
    chunks: List[bytes] = []
    size = 0
    while True:
        chunk = response.read1(_READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise ResponseTooLargeError(
                "the response body exceeds the limit of %d bytes "
                "(max_response_bytes)" % limit,
                limit=limit, method=request.method, url=request.url)
        chunks.append(chunk)


def _transport_error(exc: BaseException, request: _Request, timeout: float
                     ) -> Tuple[APIError, bool]:
    """The error class for a failed exchange, and whether another attempt
    could help (an untrusted certificate will not become trusted)."""
    import ssl
    where = "%s %s" % (request.method, request.url)
    if _is_timeout(exc):
        return APITimeoutError(
            "%s timed out (timeout=%g s for the whole attempt)"
            % (where, timeout), method=request.method, url=request.url), True
    detail = str(exc) or type(exc).__name__
    if type(exc).__name__ == "IncompleteRead":
        detail = "the connection closed before the whole answer arrived"
    error = APIConnectionError("%s failed: %s: %s" % (
        where, type(exc).__name__, detail), method=request.method,
        url=request.url)
    verify_error = getattr(ssl, "SSLCertVerificationError", ())
    return error, not isinstance(exc, verify_error)


###############################################################################
# Command-line interface
###############################################################################

#: Exit codes of the command-line tool.
EXIT_OK = 0             # completed (create: accepted; cancel: now cancelled)
EXIT_NOT_COMPLETED = 1  # the job ended failed, cancelled or incomplete
EXIT_USAGE = 2          # bad arguments or configuration
EXIT_API_ERROR = 3      # the API answered with an error
EXIT_NETWORK_ERROR = 4  # network, TLS, proxy or request timeout
EXIT_WAIT_TIMEOUT = 5   # wait/run: --timeout passed
EXIT_PENDING = 6        # poll: the job is still queued or in progress
EXIT_OUTPUT_ERROR = 7   # stdout could not be written (closed, full, pipe)
EXIT_INTERNAL = 70      # a bug: please report it
EXIT_INTERRUPTED = 130  # Ctrl-C, SIGTERM or SIGHUP

_CLI_EXAMPLES = """\
examples:
  openai-bg run --model o4-mini-deep-research --tool web_search_preview \\
      "What changed in EU AI regulation this month?"
  id=$(openai-bg create --model o3-deep-research --tool web_search_preview - < question.txt)
  openai-bg wait "$id" --timeout 3600 --cancel-on-timeout > answer.txt
  openai-bg poll "$id" --json
  openai-bg cancel "$id"
  openai-bg jobs --refresh          # every job started here, even by a dead process
  openai-bg result "$id" > answer.md
  openai-bg run --each questions.txt --parallel 4 --out answers/ --model o4-mini-deep-research
  openai-bg watch                   # every unfinished job, until all end
  OPENAI_WEBHOOK_SECRET=whsec_... openai-bg listen --port 8000 --fetch

exit codes: 0 completed, 1 failed/cancelled/incomplete, 2 usage error,
3 API error, 4 network error, 5 wait timed out, 6 still running (poll),
7 could not write the output, 130 interrupted.  Configuration:
OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_ORG_ID, OPENAI_PROJECT_ID,
OPENAI_WEBHOOK_SECRET, OPENAI_BG_JOURNAL, HTTPS_PROXY, REQUESTS_CA_BUNDLE,
OPENAI_LOG.
"""

# Settings as a CLI user gives them (SettingError.setting -> words).
_CLI_SETTINGS = {
    "api_key": "$OPENAI_API_KEY",
    "base_url": "--base-url (or $OPENAI_BASE_URL)",
    "organization": "$OPENAI_ORG_ID", "project": "$OPENAI_PROJECT_ID",
    "secret": "the webhook secret ($OPENAI_WEBHOOK_SECRET or --secret-file)",
}
# A socket timeout beyond this is a typo (the library refuses it too).
_LONGEST_REQUEST = 7 * 24 * 3600.0
_log = logging.getLogger("openai_bg")
# Off a terminal, a status line at least this often: a cron log shows the
# job alive.
_HEARTBEAT_SECONDS = 60.0
# On a terminal, the live line is redrawn this often, whatever arrives.
_TICK_SECONDS = 1.0
# Body parameters that have their own option (or none): --param may not set.
_RESERVED_PARAMS = {"model": "--model", "input": "INPUT",
                    "instructions": "--instructions",
                    "stream": "--no-stream / --stream"}

_ESCAPE_SEQUENCE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-_]?)")
_UNSAFE_CHARACTER = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


class _UsageError(Exception):
    """A mistake in the command line or configuration: exit 2."""


class _OutputError(Exception):
    """stdout cannot be written (closed, full, or a closed pipe)."""


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The ``openai-bg`` command; returns the exit code.  Called in-process,
    it restores the signal handlers and logging it changed."""
    console = _Console()
    restore = _take_over_process(console)
    try:
        return _run_cli(argv, console)
    finally:
        console.end_live_line()
        restore()


def _run_cli(argv: Optional[Sequence[str]], console: _Console) -> int:
    args: Optional[argparse.Namespace] = None
    try:
        args = _parse_cli(argv, console)
        return _COMMANDS[args.command](args, console)
    except SystemExit as exc:  # argparse: --help, --version, usage
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except BaseException as exc:
        console.end_live_line()
        response_id = exc.response_id if isinstance(
            exc, (OpenAIError, JobInterrupted)) else None
        response_id = response_id or \
            getattr(args, "response_id", None)
        code = _cli_failure(exc, console, response_id)
        if code is None:
            raise
        return code


def _parse_cli(argv: Optional[Sequence[str]], console: _Console
               ) -> argparse.Namespace:
    if argv is None:
        argv = [_argument_text(arg, number)
                for number, arg in enumerate(sys.argv[1:], 1)]
    parser, commands = _cli_parser(argv)
    args, extra = parser.parse_known_args(argv)
    if extra:  # a command's own usage, not the top-level one
        commands.get(getattr(args, "command", ""), parser).error(
            "unrecognized arguments: %s" % " ".join(extra))
    return args


def _argument_text(arg: str, number: int) -> str:
    """An argument as UTF-8, whatever the locale decoded it as."""
    try:
        return os.fsencode(arg).decode("utf-8")
    except UnicodeError:
        raise _UsageError("argument %d is not valid UTF-8" % number) from None


def _cli_failure(exc: BaseException, console: _Console,
                 response_id: Optional[str]) -> Optional[int]:
    """Print one line for a failure and return its exit code (None: not
    ours to handle)."""
    job = " (response %s)" % response_id if response_id else ""
    if isinstance(exc, KeyboardInterrupt):
        console.say("openai-bg: interrupted%s" % (
            "; response %s was left as it was" % response_id
            if response_id else ""))
        return EXIT_INTERRUPTED
    if isinstance(exc, _OutputError):
        console.say("openai-bg: could not write to stdout (%s)%s" % (
            exc, "; fetch it again with: openai-bg poll %s" % response_id
            if response_id else ""))
        return EXIT_OUTPUT_ERROR
    if isinstance(exc, APIConnectionError):
        console.say("openai-bg: network error: %s%s" % (exc, job))
        return EXIT_NETWORK_ERROR
    if isinstance(exc, APIError):
        console.say("openai-bg: API error: %s%s" % (
            exc, "" if response_id is None or response_id in str(exc)
            else job))
        return EXIT_API_ERROR
    if isinstance(exc, SettingError):
        console.say("openai-bg: error: %s %s" % (_CLI_SETTINGS.get(
            exc.setting, exc.setting), exc.problem))
        return EXIT_USAGE
    if isinstance(exc, (_UsageError, OpenAIError)):
        console.say("openai-bg: error: %s" % exc)
        return EXIT_USAGE
    if isinstance(exc, Exception):
        console.say("openai-bg: internal error (please report it): %s: %s%s"
                    % (type(exc).__name__, exc, job))
        return EXIT_INTERNAL
    return None


def _json_or_none(text: str) -> object:
    """``text`` as JSON, or None when it is not JSON (``NaN``, ``Infinity``
    and numbers beyond a float are not: no API would take them)."""
    try:
        return json.loads(text, parse_constant=_refuse, parse_float=_finite)
    except (ValueError, RecursionError):
        return None


def _refuse(text: str) -> None:
    raise ValueError(text)


def _finite(text: str) -> float:
    number = float(text)
    if number - number != 0:  # inf or nan
        raise ValueError(text)
    return number


def _text_of(value: object) -> str:
    return value if isinstance(value, str) else ""


def _list_of_dicts(value: object) -> List[JSONDict]:
    return [v for v in value if isinstance(v, dict)] \
        if isinstance(value, list) else []


def _cli_parser(argv: Sequence[str] = ()) -> Tuple[
        argparse.ArgumentParser, Dict[str, argparse.ArgumentParser]]:
    """The parser.  Only the commands named in ``argv`` (all of them when
    none is) get their options: building every one costs a short
    command like ``jobs`` a good part of its time."""
    import argparse
    named = {name for name, *_ in _CLI_COMMANDS if name in argv} or \
        {name for name, *_ in _CLI_COMMANDS}
    formatter = argparse.RawDescriptionHelpFormatter
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="openai-bg", parents=[common], formatter_class=formatter,
        description="Create, poll, wait for, stream and cancel OpenAI "
                    "background responses; receive their webhooks.",
        epilog=_CLI_EXAMPLES)
    parser.add_argument("--version", action="version",
                        version="openai-bg " + __version__)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    commands = {}
    for name, summary, example, options in _CLI_COMMANDS:
        sub = subparsers.add_parser(
            name, parents=[common] if name in named else [], help=summary,
            description=summary, formatter_class=formatter,
            epilog="example:\n  " + example)
        for group in options if name in named else ():
            for row in _CLI_ARGUMENTS[group]:
                _add_argument(sub, row)
        commands[name] = sub
    return parser, commands


def _common_options() -> argparse.ArgumentParser:
    """Options accepted before or after the command; SUPPRESS keeps a
    command's absent option from hiding one given before it."""
    import argparse
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection and output")
    for row in _CLI_ARGUMENTS["common"]:
        _add_argument(group, row, argparse.SUPPRESS)
    return common


def _add_argument(parser: Any, row: Tuple[str, str, str],
                  default: object = None) -> None:
    """Add one row of :data:`_CLI_ARGUMENTS`."""
    name, takes, help_text = row
    words = takes.split()
    options: Dict[str, Any] = {"help": help_text or None}
    if not words:
        options.update(action="store_true", default=default or False)
        parser.add_argument(name, **options)
        return
    options.update(metavar=words[0], default=default)
    numbers = [float(w) for w in words[1:] if w[0].isdigit() or w == "inf"]
    options["type"] = _response_id_option if words[0] == "ID" else \
        _count_option if words[0] == "N" else \
        _seconds_option(*numbers) if numbers else None
    for word in words[1:]:
        if word in ("?", "+", "*") and not name.startswith("-"):
            options["nargs"] = word
        elif word == "*":
            options.update(action="append", default=[])
        elif word == "!":
            options["required"] = True
        elif word.startswith("="):
            options["default"] = options["type"](word[1:]) \
                if options["type"] else word[1:]
    parser.add_argument(name, **options)


def _seconds_option(minimum: float, maximum: float) -> Callable[[str], float]:
    import argparse

    def seconds(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(
                "want seconds from %g to %g, got %r%s" % (
                    minimum, maximum, text, " (no busy loops)"
                    if value < minimum else ""))
        return value
    return seconds


def _count_option(text: str) -> int:
    import argparse
    if not text.isdigit():
        raise argparse.ArgumentTypeError("want a whole number >= 0, got %r"
                                         % text)
    return int(text)


def _response_id_option(text: str) -> str:
    import argparse
    text = text.strip()  # a copied id often brings a newline along
    try:
        return check_response_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# Every argument, a row each: (name, what it takes, help).  What it takes:
# "" a switch; else a metavar (ID: a response id, N: a whole number, two
# numbers after it: seconds in that range), then "?", "+", "*" (how many;
# "*" on an option: repeatable), "!" (required), "=X" (the default).
_CLI_ARGUMENTS: Dict[str, Tuple[Tuple[str, str, str], ...]] = {
    "common": (
        ("--base-url", "URL", "API base URL (default: $OPENAI_BASE_URL or "
         "%s)" % DEFAULT_BASE_URL),
        ("--request-timeout", "S 0.001 %g" % _LONGEST_REQUEST, "seconds one "
         "HTTP request may take (default %g)" % DEFAULT_TIMEOUT),
        ("--max-retries", "N", "retries per request (default %d)"
         % DEFAULT_MAX_RETRIES),
        ("--ca-bundle", "FILE", "PEM file of CA certificates to trust"),
        ("--json", "", "print to_dict() and the raw response as JSON"),
        ("--no-journal", "", "do not record jobs in the local journal "
         "(also: OPENAI_BG_JOURNAL=off)")),
    "id": (("response_id", "ID", ""),),
    "ids": (("response_ids", "ID +", ""),),
    "prompt": (("input", "INPUT", "the prompt, or - to read it from stdin "
                "(UTF-8)"),),
    "create": (
        ("--model", "MODEL !", "e.g. o3-deep-research, o4-mini-deep-research"),
        ("--instructions", "TEXT", "system instructions"),
        ("--tool", "TYPE *", "add a built-in tool by type, e.g. "
         "web_search_preview (repeatable)"),
        ("--param", "KEY=JSON *", "any other body parameter, e.g. "
         "reasoning='{\"summary\":\"auto\"}' or max_tool_calls=20 (a value "
         "that is not JSON is sent as a string; repeatable)")),
    "waiting": (
        ("--timeout", "S 0.001 inf", "give up waiting after S seconds (exit "
         "5)"),
        ("--interval", "S %g 3600" % MIN_POLL_INTERVAL, "poll every S seconds "
         "(default: adaptive, 1 s growing to 30 s; at least %g)"
         % MIN_POLL_INTERVAL),
        ("--cancel-on-timeout", "", "cancel the job when --timeout passes")),
    "wait": (
        ("response_ids", "ID +", ""),
        ("--stream", "", "follow the job's event stream (works within "
         "minutes of the create); falls back to polling"),
        ("--any", "", "with several ids: return when the first ends"),
        ("--fail-fast", "", "with several ids: stop at the first that ends "
         "other than completed")),
    "run": (
        ("input", "INPUT ?", "the prompt, or - to read it from stdin (UTF-8); "
         "or --each FILE"),
        ("--each", "FILE", "one job per non-empty line of FILE (- for stdin; "
         "a line that is a JSON object gives that job's parameters with its "
         "input); a re-run resumes"),
        ("--parallel", "N =4", "with --each: at most N jobs running at once "
         "(default 4)"),
        ("--out", "DIR =.", "with --each: where each answer is written, as "
         "LINE-SLUG.md and .json (default: .)"),
        ("--no-cancel", "", "on Ctrl-C, leave the job running"),
        ("--no-stream", "", "poll only, instead of streaming the job's "
         "events"),
        ("--no-summaries", "", "do not ask for reasoning summaries (by "
         "default run sends reasoning={\"summary\": \"auto\"} unless "
         "--param reasoning=... is given)")),
    "watch": (
        ("response_ids", "ID *", ""),
        ("--interval", "S %g 3600" % MIN_POLL_INTERVAL, "poll every S seconds "
         "(default: adaptive)")),
    "cancel": (
        ("response_id", "ID ?", ""),
        ("--all-running", "", "cancel every unfinished job in the journal"),
        ("--yes", "", "do not ask first (needed off a terminal)")),
    "listen": (
        ("--host", "HOST =127.0.0.1", "address to listen on (default "
         "127.0.0.1)"),
        ("--port", "N =8000", "port (default 8000; 0 picks a free one)"),
        ("--path", "PATH =/", "the path OpenAI posts to (default /)"),
        ("--secret-file", "FILE", "read the webhook secret from FILE "
         "(default: $OPENAI_WEBHOOK_SECRET)"),
        ("--fetch", "", "also fetch each response.* event's response")),
    "jobs": (
        ("--all", "", "every job the journal holds"),
        ("--limit", "N", "at most N jobs, newest first"),
        ("--refresh", "", "poll every unfinished job first"),
        ("--prune", "DAYS 0 1e6", "remove finished jobs created more than "
         "DAYS days ago")),
}


_CLI_COMMANDS = (
    ("create", "start a background response and print its id",
     "openai-bg create --model o3-deep-research --tool web_search_preview "
     "'Survey of ...'", ("prompt", "create")),
    ("poll", "print a response's current state once",
     "openai-bg poll resp_123 --json", ("id",)),
    ("wait", "wait for responses to finish and print them",
     "openai-bg wait resp_123 --timeout 1800 --cancel-on-timeout",
     ("wait", "waiting")),
    ("watch", "watch jobs until they end (default: every unfinished job in "
              "the journal)", "openai-bg watch", ("watch",)),
    ("cancel", "cancel a background response (or every running one)",
     "openai-bg cancel resp_123", ("cancel",)),
    ("run", "create a response, follow it live and print it (Ctrl-C "
            "cancels the job)",
     "openai-bg run --model o4-mini-deep-research --tool web_search_preview "
     "'Question'", ("run", "create", "waiting")),
    ("listen", "receive OpenAI webhooks and print each verified event as "
               "one JSON line",
     "openai-bg listen --port 8000 --fetch | while read -r ev; do ...; done",
     ("listen",)),
    ("jobs", "list the jobs in the local journal (unfinished, and ended in "
             "the last 24 h)", "openai-bg jobs --refresh", ("jobs",)),
    ("result", "print a job's answer, from the journal when it holds it",
     "openai-bg result resp_123 > answer.md", ("id",)),
    ("forget", "remove jobs from the journal", "openai-bg forget resp_123",
     ("ids",)),
    ("delete", "delete a stored response (and mark it deleted in the "
               "journal)", "openai-bg delete resp_123", ("id",)),
)



def _cli_client(args: argparse.Namespace,
                console: Optional[_Console] = None) -> Client:
    """The client the command line's options describe; configuration errors
    name the options and variables, not the library's keywords.  It
    journals unless told not to; a journal that cannot be opened is one
    warning, and the command goes on without it."""
    options: Dict[str, Any] = {}
    for flag, keyword in (("base_url", "base_url"),
                          ("request_timeout", "timeout"),
                          ("max_retries", "max_retries")):
        if flag in args:
            options[keyword] = getattr(args, flag)
    if "ca_bundle" in args:
        import ssl
        try:
            options["ssl_context"] = ssl.create_default_context(
                cafile=args.ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise _UsageError("--ca-bundle %s: %s"
                              % (args.ca_bundle, exc)) from None
    try:
        client = Client(**options)
    except SettingError:
        raise
    except (ValueError, TypeError, OpenAIError) as exc:
        raise _UsageError(str(exc)) from None
    if console is not None and "no_journal" not in args:
        try:
            client.journal = _cli_journal()
        except JournalError as exc:
            console.say("openai-bg: warning: the journal is off for this "
                        "run: %s" % exc)
    return client


def _cli_journal() -> Optional[Journal]:
    return Journal() if default_journal_path() is not None else None


def _cli_track(client: Client, response_id: str, console: _Console) -> None:
    """Record a job the user names (started elsewhere, perhaps)."""
    if client.journal is not None:
        try:
            client.journal.track(response_id)
        except JournalError as exc:
            client.journal = None
            console.say("openai-bg: warning: the journal is off for this "
                        "run: %s" % exc)


def _cli_create_params(args: argparse.Namespace, console: _Console
                       ) -> JSONDict:
    text = _read_prompt(console) if args.input == "-" else args.input
    if not text.strip():
        raise _UsageError("the prompt (INPUT) is empty")
    return dict(_cli_base_params(args), input=text)


def _cli_base_params(args: argparse.Namespace) -> JSONDict:
    """The create parameters the options give (all but the input)."""
    if not args.model.strip():
        raise _UsageError("--model is empty")
    params: JSONDict = {"model": args.model}
    if args.instructions:
        params["instructions"] = args.instructions
    if args.tool:
        params["tools"] = [{"type": kind} for kind in args.tool]
    for item in args.param:
        key, value = _cli_param(item)
        params[key] = value
    return params


def _cli_param(item: str) -> Tuple[str, object]:
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise _UsageError("--param wants KEY=VALUE, got %r" % item)
    if key in _RESERVED_PARAMS:
        raise _UsageError("--param cannot set %r: use %s"
                          % (key, _RESERVED_PARAMS[key]))
    value = _json_or_none(text)
    if value is None and text.strip() != "null":
        value = text
    if key == "background" and value is not True:
        raise _UsageError("--param background=%s: openai-bg runs background "
                          "jobs only" % text)
    return key, value


def _read_prompt(console: _Console) -> str:
    stdin = sys.stdin
    if stdin is None:
        raise _UsageError("INPUT is - but stdin is closed; give the prompt "
                          "as an argument")
    if stdin.isatty():
        console.say("openai-bg: reading the prompt from stdin; end it with "
                    "Ctrl-D")
    data = stdin.buffer.read() if hasattr(stdin, "buffer") else \
        stdin.read().encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _UsageError("the prompt on stdin is not valid UTF-8 (byte %d)"
                          % exc.start) from None


# -- the commands -------------------------------------------------------------

def _cmd_create(args: argparse.Namespace, console: _Console) -> int:
    params = _cli_create_params(args, console)
    client = _cli_client(args, console)
    with HeldInterrupts(second_stops=True):  # the id, then the interrupt
        created = client.create_response(**params)
        args.response_id = created.response_id
    if "json" in args:
        console.print_json(created)
    else:
        console.print_text("%s\n" % created.response_id)
    return EXIT_OK if created.status != "failed" else \
        _cli_outcome(created, console)


def _cmd_poll(args: argparse.Namespace, console: _Console) -> int:
    client = _cli_client(args, console)
    _cli_track(client, args.response_id, console)
    result = client.poll_response(args.response_id)
    if result.done or "json" in args:
        console.print_response(result, "json" in args)
    if not result.done:
        console.say("openai-bg: response %s is %s"
                    % (result.response_id, result.status))
    return _cli_outcome(result, console)


def _cmd_cancel(args: argparse.Namespace, console: _Console) -> int:
    if args.all_running:
        if args.response_id:
            raise _UsageError("give an ID or --all-running, not both")
        return _cancel_all_running(args, console)
    if not args.response_id:
        raise _UsageError("cancel needs an ID (or --all-running)")
    client = _cli_client(args, console)
    _cli_track(client, args.response_id, console)
    result = client.cancel_response(args.response_id)
    console.print_response(result, "json" in args)
    if result.status == "cancelled":
        console.say("openai-bg: response %s cancelled" % result.response_id)
        return EXIT_OK
    console.say("openai-bg: response %s was not cancelled: it is %s"
                % (result.response_id, result.status))
    return EXIT_NOT_COMPLETED


def _cmd_wait(args: argparse.Namespace, console: _Console) -> int:
    ids = list(dict.fromkeys(args.response_ids))
    if len(ids) > 1:
        return _wait_for_many(ids, args, console)
    args.response_id = ids[0]
    client = _cli_client(args, console)
    _cli_track(client, args.response_id, console)
    progress = console.progress(announce=False)
    try:
        result = client.wait_response(
            args.response_id, timeout=args.timeout,
            poll_interval=args.interval, on_update=progress.update,
            cancel_on_timeout=args.cancel_on_timeout, stream=args.stream,
            on_event=progress.event)
    except WaitTimeoutError as exc:
        return _cli_timed_out(exc, args, console)
    return _cli_finished(result, args, console)


def _wait_for_many(ids: List[str], args: argparse.Namespace,
                   console: _Console) -> int:
    """``wait ID ID ...``: each answer as its job ends, under a header line
    (or one JSON object per line); exit 0 only if all completed."""
    if args.stream:
        raise _UsageError("--stream follows one job; several are polled")
    client = _cli_client(args, console)
    for response_id in ids:
        _cli_track(client, response_id, console)
    ended: List[Outcome] = []
    try:
        for outcome in client.as_completed(ids, timeout=args.timeout,
                                           poll_interval=args.interval):
            ended.append(outcome)
            _print_outcome(outcome, len(ended), len(ids), args, console)
            if args.any or (args.fail_fast and not outcome.completed):
                break
    except WaitTimeoutError as exc:
        cancelled = args.cancel_on_timeout and all(
            [_cancel_saying(client, rid, console) for rid in exc.pending])
        console.say("openai-bg: %d of %d still pending after %.1f s: %s%s" % (
            len(exc.pending), len(ids), exc.elapsed, " ".join(exc.pending),
            "; cancelled" if cancelled else ""))
        return EXIT_WAIT_TIMEOUT
    return EXIT_OK if all(o.completed for o in ended) and (
        args.any or len(ended) == len(ids)) else EXIT_NOT_COMPLETED


def _print_outcome(outcome: Outcome, count: int, total: int,
                   args: argparse.Namespace, console: _Console) -> None:
    rid, response = outcome.response_id, outcome.response
    what = outcome.status or "error: %s" % outcome.error
    console.say("openai-bg: %s ended %s (%d of %d)" % (rid, what, count, total))
    if "json" in args:
        document: JSONDict = dict(
            _json_document(response) if response is not None else
            {"id": rid, "status": None, "text": None, "response": None,
             "raw": None}, error=str(outcome.error) if outcome.error else None)
        console.print_text(json.dumps(document, ensure_ascii=True) + "\n")
        return
    console.print_text("== %s: %s ==\n" % (rid, outcome.status or "error"))
    if response is not None:
        console.print_response(response, False)


def _cancel_saying(client: Client, response_id: str,
                   console: _Console) -> bool:
    try:
        return client.cancel_response(response_id).status == "cancelled"
    except OpenAIError as exc:
        console.say("openai-bg: could not cancel %s: %s" % (response_id, exc))
        return False


def _cmd_watch(args: argparse.Namespace, console: _Console) -> int:
    client = _cli_client(args, console)
    journal = client.journal
    ids = list(dict.fromkeys(args.response_ids))
    if not ids:
        if journal is None:
            raise _UsageError("watch without ids lists the journal's "
                              "unfinished jobs, and the journal is off")
        ids = [e.response_id for e in _journal_call(journal.jobs)
               if not e.done and e.response_id]
        if not ids:
            console.say("openai-bg: no unfinished job in the journal")
            return EXIT_OK
    for response_id in ids:
        _cli_track(client, response_id, console)
    board = _Board(ids, journal, console, "json" in args)
    board.start()
    try:
        ended = list(client.as_completed(ids, poll_interval=args.interval,
                                         on_update=board.update))
    finally:
        board.stop()
    return EXIT_OK if all(o.completed for o in ended) else EXIT_NOT_COMPLETED


def _cmd_run(args: argparse.Namespace, console: _Console) -> int:
    if (args.input is None) == (args.each is None):
        raise _UsageError("run wants a prompt (INPUT) or --each FILE, "
                          "not both or neither")
    if args.each is not None:
        return _run_each(args, console)
    params = _cli_create_params(args, console)
    client = _cli_client(args, console)
    progress = console.progress(announce=True)
    summaries = not args.no_summaries and "reasoning" not in params
    if summaries:  # the live line's headlines come from these
        params["reasoning"] = {"summary": "auto"}
    try:
        try:
            result = _run_job(client, args, params, progress)
        except BadRequestError as exc:
            if not (summaries and _names_reasoning(exc)):
                raise
            # A 400 created no job: send it again without the summaries.
            console.say("openai-bg: %s: sending it again without reasoning "
                        "summaries" % exc.message)
            del params["reasoning"]
            result = _run_job(client, args, params, progress)
    except WaitTimeoutError as exc:
        code = _cli_timed_out(exc, args, console)
        if exc.cancelled and exc.response_id:
            _say_what_it_used(client, exc.response_id, console)
        return code
    except KeyboardInterrupt as interrupt:
        console.end_live_line()
        if not isinstance(interrupt, JobInterrupted):
            raise
        response_id, cancelled = interrupt.response_id, interrupt.cancelled
        console.say("openai-bg: interrupted; response %s %s" % (
            response_id, "is still running" if args.no_cancel else
            "cancelled" if cancelled else "could NOT be cancelled"))
        if cancelled:
            with HeldInterrupts(then_raise=False):
                _say_what_it_used(client, response_id, console)
        return EXIT_INTERRUPTED
    args.response_id = result.response_id
    return _cli_finished(result, args, console)


# -- run --each: one job per line, resumable -----------------------------------

class _Line:
    """One prompt of ``run --each``: its line number, create body and
    output files, and the job that answers it."""

    def __init__(self, number: int, params: JSONDict, out: str) -> None:
        self.number = number
        self.params = params
        slug = "-".join(re.findall(r"[a-z0-9]+", str(params["input"]).lower()))
        self.path = os.path.join(out, "%d-%s" % (number, slug[:40].strip("-")
                                                 or "prompt"))
        self.response_id: Optional[str] = None


def _run_each(args: argparse.Namespace, console: _Console) -> int:
    """``run --each FILE``: a job per line, at most ``--parallel`` at
    once, each answer written as it ends.  What the journal shows as
    completed is not created again (its files are written if missing),
    what is running is waited for, what failed is created again."""
    if args.parallel < 1:
        raise _UsageError("--parallel must be at least 1")
    lines = _each_lines(args, console)
    client = _cli_client(args, console)
    if client.journal is None:
        console.say("openai-bg: warning: without the journal a re-run "
                    "cannot resume; every line is created")
    todo: Deque[_Line] = collections.deque()
    running: Dict[str, _Line] = {}
    stuck = 0
    claimed: Set[str] = set()
    for line in lines:
        stuck += _resume(line, client, todo, running, claimed, console)
    board = _Board([], client.journal, console, False, to_stderr=True)
    board.start()
    failed = 0
    try:
        failed = _each_loop(client, args, todo, running, board, console)
    except KeyboardInterrupt:
        board.stop()
        for response_id in [] if args.no_cancel else list(running):
            _cancel_saying(client, response_id, console)
        console.say("openai-bg: interrupted; %d job%s %s; run the same "
                    "command again to go on" % (
                        len(running), _plural(len(running)),
                        "left running" if args.no_cancel else "cancelled"))
        return EXIT_INTERRUPTED
    board.stop()
    return EXIT_OK if not failed and not stuck else EXIT_NOT_COMPLETED


def _each_lines(args: argparse.Namespace, console: _Console) -> List[_Line]:
    if args.each == "-":
        text = _read_prompt(console)
    else:
        try:
            with open(args.each, "rb") as file:
                text = file.read().decode("utf-8-sig")
        except (OSError, UnicodeError) as exc:
            raise _UsageError("--each %s: %s" % (args.each, exc)) from None
    base = _cli_base_params(args)
    if not args.no_summaries and "reasoning" not in base:
        base["reasoning"] = {"summary": "auto"}
    os.makedirs(args.out, exist_ok=True)
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        extra = _json_or_none(raw) if raw.lstrip().startswith("{") else None
        if isinstance(extra, dict):
            if not isinstance(extra.get("input"), (str, list)):
                raise _UsageError("--each %s, line %d: a JSON line needs an "
                                  "\"input\"" % (args.each, number))
            lines.append(_Line(number, dict(base, **extra), args.out))
        else:
            lines.append(_Line(number, dict(base, input=raw.strip()),
                               args.out))
    if not lines:
        raise _UsageError("--each %s holds no prompt" % args.each)
    return lines


def _resume(line: _Line, client: Client, todo: Deque[_Line],
            running: Dict[str, _Line], claimed: Set[str],
            console: _Console) -> int:
    """Where a line stands after an earlier run; 1 if it is stuck."""
    found = client.journal.find(line.params) if client.journal else []
    # Two lines with the same prompt are two jobs: each takes its own.
    entry = next((e for e in found if e.response_id not in claimed), None)
    if entry is not None and entry.response_id:
        claimed.add(entry.response_id)
    if entry is None or entry.status in ("failed", "cancelled", "incomplete",
                                         "expired", "deleted"):
        todo.append(line)
    elif entry.response_id is None:  # it may have started a job: never twice
        console.say("openai-bg: line %d: a create at %s may or may not have "
                    "started a job, and none has its id; not created again "
                    "(check the dashboard)" % (line.number, time.strftime(
                        "%Y-%m-%d %H:%M:%S", time.localtime(entry.created_at))))
        return 1
    elif entry.status == "completed":
        line.response_id = entry.response_id
        full = client.journal.get(entry.response_id) if client.journal \
            else None
        if full is not None and full.response is not None:
            _write_answer(line, full.response)
        else:
            running[entry.response_id] = line  # its answer is polled
    else:
        running[entry.response_id] = line
    return 0


def _each_loop(client: Client, args: argparse.Namespace, todo: Deque[_Line],
               running: Dict[str, _Line], board: _Board,
               console: _Console) -> int:
    failed = 0
    for response_id in running:
        board.add(response_id)
    while todo or running:
        while todo and len(running) < args.parallel:
            line = todo.popleft()
            created = _create_line(client, line, console)
            if created is None:
                failed += 1
                continue
            running[created] = line
            board.add(created)
        for outcome in client.as_completed(list(running),
                                           poll_interval=args.interval,
                                           on_update=board.update):
            line = running.pop(outcome.response_id)
            if outcome.response is not None:
                _write_answer(line, outcome.response)
            if not outcome.completed:
                failed += 1
                console.say("openai-bg: line %d (%s) ended %s" % (
                    line.number, outcome.response_id,
                    outcome.status or outcome.error))
            break  # start the next one, then wait again
    return failed


def _create_line(client: Client, line: _Line,
                 console: _Console) -> Optional[str]:
    with HeldInterrupts(second_stops=True):  # the id, then the interrupt
        try:
            try:
                created = client.create_response(**line.params)
            except BadRequestError as exc:
                if "reasoning" not in line.params or not _names_reasoning(exc):
                    raise
                line.params = {k: v for k, v in line.params.items()
                               if k != "reasoning"}
                created = client.create_response(**line.params)
        except APIError as exc:
            console.say("openai-bg: line %d: %s" % (line.number, exc))
            return None
    line.response_id = created.response_id
    return created.response_id


def _write_answer(line: _Line, response: LlmResponse) -> None:
    """``N-slug.md`` (the answer and its sources) and ``N-slug.json``,
    each written whole (a kill mid-write leaves no half file)."""
    sources = _sources_text(response)
    for suffix, text in ((".md", (response.text.rstrip("\n") + "\n"
                                  if response.text else "") + sources),
                         (".json", json.dumps(_json_document(response),
                                              indent=2) + "\n")):
        temporary = line.path + suffix + ".part"
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, line.path + suffix)


def _run_job(client: Client, args: argparse.Namespace, params: JSONDict,
             progress: _Progress) -> LlmResponse:
    return client.create_and_wait(
        timeout=args.timeout, poll_interval=args.interval,
        on_update=progress.update, cancel_on_timeout=args.cancel_on_timeout,
        cancel_on_interrupt=not args.no_cancel, stream=not args.no_stream,
        on_event=progress.event, **params)


def _names_reasoning(exc: BadRequestError) -> bool:
    """Whether a 400 is about the reasoning parameter (a model without
    reasoning, or an organization not allowed summaries)."""
    return (exc.param or "").startswith("reasoning") or \
        "reasoning" in exc.message.lower()


def _say_what_it_used(client: Client, response_id: str,
                      console: _Console) -> None:
    """Poll a cancelled job once (the journal keeps its usage) and say what
    it cost."""
    try:
        response = client.poll_response(response_id)
    except OpenAIError as exc:
        console.say("openai-bg: could not read what response %s used: %s"
                    % (response_id, exc))
        return
    console.say("openai-bg: response %s used %s" % (
        response_id, _usage_words(_usage_of(response)) or "nothing reported"))


def _usage_of(response: LlmResponse) -> JSONDict:
    usage = response.usage_metadata
    searches = sum(1 for item in (response.raw or {}).get("output") or []
                   if isinstance(item, dict) and
                   item.get("type") == "web_search_call")
    return {"input_tokens": usage.prompt_token_count if usage else None,
            "output_tokens": usage.candidates_token_count if usage else None,
            "reasoning_tokens": usage.thinking_token_count if usage else None,
            "web_search_calls": searches}


def _usage_words(usage: Optional[JSONDict]) -> str:
    """``12,345 in / 6,789 out tokens (4,000 reasoning), 7 searches``."""
    if not usage or usage.get("input_tokens") is None:
        return ""
    text = "{:,} in / {:,} out tokens".format(usage["input_tokens"] or 0,
                                              usage["output_tokens"] or 0)
    if usage.get("reasoning_tokens"):
        text += " ({:,} reasoning)".format(usage["reasoning_tokens"])
    if usage.get("web_search_calls"):
        text += ", %d search%s" % (usage["web_search_calls"], "" if usage[
            "web_search_calls"] == 1 else "es")
    return text


# -- the journal's commands ----------------------------------------------------

def _cli_journal_or_fail() -> Journal:
    path = default_journal_path()
    if path is None:
        raise _UsageError("the journal is off (OPENAI_BG_JOURNAL=%s)"
                          % os.environ.get("OPENAI_BG_JOURNAL", ""))
    try:
        return Journal(path)
    except JournalError as exc:
        raise _UsageError(str(exc)) from None


def _cmd_jobs(args: argparse.Namespace, console: _Console) -> int:
    journal = _cli_journal_or_fail()
    if args.prune is not None:
        removed = _journal_call(journal.prune, args.prune)
        console.say("openai-bg: removed %d finished job%s" % (
            removed, _plural(removed)))
    if args.refresh:
        _refresh(journal, args, console)
    entries = _journal_call(journal.jobs, finished_within=None if args.all
                            else 86400.0, limit=args.limit)
    now = time.time()
    console.print_text("".join(
        (json.dumps(_entry_document(entry), ensure_ascii=True)
         if "json" in args else _entry_line(entry, now)) + "\n"
        for entry in entries))
    return EXIT_OK


def _journal_call(method: Callable[..., Any], *args: Any, **kwargs: Any
                  ) -> Any:
    try:
        return method(*args, **kwargs)
    except JournalError as exc:
        raise _UsageError(str(exc)) from None


def _refresh(journal: Journal, args: argparse.Namespace,
             console: _Console) -> List[JournalEntry]:
    """Poll every unfinished job with an id, a few at a time over one
    client's kept-alive connections; the journal takes each answer."""
    from concurrent.futures import ThreadPoolExecutor
    client = _cli_client(args)
    client.journal = journal
    running = [e for e in _journal_call(journal.jobs) if not e.done and
               e.response_id]

    def poll(entry: JournalEntry) -> None:
        try:
            client.poll_response(entry.response_id or "")
        except NotFoundError:
            pass  # the journal marked it expired
        except OpenAIError as exc:
            console.say("openai-bg: could not refresh %s: %s"
                        % (entry.response_id, exc))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(poll, running))
    client.close()
    return running


def _entry_document(entry: JournalEntry) -> JSONDict:
    return {"id": entry.response_id, "status": entry.status,
            "model": entry.model, "title": entry.title,
            "created_at": entry.created_at,
            "last_seen_at": entry.last_seen_at, "usage": entry.usage}


def _entry_line(entry: JournalEntry, now: float) -> str:
    seen = "" if entry.last_seen_at is None else \
        " %s ago" % _age(now - entry.last_seen_at)
    usage = _usage_words(entry.usage)
    return "%-30s %6s  %-22s %s%s%s  %s" % (
        entry.response_id or "-", _age(now - entry.created_at),
        _one_line(entry.model or "-"), entry.status, seen,
        " (%s)" % usage if usage else "", _one_line(entry.title or ""))


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return "%d%s" % (seconds // size, unit)
    return "%ds" % seconds


def _cmd_result(args: argparse.Namespace, console: _Console) -> int:
    journal = None if "no_journal" in args else _cli_journal_quietly(console)
    entry = journal.get(args.response_id) if journal is not None else None
    response = entry.response if entry is not None else None
    if response is None:  # not final in the journal: ask the API
        return _cmd_poll(args, console)
    console.print_response(response, "json" in args)
    return _cli_outcome(response, console)


def _cli_journal_quietly(console: _Console) -> Optional[Journal]:
    try:
        return _cli_journal()
    except JournalError as exc:
        console.say("openai-bg: warning: the journal is off for this run: %s"
                    % exc)
        return None


def _cmd_forget(args: argparse.Namespace, console: _Console) -> int:
    journal = _cli_journal_or_fail()
    unknown = [rid for rid in args.response_ids
               if not _journal_call(journal.forget, rid)]
    for rid in unknown:
        console.say("openai-bg: the journal holds no job %s" % rid)
    return EXIT_NOT_COMPLETED if unknown else EXIT_OK


def _cmd_delete(args: argparse.Namespace, console: _Console) -> int:
    client = _cli_client(args, console)
    client.delete_response(args.response_id)
    console.say("openai-bg: response %s deleted" % args.response_id)
    return EXIT_OK


def _cancel_all_running(args: argparse.Namespace, console: _Console) -> int:
    journal = _cli_journal_or_fail()
    _refresh(journal, args, console)
    running = [e for e in _journal_call(journal.jobs)
               if not e.done and e.response_id]
    if not running:
        console.say("openai-bg: no running job in the journal")
        return EXIT_OK
    if not args.yes and not _confirmed(
            "cancel %d running job%s? [y/N] " % (len(running),
                                                 _plural(len(running)))):
        console.say("openai-bg: nothing cancelled")
        return EXIT_NOT_COMPLETED
    client = _cli_client(args)
    client.journal = journal
    failed = 0
    for entry in running:
        rid = entry.response_id or ""
        try:
            status = client.cancel_response(rid).status
        except OpenAIError as exc:
            status = "not cancelled (%s)" % exc
        failed += status != "cancelled"
        console.say("openai-bg: %s: %s" % (rid, status))
    return EXIT_NOT_COMPLETED if failed else EXIT_OK


def _confirmed(question: str) -> bool:
    """Ask on the terminal; off one, --yes is needed."""
    stdin, stderr = sys.stdin, sys.stderr
    if stdin is None or stderr is None or not stdin.isatty():
        raise _UsageError("cancel --all-running asks first; off a terminal "
                          "pass --yes")
    stderr.write(question)
    stderr.flush()
    return stdin.readline().strip().lower() in ("y", "yes")


def _cli_finished(result: LlmResponse, args: argparse.Namespace,
                  console: _Console) -> int:
    args.response_id = result.response_id
    console.end_live_line()
    console.print_response(result, "json" in args)
    return _cli_outcome(result, console)


def _cli_timed_out(exc: WaitTimeoutError, args: argparse.Namespace,
                   console: _Console) -> int:
    console.end_live_line()
    args.response_id = exc.response_id
    console.say("openai-bg: response %s still %s after %.1f s; %s" % (
        exc.response_id, exc.status or "unknown (no poll succeeded)",
        exc.elapsed, "cancelled" if exc.cancelled else
        "could NOT be cancelled" if args.cancel_on_timeout else
        "it keeps running (openai-bg wait %s)" % exc.response_id))
    if "json" in args and exc.polled_response is not None:
        document = _json_document(exc.polled_response)
        if exc.cancelled and exc.response is not None:
            document["cancel"] = _json_document(exc.response)
        console.print_json(document)
    return EXIT_WAIT_TIMEOUT


def _cli_outcome(response: LlmResponse, console: _Console) -> int:
    status = response.status
    if status == "completed":
        return EXIT_OK
    if status in PENDING_STATUSES:
        return EXIT_PENDING
    detail = ""
    if response.error_message:
        detail = ": %s (%s)" % (response.error_message, response.error_code)
    elif status == "incomplete" and response.finish_reason:
        detail = ": %s" % response.finish_reason.value
    console.say("openai-bg: response %s ended %s%s"
                % (response.response_id, status, detail))
    return EXIT_NOT_COMPLETED


# -- the console: stdout for answers, stderr for one-line status ---------------

def _json_document(response: LlmResponse) -> JSONDict:
    """``--json``'s one shape: ``id``, ``status`` and ``text`` for ``jq``,
    then ``to_dict()`` and the body as sent."""
    return {"id": response.response_id, "status": response.status,
            "text": response.text, "response": response.to_dict(),
            "raw": response.raw}


def _one_line(text: str) -> str:
    """Server text made safe for a status line: no escape sequences, no
    control characters, no line breaks (it could forge other lines)."""
    return " ".join(_UNSAFE_CHARACTER.sub(" ", _ESCAPE_SEQUENCE.sub(
        "", text)).split())


def _write(stream: TextIO, text: str) -> None:
    """Write all of ``text``: what the stream's encoding cannot carry is
    escaped, and an unbuffered stream (``PYTHONUNBUFFERED=1``), which may
    take part of a write, is written to until it took every byte - a line
    is never cut, nor glued to the next one."""
    binary = getattr(stream, "buffer", None)
    encoding = getattr(stream, "encoding", None)
    if binary is None or not encoding or os.linesep != "\n":
        try:
            stream.write(text)
        except UnicodeEncodeError:
            stream.write(text.encode(encoding or "ascii", "backslashreplace")
                         .decode(encoding or "ascii"))
        return
    stream.flush()
    data = memoryview(text.encode(encoding, "backslashreplace"))
    while data:
        try:
            written = binary.write(data)
        except BlockingIOError as exc:  # a non-blocking descriptor
            written = exc.characters_written
        if written is None or written < len(data):
            data = data[written or 0:]
            _wait_writable(binary)
        else:
            break
    binary.flush()


def _wait_writable(binary: Any) -> None:
    import select
    try:
        select.select([], [binary.fileno()], [], 1.0)
    except (OSError, ValueError, AttributeError):
        time.sleep(0.01)


class _Console:
    """The CLI's outputs: the answer on stdout (written whole, its failures
    reported), status lines on stderr (redacted, one line each)."""

    def __init__(self) -> None:
        self.out = sys.stdout
        self.err = sys.stderr
        self.live: Optional[_Progress] = None

    def say(self, text: str) -> None:
        if self.err is None:
            return
        if self.live is not None:
            self.live.clear()  # the next update redraws it below
        try:
            _write(self.err, _one_line(redact(text)) + "\n")
            self.err.flush()
        except (OSError, ValueError):
            pass  # nowhere left to report to

    def progress(self, announce: bool) -> _Progress:
        self.live = _Progress(self.err, time.monotonic, announce)
        self.live.start_clock()
        return self.live

    def end_live_line(self) -> None:
        if self.live is not None:
            self.live.finish()

    def print_text(self, text: str) -> None:
        if self.out is None:
            raise _OutputError("stdout is closed")
        try:
            _write(self.out, redact(text))
            self.out.flush()
        except (OSError, ValueError) as exc:
            self._silence_stdout()
            raise _OutputError(getattr(exc, "strerror", None) or str(exc)) \
                from None

    def _silence_stdout(self) -> None:
        # What is buffered for a dead stdout would fail again at exit, with
        # a traceback-like "Exception ignored" line: point it at devnull.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.out.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def print_json(self, value: object) -> None:
        """JSON any stdout carries: ``\\u`` escapes unless it is UTF-8."""
        encoding = (getattr(self.out, "encoding", None) or "").lower()
        if isinstance(value, LlmResponse):
            value = _json_document(value)
        text = json.dumps(value, indent=2,
                          ensure_ascii=encoding.replace("-", "") != "utf8")
        self.print_text(text + "\n")

    def print_response(self, response: LlmResponse, as_json: bool) -> None:
        if as_json:
            self.print_json(response)
            return
        text = response.text.rstrip("\n") + "\n" if response.text else ""
        text += _sources_text(response)
        if text:
            self.print_text(text)


class _Progress:
    """What a job is doing, on stderr: one live line on a terminal; off a
    terminal a line per status change, search, page and summary, and a
    heartbeat at least every minute."""

    def __init__(self, stream: Optional[TextIO], clock: Callable[[], float],
                 announce: bool = False) -> None:
        self.stream = stream
        self.live = bool(getattr(stream, "isatty", lambda: False)())
        self.clock = clock
        self.start = clock()
        self.last_line = self.start
        self.announce = announce
        self.polls = 0
        self.events = 0
        self.searches = 0
        self.pages = 0
        self.written = 0
        self.latest = ""
        self.response_id: Optional[str] = None
        self.last_status: Optional[str] = None
        self.showing = False  # a live line is on the screen
        # The clock: a thread that calls tick() every second, so that the
        # line moves (and a heartbeat comes) while nothing arrives.
        self.lock = threading.RLock()
        self.stopped = threading.Event()

    def start_clock(self) -> None:
        threading.Thread(target=self._run_clock, name="openai-bg progress",
                         daemon=True).start()

    def _run_clock(self) -> None:
        while not self.stopped.wait(_TICK_SECONDS):
            self.tick()

    def tick(self) -> None:
        """Redraw the live line; off a terminal, a heartbeat line when none
        was written for a minute."""
        with self.lock:
            if self.response_id is not None and not self.stopped.is_set():
                self.show(False)

    def update(self, response: LlmResponse, polled: bool = True) -> None:
        if self.response_id is None and self.announce:
            self._line("openai-bg: created %s" % response.response_id, True)
        elif polled and not self.events:
            self.polls += 1
            self._count_output(response.raw)
        self.response_id = response.response_id
        changed = response.status != self.last_status
        self.last_status = response.status
        self.show(changed, final=response.done)

    def event(self, event: JSONDict) -> None:
        kind = event.get("type")
        if kind == "keepalive":  # a sign of life, not of progress
            return
        self.events += 1
        item = event.get("item")
        notable = False
        if kind == "response.output_item.done" and isinstance(item, dict):
            notable = self._count_item(item)
        elif kind == "response.reasoning_summary_text.done":
            text = _text_of(event.get("text"))
            self.latest = "thinking: " + (text.strip().splitlines() or [""])[0]
            notable = True
        elif kind == "response.output_text.delta":
            self.written += len(_text_of(event.get("delta")))
            self.latest = "writing: %d characters" % self.written
        if self.response_id is not None and (notable or self.live):
            self.show(notable)

    def _count_output(self, raw: Optional[JSONDict]) -> None:
        """Searches and pages in a polled body that already lists items."""
        self.searches = self.pages = 0
        for item in _list_of_dicts((raw or {}).get("output")):
            self._count_item(item)

    def _count_item(self, item: JSONDict) -> bool:
        if item.get("type") != "web_search_call":
            return False
        action = item.get("action")
        action = action if isinstance(action, dict) else {}
        kind = action.get("type")
        url = _text_of(action.get("url"))
        if kind == "open_page":
            self.pages += 1
            self.latest = "opened %s" % url
        elif kind == "find_in_page":
            self.latest = "looked in %s for %r" % (
                url, _text_of(action.get("pattern")))
        else:
            self.searches += 1
            self.latest = "searched " + _search_words(action)
        return True

    def show(self, notable: bool, final: bool = False) -> None:
        with self.lock:
            now = self.clock()
            line = self._status_line(now)
            if final:
                self.stopped.set()
            if self.live:
                self._line(line, final)
            elif notable or now - self.last_line >= _HEARTBEAT_SECONDS:
                self._line(line, True)

    def _status_line(self, now: float) -> str:
        line = "%s: %s, %.0f s" % (self.response_id, self.last_status,
                                   now - self.start)
        if self.events:
            line += ", %d event%s" % (self.events, _plural(self.events))
        else:
            line += ", %d poll%s" % (self.polls, _plural(self.polls))
        if self.searches or self.pages:
            line += ", %d search%s, %d page%s" % (
                self.searches, "" if self.searches == 1 else "es",
                self.pages, _plural(self.pages))
        if self.latest:
            line += " - " + self.latest
        return line

    def _line(self, text: str, newline: bool) -> None:
        if self.stream is None:
            return
        self.last_line = self.clock()
        text = _one_line(redact(text))
        try:
            if self.live:
                text = text[:self._width()]  # a wrapped line cannot be redrawn
                _write(self.stream, "\r\033[K" + text + ("\n" if newline else ""))
                self.showing = not newline
            else:
                _write(self.stream, text + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def _width(self) -> int:
        try:
            stream: Any = self.stream
            columns = os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            columns = 0
        return max(20, columns - 1) if columns > 0 else 79  # 0: size unknown

    def clear(self) -> None:
        """Take the live line off the screen (a message goes there; the
        clock redraws the line below it)."""
        with self.lock:
            if self.showing and self.stream is not None:
                _write(self.stream, "\r\033[K")
                self.showing = False

    def finish(self) -> None:
        """Stop the clock; leave the live line on the screen, and end it."""
        with self.lock:
            self.stopped.set()
            if self.showing and self.stream is not None:
                _write(self.stream, "\n")
                self.stream.flush()
                self.showing = False


def _search_words(action: JSONDict) -> str:
    """A search action's queries: the first, and how many more (``query``
    is the deprecated single form)."""
    queries = [q for q in action.get("queries") or [] if isinstance(q, str)] \
        if isinstance(action.get("queries"), list) else []
    if not queries:
        return _text_of(action.get("query"))
    more = len(queries) - 1
    return queries[0] + (" (+%d more)" % more if more else "")


class _Board:
    """``watch``'s view, on stdout: on a terminal a table redrawn in place
    (every second and on each change, fitted to the terminal); off one a
    line per status change with a timestamp and a heartbeat every minute;
    with ``--json`` one object per status change."""

    def __init__(self, ids: List[str], journal: Optional[Journal],
                 console: _Console, as_json: bool,
                 to_stderr: bool = False) -> None:
        self.ids: List[str] = []
        self.journal = journal
        self.console = console
        self.as_json = as_json
        self.to_stderr = to_stderr
        self.stream = console.err if to_stderr else console.out
        self.live = not as_json and bool(
            getattr(self.stream, "isatty", lambda: False)())
        self.start_time = time.monotonic()
        self.status: Dict[str, str] = {}
        self.about: Dict[str, Tuple[str, str]] = {}
        self.lock = threading.RLock()
        for rid in ids:
            self.add(rid)
        self.drawn = 0
        self.last_line = self.start_time
        self.stopped = threading.Event()

    def add(self, response_id: str) -> None:
        """Show one more job (its model and title from the journal)."""
        entry = self.journal.get(response_id) if self.journal else None
        with self.lock:
            if response_id not in self.status:
                self.ids.append(response_id)
                self.status[response_id] = "?"
                self.about[response_id] = (
                    (entry.model or "-") if entry else "-",
                    (entry.title or "") if entry else "")

    def start(self) -> None:
        threading.Thread(target=self._clock, daemon=True,
                         name="openai-bg watch").start()
        self.draw()

    def stop(self) -> None:
        self.stopped.set()
        self.draw()

    def _clock(self) -> None:
        while not self.stopped.wait(_TICK_SECONDS):
            self.tick()

    def tick(self) -> None:
        """Each second: redraw the table, or a heartbeat off a terminal."""
        if self.live:
            self.draw()
        elif not self.as_json and \
                time.monotonic() - self.last_line >= _HEARTBEAT_SECONDS:
            running = sum(1 for s in self.status.values()
                          if s in PENDING_STATUSES or s == "?")
            self._say("%s %d of %d jobs still running"
                      % (_utc_now(), running, len(self.ids)))

    def update(self, response: LlmResponse) -> None:
        rid = response.response_id or ""
        status = response.status or "unknown"
        with self.lock:
            before = self.status.get(rid, "?")
            self.status[rid] = status
        if status == before:
            return
        if self.as_json:
            self.console.print_text(json.dumps(
                {"time": _utc_now(), "id": rid, "status": status},
                ensure_ascii=True) + "\n")
        elif self.live:
            self.draw()
        else:
            self._say("%s %s %s" % (_utc_now(), rid, status))

    def _say(self, line: str) -> None:
        self.last_line = time.monotonic()
        if self.to_stderr:
            self.console.say(line)
        else:
            self.console.print_text(_one_line(line) + "\n")

    def draw(self) -> None:
        if not self.live or self.stream is None:
            return
        with self.lock:
            try:
                size = os.get_terminal_size(self.stream.fileno())
                columns, lines = size.columns, size.lines
            except (AttributeError, OSError, ValueError):
                columns, lines = 80, 24
            rows = self._rows(max(1, lines - 2))
            text = "\033[%dF" % self.drawn if self.drawn else ""
            text += "".join("\033[K" + row[:max(10, columns - 1)] + "\n"
                            for row in rows)
            try:
                _write(self.stream, text)
                self.stream.flush()
            except (OSError, ValueError):
                return
            self.drawn = len(rows)

    def _rows(self, room: int) -> List[str]:
        age = "%ds" % (time.monotonic() - self.start_time)
        rows = []
        for rid in self.ids:
            status = self.status[rid]
            mark = "[ ]" if status in PENDING_STATUSES or status == "?" \
                else "[x]"
            model, title = self.about[rid]
            rows.append("%s %-30s %-20s %-12s %6s  %s" % (
                mark, rid, _one_line(model), status, age, _one_line(title)))
        done = sum(1 for row in rows if row.startswith("[x]"))
        header = "openai-bg watch: %d of %d ended" % (done, len(rows))
        if len(rows) > room - 1:
            more = len(rows) - (room - 2)
            rows = rows[:room - 2] + ["... and %d more" % more]
        return [header] + rows


def _sources_text(response: LlmResponse) -> str:
    """The cited sources as a numbered list (each URL once)."""
    seen: Dict[str, str] = {}
    for source in response.citations:
        if source.uri and source.uri not in seen:
            seen[source.uri] = source.title or source.uri
    if not seen:
        return ""
    return "\nSources:\n" + "".join(
        "%d. %s\n   %s\n" % (number, title, uri)
        for number, (uri, title) in enumerate(seen.items(), 1))


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _plural(count: int) -> str:
    return "" if count == 1 else "s"


# -- listen: a webhook receiver -----------------------------------------------
# One thread serves every connection through a selector, so a sender that
# stalls costs a socket and a few bytes, never a thread; each stage of a
# request has a deadline; the number of connections and the bytes they may
# hold are bounded; past the bound the oldest idle or stalled connection
# makes room, so a real delivery always gets in.

#: The largest webhook body ``listen`` reads (larger: 413).
_WEBHOOK_MAX_BYTES = 1024 * 1024
#: Seconds a sender has for a request's head, then for its body.
LISTEN_HEAD_SECONDS = 5.0
LISTEN_BODY_SECONDS = 10.0
#: Seconds a kept-alive connection may wait for its next request.
LISTEN_IDLE_SECONDS = 15.0
#: Connections served at once (fewer under a low descriptor limit).
LISTEN_MAX_CONNECTIONS = 512
_LISTEN_MAX_HEAD = 16 * 1024
# Bodies being received, all connections together; beyond it: 503.
_LISTEN_MAX_BUFFERED = 64 * 1024 * 1024
# A refused sender may still be sending its body: read and drop this much
# (for this long) before closing, or its reset could overtake our answer.
_LISTEN_LINGER_BYTES = 16 * 1024 * 1024
_LISTEN_LINGER_SECONDS = 5.0
_LISTEN_BACKLOG = 128
_DIGITS = re.compile(r"[0-9]+\Z")
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found",
            405: "Method Not Allowed", 408: "Request Timeout",
            411: "Length Required", 413: "Content Too Large",
            431: "Request Header Fields Too Large",
            503: "Service Unavailable"}


def _cmd_listen(args: argparse.Namespace, console: _Console) -> int:
    secret = _listen_secret(args)
    client = _cli_client(args) if args.fetch else None
    receiver = _WebhookReceiver(secret, args.path)
    server: Optional[_WebhookServer] = None
    event: Optional[JSONDict] = None
    # From the first signal on, deliveries get 503 - even while the main
    # thread is stuck writing to a full pipe.
    HeldInterrupts.on_signal = receiver.close
    try:  # from the first moment a delivery can be answered
        server = _WebhookServer(receiver, args.host, args.port)
        console.say("openai-bg: listening for webhooks on http://%s:%d%s"
                    % (args.host, server.port, args.path))
        while True:
            with HeldInterrupts():  # taken means printed, whatever happens
                event = receiver.next_event()
            if event is not None:
                line = _listen_line(event, client, console)  # interruptible
                with HeldInterrupts():
                    _print_event(line, console)
                    event = None
    except KeyboardInterrupt:
        # Every event answered 200 is printed before we go: OpenAI will not
        # send it again.  Those not yet fetched are printed without, and a
        # second signal does not cut that short.
        with HeldInterrupts(then_raise=False):
            receiver.close()
            left = ([event] if event is not None else []) + receiver.drain()
            for event in left:
                _print_event(_fetched_line(event, None, None)
                             if client is not None else event, console)
        console.say("openai-bg: stopped listening%s" % (
            " (%d event(s) printed without fetching)" % len(left)
            if client is not None and left else ""))
        return EXIT_OK
    finally:
        HeldInterrupts.on_signal = None
        if server is not None:
            server.close()


def _print_event(line: JSONDict, console: _Console) -> None:
    console.print_text(json.dumps(line, ensure_ascii=True) + "\n")


def _listen_secret(args: argparse.Namespace) -> str:
    if args.secret_file:
        try:
            with open(args.secret_file, "rb") as file:
                secret = file.read().decode("utf-8").rstrip("\r\n")
        except (OSError, UnicodeError) as exc:
            raise _UsageError("--secret-file %s: %s"
                              % (args.secret_file, exc)) from None
    else:
        secret = os.environ.get("OPENAI_WEBHOOK_SECRET", "")
    if not secret:
        raise _UsageError("no webhook secret: set $OPENAI_WEBHOOK_SECRET or "
                          "pass --secret-file")
    Client(api_key="-", webhook_secret=secret)  # refuses a malformed one
    return secret


def _listen_line(event: JSONDict, client: Optional[Client],
                 console: _Console) -> JSONDict:
    """The line printed for an event: the event, or with ``--fetch``
    ``{"event", "response", "text"}`` for every event (``response`` and
    ``text`` null where there is nothing to fetch, or the fetch failed)."""
    if client is None:
        return event
    data = event.get("data")
    response_id = data.get("id") if isinstance(data, dict) else None
    kind = event.get("type")
    if not isinstance(response_id, str) or \
            not (isinstance(kind, str) and kind.startswith("response.")):
        return _fetched_line(event, None, None)
    try:
        response = client.poll_response(response_id)
    except (OpenAIError, ValueError) as exc:
        console.say("openai-bg: could not fetch response %s: %s"
                    % (response_id, exc))
        return _fetched_line(event, None, None)
    return _fetched_line(event, response.to_dict(), response.text)


def _fetched_line(event: JSONDict, response: Optional[JSONDict],
                  text: Optional[str]) -> JSONDict:
    return {"event": event, "response": response, "text": text}


class _WebhookReceiver:
    """Verifies deliveries, answers at once, and queues each new event for
    the printing (main) thread.  A verified id is remembered for twice the
    timestamp tolerance - as long as a delivery carrying it can pass the
    timestamp check - so a captured delivery cannot be replayed; past
    ``max_ids`` ids that young, new deliveries get 503 (sent again later)
    rather than an id being forgotten early."""

    def __init__(self, secret: str, path: str,
                 tolerance: int = DEFAULT_WEBHOOK_TOLERANCE,
                 max_ids: int = 200000) -> None:
        import queue
        self.secret = secret
        self.path = path
        self.tolerance = tolerance
        self.max_ids = max_ids
        self.events: queue.Queue[JSONDict] = queue.Queue()
        self.seen: Dict[str, float] = {}  # id -> when it may be forgotten
        self.order: Deque[Tuple[float, str]] = collections.deque()
        self.lock = threading.Lock()
        self.closed = False
        self.clock: Callable[[], float] = time.monotonic

    def next_event(self) -> Optional[JSONDict]:
        import queue
        try:  # a timeout, so that Ctrl-C is noticed
            return self.events.get(timeout=0.5)
        except queue.Empty:
            return None

    def receive(self, body: bytes, headers: Headers) -> Tuple[int, str]:
        try:
            event = unwrap_webhook(body, headers, self.secret,
                                   tolerance=self.tolerance)
        except (InvalidWebhookSignatureError, InvalidWebhookPayloadError) \
                as exc:
            _log.warning("refused a webhook delivery: %s", exc)
            return 400, str(exc)
        webhook_id = headers.get("webhook-id") or ""
        with self.lock:
            if self.closed:  # stopping: let OpenAI deliver it again later
                return 503, "stopping"
            now = self.clock()
            self._forget(now)
            if webhook_id in self.seen:
                return 200, "duplicate"
            if len(self.seen) >= self.max_ids:
                return 503, "too many deliveries; send it again later"
            until = now + 2 * self.tolerance
            self.seen[webhook_id] = until
            self.order.append((until, webhook_id))
            self.events.put(event)
        return 200, "ok"

    def _forget(self, now: float) -> None:
        while self.order and self.order[0][0] <= now:
            self.seen.pop(self.order.popleft()[1], None)

    def close(self) -> None:
        """Accept no more events (a delivery now gets 503).  Safe in a
        signal handler: it takes no lock."""
        self.closed = True

    def drain(self) -> List[JSONDict]:
        """The events accepted but not yet taken."""
        import queue
        left = []
        while True:
            try:
                left.append(self.events.get_nowait())
            except queue.Empty:
                return left


class _Peer:
    """One sender's connection, and where its current request stands."""

    __slots__ = ("sock", "stage", "deadline", "since", "buffer", "scanned",
                 "length", "headers", "out", "keep", "lingered", "method")

    def __init__(self, sock: socket.socket, now: float) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.out = b""
        self.headers: Dict[str, str] = {}
        self.method = ""
        self.length = self.scanned = self.lingered = 0
        self.keep = False
        self.stage, self.since, self.deadline = "idle", now, \
            now + LISTEN_HEAD_SECONDS

    def enter(self, stage: str, now: float, seconds: float) -> None:
        """Stages: idle (no byte of a request yet), head, body, write (an
        answer waiting for the sender to take it), linger (refused: reading
        what it still sends before closing)."""
        self.stage, self.since, self.deadline = stage, now, now + seconds


class _WebhookServer:
    """``listen``'s HTTP/1.1 server: one thread, one selector."""

    def __init__(self, receiver: _WebhookReceiver, host: str,
                 port: int) -> None:
        import selectors
        import socket
        self.receiver = receiver
        self.listener = socket.create_server(
            (host, port), backlog=_LISTEN_BACKLOG) \
            if hasattr(socket, "create_server") else _bound_socket(host, port)
        self.listener.setblocking(False)
        self.port: int = self.listener.getsockname()[1]
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.peers: Dict[int, _Peer] = {}
        self.buffered = 0  # body bytes announced by requests being read
        self.max_peers = _listen_capacity()
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True,
                                       name="openai-bg listen")
        self.thread.start()

    def close(self) -> None:
        self.stopping = True
        self.thread.join(5.0)
        for peer in list(self.peers.values()):
            self._drop(peer)
        self.selector.close()
        self.listener.close()

    def _serve(self) -> None:
        while not self.stopping:
            for key, mask in self.selector.select(0.25):
                peer = key.data
                try:
                    if peer is None:
                        self._accept()
                    elif mask & 2:  # selectors.EVENT_WRITE
                        self._send(peer)
                    else:
                        self._read(peer)
                except Exception as exc:  # a bug must not stop the others
                    _log.debug("listen: dropped a connection: %r", exc)
                    if peer is not None:
                        self._drop(peer)
            self._expire(time.monotonic())

    # -- connections ---------------------------------------------------------

    def _accept(self) -> None:
        import socket
        for _ in range(_LISTEN_BACKLOG):  # take a whole burst at once
            if len(self.peers) >= self.max_peers and not self._make_room():
                return
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # out of descriptors: make room, then go on
                if not self._make_room():
                    time.sleep(0.05)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer = _Peer(sock, time.monotonic())
            self.peers[sock.fileno()] = peer
            self.selector.register(sock, 1, peer)  # selectors.EVENT_READ

    def _make_room(self) -> bool:
        """Close the connection that least deserves its place: one being
        lingered over, else the oldest (idle, stalled or slow); a new
        delivery is the newest, so it always gets in."""
        if not self.peers:
            return False
        victim = min(self.peers.values(),
                     key=lambda p: (p.stage != "linger", p.since))
        self._drop(victim)
        return True

    def _drop(self, peer: _Peer) -> None:
        if self.peers.pop(peer.sock.fileno(), None) is None:
            return
        self._release(peer)
        try:
            self.selector.unregister(peer.sock)
        except (KeyError, ValueError, OSError):
            pass
        peer.sock.close()

    def _release(self, peer: _Peer) -> None:
        if peer.stage == "body":
            self.buffered -= peer.length
            peer.length = 0

    def _expire(self, now: float) -> None:
        for peer in [p for p in self.peers.values() if p.deadline <= now]:
            if peer.stage in ("head", "body"):  # best effort, then close
                try:
                    peer.sock.send(_http_answer(408, "too slow", True))
                except OSError:
                    pass
            self._drop(peer)

    # -- reading requests ----------------------------------------------------

    def _read(self, peer: _Peer) -> None:
        try:
            data = peer.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return self._drop(peer)
        if not data:  # the sender hung up
            return self._drop(peer)
        if peer.stage == "linger":
            peer.lingered += len(data)
            if peer.lingered > _LISTEN_LINGER_BYTES:
                self._drop(peer)
            return
        if peer.stage == "idle":
            peer.enter("head", time.monotonic(),
                       min(LISTEN_HEAD_SECONDS, peer.deadline - peer.since))
        peer.buffer += data
        self._advance(peer)

    def _advance(self, peer: _Peer) -> None:
        """Take every complete request the buffer holds (pipelining)."""
        while peer.sock.fileno() in self.peers:
            if peer.stage == "head":
                end = peer.buffer.find(b"\r\n\r\n", max(0, peer.scanned - 3))
                if end < 0:
                    peer.scanned = len(peer.buffer)
                    if len(peer.buffer) > _LISTEN_MAX_HEAD:
                        self._refuse(peer, 431, "the request head is too "
                                                "large")
                    return
                head = bytes(peer.buffer[:end])
                del peer.buffer[:end + 4]
                peer.scanned = 0
                self._take_head(peer, head)
            elif peer.stage == "body" and len(peer.buffer) >= peer.length:
                body = bytes(peer.buffer[:peer.length])
                del peer.buffer[:peer.length]
                self._release(peer)
                status, text = self.receiver.receive(body, peer.headers)
                self._answer(peer, status, text, close=not peer.keep)
            else:
                return

    def _take_head(self, peer: _Peer, head: bytes) -> None:
        try:
            method, target, peer.headers, peer.keep = \
                _parse_request_head(head)
            peer.method = method
            length = _body_length(self.receiver.path, method, target,
                                  peer.headers)
        except _Refused as refused:
            return self._refuse(peer, refused.status, str(refused))
        if self.buffered + length > _LISTEN_MAX_BUFFERED:
            return self._refuse(peer, 503, "busy; send it again later")
        self.buffered += length
        peer.length = length
        peer.enter("body", time.monotonic(), LISTEN_BODY_SECONDS)
        if "100-continue" in peer.headers.get("expect", "").lower():
            try:
                peer.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            except OSError:
                return self._drop(peer)

    # -- answering -----------------------------------------------------------

    def _refuse(self, peer: _Peer, status: int, text: str) -> None:
        """Answer without reading the body, then close (lingering)."""
        self._release(peer)
        self._answer(peer, status, text, close=True)

    def _answer(self, peer: _Peer, status: int, text: str,
                close: bool) -> None:
        peer.keep = peer.keep and not close
        peer.out = _http_answer(status, text, not peer.keep,
                                head_only=peer.method == "HEAD")
        peer.enter("write", time.monotonic(), LISTEN_BODY_SECONDS)
        self.selector.modify(peer.sock, 2, peer)  # selectors.EVENT_WRITE
        self._send(peer)

    def _send(self, peer: _Peer) -> None:
        try:
            sent = peer.sock.send(peer.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return self._drop(peer)
        peer.out = peer.out[sent:]
        if peer.out:
            return
        now = time.monotonic()
        self.selector.modify(peer.sock, 1, peer)  # selectors.EVENT_READ
        if peer.keep:
            peer.enter("idle", now, LISTEN_IDLE_SECONDS)
            if peer.buffer:
                peer.enter("head", now, LISTEN_HEAD_SECONDS)
                self._advance(peer)
            return
        import socket
        try:  # a lingering close: our answer first, then the FIN
            peer.sock.shutdown(socket.SHUT_WR)
        except OSError:
            return self._drop(peer)
        peer.buffer = bytearray()
        peer.enter("linger", now, _LISTEN_LINGER_SECONDS)


class _Refused(Exception):
    """A request refused from its head: ``status``, and why."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status


def _parse_request_head(head: bytes) -> Tuple[str, str, Dict[str, str],
                                              bool]:
    """(method, target, headers with lower-case names, keep-alive).
    Repeated headers are joined with commas, as RFC 9110 allows."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise _Refused(400, "not an HTTP/1.x request")
    headers: Dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or \
                line[:1] in " \t":
            raise _Refused(400, "a malformed header line")
        name = name.lower()
        value = value.strip(" \t")
        headers[name] = headers[name] + ", " + value if name in headers \
            else value
    connection = headers.get("connection", "").lower()
    keep = "close" not in connection if parts[2] == "HTTP/1.1" else \
        "keep-alive" in connection
    return parts[0], parts[1], headers, keep


def _body_length(path: str, method: str, target: str,
                 headers: Dict[str, str]) -> int:
    """The body's length, or :class:`_Refused` for what is wrong with the
    request, seen from its head alone.  ``Content-Length`` is read as RFC
    9112 says: ASCII digits only; copies must agree; never beside
    ``Transfer-Encoding`` (that is how requests are smuggled)."""
    if target.split("?", 1)[0] != path:
        raise _Refused(404, "not found")
    if method != "POST":
        raise _Refused(405, "POST only")
    if "transfer-encoding" in headers:
        if "content-length" in headers:
            raise _Refused(400, "Content-Length beside Transfer-Encoding")
        raise _Refused(411, "a Content-Length is required")
    if "content-length" not in headers:
        raise _Refused(411, "a Content-Length is required")
    lengths = {v.strip(" \t") for v in headers["content-length"].split(",")}
    if len(lengths) != 1 or not _DIGITS.match(next(iter(lengths))):
        raise _Refused(400, "an invalid Content-Length")
    length = int(lengths.pop())
    if length > _WEBHOOK_MAX_BYTES:
        raise _Refused(413, "the body is over 1 MiB")
    return length


def _http_answer(status: int, text: str, close: bool,
                 head_only: bool = False) -> bytes:
    """A whole answer, to be sent in one write (no delayed-ACK stall)."""
    data = (text + "\n").encode("utf-8")
    head = "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n" \
           "Content-Length: %d\r\n%s%s\r\n" % (
               status, _REASONS.get(status, ""), len(data),
               "Allow: POST\r\n" if status == 405 else "",
               "Connection: close\r\n" if close else "")
    return head.encode("latin-1") + (b"" if head_only else data)


def _listen_capacity() -> int:
    """Connections to serve at once: well inside the descriptor limit."""
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return LISTEN_MAX_CONNECTIONS
    if soft == resource.RLIM_INFINITY:
        return LISTEN_MAX_CONNECTIONS
    return max(8, min(LISTEN_MAX_CONNECTIONS, soft // 2))


def _bound_socket(host: str, port: int) -> socket.socket:
    """``socket.create_server`` for Python 3.7."""
    import socket
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(_LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


_COMMANDS: Dict[str, Callable[[argparse.Namespace, _Console], int]] = {
    "create": _cmd_create, "poll": _cmd_poll, "wait": _cmd_wait,
    "cancel": _cmd_cancel, "run": _cmd_run, "listen": _cmd_listen,
    "jobs": _cmd_jobs, "result": _cmd_result, "forget": _cmd_forget,
    "delete": _cmd_delete, "watch": _cmd_watch,
}


# -- process state the command takes over, and gives back ----------------------

class _StderrHandler(logging.Handler):
    """Warnings on stderr through the console (one safe line each, a live
    status line cleared first)."""

    def __init__(self, layout: str, console: _Console) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter(layout))
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        self.console.say(_cli_words_for(record) or self.format(record))


def _cli_words_for(record: logging.LogRecord) -> Optional[str]:
    """The CLI's own line for a log record that carries data for it."""
    if getattr(record, "openai_bg_event", None) == "queued-too-long":
        response_id = getattr(record, "response_id", "")
        return ("openai-bg: response %s is still queued after %.0f minutes; "
                "the wait goes on (to cancel it: openai-bg cancel %s)"
                % (response_id, getattr(record, "elapsed", 0.0) / 60,
                   response_id))
    return None


def _take_over_process(console: _Console) -> Callable[[], None]:
    """Show warnings on stderr; make SIGTERM and SIGHUP (a closed terminal,
    ``timeout``, a stopped container) act like Ctrl-C, so a running job is
    cancelled instead of orphaned.  Returns what undoes both."""
    handler = None
    level = _log.level
    if level == logging.NOTSET and console.err is not None:  # no OPENAI_LOG
        handler = _StderrHandler("openai-bg: %(message)s", console)
        _log.addHandler(handler)
        _log.setLevel(logging.WARNING)
    restore_signals = interrupt_on_signals()

    def restore() -> None:
        restore_signals()
        if handler is not None:
            _log.removeHandler(handler)
            _log.setLevel(level)
    return restore


if __name__ == "__main__":
    sys.exit(main())
