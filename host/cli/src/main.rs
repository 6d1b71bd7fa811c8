//! `wollama`: the command-line front end.

mod bench;
mod bench_embed;
mod bench_serve;
mod client;
mod gpu_info;
mod local;
mod progress;
mod remote;
mod serve;
mod stats;
mod transfer;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "wollama", version, about = "A local LLM server speaking the Ollama API, with a portable WebAssembly engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Ollama API on OLLAMA_HOST (default 127.0.0.1:11434).
    Serve(serve::ServeArgs),
    /// Pull a model from a registry (the host in its name; --insecure for plain http).
    Pull(transfer::TransferArgs),
    /// Push a model to a registry (the host in its name; --insecure for plain http).
    Push(transfer::TransferArgs),
    /// Create a model from a Modelfile.
    Create(remote::CreateArgs),
    /// Chat with a model (one-shot with a prompt, interactive without).
    Run(remote::RunArgs),
    /// List models (those whose name starts with PREFIX, when given).
    #[command(alias = "ls")]
    List { prefix: Option<String> },
    /// List loaded models.
    Ps,
    /// Show information about a model.
    Show(remote::ShowArgs),
    /// Copy a model.
    Cp { source: String, destination: String },
    /// Remove models.
    Rm { models: Vec<String> },
    /// Unload a running model.
    Stop { model: String },
    /// Print the token ids of TEXT as a JSON array; without TEXT, read one JSON string per
    /// stdin line and print one JSON array per line.
    Tokenize(local::TokenizeArgs),
    /// Generate text from a GGUF file directly, without a server.
    Generate(local::GenerateArgs),
    /// Render a chat (JSON list of {role, content}) with the model's chat template.
    Template(local::TemplateArgs),
    /// Benchmark prefill and decode speed, time to first token, cold start and peak RSS,
    /// optionally against llama.cpp (llama-bench, llama-server).
    Bench(bench::BenchArgs),
    /// List the GPU adapters wgpu sees and which one `--device auto` and `--device gpu` take;
    /// exits non-zero when there is none (scripts use it to skip the GPU tests).
    GpuInfo,
    /// Write the embedded guest component (for jco / other component hosts).
    Component {
        /// Output path.
        #[arg(long, short)]
        out: std::path::PathBuf,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(a) => serve::run(a),
        Command::Pull(a) => transfer::pull(&a),
        Command::Push(a) => transfer::push(&a),
        Command::Create(a) => remote::create(a),
        Command::Run(a) => remote::run(a),
        Command::List { prefix } => remote::list(prefix.as_deref()),
        Command::Ps => remote::ps(),
        Command::Show(a) => remote::show(a),
        Command::Cp { source, destination } => remote::copy(&source, &destination),
        Command::Rm { models } => remote::remove(&models),
        Command::Stop { model } => remote::stop(&model),
        Command::Tokenize(a) => local::tokenize(a),
        Command::Generate(a) => local::generate(a),
        Command::Template(a) => local::template(a),
        Command::Bench(a) => bench::run(a),
        Command::GpuInfo => gpu_info::run(),
        Command::Component { out } => std::fs::write(&out, wollama_runtime::GUEST_COMPONENT)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", out.display())),
    };
    if let Err(e) = result {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}
