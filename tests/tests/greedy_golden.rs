//! Greedy decoding through the component equals llama.cpp's, token for token, up to the first
//! step where llama.cpp's own top-1/top-2 margin is below 0.1 (there a different but correct
//! summation order may pick the other token).

use wollama_tests::*;

#[test]
fn smollm2_greedy_matches_llama_cpp_up_to_the_first_near_tie() {
    greedy_matches_llama_cpp_up_to_the_first_near_tie("smollm2");
}

#[test]
fn gemma3_greedy_matches_llama_cpp_up_to_the_first_near_tie() {
    greedy_matches_llama_cpp_up_to_the_first_near_tie("gemma3");
}

fn greedy_matches_llama_cpp_up_to_the_first_near_tie(model: &str) {
    let mut s = open(model, 2);
    start(&mut s, 1, 2048);
    eprintln!("{}", check_greedy_goldens(&mut s, model, usize::MAX).join("\n"));
}

/// (The Gemma 3 file carries no chat template: its golden prompts were formatted by hand.)
#[test]
fn the_golden_chat_prompts_render_and_tokenize_exactly() {
    let model = "smollm2";
    let g = golden(model);
    let mut s = open(model, 1);
    for case in g["greedy"].as_array().unwrap() {
        let Some(msgs) = case["messages"].as_array() else { continue };
        if msgs.is_empty() {
            continue;
        }
        let msgs: Vec<wollama_runtime::ChatMessage> = msgs
            .iter()
            .map(|m| wollama_runtime::ChatMessage::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
            .collect();
        let text = s.render_prompt(&msgs, &wollama_runtime::PromptOptions::default()).unwrap();
        assert_eq!(text, case["prompt_text"].as_str().unwrap(), "{model}");
        assert_eq!(s.tokenize(&text, true, true).unwrap(), ids(&case["prompt_ids"]));
    }
}
