// The same guest component the native host embeds, transpiled with jco, in Node:
// tokenize, detokenize and chat-template rendering must equal llama.cpp's goldens.
// Inputs: WOLLAMA_COMPONENT (the .wasm), WOLLAMA_SMOLLM2 (the GGUF), WOLLAMA_GOLDEN (smollm2.json).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const need = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const golden = JSON.parse(readFileSync(need('WOLLAMA_GOLDEN'), 'utf8'));
let runtime;
let File;

before(async () => {
  // Inside this folder, so the generated glue resolves the preview2 shim from node_modules.
  const out = join(here, 'out');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out);
  const jco = join(here, 'node_modules/@bytecodealliance/jco/dist/jco.js');
  execFileSync(process.execPath, [
    jco, 'transpile', need('WOLLAMA_COMPONENT'), '-o', out, '--name', 'guest',
    '--map', `wollama:engine/model-file=${pathToFileURL(join(here, 'host/model-file.js'))}`,
    '--map', `wollama:engine/compute=${pathToFileURL(join(here, 'host/compute.js'))}`,
  ], { stdio: 'inherit' });
  writeFileSync(join(out, 'package.json'), '{"type":"module"}');
  const guest = await import(pathToFileURL(join(out, 'guest.js')));
  runtime = guest.runtime;
  ({ File } = await import(pathToFileURL(join(here, 'host/model-file.js'))));
});

function openModel() {
  return runtime.Model.open(new File(need('WOLLAMA_SMOLLM2')));
}

test('tokenize equals llama.cpp for every golden string', () => {
  const model = openModel();
  for (const c of golden.tokenize) {
    assert.deepEqual(Array.from(model.tokenize(c.text, false, false)), c.ids_no_special, c.name);
    assert.deepEqual(Array.from(model.tokenize(c.text, true, false)), c.ids_add_special, c.name);
  }
  const sc = golden.special_tokens_case;
  assert.deepEqual(Array.from(model.tokenize(sc.text, false, true)), sc.ids_parse_special);
  assert.deepEqual(Array.from(model.tokenize(sc.text, false, false)), sc.ids_no_parse_special);
});

test('detokenize round-trips the golden strings', () => {
  const model = openModel();
  for (const c of golden.tokenize.filter((c) => c.roundtrip_equal)) {
    assert.equal(model.detokenize(Uint32Array.from(c.ids_no_special)), c.text, c.name);
  }
});

test('the chat template renders the golden prompts', () => {
  const model = openModel();
  for (const g of golden.greedy.filter((g) => g.messages && g.messages.length)) {
    const messages = g.messages.map((m) => ({ role: m.role, content: m.content }));
    assert.equal(model.renderPrompt(messages, { addGenerationPrompt: true }), g.prompt_text, g.name);
  }
  const info = model.info();
  assert.equal(info.architecture, 'llama');
  assert.equal(info.vocabSize, golden.vocab.n_vocab);
});

test('an engine needs compute this host does not have: a typed error, not a crash', () => {
  const model = openModel();
  assert.throws(() => runtime.Engine.create(model, { maxSlots: 1, ctxCells: 64, batchTokens: 8 }), (e) => {
    const p = e.payload ?? e;
    return p.tag === 'unsupported';
  });
});
