#!/usr/bin/env python3
"""openai_bg: run OpenAI background responses from plain synchronous Python.

Long Responses API jobs (deep research with ``o3-deep-research`` or
``o4-mini-deep-research``, long reasoning runs) are started in *background
mode* and then polled until they finish, or cancelled.  This module does that
and nothing else, in one file that needs nothing but the Python standard
library (3.7 or newer), so it can be copied into any repository, cron job or
locked-down host::

    import openai_bg

    job = openai_bg.create_response(model="o4-mini-deep-research",
                                    input="Summarise this week's fusion news",
                                    tools=[{"type": "web_search_preview"}])
    result = openai_bg.wait_response(job.response_id, timeout=3600)
    print(result.text)
    for source in result.citations:
        print(source.title, source.uri)

Results are :class:`LlmResponse` dataclasses shaped like the ``LlmResponse`` of
the adk-rust reference implementation; ``to_dict()`` gives its exact JSON.
Scripts call the module-level functions, which share one :class:`Client` built
from the environment (``OPENAI_API_KEY``, ``OPENAI_BASE_URL`` ...);
applications build their own :class:`Client`.

Run ``python openai_bg.py --help`` for the command-line tool.

License: MIT.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from enum import Enum

__version__ = "0.1.0"

__all__ = [
    # client and module-level functions
    "Client", "poll_response", "cancel_response", "create_response",
    "wait_response", "create_and_wait",
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
    "WaitTimeoutError",
    # constants
    "DEFAULT_BASE_URL", "PENDING_STATUSES", "RETRYABLE_STATUSES",
]

# Typing is for the checker only: importing ``typing`` at run time would cost
# import time that a cron job pays on every start.
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    import ssl
    from typing import (Any, Callable, Dict, List, Mapping,
                        Optional, Sequence, Tuple, Union)

    Part = Union["TextPart", "ThinkingPart", "FunctionCallPart",
                 "ServerToolCallPart", "ServerToolResponsePart"]
    JSONDict = Dict[str, Any]


###############################################################################
# Constants
###############################################################################

#: Where requests go when neither ``base_url`` nor ``OPENAI_BASE_URL`` is set.
DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: Seconds one HTTP attempt may take in total: connect, headers and body.
DEFAULT_TIMEOUT = 60.0
#: Extra attempts after a retryable failure (the official SDK's default).
DEFAULT_MAX_RETRIES = 2
#: A body larger than this is refused (no real Response comes close).
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: Statuses of a job that is still running; every other status is final.
PENDING_STATUSES = frozenset({"queued", "in_progress"})
#: HTTP statuses retried for polls and cancels (and every status >= 500).
RETRYABLE_STATUSES = frozenset({408, 409, 429})

_INITIAL_RETRY_DELAY = 0.5
_MAX_RETRY_DELAY = 8.0
# A server that asks us to wait longer than this is saying "not now": raise.
_MAX_RETRY_AFTER = 60.0
_READ_CHUNK = 64 * 1024

# Adaptive wait: poll after 10 % of the job's age, at least 1 s, at most 30 s.
_WAIT_MIN_INTERVAL = 1.0
_WAIT_MAX_INTERVAL = 30.0
_WAIT_AGE_FRACTION = 0.1
# A server's openai-poll-after-ms is honoured between these bounds: no busy
# loop on "0", no day-long sleep on a typo.
_WAIT_MIN_HINT = 0.1
# Unstored background responses are kept about ten minutes.
_EXPIRY_HINT_SECONDS = 600.0

# Output item types the reference lists in
# provider_metadata["openai"]["built_in_tool_outputs"].  Every item that is not
# a message, reasoning or function call becomes a server-side tool part: a
# tool response for ``*_output`` types, else a tool call.
_BUILT_IN_TOOL_TYPES = frozenset({
    "web_search_call", "file_search_call", "computer_call",
    "image_generation_call", "code_interpreter_call", "local_shell_call",
    "shell_call", "shell_call_output", "apply_patch_call",
    "apply_patch_call_output", "mcp_call", "mcp_list_tools",
    "mcp_approval_request",
})

# Header names whose values are secrets: never logged, never in a message.
_CREDENTIAL_WORDS = ("authorization", "key", "token", "secret", "cookie",
                     "password", "credential")

_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")

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

    response_id = None  # type: Optional[str]


class APIError(OpenAIError):
    """A request to the API failed.

    Attributes:
        message: the human-readable message (also ``str(exc)``).
        method, url: the request that failed (the URL never holds the key).
        body: the decoded ``error`` object of the answer, or the whole decoded
            body when it has no ``{"error": ...}`` envelope, or its text.
        code, param, type: from the error object, when the server sent them.
        may_have_been_created: True when a ``create_response`` call failed in
            a way that leaves it unknown whether the job was started (and is
            being billed): list your responses before trying again.
    """

    def __init__(self, message: str, *, method: str = "", url: str = "",
                 body: Any = None, code: Optional[str] = None,
                 param: Optional[str] = None, type: Optional[str] = None,
                 may_have_been_created: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url
        self.body = body
        self.code = code
        self.param = param
        self.type = type
        self.may_have_been_created = may_have_been_created

    def _extend(self, note: str) -> None:
        """Add ``note`` to the message (and so to ``str(exc)``)."""
        self.message = "%s -- %s" % (self.message, note)
        self.args = (self.message,)


class APIStatusError(APIError):
    """The API answered with a non-2xx HTTP status.

    Attributes (besides those of :class:`APIError`):
        status_code: the HTTP status.
        request_id: the ``x-request-id`` header, for OpenAI support.
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
    """One attempt took longer than the client's ``timeout`` in total."""


