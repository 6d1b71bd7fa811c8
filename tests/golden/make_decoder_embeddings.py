#!/usr/bin/env python3
"""Writes tests/golden/decoder_embeddings.json: llama.cpp's "last" pooled embeddings of chat
(decoder) models, the reference for wollama's /api/embed on SmolLM2 and Gemma 3.

Run once by hand (the tests only read the JSON):

    python3 tests/golden/make_decoder_embeddings.py ~/.cache/wollama-bench/llama.cpp-b11434/bin

For each model it starts

    llama-server -m <gguf> --embeddings --pooling last -t 2 -fa off -c 2048 -np 1 --port <p>

then, per input, asks `POST /tokenize {"content", "add_special": true, "parse_special": true}`
for the token ids llama-server embeds (BOS included where the model adds one), and
`POST /embedding {"content", "embd_normalize": -1}` for the raw (unnormalised) vector of the
last token's final hidden state (after the output norm). The vectors are kept to 6
significant digits.
"""
import datetime
import json
import math
import os
import subprocess
import sys
import time
import urllib.request

MODELS = {
    "smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3": "gemma-3-270m-q4_k_m.gguf",
}

PARAGRAPH = (
    "The history of the printing press begins in the fifteenth century, when Johannes "
    "Gutenberg combined movable metal type, oil-based ink and a wooden press adapted from "
    "those used for wine and olive oil. Books, which had been copied by hand for centuries, "
    "could now be produced quickly and cheaply. Within fifty years printing shops had "
    "spread to more than two hundred cities across Europe, and millions of volumes were in "
    "circulation. The new technology helped spread the ideas of the Renaissance, the "
    "Reformation and the scientific revolution."
)
INPUTS = ["Why is the sky blue?", "hello", PARAGRAPH]
PORT = 18631


def post(path, body):
    req = urllib.request.Request(
        f"http://127.0.0.1:{PORT}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def wait_ready(proc):
    for _ in range(600):
        if proc.poll() is not None:
            sys.exit("llama-server exited while loading")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=2) as r:
                if json.loads(r.read()).get("status") == "ok":
                    return
        except Exception:
            pass
        time.sleep(0.2)
    sys.exit("llama-server did not become ready")


def sig6(x):
    return float(f"{x:.6g}")


def main():
    bindir = os.path.expanduser(sys.argv[1])
    models_dir = os.path.expanduser(os.environ.get("WOLLAMA_MODELS_DIR", "~/.cache/wollama/models"))
    version = subprocess.run([os.path.join(bindir, "llama-server"), "--version"], capture_output=True, text=True)
    out = {
        "provenance": {
            "tool": "llama.cpp b11434 llama-server (" + (version.stdout + version.stderr).strip().splitlines()[0] + ")",
            "command": "llama-server -m <gguf> --embeddings --pooling last -t 2 -fa off -c 2048 -np 1 --port <p>",
            "requests": 'POST /tokenize {"content": text, "add_special": true, "parse_special": true}; '
            'POST /embedding {"content": text, "embd_normalize": -1}',
            "meaning": "the final hidden state (after the output norm) of each input's last token, not normalised",
            "digits": "6 significant",
            "date": datetime.date.today().isoformat(),
            "script": "tests/golden/make_decoder_embeddings.py",
        },
        "models": {},
    }
    for name, file in MODELS.items():
        path = os.path.join(models_dir, file)
        cmd = [os.path.join(bindir, "llama-server"), "-m", path, "--embeddings", "--pooling", "last", "-t", "2",
               "-fa", "off", "-c", "2048", "-np", "1", "--port", str(PORT)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(proc)
            cases = []
            for text in INPUTS:
                ids = post("/tokenize", {"content": text, "add_special": True, "parse_special": True})["tokens"]
                r = post("/embedding", {"content": text, "embd_normalize": -1})
                vec = r[0]["embedding"]
                if vec and isinstance(vec[0], list):  # one vector per pooled sequence
                    assert len(vec) == 1, len(vec)
                    vec = vec[0]
                norm = math.sqrt(sum(x * x for x in vec))
                cases.append({"text": text, "token_ids": ids, "l2_norm": sig6(norm),
                              "embedding": [sig6(x) for x in vec]})
                print(f"{name}: {len(ids)} tokens, {len(vec)} dims, norm {norm:.4f}: {text[:40]!r}")
            out["models"][name] = {"file": file, "inputs": cases}
        finally:
            proc.terminate()
            proc.wait()
    dest = os.path.join(os.path.dirname(os.path.abspath(__file__)), "decoder_embeddings.json")
    with open(dest, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", dest)


if __name__ == "__main__":
    main()
