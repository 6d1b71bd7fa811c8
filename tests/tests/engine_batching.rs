//! Continuous batching and prefix sharing give exactly what one request alone gives.

use wollama_tests::*;

fn prompts(s: &mut wollama_runtime::Session) -> Vec<Vec<u32>> {
    ["The capital of France is", "def fibonacci(n):", "Once upon a time, in a small village,"]
        .iter()
        .map(|p| s.tokenize(p, true, false).unwrap())
        .collect()
}

#[test]
fn batched_requests_decode_exactly_as_alone() {
    let mut s = open("smollm2", 2);
    start(&mut s, 4, 1024);
    let ps = prompts(&mut s);
    let alone: Vec<Output> = ps.iter().map(|p| run_all(&mut s, &[request(p.clone(), greedy(), 24)]).remove(0)).collect();
    // A fresh engine so that no cached prefix is involved, then all three at once.
    start(&mut s, 4, 1024);
    let reqs: Vec<_> = ps.iter().map(|p| request(p.clone(), greedy(), 24)).collect();
    let together = run_all(&mut s, &reqs);
    for (a, t) in alone.iter().zip(&together) {
        assert_eq!(a.ids, t.ids, "batched decode differs from the single-request decode");
        assert_eq!(a.text, t.text);
    }
}

#[test]
fn a_repeated_prompt_reuses_its_cached_prefix_and_gives_the_same_tokens() {
    let mut s = open("smollm2", 2);
    start(&mut s, 2, 1024);
    let p = prompts(&mut s).remove(2);
    let first = run_all(&mut s, &[request(p.clone(), greedy(), 16)]).remove(0);
    let second = run_all(&mut s, &[request(p.clone(), greedy(), 16)]).remove(0);
    assert_eq!(first.finish.as_ref().unwrap().cached_tokens, 0);
    assert_eq!(second.finish.as_ref().unwrap().cached_tokens as usize, p.len() - 1);
    assert_eq!(first.ids, second.ids);
    // A continuation of the first conversation shares the prompt and the generated text.
    let mut longer = p.clone();
    longer.extend(&first.ids);
    longer.extend(s.tokenize(" And then", false, false).unwrap());
    let third = run_all(&mut s, &[request(longer.clone(), greedy(), 8)]).remove(0);
    assert!(third.finish.as_ref().unwrap().cached_tokens as usize >= p.len());
    start(&mut s, 2, 1024);
    let fresh = run_all(&mut s, &[request(longer, greedy(), 8)]).remove(0);
    assert_eq!(third.ids, fresh.ids, "a cached prefix changed the output");
}

#[test]
fn limits_stops_and_cancellation() {
    let mut s = open("smollm2", 1);
    start(&mut s, 2, 64);
    let p = s.tokenize("Count: 1, 2, 3,", true, false).unwrap();
    let out = run_all(&mut s, &[request(p.clone(), greedy(), 5)]).remove(0);
    assert_eq!(out.ids.len(), 5);
    assert_eq!(out.finish.as_ref().unwrap().reason, "length");

    // A stop string is never emitted, and the text before it is.
    let full = run_all(&mut s, &[request(p.clone(), greedy(), 12)]).remove(0);
    let stop = full.text.trim_start().chars().take(3).collect::<String>();
    let mut req = request(p.clone(), greedy(), 12);
    req.stop = vec![stop.clone()];
    let stopped = run_all(&mut s, &[req]).remove(0);
    assert_eq!(stopped.finish.as_ref().unwrap().reason, "stop");
    assert!(!stopped.text.contains(&stop));
    assert!(full.text.starts_with(&stopped.text));

    // The context (64 cells) ends generation with "length".
    let out = run_all(&mut s, &[request(p.clone(), greedy(), -1)]).remove(0);
    assert_eq!(out.finish.as_ref().unwrap().reason, "length");
    assert!(p.len() + out.ids.len() <= 64);

    // A cancelled request produces nothing more, and the engine goes idle.
    let id = s.submit(&request(p.clone(), greedy(), 50)).unwrap();
    s.step().unwrap();
    s.cancel(id).unwrap();
    let mut extra = 0;
    while let Some(events) = s.step().unwrap() {
        extra += events.len();
    }
    assert_eq!(extra, 0);

    // Bad requests are errors, not traps.
    assert!(s.submit(&request(vec![], greedy(), 4)).is_err());
    assert!(s.submit(&request(vec![999_999], greedy(), 4)).is_err());
    assert!(s.submit(&request(vec![1; 64], greedy(), 4)).is_err());
}
