"""The official `openai` Python SDK (PyPI) against a running wollama's /v1.

Run by host/cli/tests/openai_sdk.rs with OLLAMA_HOST pointing at a server that has
`smollm2:135m`. Greedy /v1 answers are checked against the native API's (same engine, same
template), JSON outputs against their schemas with the `jsonschema` package. Prints one line
per check and a final "N passed, N failed".
"""
import json
import os
import pathlib

import jsonschema
import ollama
import openai
from checks import check, finish

HOST = "http://" + os.environ["OLLAMA_HOST"]
client = openai.OpenAI(base_url=HOST + "/v1", api_key="wollama", max_retries=0)
native = ollama.Client(host=HOST)
MODEL = "smollm2:135m"
ASK = [{"role": "user", "content": "What is the capital of France?"}]


def greedy_native(n):
    return native.chat(MODEL, messages=ASK, options={"temperature": 0, "num_predict": n})


@check
def models_list_and_retrieve():
    ids = [m.id for m in client.models.list().data]
    assert MODEL in ids, ids
    m = client.models.retrieve(MODEL)
    assert m.id == MODEL and m.object == "model" and m.owned_by == "library", m
    try:
        client.models.retrieve("nope:latest")
        raise AssertionError("retrieving a missing model succeeded")
    except openai.NotFoundError as e:
        assert e.status_code == 404
        assert e.body["message"] == "model 'nope:latest' not found", e.body
        assert e.body["type"] == "not_found_error", e.body


@check
def chat_greedy_matches_native_chat_and_counts_usage():
    r = client.chat.completions.create(model=MODEL, messages=ASK, temperature=0, max_completion_tokens=12)
    want = greedy_native(12)
    c = r.choices[0]
    assert c.message.role == "assistant"
    assert c.message.content == want.message.content, (c.message.content, want.message.content)
    assert c.finish_reason == want.done_reason, (c.finish_reason, want.done_reason)
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-") and r.model == MODEL
    assert r.usage.completion_tokens == want.eval_count, (r.usage, want.eval_count)
    assert r.usage.prompt_tokens == want.prompt_eval_count
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


@check
def max_tokens_ends_with_length():
    for field in ("max_tokens", "max_completion_tokens"):
        r = client.chat.completions.create(model=MODEL, messages=ASK, temperature=0, **{field: 3})
        assert r.choices[0].finish_reason == "length", (field, r.choices[0])
        assert r.usage.completion_tokens == 3, (field, r.usage)


@check
def chat_stream_with_usage_equals_the_whole_answer():
    whole = client.chat.completions.create(model=MODEL, messages=ASK, temperature=0, max_tokens=12)
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=ASK, temperature=0, max_tokens=12, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant", chunks[0]
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content, (text, whole.choices[0].message.content)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason], finishes
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


@check
def stop_strings_cut_the_answer():
    full = greedy_native(16).message.content
    words = full.split()
    assert len(words) >= 3, full
    stop = " " + words[2]
    r = client.chat.completions.create(model=MODEL, messages=ASK, temperature=0, max_tokens=16, stop=[stop])
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.content == full[: full.index(stop)], (r.choices[0].message.content, stop)


@check
def seed_makes_sampling_reproducible():
    def sample(seed):
        r = client.chat.completions.create(
            model=MODEL, messages=ASK, temperature=1.0, top_p=1.0, seed=seed, max_tokens=16
        )
        return r.choices[0].message.content

    a, b = sample(42), sample(42)
    assert a == b, (a, b)
    others = {sample(s) for s in (1, 2, 3)}
    assert len(others | {a}) > 1, "four seeds gave one answer"


@check
def options_object_sets_num_ctx():
    client.chat.completions.create(
        model=MODEL, messages=ASK, temperature=0, max_tokens=2, extra_body={"options": {"num_ctx": 1024}}
    )
    loaded = [m for m in native.ps().models if m.model == MODEL]
    assert loaded and loaded[0].context_length == 1024, loaded


