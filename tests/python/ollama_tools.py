"""A tool-call round trip through the official `ollama` Python client: a model made from the
real SmolLM2 with a TEMPLATE whose tool calls are bare JSON (tests/templates/tools-json.gotmpl),
a Python function as the tool, the call held to the tool's schema by `format`, parsed into
`message.tool_calls`, run, and its result fed back as a `tool` message.

Run by host/cli/tests/ollama_tools.rs with OLLAMA_HOST pointing at a server that has
`smollm2:135m`. Prints one line per check and a final "N passed, N failed".
"""
import os
import pathlib

import ollama
from checks import check, finish

client = ollama.Client(host="http://" + os.environ["OLLAMA_HOST"])
ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = (ROOT / "tests/templates/tools-json.gotmpl").read_text().rstrip()
MODEL = "smol-json-tools"


def get_weather(city: str) -> str:
    """
    The current weather in a city.

    Args:
      city: The name of the city

    Returns:
      str: The weather
    """
    return f"18 degrees and sunny in {city}"


client.create(model=MODEL, from_="smollm2:135m", template=TEMPLATE)
CALL = {
    "type": "object",
    "properties": {
        "name": {"const": "get_weather"},
        "arguments": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 30}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "arguments"],
    "additionalProperties": False,
}


@check
def the_call_is_parsed_run_and_answered():
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    r = client.chat(MODEL, messages=messages, tools=[get_weather], format=CALL, options={"temperature": 0, "num_predict": 60})
    calls = r.message.tool_calls
    assert calls and len(calls) == 1, r.message
    assert calls[0].function.name == "get_weather"
    assert isinstance(calls[0].function.arguments, dict) and isinstance(calls[0].function.arguments["city"], str)
    assert r.message.content == "", r.message.content
    result = get_weather(**calls[0].function.arguments)
    messages += [r.message, {"role": "tool", "tool_name": "get_weather", "content": result}]
    again = client.chat(MODEL, messages=messages, tools=[get_weather], options={"temperature": 0, "num_predict": 24})
    assert again.prompt_eval_count > r.prompt_eval_count + 10, (again.prompt_eval_count, r.prompt_eval_count)
    assert again.done_reason in ("stop", "length")


@check
def streamed_calls_arrive_in_the_last_chunk():
    messages = [{"role": "user", "content": "What is the weather in Rome?"}]
    chunks = list(client.chat(MODEL, messages=messages, tools=[get_weather], format=CALL, stream=True,
                              options={"temperature": 0, "num_predict": 60}))
    calls = [c for ch in chunks for c in (ch.message.tool_calls or [])]
    assert len(calls) == 1 and calls[0].function.name == "get_weather", chunks[-1]
    assert "".join(ch.message.content for ch in chunks) == ""


finish()