class APIResponseDecodeError(APIError):
    """A 2xx answer whose body is not a Response object: not JSON, not
    UTF-8, not a JSON object, or an object without a string ``status``
    (a proxy's login page, an empty body ...).

    Attributes (besides those of :class:`APIError`):
        status_code: the HTTP status.
        request_id: the ``x-request-id`` header, or None.
        body: the start of the body, as text.
    """

    def __init__(self, message: str, *, status_code: int = 200,
                 request_id: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.status_code = status_code
        self.request_id = request_id


class ResponseTooLargeError(APIError):
    """The body was larger than the client's ``max_response_bytes``.

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
        elapsed: seconds spent waiting.
        cancelled: True when the job was cancelled because of the timeout.
    """

    def __init__(self, message: str, *, response_id: str,
                 response: Optional[LlmResponse], elapsed: float,
                 cancelled: bool = False) -> None:
        super().__init__(message)
        self.response_id = response_id
        self.response = response
        self.elapsed = elapsed
        self.cancelled = cancelled


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


def _drop_none(pairs: Sequence[Tuple[str, Any]]) -> JSONDict:
    return {key: value for key, value in pairs if value is not None}


@dataclass
class TextPart:
    """Answer text (a non-empty ``output_text`` of a ``message`` item)."""

    text: str

    def to_dict(self) -> JSONDict:
        return {"text": self.text}


@dataclass
class ThinkingPart:
    """The reasoning summary of a ``reasoning`` item."""

    thinking: str
    signature: Optional[str] = None

    def to_dict(self) -> JSONDict:
        return _drop_none([("thinking", self.thinking),
                           ("signature", self.signature)])


@dataclass
class FunctionCallPart:
    """A ``function_call`` item: your function, for you to run.

    ``args`` is the parsed ``arguments`` JSON (``{}`` when it does not parse)
    and ``id`` is the item's ``call_id``, as the reference does.
    """

    name: str
    args: Any
    id: Optional[str] = None
    thought_signature: Optional[str] = None

    def to_dict(self) -> JSONDict:
        return _drop_none([("name", self.name), ("args", self.args),
                           ("id", self.id),
                           ("thought_signature", self.thought_signature)])


@dataclass
class ServerToolCallPart:
    """A built-in tool call run by OpenAI (web search, code interpreter ...),
    or an output item type this module does not know: the item as sent."""

    server_tool_call: JSONDict

    def to_dict(self) -> JSONDict:
        return {"server_tool_call": self.server_tool_call}


@dataclass
class ServerToolResponsePart:
    """The output of a server-side tool (``shell_call_output``, and any other
    ``*_output`` item): the item as sent."""

    server_tool_response: JSONDict

    def to_dict(self) -> JSONDict:
        return {"server_tool_response": self.server_tool_response}


@dataclass
class Content:
    """The converted ``output`` of a response: role ``"model"`` and parts."""

    role: str
    parts: List[Part] = field(default_factory=list)

    def to_dict(self) -> JSONDict:
        return {"role": self.role, "parts": [p.to_dict() for p in self.parts]}


@dataclass
class UsageMetadata:
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

    def to_dict(self) -> JSONDict:
        out = {"prompt_token_count": self.prompt_token_count,
               "candidates_token_count": self.candidates_token_count,
               "total_token_count": self.total_token_count}
        out.update(_drop_none([
            ("cache_read_input_token_count", self.cache_read_input_token_count),
            ("cache_creation_input_token_count",
             self.cache_creation_input_token_count),
            ("thinking_token_count", self.thinking_token_count),
            ("audio_input_token_count", self.audio_input_token_count),
            ("audio_output_token_count", self.audio_output_token_count),
            ("cost", self.cost), ("is_byok", self.is_byok),
            ("provider_usage", self.provider_usage)]))
        return out


@dataclass
class CitationSource:
    """One ``url_citation``.  ``start_index``/``end_index`` index into
    :attr:`LlmResponse.text`: ``r.text[s.start_index:s.end_index]`` is the
    cited span."""

    uri: Optional[str] = None
    title: Optional[str] = None
    start_index: Optional[int] = None
    end_index: Optional[int] = None
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
    def response_id(self) -> Optional[str]:
        """The response's id (``resp_...``)."""
        return self._openai_metadata().get("response_id")

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
        out = {
            "content": self.content.to_dict() if self.content else None,
            "usage_metadata": (self.usage_metadata.to_dict()
                               if self.usage_metadata else None),
            "finish_reason": (self.finish_reason.value
                              if self.finish_reason else None),
        }  # type: JSONDict
        if self.citation_metadata is not None:
            out["citation_metadata"] = self.citation_metadata.to_dict()
        out.update(partial=self.partial, turn_complete=self.turn_complete,
                   interrupted=self.interrupted, error_code=self.error_code,
                   error_message=self.error_message)
        if self.provider_metadata is not None:
            out["provider_metadata"] = self.provider_metadata
        return out


###############################################################################
# Conversion: Response JSON -> LlmResponse
###############################################################################
# Every reader below takes whatever JSON it is given: a field of the wrong type
# is treated as absent, so a malformed body yields a best-effort LlmResponse,
# never a TypeError.  Only a body that is not a Response at all is an error.

# The reference's built-in tool item types, each with the part it becomes.
_BUILT_IN_TOOL_PARTS = {
    kind: (ServerToolResponsePart if kind.endswith("_output")
           else ServerToolCallPart)
    for kind in _BUILT_IN_TOOL_TYPES
}  # type: Dict[str, Callable[[JSONDict], Part]]


def _str_or_none(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


def _count_or_none(value: Any) -> Optional[int]:
    """A token count: a non-negative int (bools and strings do not count)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _dicts(value: Any) -> List[JSONDict]:
    """The dict members of a JSON array (nothing, if it is not one)."""
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, dict)]


def _convert_usage(usage: Any) -> Optional[UsageMetadata]:
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


def _citations(annotations: Any, offset: int) -> List[CitationSource]:
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


def _parse_arguments(arguments: Any) -> Any:
    if not isinstance(arguments, str):
        return {}
    try:
        return json.loads(arguments)
    except ValueError:
        return {}


class _Output:
    """What one walk over ``output`` collects: parts, citations, metadata."""

    def __init__(self, items: Any) -> None:
        self.parts = []  # type: List[Part]
        self.citations = []  # type: List[CitationSource]
        self.refusals = []  # type: List[str]
        self.phase = None  # type: Optional[str]
        self.encrypted_content = None  # type: Optional[str]
        self.tool_names = []  # type: List[str]
        self.built_in_tool_outputs = []  # type: List[JSONDict]
        self.history_parts = []  # type: List[JSONDict]
        self.text_length = 0  # of the text parts so far: citation offsets
        if isinstance(items, list):
            self._walk(items)

    def _walk(self, items: List[Any]) -> None:
        # One flat loop with local names: a deep-research body has thousands
        # of items, and this walk is most of the conversion's cost.
        add_part = self.parts.append
        add_tool_output = self.built_in_tool_outputs.append
        add_history = self.history_parts.append
        built_in = _BUILT_IN_TOOL_PARTS
        for item in items:
            if not isinstance(item, dict):
                continue
            kind = item.get("type")
            if not isinstance(kind, str):
                kind = ""
            part_class = built_in.get(kind)
            if part_class is not None:
                add_tool_output(item)
                add_part(part_class(item))
                if kind == "mcp_list_tools":
                    self.tool_names.extend(
                        name for name in (_str_or_none(t.get("name"))
                                          for t in _dicts(item.get("tools")))
                        if name)
            elif kind == "reasoning":
                add_history({"server_tool_call": item})
                encrypted = item.get("encrypted_content")
                if isinstance(encrypted, str):
                    self.encrypted_content = encrypted
                thinking = ""
                summary = item.get("summary")
                if isinstance(summary, list):
                    for entry in summary:
                        if isinstance(entry, dict):
                            text = entry.get("text")
                            if isinstance(text, str):
                                thinking += text
                if thinking:
                    add_part(ThinkingPart(thinking))
            elif kind == "message":
                self._add_message(item)
            elif kind == "function_call":
                add_part(FunctionCallPart(
                    name=_str_or_none(item.get("name")) or "",
                    args=_parse_arguments(item.get("arguments")),
                    id=_str_or_none(item.get("call_id"))))
            # Unlike the reference, which drops the item types it does not
            # convert, we keep every one: never lost, never an exception.
            elif kind.endswith("_output"):
                add_part(ServerToolResponsePart(item))
            else:
                add_part(ServerToolCallPart(item))

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
        meta = {"response_id": response_id, "status": status}  # type: JSONDict
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


def _response_from_json(body: Any, requested_id: Optional[str] = None
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
        meta = {"response_id": response_id, "status": status}  # type: JSONDict
        result = LlmResponse(provider_metadata={"openai": meta}, raw=body)
    else:
        # The walk makes thousands of small acyclic objects and no cycles:
        # a cyclic GC pass over the freshly decoded body during it is pure
        # cost (measured: about a third of the conversion time).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            converter = _Output(body.get("output"))
        finally:
            if gc_was_enabled:
                gc.enable()
        meta = converter.metadata(response_id, status, body)
        finish = _finish_reason(status, body)
        if converter.refusals and finish is not None:
            finish = FinishReason.SAFETY
        result = LlmResponse(
            content=(Content("model", converter.parts)
                     if converter.parts else None),
            usage_metadata=_convert_usage(body.get("usage")),
            finish_reason=finish,
            citation_metadata=(CitationMetadata(converter.citations)
                               if converter.citations else None),
            turn_complete=status in ("completed", "incomplete", "failed",
                                     "cancelled"),
            provider_metadata={"openai": meta},
            raw=body)
        if status == "failed":
            error = body.get("error")
            if not isinstance(error, dict):
                error = {}
            result.error_code = _str_or_none(error.get("code")) or "unknown"
            result.error_message = (_str_or_none(error.get("message"))
                                    or "Background response failed")
        elif status == "cancelled":
            result.error_code = "cancelled"
            result.error_message = "Background response was cancelled"

    if requested_id is not None and response_id != requested_id:
        meta["requested_id"] = requested_id
        _logger.warning("asked for response %r but the server answered with "
                        "%r", requested_id, response_id)
    return result


###############################################################################
# Transport: one HTTP attempt, bounded in total time and size
###############################################################################

def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def _is_credential_header(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _CREDENTIAL_WORDS)


def _check_header(name: str, value: str) -> None:
    if not isinstance(name, str) or not isinstance(value, str):
        raise TypeError("header names and values must be str, got %r"
                        % (type(name).__name__ if not isinstance(name, str)
                           else name,))
    if not name or any(c in name for c in " \t\r\n:\x00"):
        raise ValueError("invalid header name %r" % (name,))
    if any(c in value for c in "\r\n\x00"):
        # The value may be a secret: name the header, not the value.
        raise ValueError("the value of header %r contains a line break or "
                         "NUL" % (name,))


class _AttemptFailed(Exception):
    """Internal: a transport failure, with what the retry rule needs."""

    def __init__(self, error: APIError, sent: bool, retryable: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.sent = sent
        self.retryable = retryable


def _transport_classes() -> Tuple[Any, Any, Any]:
    """Build (once) the urllib handlers that bound every attempt by a
    deadline.  Defined lazily so ``import openai_bg`` does not import
    ``urllib.request``, ``http.client`` or ``ssl``.  Two threads racing here
    may both build the classes; either set works with the other, so no lock
    is needed."""
    global _TRANSPORT
    if _TRANSPORT is not None:
        return _TRANSPORT
    import http.client
    import io
    import socket
    import urllib.request

    class DeadlineReader(io.RawIOBase):
        # Each read may block only until the attempt's deadline, so a server
        # that trickles bytes cannot hold a call past ``timeout``.
        def __init__(self, sock: Any, deadline: float) -> None:
            super().__init__()
            self._sock = sock
            self._raw = sock.makefile("rb", buffering=0)
            self._deadline = deadline

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("deadline passed")
            self._sock.settimeout(remaining)
            return int(self._raw.readinto(buffer) or 0)

        def close(self) -> None:
            self._raw.close()
            super().close()

    class DeadlineSocket:
        def __init__(self, sock: Any, deadline: float) -> None:
            self._sock = sock
            self._deadline = deadline

        def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> Any:
            return io.BufferedReader(DeadlineReader(self._sock, self._deadline))

        def sendall(self, data: Any) -> None:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("deadline passed")
            self._sock.settimeout(remaining)
            self._sock.sendall(data)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._sock, name)

    class DeadlineMixin:
        # ``bg_request`` is the Request being sent: it carries the deadline and
        # records whether a byte of it left this machine.
        bg_request = None  # type: Any
        sock = None  # type: Any
        timeout = None  # type: Any

        def connect(self) -> None:
            remaining = self.bg_request.deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("deadline passed")
            self.timeout = remaining
            super().connect()  # type: ignore[misc]
            self.sock = DeadlineSocket(self.sock, self.bg_request.deadline)

        def send(self, data: Any) -> None:
            # http.client connects lazily inside send(): connect first, so
            # that a refused connection does not count as "sent".
            if self.sock is None:
                self.connect()
            self.bg_request.sent = True
            super().send(data)  # type: ignore[misc]

    class HTTPConnection(DeadlineMixin, http.client.HTTPConnection):
        pass

    class HTTPSConnection(DeadlineMixin, http.client.HTTPSConnection):
        pass

    def connection_factory(cls: Any, req: Any) -> Any:
        def make(*args: Any, **kwargs: Any) -> Any:
            conn = cls(*args, **kwargs)
            conn.bg_request = req
            return conn
        return make

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req: Any) -> Any:
            return self.do_open(connection_factory(HTTPConnection, req), req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: Any) -> Any:
            return self.do_open(connection_factory(HTTPSConnection, req), req,
                                context=self._context)  # type: ignore[attr-defined]

    class Request(urllib.request.Request):
        deadline = 0.0
        sent = False

    # What a failed exchange can raise: socket and URL errors, malformed
    # HTTP, and ValueError for URLs urllib cannot parse.
    errors = (OSError, http.client.HTTPException, ValueError)
    _TRANSPORT = (Request, (HTTPHandler, HTTPSHandler), errors)
    return _TRANSPORT


_TRANSPORT = None  # type: Optional[Tuple[Any, Any, Any]]


def _build_opener(ssl_context: Any) -> Any:
    """An opener with no redirect handling and no error processing: every
    status comes back as a response, and the client decides.  Without an
    SSL context (a plain-http base URL) it cannot speak https at all."""
    import urllib.request
    http_handler, https_handler = _transport_classes()[1]
    opener = urllib.request.OpenerDirector()
    # ProxyHandler reads HTTP(S)_PROXY / NO_PROXY as the stdlib does.
    handlers = [urllib.request.ProxyHandler(), urllib.request.UnknownHandler(),
                http_handler()]
    if ssl_context is not None:
        handlers.append(https_handler(context=ssl_context))
    for handler in handlers:
        opener.add_handler(handler)
    return opener


def _header_dict(message: Any) -> Dict[str, str]:
    return {k.lower(): v for k, v in message.items()}


def _read_body(response: Any, limit: int, url: str, method: str) -> bytes:
    # ``length`` is http.client's reading of Content-Length: None when the
    # body is chunked or runs to the end of the connection.
    if response.length is not None:
        if response.length > limit:
            raise ResponseTooLargeError(
                "the response body is %d bytes, over the limit of %d bytes "
                "(max_response_bytes)" % (response.length, limit),
                limit=limit, method=method, url=url)
        # One read of exactly that many bytes (http.client raises
        # IncompleteRead if the connection closes early).
        return bytes(response.read())
    chunks = []  # type: List[bytes]
    size = 0
    while True:
        chunk = response.read(_READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise ResponseTooLargeError(
                "the response body exceeds the limit of %d bytes "
                "(max_response_bytes)" % limit,
                limit=limit, method=method, url=url)
        chunks.append(chunk)


###############################################################################
# Errors from answers
###############################################################################

_STATUS_ERRORS = {
    400: BadRequestError, 401: AuthenticationError,
    403: PermissionDeniedError, 404: NotFoundError, 409: ConflictError,
    422: UnprocessableEntityError, 429: RateLimitError,
}  # type: Dict[int, type]


def _snippet(data: bytes, size: int = 200) -> str:
    text = data[:size * 4].decode("utf-8", "replace")
    text = " ".join(text.split())
    return text[:size] + ("..." if len(text) > size else "")


def _decode_error_body(data: bytes) -> Tuple[Any, JSONDict]:
    """(body for the exception, the error object or {}) of an error answer:
    the ``{"error": {...}}`` envelope, a bare ``{"message": ...}`` object as
    some gateways and mock servers send, or text."""
    try:
        decoded = json.loads(data.decode("utf-8"))
    except ValueError:
        return (_snippet(data) if data else None), {}
    if isinstance(decoded, dict):
        inner = decoded.get("error")
        if isinstance(inner, dict):
            return inner, inner
        if isinstance(inner, str):
            return decoded, {"message": inner}
        return decoded, decoded
    return decoded, {}


def _redact_bytes(data: bytes, secrets: Sequence[str]) -> bytes:
    for secret in secrets:
        if secret:
            data = data.replace(secret.encode("utf-8"), b"[redacted]")
    return data


def _status_error(status: int, reason: str, headers: Dict[str, str],
                  data: bytes, method: str, url: str,
                  secrets: Sequence[str]) -> APIStatusError:
    # Some gateways echo the key in their 401 message: never keep it.
    body, error = _decode_error_body(_redact_bytes(data, secrets))
    message = _str_or_none(error.get("message"))
    if message is None and isinstance(body, str):
        message = body
    request_id = headers.get("x-request-id")
    text = "HTTP %d %s from %s %s" % (status, reason or "", method, url)
    if message:
        text += ": " + message
    if request_id:
        text += " (request id %s)" % request_id
    text = _redact(" ".join(text.split()), secrets)
    kwargs = dict(status_code=status, request_id=request_id, headers=headers,
                  method=method, url=url, body=body,
                  code=_str_or_none(error.get("code")),
                  param=_str_or_none(error.get("param")),
                  type=_str_or_none(error.get("type")))  # type: Dict[str, Any]
    if 300 <= status < 400:
        location = headers.get("location")
        text = _redact(
            "HTTP %d redirect from %s %s to %s: openai_bg never follows "
            "redirects (the OpenAI API does not redirect; check base_url)"
            % (status, method, url, location), secrets)
        return RedirectError(text, location=location, **kwargs)
    cls = _STATUS_ERRORS.get(status)
    if cls is None:
        cls = InternalServerError if status >= 500 else APIStatusError
    error_object = cls(text, **kwargs)  # type: APIStatusError
    return error_object


def _retry_after(headers: Any) -> Optional[float]:
    """The server's requested delay in seconds, or None if it gave none
    (or gave something that is not a number or a date)."""
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            seconds = float(value) / 1000.0
            if seconds == seconds and seconds >= 0:  # not NaN
                return seconds
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        import email.utils
        try:
            date = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if date is None:
            return None
        return max(0.0, date.timestamp() - time.time())
    if seconds != seconds or seconds < 0:
        return None
    return seconds


def _backoff(retries_taken: int) -> float:
    import random
    delay = min(_INITIAL_RETRY_DELAY * 2.0 ** retries_taken, _MAX_RETRY_DELAY)
    return delay * (1 - 0.25 * random.random())


###############################################################################
# The client
###############################################################################

def _check_response_id(response_id: Any) -> str:
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
    return response_id


def _int_at_least(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be an int, not %s"
                        % (name, type(value).__name__))
    if value < minimum:
        raise ValueError("%s must be at least %d, got %d"
                         % (name, minimum, value))
    return value


def _positive_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("%s must be a number, not %s"
                        % (name, type(value).__name__))
    if not value > 0 or value == float("inf"):
        raise ValueError("%s must be a positive finite number, got %r"
                         % (name, value))
    return float(value)


class Client:
    """A configured connection to the OpenAI Responses API (or a compatible
    gateway).  Safe to share between threads.

    Arguments (each falls back to an environment variable, then a default):

    - ``api_key``: ``OPENAI_API_KEY``; required.
    - ``base_url``: ``OPENAI_BASE_URL``, then ``https://api.openai.com/v1``.
    - ``organization``: ``OPENAI_ORG_ID``; ``project``: ``OPENAI_PROJECT_ID``.
    - ``timeout``: seconds one HTTP attempt may take in total (connect,
      headers and the whole body); default 60.
    - ``max_retries``: extra attempts after a retryable failure; default 2.
    - ``default_headers`` / ``default_query``: added to every request (Azure
      OpenAI and gateways need them).
    - ``ssl_context``: your own :class:`ssl.SSLContext`; otherwise TLS is
      verified against the system CAs, ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``,
      or the file named by ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE``.
    - ``max_response_bytes``: a larger body raises
      :class:`ResponseTooLargeError`; default 64 MiB.

    Proxies come from ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY``, read
    when the client sends its first request.  Redirects are never followed.
    """

    def __init__(self, api_key: Optional[str] = None, *,
                 base_url: Optional[str] = None,
                 organization: Optional[str] = None,
                 project: Optional[str] = None,
                 timeout: float = DEFAULT_TIMEOUT,
                 max_retries: int = DEFAULT_MAX_RETRIES,
                 default_headers: Optional[Mapping[str, str]] = None,
                 default_query: Optional[Mapping[str, Any]] = None,
                 ssl_context: Optional[ssl.SSLContext] = None,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> None:
        if api_key is None:
            api_key = os.environ.get("OPENAI_API_KEY")
        if not api_key:
            raise OpenAIError(
                "no API key: pass api_key=... or set the OPENAI_API_KEY "
                "environment variable")
        if not isinstance(api_key, str):
            raise TypeError("api_key must be a str")
        if any(c in api_key for c in "\r\n\x00"):
            raise ValueError("the API key contains a line break or NUL")
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") \
            or DEFAULT_BASE_URL
        if not isinstance(base_url, str):
            raise TypeError("base_url must be a str")
        scheme, _, rest = base_url.partition("://")
        if scheme.lower() not in ("http", "https") or not rest.strip("/"):
            raise ValueError("base_url must be an http:// or https:// URL, "
                             "got %r" % base_url)
        if organization is None:
            organization = os.environ.get("OPENAI_ORG_ID") or None
        if project is None:
            project = os.environ.get("OPENAI_PROJECT_ID") or None
        self.timeout = _positive_number(timeout, "timeout")
        self.max_retries = _int_at_least(max_retries, "max_retries", 0)
        self.max_response_bytes = _int_at_least(max_response_bytes,
                                                "max_response_bytes", 1)
        self.base_url = base_url.rstrip("/")
        self.organization = organization
        self.project = project

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
        for name, given in (("default_headers", default_headers),
                            ("default_query", default_query)):
            if given is not None and not hasattr(given, "items"):
                raise TypeError("%s must be a mapping (a dict), not %s"
                                % (name, type(given).__name__))
        headers.update(default_headers or {})
        for name, value in headers.items():
            _check_header(name, value)
        self._headers = headers
        query = dict(default_query or {})
        self._query = ""
        if query:
            import urllib.parse
            self._query = urllib.parse.urlencode(query, doseq=True)
        # Every value we must never print: the key, and any credential-like
        # header or query value (an Azure ``api-key``, a gateway token ...),
        # longest first so that one secret inside another is fully hidden.
        secrets = {api_key}
        for name, value in list(headers.items()) + list(query.items()):
            if _is_credential_header(name) and len(str(value)) >= 4:
                secrets.add(str(value))
        self._secrets = tuple(sorted(secrets, key=len, reverse=True))

        if ssl_context is None:
            self._ca_bundle = None  # type: Optional[str]
            for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
                path = os.environ.get(variable)
                if path:
                    if not os.path.exists(path):
                        raise ValueError("%s names %r, which does not exist"
                                         % (variable, path))
                    self._ca_bundle = path
                    break
        self._ssl_context = ssl_context
        self._opener = None  # type: Any
        self._opener_lock = threading.Lock()
        # Seams for tests and simulations: how the client sleeps and tells
        # time while retrying and waiting.
        self._sleep = time.sleep  # type: Callable[[float], None]
        self._clock = time.monotonic  # type: Callable[[], float]

    def __repr__(self) -> str:
        return "%s(base_url=%r, organization=%r, project=%r, timeout=%r, " \
               "max_retries=%r)" % (type(self).__name__, self.base_url,
                                    self.organization, self.project,
                                    self.timeout, self.max_retries)

    # -- public operations -------------------------------------------------

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
        body, _ = self._request("POST", path, None)
        return _response_from_json(body, response_id)

    def create_response(self, *, model: str, input: Any,
                        **params: Any) -> LlmResponse:
        """Start a response: ``POST {base_url}/responses``.

        ``background=True`` and ``store=True`` are sent unless you pass them;
        every other keyword goes into the JSON body as given (``tools``,
        ``instructions``, ``reasoning`` ...), so new API parameters work
        without a new release.  The result is normally ``queued``; its
        ``response_id`` is what you poll.

        This call is retried only where the server cannot have accepted the
        request (nothing was sent, HTTP 429, or ``x-should-retry: true``).
        Any other failure raises at once with ``may_have_been_created=True``:
        a response may exist and be running."""
        if not isinstance(model, str) or not model:
            raise TypeError("model must be a non-empty str, got %r" % (model,))
        if not isinstance(input, (str, list)) or (input == "" or input == []):
            raise TypeError("input must be a non-empty str or list of input "
                            "items, got %r" % (input,))
        if params.get("stream"):
            raise ValueError("stream=True is not supported: openai_bg polls "
                             "background responses instead of streaming")
        payload = {"model": model, "input": input}  # type: JSONDict
        payload.update(params)
        payload.setdefault("background", True)
        payload.setdefault("store", True)
        body, _ = self._request("POST", "/responses", payload, create=True)
        result = _response_from_json(body)
        if not result.response_id and not result.done:
            raise _maybe_created(APIResponseDecodeError(
                "the answer to the create has no 'id', so the job cannot be "
                "polled", body=body, method="POST",
                url=self.base_url + "/responses"))
        _logger.info("created response %s (%s)", result.response_id,
                     result.status)
        return result

    def wait_response(self, response_id: str, *,
                      timeout: Optional[float] = None,
                      poll_interval: Optional[float] = None,
                      on_update: Optional[Callable[[LlmResponse], Any]] = None,
                      cancel_on_timeout: bool = False) -> LlmResponse:
        """Poll until the response leaves ``queued`` / ``in_progress`` and
        return that final :class:`LlmResponse`.

        - ``timeout``: seconds to wait in all (None: no limit).  Past it,
          :class:`WaitTimeoutError` (a ``TimeoutError``) carrying the last
          response; with ``cancel_on_timeout=True`` the job is cancelled
          first.
        - ``poll_interval``: a fixed delay between polls.  By default the
          delay adapts: 10 % of the time waited so far, at least 1 s and at
          most 30 s, so a result is noticed within about 10 % of the job's
          age while a 30-minute job costs under 100 polls.  A server's
          ``openai-poll-after-ms`` header takes precedence.
        - ``on_update(response)``: called after every successful poll.

        Network errors, timeouts, 408, 409, 429 and 5xx (after each poll's own
        retries) do not end the wait: it keeps polling until ``timeout``.
        Other API errors (401, 403, 404 ...) raise at once.  Ctrl-C
        (``KeyboardInterrupt``) propagates; the job keeps running."""
        _check_response_id(response_id)
        if timeout is not None:
            timeout = _positive_number(timeout, "timeout")
        if poll_interval is not None:
            poll_interval = _positive_number(poll_interval, "poll_interval")
        if on_update is not None and not callable(on_update):
            raise TypeError("on_update must be callable, not %s"
                            % type(on_update).__name__)
        start = self._clock()
        last = None  # type: Optional[LlmResponse]
        polls = 0
        while True:
            server_delay = None  # type: Optional[float]
            try:
                previous = last.status if last else None
                last, headers = self._poll(response_id)
                polls += 1
                if last.status != previous:
                    _logger.info("response %s is %s", response_id, last.status)
                hint = headers.get("openai-poll-after-ms")
                if hint is not None:
                    try:
                        server_delay = float(hint) / 1000.0
                    except ValueError:
                        pass
                    else:  # honoured, within sane bounds (and not NaN)
                        server_delay = min(max(server_delay, _WAIT_MIN_HINT),
                                           _WAIT_MAX_INTERVAL) \
                            if server_delay == server_delay else None
            except APIError as exc:
                elapsed = self._clock() - start
                if not _is_transient(exc):
                    exc.response_id = response_id
                    if isinstance(exc, NotFoundError) and \
                            elapsed >= _EXPIRY_HINT_SECONDS:
                        exc._extend(
                            "after %.0f s of waiting: a background response "
                            "created with store=false is deleted about 10 "
                            "minutes after it starts" % elapsed)
                    raise
                _logger.warning("polling %s failed (%s); still waiting",
                                response_id, exc)
            else:
                if on_update is not None:
                    on_update(last)
                if last.done:
                    return last
            elapsed = self._clock() - start
            if timeout is not None and elapsed >= timeout:
                return self._wait_timed_out(response_id, last, elapsed,
                                            cancel_on_timeout)
            delay = server_delay if server_delay is not None else (
                poll_interval if poll_interval is not None
                else _adaptive_interval(elapsed))
            if timeout is not None:
                delay = min(delay, timeout - elapsed)
            _logger.debug("response %s is %s after %.1f s (%d polls); next "
                          "poll in %.1f s", response_id,
                          last.status if last else "unknown", elapsed,
                          polls, delay)
            self._sleep(delay)

    def create_and_wait(self, *, model: str, input: Any,
                        timeout: Optional[float] = None,
                        poll_interval: Optional[float] = None,
                        on_update: Optional[Callable[[LlmResponse], Any]] = None,
                        cancel_on_timeout: bool = False,
                        cancel_on_interrupt: bool = True,
                        **params: Any) -> LlmResponse:
        """:meth:`create_response`, then :meth:`wait_response` on it.

        With ``cancel_on_interrupt`` (the default) a ``KeyboardInterrupt``
        during the wait cancels the job before it propagates.  Any
        :class:`OpenAIError` raised during the wait carries the job's id in
        ``response_id``, so a paid-for job is never lost."""
        created = self.create_response(model=model, input=input, **params)
        response_id = created.response_id or ""
        if on_update is not None:
            on_update(created)
        if created.done:
            return created
        try:
            return self.wait_response(
                response_id, timeout=timeout, poll_interval=poll_interval,
                on_update=on_update, cancel_on_timeout=cancel_on_timeout)
        except KeyboardInterrupt:
            if cancel_on_interrupt:
                self._cancel_quietly(response_id)
            raise
        except OpenAIError as exc:
            exc.response_id = response_id
            raise

    # -- internals ---------------------------------------------------------

    def _poll(self, response_id: str) -> Tuple[LlmResponse, Any]:
        path = "/responses/" + _quote_id(response_id)
        body, headers = self._request("GET", path, None)
        return _response_from_json(body, response_id), headers

    def _cancel_quietly(self, response_id: str) -> Optional[LlmResponse]:
        try:
            return self.cancel_response(response_id)
        except OpenAIError as exc:
            _logger.error("could not cancel response %s: %s", response_id, exc)
            return None

    def _wait_timed_out(self, response_id: str, last: Optional[LlmResponse],
                        elapsed: float, cancel: bool) -> LlmResponse:
        cancelled = False
        if cancel:
            result = self._cancel_quietly(response_id)
            if result is not None:
                last, cancelled = result, True
        raise WaitTimeoutError(
            "response %s is still %s after waiting %.1f s%s"
            % (response_id, last.status if last else "unknown", elapsed,
               "; it was cancelled" if cancelled else ""),
            response_id=response_id, response=last, elapsed=elapsed,
            cancelled=cancelled)

    def _get_opener(self) -> Any:
        with self._opener_lock:
            if self._opener is None:
                context = self._ssl_context
                # Loading the system CAs costs tens of milliseconds: only
                # pay for it when the base URL needs TLS.
                if context is None and self.base_url.startswith("https:"):
                    import ssl
                    context = ssl.create_default_context(
                        cafile=self._ca_bundle)
                self._opener = _build_opener(context)
            return self._opener

    def _request(self, method: str, path: str, payload: Optional[JSONDict],
                 create: bool = False) -> Tuple[Any, Any]:
        """Send with retries; return (decoded JSON body, response headers as
        an ``email.message.Message``: ``.get`` ignores case)."""
        url = self.base_url + path + ("?" + self._query if self._query else "")
        safe_url = _redact(url, self._secrets)
        headers = self._headers
        if payload is not None:
            try:
                data = json.dumps(payload).encode("utf-8")  # type: Optional[bytes]
            except (TypeError, ValueError) as exc:
                raise TypeError("the request body is not JSON-serializable: "
                                "%s" % exc) from None
            headers = dict(headers, **{"Content-Type": "application/json"})
        elif method == "POST":
            # An empty body, and no urllib default form Content-Type.
            data = b""
            headers = dict(headers, **{"Content-Type": "application/json"})
        else:
            data = None
        opener = self._get_opener()
        retries_taken = 0
        while True:
            try:
                started = time.monotonic()
                status, reason, answer_headers, raw = self._attempt(
                    opener, method, url, safe_url, headers, data)
                if _logger.isEnabledFor(logging.DEBUG):
                    _logger.debug("%s %s -> HTTP %d, %d bytes in %.0f ms "
                                  "(request id %s)", method, path, status,
                                  len(raw), (time.monotonic() - started) * 1e3,
                                  answer_headers.get("x-request-id"))
            except _AttemptFailed as failure:
                error = failure.error
                if create and failure.sent:
                    raise _maybe_created(error) from None
                if not failure.retryable or retries_taken >= self.max_retries:
                    raise error from None
                delay = _backoff(retries_taken)
                why = str(error)
            else:
                if 200 <= status < 300:
                    try:
                        body = self._decode(status, answer_headers, raw,
                                            method, safe_url)
                    except APIResponseDecodeError as exc:
                        if create:
                            _maybe_created(exc)
                        raise
                    return body, answer_headers
                error = _status_error(status, reason,
                                      _header_dict(answer_headers), raw,
                                      method, safe_url, self._secrets)
                decision = self._retry_delay(status, answer_headers, create,
                                             retries_taken)
                if decision is None:
                    if create and (status >= 500 or status == 408):
                        raise _maybe_created(error)
                    raise error
                delay = decision
                why = "HTTP %d" % status
            retries_taken += 1
            _logger.debug("retrying %s %s after %s (retry %d of %d) in "
                          "%.2f s", method, path, why, retries_taken,
                          self.max_retries, delay)
            self._sleep(delay)

    def _retry_delay(self, status: int, headers: Any, create: bool,
                     retries_taken: int) -> Optional[float]:
        """Seconds to wait before retrying this status, or None: raise."""
        if retries_taken >= self.max_retries:
            return None
        should = headers.get("x-should-retry")
        if should == "false":
            return None
        if should != "true":
            if create and status != 429:
                return None
            if status not in RETRYABLE_STATUSES and status < 500:
                return None
        hint = _retry_after(headers)
        if hint is not None:
            if hint > _MAX_RETRY_AFTER:
                return None
            return hint
        return _backoff(retries_taken)

    def _attempt(self, opener: Any, method: str, url: str, safe_url: str,
                 headers: Dict[str, str], data: Optional[bytes]
                 ) -> Tuple[int, str, Any, bytes]:
        """One HTTP exchange, bounded by ``self.timeout`` in total.  Returns
        (status, reason, headers as an ``email.message.Message``, body)."""
        request_class, _, transport_errors = _transport_classes()
        request = request_class(url, data=data, headers=headers,
                                method=method)
        request.deadline = time.monotonic() + self.timeout
        try:
            response = opener.open(request, timeout=self.timeout)
            try:
                raw = _read_body(response, self.max_response_bytes, safe_url,
                                 method)
                return response.status, response.reason, response.headers, raw
            finally:
                response.close()
        except APIError as exc:
            # A truncated body is worth another try; an oversized one is not.
            raise _AttemptFailed(exc, request.sent,
                                 isinstance(exc, APIConnectionError)) from None
        except transport_errors as exc:
            import socket
            import ssl
            import urllib.error
            reason = exc.reason if isinstance(exc, urllib.error.URLError) \
                else exc
            if isinstance(reason, (socket.timeout, TimeoutError)):
                error = APITimeoutError(
                    "%s %s timed out (timeout=%s s for the whole attempt)"
                    % (method, safe_url, self.timeout),
                    method=method, url=safe_url)  # type: APIError
            else:
                detail = _redact(str(reason) or type(reason).__name__,
                                 self._secrets)
                error = APIConnectionError(
                    "%s %s failed: %s: %s" % (method, safe_url,
                                              type(reason).__name__, detail),
                    method=method, url=safe_url)
            # A certificate the system does not trust will not become
            # trusted on the next attempt.
            retryable = not isinstance(reason, ssl.SSLCertVerificationError) \
                if hasattr(ssl, "SSLCertVerificationError") else True
            raise _AttemptFailed(error, request.sent, retryable) from None

    def _decode(self, status: int, headers: Any, raw: bytes,
                method: str, url: str) -> Any:
        request_id = headers.get("x-request-id")
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError as exc:
            raw = _redact_bytes(raw, self._secrets)
            what = "an empty body" if not raw.strip() else (
                "a body that is not UTF-8" if isinstance(exc, UnicodeError)
                else "a body that is not JSON (%s)" % (
                    headers.get("content-type") or "no content type"))
            raise APIResponseDecodeError(
                _redact("HTTP %d from %s %s carried %s: %s" % (
                    status, method, url, what, _snippet(raw)), self._secrets),
                status_code=status, request_id=request_id,
                body=_snippet(raw), method=method, url=url) from None


def _maybe_created(error: APIError) -> APIError:
    """Mark a failed create whose request reached the server."""
    error.may_have_been_created = True
    error._extend("the request was sent, so a response may have been "
                  "created (and billed): check before creating it again")
    return error


def _quote_id(response_id: str) -> str:
    import urllib.parse
    return urllib.parse.quote(_check_response_id(response_id), safe="")


def _is_transient(exc: APIError) -> bool:
    if isinstance(exc, APIConnectionError):
        return True
    status = getattr(exc, "status_code", None)
    if isinstance(exc, APIStatusError) and isinstance(status, int):
        return status in RETRYABLE_STATUSES or status >= 500
    return False


def _adaptive_interval(elapsed: float) -> float:
    return min(_WAIT_MAX_INTERVAL,
               max(_WAIT_MIN_INTERVAL, _WAIT_AGE_FRACTION * elapsed))


###############################################################################
# Module-level functions over a default client
###############################################################################

_default_client = None  # type: Optional[Client]
_default_lock = threading.Lock()


def _client() -> Client:
    global _default_client
    with _default_lock:
        if _default_client is None:
            _default_client = Client()
        return _default_client


def poll_response(response_id: str) -> LlmResponse:
    """:meth:`Client.poll_response` on a client built from the environment
    on first use."""
    return _client().poll_response(response_id)


def cancel_response(response_id: str) -> LlmResponse:
    """:meth:`Client.cancel_response` on the default client."""
    return _client().cancel_response(response_id)


def create_response(*, model: str, input: Any, **params: Any) -> LlmResponse:
    """:meth:`Client.create_response` on the default client."""
    return _client().create_response(model=model, input=input, **params)


def wait_response(response_id: str, **options: Any) -> LlmResponse:
    """:meth:`Client.wait_response` on the default client."""
    return _client().wait_response(response_id, **options)


def create_and_wait(*, model: str, input: Any, **options: Any) -> LlmResponse:
    """:meth:`Client.create_and_wait` on the default client."""
    return _client().create_and_wait(model=model, input=input, **options)


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
EXIT_INTERRUPTED = 130  # Ctrl-C

_CLI_EXAMPLES = """\
examples:
  openai-bg run --model o4-mini-deep-research --tool web_search_preview \\
      "What changed in EU AI regulation this month?"
  id=$(openai-bg create --model o3-deep-research --tool web_search_preview - < question.txt)
  openai-bg wait "$id" --timeout 3600 --cancel-on-timeout > answer.txt
  openai-bg poll "$id" --json
  openai-bg cancel "$id"

exit codes: 0 completed, 1 failed/cancelled/incomplete, 2 usage error,
3 API error, 4 network error, 5 wait timed out, 6 still running (poll),
130 interrupted.  Configuration: OPENAI_API_KEY, OPENAI_BASE_URL,
OPENAI_ORG_ID, OPENAI_PROJECT_ID, HTTPS_PROXY, REQUESTS_CA_BUNDLE, OPENAI_LOG.
"""


class _UsageError(Exception):
    pass


def _cli_parser() -> Any:
    import argparse

    # The shared options are accepted before or after the subcommand; SUPPRESS
    # keeps a subcommand's absent option from hiding one given before it.
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection and output")
    group.add_argument("--base-url", default=argparse.SUPPRESS,
                       help="API base URL (default: $OPENAI_BASE_URL or %s)"
                       % DEFAULT_BASE_URL)
    group.add_argument("--request-timeout", type=float,
                       default=argparse.SUPPRESS, metavar="S",
                       help="seconds one HTTP request may take (default %g)"
                       % DEFAULT_TIMEOUT)
    group.add_argument("--max-retries", type=int, default=argparse.SUPPRESS,
                       metavar="N", help="retries per request (default %d)"
                       % DEFAULT_MAX_RETRIES)
    group.add_argument("--ca-bundle", default=argparse.SUPPRESS,
                       metavar="FILE",
                       help="PEM file of CA certificates to trust")
    group.add_argument("--json", action="store_true",
                       default=argparse.SUPPRESS,
                       help="print to_dict() and the raw response as JSON")

    def wait_options(sub: Any) -> None:
        sub.add_argument("--timeout", type=float, metavar="S",
                         help="give up waiting after S seconds (exit 5)")
        sub.add_argument("--interval", type=float, metavar="S",
                         help="poll every S seconds (default: adaptive, "
                              "1 s growing to 30 s)")
        sub.add_argument("--cancel-on-timeout", action="store_true",
                         help="cancel the job when --timeout passes")

    def create_options(sub: Any) -> None:
        sub.add_argument("input", metavar="INPUT",
                         help="the prompt, or - to read it from stdin")
        sub.add_argument("--model", required=True,
                         help="e.g. o3-deep-research, o4-mini-deep-research")
        sub.add_argument("--instructions", help="system instructions")
        sub.add_argument("--tool", action="append", default=[],
                         metavar="TYPE",
                         help="add a built-in tool by type, e.g. "
                              "web_search_preview (repeatable)")
        sub.add_argument("--param", action="append", default=[],
                         metavar="KEY=JSON",
                         help="any other body parameter, e.g. "
                              "reasoning='{\"summary\":\"auto\"}' or "
                              "max_tool_calls=20 (a value that is not JSON "
                              "is sent as a string; repeatable)")

    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="openai-bg", parents=[common], formatter_class=formatter,
        description="Create, poll, wait for and cancel OpenAI background "
                    "responses.", epilog=_CLI_EXAMPLES)
    parser.add_argument("--version", action="version",
                        version="openai_bg " + __version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def command(name: str, summary: str, example: str) -> Any:
        return commands.add_parser(
            name, parents=[common], help=summary, description=summary,
            formatter_class=formatter, epilog="example:\n  " + example)

    sub = command("create", "start a background response and print its id",
                  "openai-bg create --model o3-deep-research "
                  "--tool web_search_preview 'Survey of ...'")
    create_options(sub)
    sub = command("poll", "print a response's current state once",
                  "openai-bg poll resp_123 --json")
    sub.add_argument("response_id", metavar="ID")
    sub = command("wait", "wait for a response to finish and print it",
                  "openai-bg wait resp_123 --timeout 1800 "
                  "--cancel-on-timeout")
    sub.add_argument("response_id", metavar="ID")
    wait_options(sub)
    sub = command("cancel", "cancel a background response",
                  "openai-bg cancel resp_123")
    sub.add_argument("response_id", metavar="ID")
    sub = command("run", "create a response, wait for it and print it "
                         "(Ctrl-C cancels the job)",
                  "openai-bg run --model o4-mini-deep-research "
                  "--tool web_search_preview 'Question'")
    create_options(sub)
    wait_options(sub)
    sub.add_argument("--no-cancel", action="store_true",
                     help="on Ctrl-C, leave the job running")
    return parser


def _interrupt_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so that ``timeout 3600 openai-bg run ...``
    or a stopped container cancels the job instead of orphaning it."""
    import signal

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


def _cli_create_params(args: Any) -> JSONDict:
    text = sys.stdin.read() if args.input == "-" else args.input
    if not text.strip():
        raise _UsageError("the input is empty")
    params = {"model": args.model, "input": text}  # type: JSONDict
    if args.instructions:
        params["instructions"] = args.instructions
    if args.tool:
        params["tools"] = [{"type": kind} for kind in args.tool]
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _UsageError("--param wants KEY=VALUE, got %r" % item)
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


class _Progress:
    """Status on stderr: one live line on a terminal, else a line per change."""

    def __init__(self, stream: Any, clock: Callable[[], float]) -> None:
        self.stream = stream
        self.live = bool(getattr(stream, "isatty", lambda: False)())
        self.clock = clock
        self.start = clock()
        self.polls = 0
        self.last_status = None  # type: Optional[str]

    def update(self, response: LlmResponse, polled: bool = True) -> None:
        if polled:
            self.polls += 1
        line = "%s: %s, %.0f s, %d poll%s" % (
            response.response_id, response.status, self.clock() - self.start,
            self.polls, "" if self.polls == 1 else "s")
        if self.live:
            self.stream.write("\r\033[K" + line)
            if response.done:
                self.stream.write("\n")
        elif response.status != self.last_status:
            self.stream.write(line + "\n")
        self.last_status = response.status
        self.stream.flush()

    def finish(self) -> None:
        if self.live and self.last_status in PENDING_STATUSES:
            self.stream.write("\n")
            self.stream.flush()


def _cli_print(response: LlmResponse, as_json: bool) -> None:
    if as_json:
        json.dump({"response": response.to_dict(), "raw": response.raw},
                  sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return
    if response.text:
        sys.stdout.write(response.text.rstrip("\n") + "\n")
    seen = {}  # type: Dict[str, str]
    for source in response.citations:
        if source.uri and source.uri not in seen:
            seen[source.uri] = source.title or source.uri
    if seen:
        sys.stdout.write("\nSources:\n")
        for number, (uri, title) in enumerate(seen.items(), 1):
            sys.stdout.write("%d. %s\n   %s\n" % (number, title, uri))


def _cli_outcome(response: LlmResponse) -> int:
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
    sys.stderr.write("openai-bg: response %s ended %s%s\n"
                     % (response.response_id, status, detail))
    return EXIT_NOT_COMPLETED


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The ``openai-bg`` command; returns the exit code."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:  # a cron job's ASCII stdout must not crash
            reconfigure(errors="backslashreplace")
    parser = _cli_parser()
    args = parser.parse_args(argv)
    if _logger.level == logging.NOTSET:  # no OPENAI_LOG: warnings only
        _log_to_stderr(logging.WARNING, "openai-bg: %(message)s")
    as_json = getattr(args, "json", False)
    response_id = getattr(args, "response_id", None)
    progress = _Progress(sys.stderr, time.monotonic)
    try:
        options = {}  # type: Dict[str, Any]
        if hasattr(args, "base_url"):
            options["base_url"] = args.base_url
        if hasattr(args, "request_timeout"):
            options["timeout"] = args.request_timeout
        if hasattr(args, "max_retries"):
            options["max_retries"] = args.max_retries
        if hasattr(args, "ca_bundle"):
            import ssl
            try:
                options["ssl_context"] = ssl.create_default_context(
                    cafile=args.ca_bundle)
            except (OSError, ssl.SSLError) as exc:
                raise _UsageError("--ca-bundle %s: %s"
                                  % (args.ca_bundle, exc)) from None
        client = Client(**options)
        wait = dict(timeout=getattr(args, "timeout", None),  # type: Dict[str, Any]
                    poll_interval=getattr(args, "interval", None),
                    on_update=progress.update,
                    cancel_on_timeout=getattr(args, "cancel_on_timeout", False))

        if args.command == "create":
            created = client.create_response(**_cli_create_params(args))
            if as_json:
                _cli_print(created, True)
            else:
                sys.stdout.write("%s\n" % created.response_id)
            return EXIT_OK if created.status != "failed" \
                else _cli_outcome(created)
        if args.command == "cancel":
            result = client.cancel_response(args.response_id)
            _cli_print(result, as_json)
            if result.status == "cancelled":
                sys.stderr.write("openai-bg: response %s cancelled\n"
                                 % result.response_id)
                return EXIT_OK
            sys.stderr.write("openai-bg: response %s was not cancelled: it is "
                             "%s\n" % (result.response_id, result.status))
            return EXIT_NOT_COMPLETED
        if args.command == "poll":
            result = client.poll_response(args.response_id)
            if result.done or as_json:
                _cli_print(result, as_json)
            if not result.done:
                sys.stderr.write("openai-bg: response %s is %s\n"
                                 % (result.response_id, result.status))
            return _cli_outcome(result)
        if args.command == "run":
            _interrupt_on_sigterm()
            params = _cli_create_params(args)
            created = client.create_response(**params)
            response_id = created.response_id
            sys.stderr.write("openai-bg: created %s\n" % response_id)
            progress.update(created, polled=False)
            try:
                result = created if created.done else client.wait_response(
                    response_id or "", **wait)
            except KeyboardInterrupt:
                progress.finish()
                if args.no_cancel:
                    sys.stderr.write("openai-bg: interrupted; response %s "
                                     "is still running\n" % response_id)
                else:
                    cancelled = client._cancel_quietly(response_id or "")
                    sys.stderr.write(
                        "openai-bg: interrupted; response %s %s\n" % (
                            response_id, "cancelled" if cancelled is not None
                            else "could NOT be cancelled"))
                return EXIT_INTERRUPTED
        else:  # wait
            result = client.wait_response(args.response_id, **wait)
        _cli_print(result, as_json)
        return _cli_outcome(result)
    except BaseException as exc:
        progress.finish()  # end a live status line before the message
        code = _cli_failure(exc, response_id)
        if code is None:
            raise
        return code


def _cli_failure(exc: BaseException, response_id: Optional[str]
                 ) -> Optional[int]:
    """Print one line for a failure and return its exit code (None: not
    ours to handle)."""
    if isinstance(exc, KeyboardInterrupt):
        sys.stderr.write("openai-bg: interrupted%s\n" % (
            "; response %s was left as it was" % response_id
            if response_id else ""))
        return EXIT_INTERRUPTED
    if isinstance(exc, WaitTimeoutError):
        sys.stderr.write("openai-bg: %s\n" % exc)
        return EXIT_WAIT_TIMEOUT
    if isinstance(exc, APIConnectionError):
        sys.stderr.write("openai-bg: network error: %s\n" % exc)
        return EXIT_NETWORK_ERROR
    if isinstance(exc, APIError):
        sys.stderr.write("openai-bg: API error: %s%s\n" % (
            exc, "" if exc.response_id is None or exc.response_id in str(exc)
            else " (response %s)" % exc.response_id))
        return EXIT_API_ERROR
    if isinstance(exc, (_UsageError, OpenAIError, ValueError, TypeError)):
        sys.stderr.write("openai-bg: error: %s\n" % exc)
        return EXIT_USAGE
    return None


def _setup_logging_from_env() -> None:
    # OPENAI_LOG is the official SDK's switch; without it we stay silent.
    level = os.environ.get("OPENAI_LOG", "").strip().lower()
    if level in ("debug", "info"):
        _log_to_stderr(logging.DEBUG if level == "debug" else logging.INFO,
                       "%(asctime)s %(name)s %(levelname)s %(message)s")


def _log_to_stderr(level: int, layout: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(layout))
    _logger.addHandler(handler)
    _logger.setLevel(level)


_setup_logging_from_env()


if __name__ == "__main__":
    sys.exit(main())
