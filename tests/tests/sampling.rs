//! Seeded sampling through the component: the same seed and request give the same output.

use wollama_runtime::Sampling;
use wollama_tests::*;

fn sampled(seed: u64) -> Sampling {
    Sampling { temperature: 1.0, top_k: 40, top_p: 0.95, min_p: 0.05, seed: Some(seed), ..greedy() }
}

#[test]
fn same_seed_same_output_different_seed_different_output() {
    let mut s = open("smollm2", 2);
    start(&mut s, 2, 512);
    let p = s.tokenize("Write a short poem about the sea.", true, false).unwrap();
    let a = run_all(&mut s, &[request(p.clone(), sampled(42), 32)]).remove(0);
    let b = run_all(&mut s, &[request(p.clone(), sampled(42), 32)]).remove(0);
    let c = run_all(&mut s, &[request(p.clone(), sampled(7), 32)]).remove(0);
    assert_eq!(a.ids, b.ids, "same seed, different output");
    assert_ne!(a.ids, c.ids, "different seeds gave the same 32 tokens");
    // Two seeded requests batched together give what each gives alone.
    let both = run_all(&mut s, &[request(p.clone(), sampled(42), 32), request(p, sampled(7), 32)]);
    assert_eq!(both[0].ids, a.ids);
    assert_eq!(both[1].ids, c.ids);
}

#[test]
fn penalties_change_a_repetitive_greedy_decode() {
    let mut s = open("smollm2", 2);
    start(&mut s, 1, 512);
    let p = s.tokenize("one one one one one one one one", true, false).unwrap();
    let plain = run_all(&mut s, &[request(p.clone(), greedy(), 16)]).remove(0);
    let penalised = Sampling { repeat_penalty: 1.5, repeat_last_n: 64, presence_penalty: 1.0, ..greedy() };
    let pen = run_all(&mut s, &[request(p, penalised, 16)]).remove(0);
    assert_ne!(plain.ids, pen.ids);
    let ones = |o: &Output| o.text.matches("one").count();
    assert!(ones(&pen) < ones(&plain), "penalties did not reduce repetition: {:?} vs {:?}", pen.text, plain.text);
}
