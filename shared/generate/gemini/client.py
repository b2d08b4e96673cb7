"""The Gemini generator: asks Gemini for a wrapper, with structured output and a trusted sampling tool.

Gemini only writes parse code (and, for HTTP API sources, suggests query parameters and pagination):
where and how the source is fetched comes from its profile. Everything taken from the source, the
user or the validator reaches the model between `<<<NAME` and `NAME>>>` delimiters, as data.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx2
from google import genai
from google.genai import errors, types
from pydantic import BaseModel, Field, ValidationError

from shared.common.errors import GeminiError, GenerationError, SourceError
from shared.common.settings import Settings
from shared.domain.wrapper import (
    Exchange,
    ExchangeRole,
    FetchSpec,
    Generation,
    IndicatorRequest,
    Inference,
    Pagination,
    PagingKind,
    SourceFormat,
    WrapperDraft,
)
from shared.generate.gemini.prompt import (
    MAX_SAMPLES,
    TOOL_NAME,
    build_prompt,
    fence,
    prompt_with_samples,
    system_instruction,
)
from shared.generate.selection import restrict_code
from shared.source.http import fetch_url
from shared.source.profile import SourceProfile

# google-genai 3.x defaults to the v1 API, reported to reject systemInstruction and responseSchema payloads.
API_VERSION = "v1beta"
RETRY_INITIAL_DELAY_SECONDS = 1.0
RETRY_MAX_DELAY_SECONDS = 20.0
MAX_TOOL_ROUNDS = 3
SAMPLE_MAX_BYTES = 5 * 1024 * 1024


class QueryParam(BaseModel):
    """A query parameter Gemini suggests for an API source."""

    name: str = Field(description="query parameter name")
    value: str = Field(description="query parameter value")


class PagingAnswer(BaseModel):
    """How Gemini suggests walking the pages of an API source."""

    kind: PagingKind = Field(
        description="none, a page number or an offset query parameter, a next-page link in the body "
        "(next_link) or in the Link header (link_header), or a cursor token sent back as a parameter"
    )
    param: str | None = Field(
        default=None, description="query parameter of the page number, offset or cursor"
    )
    size_param: str | None = Field(default=None, description="query parameter of the page size")
    size: int | None = Field(default=None, description="page size to request")
    start: int | None = Field(default=None, description="first page number or offset")
    next_link_path: str | None = Field(
        default=None, description="dotted path of the next-page URL in the JSON"
    )
    cursor_path: str | None = Field(default=None, description="dotted path of the next cursor in the JSON")
    pages_path: str | None = Field(default=None, description="dotted path of the page count in the JSON")
    total_path: str | None = Field(default=None, description="dotted path of the record count in the JSON")


class WrapperAnswer(BaseModel):
    """What Gemini answers: its reasoning, the parse code and, for API sources, request suggestions."""

    rationale: str = Field(
        description="the layout you found and the decisions the code makes, in a few sentences"
    )
    parse_code: str = Field(
        description="complete Python source of the wrapper, defining parse(payload, context)"
    )
    params: list[QueryParam] = Field(
        default_factory=list, description="query parameters to add to the source location (API sources only)"
    )
    pagination: PagingAnswer | None = Field(default=None, description="how to walk pages (API sources only)")


class Transcript:
    """The exchanges of one attempt, in order."""

    def __init__(self, attempt: int) -> None:
        self.attempt = attempt
        self.exchanges: list[Exchange] = []

    def add(self, role: ExchangeRole, text: str) -> None:
        """Record one exchange."""
        self.exchanges.append(Exchange(attempt=self.attempt, role=role, text=text))

    def failure(self, reason: str) -> GeminiError:
        """Record why the attempt failed and return the error to raise."""
        self.add("error", reason)
        return GeminiError(reason, list(self.exchanges))


def create_client(settings: Settings, *, client_args: dict[str, Any] | None = None) -> genai.Client:
    """A Gemini Developer API client with the configured key, timeout and retries."""
    if settings.gemini_api_key is None:
        raise GenerationError("no Gemini API key configured (RS_GEMINI_API_KEY)")
    options = types.HttpOptions(
        api_version=API_VERSION,
        timeout=int(settings.gemini_timeout_seconds * 1000),
        retry_options=types.HttpRetryOptions(
            attempts=settings.gemini_retry_attempts,
            initial_delay=RETRY_INITIAL_DELAY_SECONDS,
            max_delay=RETRY_MAX_DELAY_SECONDS,
        ),
        client_args=client_args,
    )
    return genai.Client(
        api_key=settings.gemini_api_key.get_secret_value(), vertexai=False, http_options=options
    )


class GeminiGenerator:
    """Writes wrappers with Gemini; regenerates from the previous code and the validation feedback."""

    def __init__(self, *, settings: Settings, client: genai.Client | None = None) -> None:
        self.name = f"gemini:{settings.gemini_model}"
        self._settings = settings
        self._client = client if client is not None else create_client(settings)
        # The code the next feedback is about: the last draft's, or set by a caller regenerating in a new
        # process (the queue workflow keeps the failed code on the wrapper, not in the generator).
        self.previous_code: str | None = None

    def generate(
        self,
        profile: SourceProfile,
        request: IndicatorRequest,
        *,
        feedback: str | None = None,
        attempt: int = 1,
    ) -> Generation:
        """Ask Gemini for a draft wrapper; API sources may be sampled through the trusted fetcher first."""
        transcript = Transcript(attempt)
        api = is_api_source(profile)
        system = system_instruction(api=api)
        previous_code = self.previous_code if feedback else None
        prompt = build_prompt(
            profile, request, settings=self._settings, previous_code=previous_code, feedback=feedback
        )
        transcript.add("system", system)
        transcript.add("prompt", prompt)
        if api:
            answer = self._explore(prompt, profile, system=system, transcript=transcript)
        else:
            answer = self._answer(prompt, system=system, transcript=transcript)
        draft = self._draft(answer, profile, transcript)
        self.previous_code = draft.parse_code
        draft.parse_code = restrict_code(draft.parse_code, request.hints.where)
        return Generation(draft=draft, exchanges=transcript.exchanges)

    def _explore(
        self, prompt: str, profile: SourceProfile, *, system: str, transcript: Transcript
    ) -> WrapperAnswer:
        """Let Gemini sample the API for a few rounds, then ask for structured output if it did not answer."""
        contents = [user_content(prompt)]
        # Gemini 2.x refuses function calling together with a JSON response type, so this phase asks for
        # JSON in words only; a structured call follows when the answer does not fit.
        config = types.GenerateContentConfig(
            system_instruction=system,
            tools=[sample_tool(profile, settings=self._settings)],
            tool_config=types.ToolConfig(
                function_calling_config=types.FunctionCallingConfig(mode=types.FunctionCallingConfigMode.AUTO)
            ),
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        samples: list[str] = []
        for _round in range(MAX_TOOL_ROUNDS):
            content = self._send(contents, config, transcript)
            calls = [part.function_call for part in content.parts or [] if part.function_call is not None]
            if not calls:
                try:
                    return read_answer(text_of(content))
                except ValidationError as exc:
                    transcript.add(
                        "error", f"answer is not the JSON object ({describe_invalid(exc)}); asking again"
                    )
                break
            contents.append(content)
            results = [
                self._run_tool(call, profile, transcript=transcript, samples=samples) for call in calls
            ]
            contents.append(types.Content(role="user", parts=results))
        follow_up = prompt_with_samples(prompt, samples)
        transcript.add("prompt", follow_up)
        return self._answer(follow_up, system=system, transcript=transcript)

    def _answer(self, prompt: str, *, system: str, transcript: Transcript) -> WrapperAnswer:
        """One call with structured output: the answer must fit WrapperAnswer."""
        config = types.GenerateContentConfig(
            system_instruction=system,
            response_mime_type="application/json",
            response_schema=WrapperAnswer,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        content = self._send([user_content(prompt)], config, transcript)
        try:
            return read_answer(text_of(content))
        except ValidationError as exc:
            raise transcript.failure(
                f"Gemini's answer does not fit the wrapper schema: {describe_invalid(exc)}"
            ) from exc

    def _send(
        self, contents: list[types.Content], config: types.GenerateContentConfig, transcript: Transcript
    ) -> types.Content:
        """Call generateContent and return the answer's content, or raise with the reason it is unusable."""
        try:
            response = self._client.models.generate_content(
                model=self._settings.gemini_model, contents=contents, config=config
            )
        except errors.APIError as exc:
            raise transcript.failure(
                f"Gemini API error {exc.code} {exc.status or ''}: {exc.message}"
            ) from exc
        except httpx2.HTTPError as exc:
            raise transcript.failure(f"cannot reach the Gemini API: {type(exc).__name__}: {exc}") from exc
        problem = response_problem(response)
        if problem is not None:
            raise transcript.failure(problem)
        assert response.candidates and response.candidates[0].content is not None
        content = response.candidates[0].content
        text = text_of(content)
        if text:
            transcript.add("response", text)
        elif not any(part.function_call for part in content.parts or []):
            raise transcript.failure("Gemini's answer has neither text nor a tool call")
        return content

    def _run_tool(
        self, call: types.FunctionCall, profile: SourceProfile, *, transcript: Transcript, samples: list[str]
    ) -> types.Part:
        """Answer one function call; every call gets a response, refused ones an error."""
        args = dict(call.args or {})
        transcript.add(
            "tool_call", json.dumps({"name": call.name, "args": args}, ensure_ascii=False, default=str)
        )
        if call.name != TOOL_NAME:
            result: dict[str, Any] = {
                "error": f"unknown function {call.name!r}; the only tool is {TOOL_NAME}"
            }
        elif len(samples) >= MAX_SAMPLES:
            result = {
                "error": f"the budget of {MAX_SAMPLES} samples is used up; answer with the JSON object now"
            }
        else:
            result = self._sample(args, profile)
            # One fence per sample: the prompt-side copy is JSON, the function response fences the text.
            samples.append(fence("SAMPLE", json.dumps({"args": args, **result}, ensure_ascii=False)))
            if "output" in result:
                result["output"]["sample"] = fence("SAMPLE", result["output"]["sample"])
        transcript.add("tool_result", json.dumps(result, ensure_ascii=False))
        return types.Part(
            function_response=types.FunctionResponse(id=call.id, name=call.name, response=result)
        )

    def _sample(self, args: dict[str, Any], profile: SourceProfile) -> dict[str, Any]:
        """Fetch a URL on the source's host through the trusted fetcher; the start of it as raw text."""
        url = args.get("url") or profile.location
        params = read_params(args.get("params"))
        if not isinstance(url, str) or params is None:
            return {"error": "url must be a string and params a list of {name, value} objects"}
        allowed = origin(profile.location)
        if origin(url) != allowed:
            return {"error": f"only URLs on {allowed[0]}://{allowed[1]}:{allowed[2]} can be sampled"}
        try:
            response = fetch_url(
                url,
                settings=self._settings,
                params=params or None,
                max_bytes=min(SAMPLE_MAX_BYTES, self._settings.fetch_max_bytes),
            )
        except SourceError as exc:
            return {"error": str(exc)}
        text = response.content.decode(profile.encoding or "utf-8", errors="replace")
        limit = self._settings.sample_json_chars
        return {
            "output": {
                "url": response.url,
                "status": response.status,
                "content_type": response.content_type,
                "bytes": len(response.content),
                "truncated": len(text) > limit,
                "sample": text[:limit],
            }
        }

    def _draft(self, answer: WrapperAnswer, profile: SourceProfile, transcript: Transcript) -> WrapperDraft:
        """The draft wrapper: location, format and encoding from the profile, the rest from the answer."""
        code = answer.parse_code.strip()
        if not code:
            raise transcript.failure("Gemini answered without parse code")
        notes: list[str] = []
        params: dict[str, str] = {}
        pagination = Pagination()
        inferred = profile.fetch
        if is_api_source(profile):
            params = {param.name.strip(): param.value for param in answer.params if param.name.strip()}
            pagination, note = to_pagination(answer.pagination)
            notes += [note] if note else []
            if pagination.kind == "none" and inferred is not None and inferred.pagination.kind != "none":
                # What the first response shows is evidence, not a guess: kept when Gemini is silent.
                pagination = inferred.pagination
        elif answer.params or (answer.pagination is not None and answer.pagination.kind != "none"):
            notes.append("ignored the request parameters or pagination Gemini suggested for a file source")
        spec = FetchSpec(
            location=profile.location,
            format=profile.format,
            encoding=profile.encoding,
            params=params,
            pagination=pagination,
            water_mark=inferred.water_mark if inferred is not None else None,
        )
        inference = None
        if inferred is not None:
            inference = Inference(
                confidence=1.0, pagination=describe_pagination(pagination), window=inferred.window_note
            )
        return WrapperDraft(
            fetch_spec=spec,
            parse_code=code + "\n",
            generator=self.name,
            rationale=answer.rationale.strip(),
            notes=notes,
            inference=inference,
        )


