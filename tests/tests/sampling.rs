//! Seeded sampling through the component: the same seed and request give the same output.

use wollama_runtime::Sampling;
use wollama_tests::*;

fn sampled(seed: u64) -> Sampling {
    Sampling { temperature: 1.0, top_k: 40, top_p: 0.95, min_p: 0.05, seed: Some(seed), ..greedy() }
}

fn chat_prompt(s: &mut wollama_runtime::Session, text: &str) -> Vec<u32> {
    let m = [wollama_runtime::ChatMessage::new("user", text)];
    let rendered = s.render_prompt(&m, &wollama_runtime::PromptOptions::default()).unwrap();
    s.tokenize(&rendered, true, true).unwrap()
}

#[test]
fn same_seed_same_output_different_seed_different_output() {
    let mut s = open("smollm2", 2);
    start(&mut s, 2, 512);
    let p = chat_prompt(&mut s, "Write a short poem about the sea.");
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
    // llama.cpp's greedy continuation of this prompt loops on one sentence (see the golden).
    let g = golden("smollm2");
    let case = g["greedy"].as_array().unwrap().iter().find(|c| c["name"] == "raw_continuation").unwrap();
    let p = ids(&case["prompt_ids"]);
    let plain = run_all(&mut s, &[request(p.clone(), greedy(), 64)]).remove(0);
    let penalised = Sampling { repeat_penalty: 1.5, repeat_last_n: 64, presence_penalty: 1.0, ..greedy() };
    let pen = run_all(&mut s, &[request(p, penalised, 64)]).remove(0);
    assert_ne!(plain.ids, pen.ids);
    // Repeated tokens: generated length minus distinct tokens.
    let repeats = |o: &Output| o.ids.len() - o.ids.iter().collect::<std::collections::HashSet<_>>().len();
    assert!(repeats(&pen) < repeats(&plain), "penalties did not reduce repetition: {:?} vs {:?}", pen.text, plain.text);
}
