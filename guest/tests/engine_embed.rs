//! A decoder's embedding requests in the guest alone (no executor): the graphs name their
//! final hidden state, an embed request is fed like a prompt and asks for that state on its
//! last row, and the engine holds the host to the contract.

use std::path::PathBuf;
use std::rc::Rc;

use wollama_guest::engine::{Engine, EngineOptions, Event, Request};
use wollama_guest::gguf::{native::FileSource, Gguf};
use wollama_plan::Op;
use wollama_guest::model::build_graph;
use wollama_guest::tokenizer::Tokenizer;

fn gguf(file: &str) -> Gguf {
    let path = PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/wollama/models").join(file);
    let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{} ({e}): run scripts/fetch-models.sh", path.display()));
    Gguf::parse(&FileSource(f)).expect("the test model parses")
}

#[test]
fn the_decoders_hidden_state_is_what_their_lm_head_reads() {
    for file in ["SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"] {
        let (_, g) = build_graph(&gguf(file)).unwrap();
        let h = g.hidden.expect("a decoder names its hidden state");
        assert!(matches!(g.nodes[h as usize], Op::MulWeight(..)), "{file}: the output norm's weight");
        assert!(matches!(g.nodes[h as usize - 1], Op::RmsNorm(..)), "{file}: after the norm");
        assert!(matches!(g.nodes[h as usize + 1], Op::Matmul(x, _) if x == h), "{file}: the LM head reads it");
    }
}

fn engine(hidden: bool) -> Engine {
    let tok = Rc::new(Tokenizer::from_gguf(&gguf("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap());
    let e = Engine::new(tok, EngineOptions { max_slots: 2, ctx_cells: 64, batch_tokens: 4 }, 0).unwrap();
    if hidden { e.with_hidden_output() } else { e }
}

#[test]
fn an_embedding_is_fed_as_a_prompt_and_reads_its_last_rows_hidden_state() {
    let e = engine(false).submit(Request::embedding(vec![1, 2, 3])).unwrap_err();
    assert!(e.contains("no hidden-state output"), "{e}");

    let mut e = engine(true);
    let prompt = vec![10, 11, 12, 13, 14, 15];
    let id = e.submit(Request::embedding(prompt.clone())).unwrap();
    // Four tokens fit a pass: the first chunk wants no output.
    let (b, ev) = e.next();
    let b = b.expect("a pass");
    assert!(ev.is_empty());
    assert_eq!((b.tokens.len(), b.logit_rows.len(), b.hidden_rows.len()), (4, 0, 0));
    assert!(e.complete(&[]).is_empty());
    // The rest, whose last row is a hidden row.
    let b = e.next().0.expect("a pass");
    assert_eq!((b.tokens, b.logit_rows.clone(), b.hidden_rows), (vec![14, 15], vec![1], vec![0]));
    let ev = e.complete(&[(vec![], vec![0.25; 576])]);
    match &ev[..] {
        [Event::Embedding { id: a, vector }, Event::Done { id: b, finish }] => {
            assert_eq!((*a, *b, vector.len(), finish.prompt_tokens, finish.eval_tokens), (id, id, 576, 6, 0));
        }
        other => panic!("{other:?}"),
    }
    assert!(e.is_idle());
    // Its cells were released: the same prompt again finds nothing cached.
    let again = e.submit(Request::embedding(prompt)).unwrap();
    e.next();
    e.complete(&[]);
    e.next();
    match &e.complete(&[(vec![], vec![0.5; 576])])[..] {
        [_, Event::Done { id, finish }] => assert_eq!((*id, finish.cached_tokens), (again, 0)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_host_must_read_hidden_states_back() {
    // Candidates where the hidden state was asked for are refused, not taken as a vector.
    let mut e = engine(true);
    let id = e.submit(Request::embedding(vec![1, 2])).unwrap();
    assert!(e.next().0.is_some());
    match &e.complete(&[(vec![7], vec![1.0])])[..] {
        [Event::Failed { id: f, message }] => assert!(*f == id && message.contains("not the embedding row"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(e.is_idle());
}