@check
def json_schema_output_validates():
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 40}, "population": {"type": "integer"}},
        "required": ["city", "population"],
        "additionalProperties": False,
    }
    r = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Give the capital of France and its population as JSON."}],
        temperature=0,
        max_tokens=200,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
    )
    assert r.choices[0].finish_reason == "stop", r.choices[0]
    jsonschema.validate(json.loads(r.choices[0].message.content), schema)


@check
def json_object_output_parses():
    r = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Describe a cat as JSON."}],
        temperature=0,
        max_tokens=200,
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(r.choices[0].message.content), dict), r.choices[0].message.content


@check
def completions_match_native_generate():
    prompt = "Write one sentence about the sea."
    r = client.completions.create(model=MODEL, prompt=prompt, temperature=0, max_tokens=10)
    want = native.generate(MODEL, prompt, options={"temperature": 0, "num_predict": 10})
    assert r.object == "text_completion" and r.id.startswith("cmpl-")
    assert r.choices[0].text == want.response, (r.choices[0].text, want.response)
    assert r.usage.completion_tokens == want.eval_count
    streamed = "".join(
        c.choices[0].text for c in client.completions.create(model=MODEL, prompt=prompt, temperature=0, max_tokens=10, stream=True)
    )
    assert streamed == want.response, (streamed, want.response)


@check
def errors_come_in_openai_shape():
    try:
        client.chat.completions.create(model="nope", messages=ASK)
        raise AssertionError("an unknown model answered")
    except openai.NotFoundError as e:
        assert e.body["message"] == "model 'nope' not found", e.body
    try:
        client.chat.completions.create(model=MODEL, messages=[])
        raise AssertionError("empty messages were accepted")
    except openai.BadRequestError as e:
        assert e.body["type"] == "invalid_request_error", e.body
        assert e.body["message"] == "[] is too short - 'messages'", e.body


@check
def logprobs_come_with_the_tokens():
    r = client.chat.completions.create(model=MODEL, messages=ASK, temperature=0, max_tokens=6, logprobs=True, top_logprobs=2)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens == 6, content
    assert "".join(t.token for t in content) == r.choices[0].message.content
    assert all(t.logprob <= 0 and len(t.top_logprobs) == 2 and t.top_logprobs[0].logprob == t.logprob for t in content)


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 30}}, "required": ["city"]},
        },
    }
]


@check
def forced_tool_calls_round_trip():
    root = pathlib.Path(__file__).resolve().parents[2]
    native.create(model="smol-tools", from_=MODEL, template=(root / "tests/templates/tools-tagged.gotmpl").read_text().rstrip())
    ask = [{"role": "user", "content": "What is the weather in Paris?"}]
    r = client.chat.completions.create(model="smol-tools", messages=ask, tools=TOOLS, tool_choice="required", temperature=0, max_tokens=60)
    c = r.choices[0]
    assert c.finish_reason == "tool_calls", c
    call = c.message.tool_calls[0]
    assert call.id.startswith("call_") and call.type == "function" and call.function.name == "get_weather"
    args = json.loads(call.function.arguments)
    jsonschema.validate(args, TOOLS[0]["function"]["parameters"])
    streamed = list(
        client.chat.completions.create(
            model="smol-tools", messages=ask, tools=TOOLS, stream=True, temperature=0, max_tokens=60,
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
        )
    )
    deltas = [tc for ch in streamed if ch.choices for tc in (ch.choices[0].delta.tool_calls or [])]
    assert len(deltas) == 1 and deltas[0].function.name == "get_weather", streamed
    assert streamed[-1].choices[0].finish_reason == "tool_calls"
    history = ask + [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "18 degrees and sunny"},
    ]
    answer = client.chat.completions.create(model="smol-tools", messages=history, tools=TOOLS, temperature=0, max_tokens=20)
    assert answer.usage.prompt_tokens > r.usage.prompt_tokens, (answer.usage, r.usage)


finish()
