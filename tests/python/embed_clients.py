"""The official `ollama` and `openai` Python clients (PyPI) embedding through wollama.

Run by host/cli/tests/embed_clients.rs with OLLAMA_HOST pointing at a server that has the
embedding model `minilm` (created from all-MiniLM-L6-v2's safetensors) and the chat model
`smollm2:135m`, WOLLAMA_GOLDEN naming tests/golden/minilm.json and WOLLAMA_DECODER_GOLDEN
naming tests/golden/decoder_embeddings.json. Prints one line per check and a final
"N passed, N failed".
"""
import base64
import json
import math
import os
import struct

import ollama
import openai
from checks import check, finish

HOST = "http://" + os.environ["OLLAMA_HOST"]
client = ollama.Client(host=HOST)
oa = openai.OpenAI(base_url=HOST + "/v1", api_key="unused")
MODEL = "minilm"
GOLDEN = json.load(open(os.environ["WOLLAMA_GOLDEN"]))["sentences"]
# llama.cpp's last-token embeddings of SmolLM2 (a chat model), not normalised.
DECODER = json.load(open(os.environ["WOLLAMA_DECODER_GOLDEN"]))["models"]["smollm2"]["inputs"]
# tests/src/lib.rs decoder_tolerance("smollm2"): least cosine to llama.cpp's vector.
DECODER_MIN_COSINE = 0.9998


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def norm(v):
    return math.sqrt(sum(x * x for x in v))


@check
def ollama_embed_matches_sentence_transformers():
    texts = [s["text"] for s in GOLDEN[:10]]
    r = client.embed(model=MODEL, input=texts)
    assert len(r.embeddings) == 10 and r.prompt_eval_count > 0
    for s, e in zip(GOLDEN, r.embeddings):
        assert len(e) == 384 and abs(norm(e) - 1) < 1e-5
        c = cosine(e, s["embedding"])
        assert c >= 0.9999, (s["index"], c)


@check
def ollama_embed_single_agrees_with_batch():
    texts = [GOLDEN[2]["text"], GOLDEN[3]["text"]]
    batch = client.embed(model=MODEL, input=texts).embeddings
    alone = client.embed(model=MODEL, input=texts[1]).embeddings[0]
    assert cosine(batch[1], alone) >= 0.999999


@check
def ollama_embed_dimensions_and_truncate():
    r = client.embed(model=MODEL, input="The quick brown fox", dimensions=16)
    assert len(r.embeddings[0]) == 16 and abs(norm(r.embeddings[0]) - 1) < 1e-5
    long = "word " * 600
    r = client.embed(model=MODEL, input=long)
    assert r.prompt_eval_count == 512, r.prompt_eval_count  # cut to the model's context
    try:
        client.embed(model=MODEL, input=long, truncate=False)
        raise AssertionError("truncate=False on a long input must fail")
    except ollama.ResponseError as e:
        assert e.status_code == 400 and "exceeds the context length" in e.error, e


@check
def ollama_legacy_embeddings_are_not_normalised():
    s = GOLDEN[0]
    e = client.embeddings(model=MODEL, prompt=s["text"]).embedding
    assert cosine(e, s["embedding_unnormalized"]) >= 0.9999
    assert abs(norm(e) - norm(s["embedding_unnormalized"])) / norm(s["embedding_unnormalized"]) < 1e-3


@check
def ollama_embed_on_a_chat_model_gives_its_last_token_state():
    r = client.embed(model="smollm2:135m", input=[c["text"] for c in DECODER])
    assert r.prompt_eval_count == sum(len(c["token_ids"]) for c in DECODER), r.prompt_eval_count
    for c, e in zip(DECODER, r.embeddings):
        assert len(e) == 576 and abs(norm(e) - 1) < 1e-5
        assert cosine(e, c["embedding"]) >= DECODER_MIN_COSINE, (c["text"], cosine(e, c["embedding"]))
    raw = client.embeddings(model="smollm2:135m", prompt=DECODER[0]["text"]).embedding
    assert abs(norm(raw) - DECODER[0]["l2_norm"]) / DECODER[0]["l2_norm"] < 0.01, norm(raw)
    assert cosine(raw, r.embeddings[0]) >= 0.999999
    o = oa.embeddings.create(model="smollm2:135m", input=DECODER[1]["text"])
    assert cosine(o.data[0].embedding, r.embeddings[1]) >= 0.999999


@check
def ollama_errors_for_the_wrong_kind_of_model():
    for call, needle in [
        (lambda: client.generate(model=MODEL, prompt="hi"), "does not support generate"),
        (lambda: client.chat(model=MODEL, messages=[{"role": "user", "content": "hi"}]), "does not support chat"),
    ]:
        try:
            call()
            raise AssertionError(needle)
        except ollama.ResponseError as e:
            assert e.status_code == 400 and needle in e.error, e


@check
def ollama_show_says_embedding():
    s = client.show(MODEL)
    assert s.capabilities == ["embedding"], s.capabilities
    assert s.modelinfo["bert.embedding_length"] == 384


@check
def openai_embeddings_float_and_base64():
    texts = [GOLDEN[0]["text"], GOLDEN[4]["text"]]
    r = oa.embeddings.create(model=MODEL, input=texts)
    assert [d.index for d in r.data] == [0, 1] and r.model == MODEL
    assert r.usage.prompt_tokens == GOLDEN[0]["num_tokens"] + GOLDEN[4]["num_tokens"], r.usage
    for d, s in zip(r.data, [GOLDEN[0], GOLDEN[4]]):
        assert cosine(d.embedding, s["embedding"]) >= 0.9999
    raw = oa.with_raw_response.embeddings.create(model=MODEL, input=texts[0], encoding_format="base64")
    b64 = json.loads(raw.text)["data"][0]["embedding"]
    decoded = struct.unpack("<384f", base64.b64decode(b64))
    assert max(abs(a - b) for a, b in zip(decoded, r.data[0].embedding)) == 0.0


@check
def openai_embeddings_dimensions_and_errors():
    r = oa.embeddings.create(model=MODEL, input="hello", dimensions=32)
    assert len(r.data[0].embedding) == 32
    try:
        oa.embeddings.create(model="nope", input="hello")
        raise AssertionError("an unknown model must fail")
    except openai.NotFoundError as e:
        assert "not found" in str(e), e


finish()
