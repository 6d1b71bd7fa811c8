// wollama:engine/compute for a host without tensor compute: tokenizer and template work,
// building a plan is refused with a typed error (as a browser host without WebGPU would).
export class Plan {
  id() {
    return 0;
  }
}

export function buildPlan(_model, _spec) {
  const err = new Error('this host has no tensor compute');
  err.payload = { tag: 'unsupported', val: 'this host has no tensor compute' };
  throw err;
}
