//! `wollama bench --embed`: sentences per second through an embedding model's encoder for
//! batches of several sizes (every sentence of a batch is one sequence of the same passes),
//! medians over repetitions.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Result};
use wollama_runtime::{EngineOptions, Event, Runtime, Session};

/// Everyday sentences of 8 to 20 words, cycled to fill a batch.
const SENTENCES: &[&str] = &[
    "The quick brown fox jumps over the lazy dog.",
    "Retrieval augmented generation combines search with language models.",
    "What is the capital of France, and how many people live there?",
    "Embeddings map text to vectors so that similar meanings lie close together.",
    "The meeting was moved to Thursday afternoon because of the holiday.",
    "Rust gives memory safety without a garbage collector.",
    "She planted tomatoes, basil and peppers in the garden last spring.",
    "A local server keeps your documents on your own machine.",
];

/// A safetensors directory is converted (F16, as `create` does) into a temporary GGUF first.
pub fn run(model: &Path, threads: &[usize], batches: &[usize], reps: usize) -> Result<()> {
    let rt = Runtime::shared()?;
    let converted = model.is_dir().then(|| convert(rt, model)).transpose()?;
    let gguf = converted.as_ref().map(|t| t.path()).unwrap_or(model);
    println!("model {}  sentences/s per batch size, {reps} reps (medians)", gguf.display());
    println!("{:>7}  {:>5}  {:>12}  {:>10}", "threads", "batch", "sentences/s", "tokens/s");
    for &t in threads {
        let mut s = rt.open(gguf, t)?;
        s.start_engine(EngineOptions { max_slots: 64, ctx_cells: 4096, batch_tokens: 4096 })?;
        let prompts: Vec<Vec<u32>> =
            SENTENCES.iter().map(|x| s.tokenize(x, true, true)).collect::<wollama_runtime::Result<_>>()?;
        embed_batch(&mut s, &prompts[..1])?; // warm-up: page the weights in
        for &n in batches {
            let batch: Vec<Vec<u32>> = (0..n).map(|i| prompts[i % prompts.len()].clone()).collect();
            let tokens: usize = batch.iter().map(Vec::len).sum();
            let mut rates = Vec::with_capacity(reps);
            for _ in 0..reps.max(1) {
                let start = Instant::now();
                embed_batch(&mut s, &batch)?;
                rates.push(n as f64 / start.elapsed().as_secs_f64());
            }
            rates.sort_by(|a, b| a.total_cmp(b));
            let m = rates[rates.len() / 2];
            println!("{t:>7}  {n:>5}  {m:>12.1}  {:>10.0}", m * tokens as f64 / n as f64);
        }
    }
    Ok(())
}

fn convert(rt: &Runtime, dir: &Path) -> Result<tempfile::NamedTempFile> {
    let files = crate::remote::model_dir_files(dir)?;
    let weights = files.iter().find(|(n, _)| n.ends_with(".safetensors")).map(|(_, p)| p.clone()).expect("checked");
    let mut texts = Vec::new();
    for (name, path) in files.iter().filter(|(n, _)| n.ends_with(".json")) {
        texts.push((name.clone(), std::fs::read_to_string(path)?));
    }
    let plan = rt.plan_conversion(&texts, &weights, "f16")?;
    let mut out = tempfile::NamedTempFile::new()?;
    std::io::copy(&mut wollama_runtime::ConversionReader::new(plan, &weights)?, out.as_file_mut())?;
    Ok(out)
}

fn embed_batch(s: &mut Session, prompts: &[Vec<u32>]) -> Result<()> {
    for p in prompts {
        s.embed(p)?;
    }
    let mut done = 0;
    while done < prompts.len() {
        let Some(events) = s.step()? else { bail!("the engine went idle early") };
        for e in events {
            match e {
                Event::Done(_) => done += 1,
                Event::Failed((_, m)) => bail!("{m}"),
                Event::Embedding(_) | Event::Token(_) => {}
            }
        }
    }
    Ok(())
}
