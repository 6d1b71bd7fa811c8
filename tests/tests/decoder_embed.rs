//! Chat (decoder) models embed: the final hidden state of the last prompt token, after the
//! output norm, as llama.cpp's `--pooling last` computes it (tests/golden/decoder_embeddings.json),
//! through the same plan and KV cache as generation, without disturbing a generation that
//! shares the passes.

use wollama_runtime::EngineOptions;
use wollama_tests::*;

fn engine(model: &str, slots: u32, batch_tokens: u32) -> wollama_runtime::Session {
    let mut s = open(model, 2);
    s.start_engine(EngineOptions { max_slots: slots, ctx_cells: 1024, batch_tokens }).expect("engine");
    s
}

fn matches_llama_cpp(model: &str) {
    // 64-token passes: the paragraph (about 100 tokens) is fed in two chunks.
    let mut s = engine(model, 4, 64);
    let golden = decoder_golden(model);
    for g in &golden {
        assert_eq!(s.tokenize(&g.text, true, true).unwrap(), g.ids, "{model}: llama-server's tokens for {:?}", g.text);
    }
    let prompts: Vec<Vec<u32>> = golden.iter().map(|g| g.ids.clone()).collect();
    let alone: Vec<Vec<f32>> = prompts.iter().map(|p| embed_all(&mut s, std::slice::from_ref(p)).remove(0)).collect();
    let together = embed_all(&mut s, &prompts);
    for ((g, a), t) in golden.iter().zip(&alone).zip(&together) {
        let cos = cosine(a, &g.vector);
        let diff = max_abs_diff(&unit(a), &unit(&g.vector));
        let raw = max_abs_diff(a, &g.vector);
        eprintln!("{model} {:>3} tokens: cosine {cos:.7}, unit max diff {diff:.2e}, raw max diff {raw:.2e}", g.ids.len());
        let (min_cos, max_diff) = decoder_tolerance(model);
        assert!(cos >= min_cos && diff <= max_diff, "{model}: {:?} is off llama.cpp's vector", g.text);
        assert_eq!(a, t, "{model}: inputs batched together give what each gives alone");
    }
}

#[test]
fn smollm2_last_token_embeddings_match_llama_cpp() {
    matches_llama_cpp("smollm2");
}

#[test]
fn gemma3_last_token_embeddings_match_llama_cpp() {
    matches_llama_cpp("gemma3");
}

#[test]
fn an_embedding_sharing_passes_with_a_generation_changes_neither() {
    let mut s = engine("smollm2", 4, 64);
    let prompt = s.tokenize("The capital of France is", true, false).unwrap();
    let inputs: Vec<Vec<u32>> = decoder_golden("smollm2").into_iter().map(|g| g.ids).collect();
    let gen_alone = run_all(&mut s, &[request(prompt.clone(), greedy(), 24)]).remove(0);
    let embed_alone = embed_all(&mut s, &inputs);
    // A fresh engine, so that no cached prefix is involved; then everything at once.
    s.start_engine(EngineOptions { max_slots: 4, ctx_cells: 1024, batch_tokens: 64 }).unwrap();
    let (gens, vectors) = run_mixed(&mut s, &[request(prompt, greedy(), 24)], &inputs);
    assert_eq!(gens[0].ids, gen_alone.ids, "the generation's greedy tokens");
    assert_eq!(gens[0].text, gen_alone.text);
    assert_eq!(vectors, embed_alone, "the embeddings");
}

#[test]
fn an_embedding_reuses_a_cached_prefix_and_releases_what_it_computed() {
    let mut s = engine("smollm2", 2, 64);
    let p = decoder_golden("smollm2").remove(2).ids;
    let fresh = embed_all(&mut s, std::slice::from_ref(&p)).remove(0);
    // The embedding kept nothing: the same prompt generated next finds no cached prefix.
    let g = run_all(&mut s, &[request(p.clone(), greedy(), 4)]).remove(0);
    assert_eq!(g.finish.as_ref().unwrap().cached_tokens, 0, "the embedding's cells were released");
    // Now the generation's cache holds the prompt: an embedding of it reuses all but the last
    // token, and gets the same vector.
    let id = s.embed(&p).unwrap();
    let mut vector = Vec::new();
    let mut cached = None;
    while let Some(events) = s.step().unwrap() {
        for e in events {
            match e {
                wollama_runtime::Event::Embedding((i, v)) if i == id => vector = v,
                wollama_runtime::Event::Done((i, f)) if i == id => cached = Some(f.cached_tokens),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(cached, Some(p.len() as u32 - 1));
    assert_eq!(vector, fresh, "a cached prefix gives the same embedding");
}

#[test]
fn decoder_embedding_errors() {
    let mut s = engine("smollm2", 1, 64);
    let e = s.embed(&[]).unwrap_err().to_string();
    assert!(e.contains("empty"), "{e}");
    let e = s.embed(&[999_999]).unwrap_err().to_string();
    assert!(e.contains("outside the vocabulary"), "{e}");
    let e = s.embed(&vec![1; 1025]).unwrap_err().to_string();
    assert!(e.contains("more than the context"), "{e}");
}