def is_api_source(profile: SourceProfile) -> bool:
    """True for sources fetched over http(s) whose responses read as text (JSON or CSV)."""
    return (
        urlsplit(profile.location).scheme.lower() in ("http", "https") and profile.format != SourceFormat.XLSX
    )


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of a URL (port None when it is not a valid number)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


def read_params(raw: Any) -> dict[str, str] | None:
    """Query parameters from a tool call's list of {name, value} objects; None when malformed."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        return None
    params: dict[str, str] = {}
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            return None
        params[item["name"]] = str(item.get("value", ""))
    return params


def describe_pagination(pagination: Pagination) -> str:
    """The pagination of a spec in a few words, for the inference record."""
    if pagination.kind == "none":
        return "one page: no pagination"
    fields = pagination.model_dump(exclude_none=True, exclude={"kind", "max_pages", "max_seconds"})
    return f"{pagination.kind} " + ", ".join(f"{name}={value}" for name, value in fields.items())


def to_pagination(answer: PagingAnswer | None) -> tuple[Pagination, str | None]:
    """The suggested pagination, or none with a note when it is incomplete."""
    if answer is None or answer.kind == "none":
        return Pagination(), None
    needs = {"next_link": ["next_link_path"], "cursor": ["param", "cursor_path"], "link_header": []}.get(
        answer.kind, ["param"]
    )
    missing = [name for name in needs if not getattr(answer, name)]
    if missing:
        return Pagination(), f"ignored {answer.kind} pagination without {missing[0]}"
    values = answer.model_dump(exclude_none=True)
    if answer.kind == "offset":
        values.setdefault("start", 0)  # stored specs keep every field: an unset offset start must read 0
    try:
        return Pagination(**values), None
    except ValidationError as exc:
        return Pagination(), f"ignored invalid pagination: {describe_invalid(exc)}"


def user_content(text: str) -> types.Content:
    """A user turn of one text part."""
    return types.Content(role="user", parts=[types.Part.from_text(text=text)])


def text_of(content: types.Content) -> str:
    """The answer text of a model turn, without thought summaries."""
    return "".join(part.text for part in content.parts or [] if part.text and not part.thought)


def read_answer(text: str) -> WrapperAnswer:
    """The wrapper answer in a model's text; a code fence around the JSON is tolerated."""
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    return WrapperAnswer.model_validate_json(body)


