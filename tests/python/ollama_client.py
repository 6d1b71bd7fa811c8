"""The official `ollama` Python client (PyPI) driving a running wollama server.

Run by tests/tests/python_client.rs with OLLAMA_HOST pointing at a server that has
`smollm2:135m`. Prints one line per check and a final "N passed, N failed".
"""
import os

import ollama
from checks import check, finish

client = ollama.Client(host="http://" + os.environ["OLLAMA_HOST"])
MODEL = "smollm2:135m"
GREEDY = {"temperature": 0, "num_predict": 8}


@check
def tags_list_the_model():
    models = client.list().models
    assert any(m.model == MODEL for m in models), models
    m = next(m for m in models if m.model == MODEL)
    assert m.details.family == "llama" and m.details.quantization_level == "Q4_1", m.details
    assert m.size > 90_000_000 and len(m.digest) == 64
    # The typed result takes the newer `capabilities` field in its stride (it has no slot for
    # it); the raw answer carries what /api/show says.
    raw = client._client.get("/api/tags").json()["models"]
    assert next(r for r in raw if r["model"] == MODEL)["capabilities"] == client.show(MODEL).capabilities


@check
def show_has_model_info_and_details():
    s = client.show(MODEL)
    assert s.modelinfo["llama.context_length"] == 8192, s.modelinfo
    assert s.details.family == "llama"
    assert "<|im_start|>" in s.template
    assert "completion" in s.capabilities


@check
def generate_not_streamed():
    g = client.generate(model=MODEL, prompt="Why is the sky blue?", options=GREEDY)
    assert g.done and g.done_reason == "length" and g.eval_count == 8, g
    assert g.response and g.context and g.total_duration > 0


@check
def generate_streamed_adds_up():
    whole = client.generate(model=MODEL, prompt="Why is the sky blue?", options=GREEDY).response
    parts = list(client.generate(model=MODEL, prompt="Why is the sky blue?", options=GREEDY, stream=True))
    assert parts[-1].done and not any(p.done for p in parts[:-1])
    assert "".join(p.response for p in parts) == whole


@check
def chat_not_streamed_and_streamed():
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    c = client.chat(model=MODEL, messages=msgs, options=GREEDY)
    assert c.message.role == "assistant" and c.message.content and c.done, c
    parts = list(client.chat(model=MODEL, messages=msgs, options=GREEDY, stream=True))
    assert "".join(p.message.content for p in parts) == c.message.content


@check
def ps_lists_the_loaded_model():
    models = client.ps().models
    assert any(m.model == MODEL for m in models), models
    assert all(m.expires_at is not None for m in models)


@check
def create_from_existing_then_copy_and_delete():
    statuses = [p.status for p in client.create(model="pybrief", from_=MODEL, system="Be brief.",
                                                parameters={"temperature": 0}, stream=True)]
    assert statuses[-1] == "success", statuses
    mf = client.show("pybrief").modelfile
    assert "Be brief." in mf, mf
    client.copy("pybrief", "pybrief2")
    assert any(m.model == "pybrief2:latest" for m in client.list().models)
    client.delete("pybrief2")
    client.delete("pybrief")
    assert not any(m.model.startswith("pybrief") for m in client.list().models)


@check
def errors_raise_response_errors_with_status():
    try:
        client.generate(model="nope", prompt="x")
        raise AssertionError("no error for a missing model")
    except ollama.ResponseError as e:
        assert e.status_code == 404 and "not found" in e.error, (e.status_code, e.error)
    try:
        client.show("nope")
        raise AssertionError("no error for show of a missing model")
    except ollama.ResponseError as e:
        assert e.status_code == 404 and e.error == "model 'nope' not found", e.error
    try:
        client.copy("smollm2:135m", "bad/name/a/b/c")
        raise AssertionError("no error for an invalid destination")
    except ollama.ResponseError as e:
        assert e.status_code == 400 and "is invalid" in e.error, e.error


@check
def create_blob_then_create_from_files():
    # The GGUF the server already holds: create_blob hashes it and uploads (200 when present).
    gguf = os.environ["WOLLAMA_SMOLLM2"]
    digest = client.create_blob(gguf)
    assert digest.startswith("sha256:") and len(digest) == 71, digest
    r = client.create(model="pyfiles", files={"model.gguf": digest}, system="Terse.")
    assert r.status == "success", r
    assert client.show("pyfiles").details.family == "llama"
    client.delete("pyfiles")


@check
def pull_from_a_peer_streamed_and_not_then_push():
    remote = os.environ["WOLLAMA_PEER"] + "/library/smollm2:135m"
    parts = list(client.pull(remote, insecure=True, stream=True))
    assert parts[0].status == "pulling manifest", parts[0]
    layers = [p for p in parts if p.digest]
    assert layers and all(p.status == "pulling " + p.digest[7:19] for p in layers), layers[:2]
    assert layers[-1].completed == layers[-1].total
    assert [p.status for p in parts[-3:]] == ["verifying sha256 digest", "writing manifest", "success"]
    assert client.pull(remote, insecure=True).status == "success"
    peer = ollama.Client(host="http://" + os.environ["WOLLAMA_PEER"])
    want = next(m.digest for m in peer.list().models if m.model == MODEL)
    assert next(m.digest for m in client.list().models if m.model == remote) == want

    pushed = os.environ["WOLLAMA_TARGET"] + "/py/smollm2:v1"
    client.copy(remote, pushed)
    statuses = [p.status for p in client.push(pushed, insecure=True, stream=True)]
    assert statuses[0] == "retrieving manifest" and statuses[-2:] == ["pushing manifest", "success"], statuses
    assert client.push(pushed, insecure=True).status == "success"
    target = ollama.Client(host="http://" + os.environ["WOLLAMA_TARGET"])
    assert next(m.digest for m in target.list().models if m.model == "py/smollm2:v1") == want


@check
def pull_errors_raise():
    missing = os.environ["WOLLAMA_PEER"] + "/library/missing:x"
    try:
        client.pull(missing, insecure=True)
        raise AssertionError("no error for a missing model")
    except ollama.ResponseError as e:
        assert e.status_code == 500 and e.error == "pull model manifest: file does not exist", (e.status_code, e.error)
    try:
        list(client.pull(missing, insecure=True, stream=True))
        raise AssertionError("no error in the stream")
    except ollama.ResponseError as e:
        assert e.error == "pull model manifest: file does not exist", e.error


finish()
