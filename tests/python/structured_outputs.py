"""Structured outputs: JSON Schemas of rising difficulty, each asked of the real SmolLM2 through
the native API's `format` (greedy and sampled) and /v1's `response_format`; every answer must
parse and validate (the `jsonschema` package is the judge).

Run by host/cli/tests/structured_outputs.rs with OLLAMA_HOST pointing at a server that has
`smollm2:135m`. Prints one line per check and a final "N passed, N failed".
"""
import json
import os

import jsonschema
import ollama
import openai
from checks import finish, run

HOST = "http://" + os.environ["OLLAMA_HOST"]
native = ollama.Client(host=HOST)
v1 = openai.OpenAI(base_url=HOST + "/v1", api_key="wollama", max_retries=0)
MODEL = "smollm2:135m"
NUM_PREDICT = 400

NAME = {"type": "string", "minLength": 1, "maxLength": 40}

SCHEMAS = [
    (
        "a required string",
        "What is the capital of France? Answer in JSON.",
        {"type": "object", "properties": {"answer": NAME}, "required": ["answer"]},
    ),
    (
        "integer and boolean",
        "How many legs does a spider have, and can it fly? Answer in JSON.",
        {
            "type": "object",
            "properties": {"legs": {"type": "integer"}, "can_fly": {"type": "boolean"}},
            "required": ["legs", "can_fly"],
        },
    ),
    (
        "bounded number and an enum",
        "What is the temperature in Paris today? Answer in JSON.",
        {
            "type": "object",
            "properties": {
                "degrees": {"type": "number", "minimum": -50, "maximum": 60},
                "unit": {"enum": ["celsius", "fahrenheit"]},
            },
            "required": ["degrees", "unit"],
            "additionalProperties": False,
        },
    ),
    (
        "nullable field and string enum",
        "Describe the colour of the sky in JSON.",
        {
            "type": "object",
            "properties": {"color": {"enum": ["red", "green", "blue", "grey"]}, "note": {"type": ["string", "null"], "maxLength": 60}},
            "required": ["color", "note"],
        },
    ),
    (
        "array of strings with bounds",
        "List some fruits in JSON.",
        {
            "type": "object",
            "properties": {"fruits": {"type": "array", "items": NAME, "minItems": 2, "maxItems": 4}},
            "required": ["fruits"],
        },
    ),
    (
        "nested objects",
        "Invent a person with an address, as JSON.",
        {
            "type": "object",
            "properties": {
                "name": NAME,
                "age": {"type": "integer", "minimum": 0, "maximum": 120},
                "address": {
                    "type": "object",
                    "properties": {"street": NAME, "city": NAME, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
                    "required": ["street", "city", "zip"],
                    "additionalProperties": False,
                },
            },
            "required": ["name", "age", "address"],
            "additionalProperties": False,
        },
    ),
    (
        "array of objects",
        "Give a shopping list with prices, as JSON.",
        {
            "type": "object",
            "properties": {
                "items": {
                    "type": "array",
                    "minItems": 2,
                    "maxItems": 4,
                    "items": {
                        "type": "object",
                        "properties": {"name": NAME, "price": {"type": "number", "minimum": 0}},
                        "required": ["name", "price"],
                        "additionalProperties": False,
                    },
                }
            },
            "required": ["items"],
        },
    ),
    (
        "$defs and $ref",
        "Give a line segment from one point to another, as JSON.",
        {
            "$defs": {
                "point": {
                    "type": "object",
                    "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
                    "required": ["x", "y"],
                    "additionalProperties": False,
                }
            },
            "type": "object",
            "properties": {"start": {"$ref": "#/$defs/point"}, "end": {"$ref": "#/$defs/point"}},
            "required": ["start", "end"],
            "additionalProperties": False,
        },
    ),
    (
        "anyOf alternatives",
        "Describe a geometric shape as JSON.",
        {
            "type": "object",
            "properties": {
                "shape": {
                    "anyOf": [
                        {
                            "type": "object",
                            "properties": {"kind": {"const": "circle"}, "radius": {"type": "number", "minimum": 0}},
                            "required": ["kind", "radius"],
                            "additionalProperties": False,
                        },
                        {
                            "type": "object",
                            "properties": {"kind": {"const": "rectangle"}, "width": {"type": "number"}, "height": {"type": "number"}},
                            "required": ["kind", "width", "height"],
                            "additionalProperties": False,
                        },
                    ]
                }
            },
            "required": ["shape"],
        },
    ),
    (
        "recursive $ref with formats",
        "Describe a small family tree as JSON.",
        {
            "$defs": {
                "node": {
                    "type": "object",
                    "properties": {
                        "name": NAME,
                        "born": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
                        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2},
                    },
                    "required": ["name", "born", "children"],
                    "additionalProperties": False,
                }
            },
            "type": "object",
            "properties": {"root": {"$ref": "#/$defs/node"}, "generations": {"type": "integer", "minimum": 1, "maximum": 5}},
            "required": ["root", "generations"],
            "additionalProperties": False,
        },
    ),
]



def validate(text, schema, done):
    assert done == "stop", f"stopped by {done}: {text!r}"
    value = json.loads(text)
    jsonschema.validate(value, schema)


for title, question, schema in SCHEMAS:
    jsonschema.Draft202012Validator.check_schema(schema)
    msgs = [{"role": "user", "content": question}]

    def greedy():
        r = native.chat(MODEL, messages=msgs, format=schema, options={"temperature": 0, "num_predict": NUM_PREDICT})
        validate(r.message.content, schema, r.done_reason)

    def sampled():
        for seed in (1, 2):
            opts = {"temperature": 0.9, "seed": seed, "num_predict": NUM_PREDICT}
            r = native.chat(MODEL, messages=msgs, format=schema, options=opts)
            validate(r.message.content, schema, r.done_reason)

    def openai_v1():
        r = v1.chat.completions.create(
            model=MODEL,
            messages=msgs,
            temperature=0.7,
            seed=3,
            max_tokens=NUM_PREDICT,
            response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}},
        )
        validate(r.choices[0].message.content, schema, r.choices[0].finish_reason)

    run(f"greedy: {title}", greedy)
    run(f"sampled: {title}", sampled)
    run(f"/v1: {title}", openai_v1)


def format_json_is_an_object():
    r = native.generate(MODEL, "Describe a dog.", format="json", options={"temperature": 0, "num_predict": NUM_PREDICT})
    assert isinstance(json.loads(r.response), dict), r.response


run("format json", format_json_is_an_object)

finish()