def describe_invalid(exc: ValidationError) -> str:
    """The first problems of a validation error, in one line."""
    problems = []
    for error in exc.errors()[:3]:
        where = ".".join(str(part) for part in error["loc"])
        problems.append(f"{where}: {error['msg']}" if where else str(error["msg"]))
    return "; ".join(problems)


def response_problem(response: types.GenerateContentResponse) -> str | None:
    """Why a response carries no usable answer (blocked, cut off, empty), or None."""
    if not response.candidates:
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            detail = f": {feedback.block_reason_message}" if feedback.block_reason_message else ""
            return f"Gemini blocked the prompt ({feedback.block_reason.value}{detail})"
        return "Gemini returned no answer"
    candidate = response.candidates[0]
    reason = candidate.finish_reason
    if reason is not None and reason != types.FinishReason.STOP:
        detail = f": {candidate.finish_message}" if candidate.finish_message else ""
        return f"Gemini stopped without a complete answer ({reason.value}{detail})"
    if candidate.content is None or not candidate.content.parts:
        return "Gemini returned an empty answer"
    return None


def sample_tool(profile: SourceProfile, *, settings: Settings) -> types.Tool:
    """The fetch_sample function: GET a URL on the source's host through the trusted fetcher."""
    scheme, host, port = origin(profile.location)
    pair = types.Schema(
        type=types.Type.OBJECT,
        properties={
            "name": types.Schema(type=types.Type.STRING),
            "value": types.Schema(type=types.Type.STRING),
        },
        required=["name", "value"],
    )
    declaration = types.FunctionDeclaration(
        name=TOOL_NAME,
        description=(
            "GET a URL of this source's API through the service's trusted fetcher and return the first "
            f"{settings.sample_json_chars} characters of the response as text. Only URLs on "
            f"{scheme}://{host}:{port} can be fetched, at most {MAX_SAMPLES} per answer. Use it to see "
            "another page or the response to other query parameters."
        ),
        parameters=types.Schema(
            type=types.Type.OBJECT,
            properties={
                "url": types.Schema(
                    type=types.Type.STRING,
                    description="absolute URL on the source's host; default: its location",
                ),
                "params": types.Schema(
                    type=types.Type.ARRAY, items=pair, description="query parameters to add"
                ),
            },
        ),
    )
    return types.Tool(function_declarations=[declaration])
