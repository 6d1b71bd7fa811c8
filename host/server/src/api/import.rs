//! Safetensors imports for `POST /api/create`: the uploaded directory (one `*.safetensors`
//! plus its JSON files) is converted into one GGUF blob. The guest plans the GGUF from the
//! JSON files and the safetensors header; the runtime streams the retyped tensors into the
//! store, which hashes and renames the blob into place only when it is complete.

use wollama_store::create::SourceFile;
use wollama_store::{Digest, Store};

/// Text files bigger than this are not configuration (tokenizer.json is ~0.5-10 MB).
const MAX_TEXT_FILE: u64 = 64 << 20;

pub fn is_safetensors(files: &[SourceFile]) -> bool {
    files.iter().any(|f| f.name.ends_with(".safetensors"))
}

/// Converts the uploaded files to a GGUF blob of `target` ("f16" or "f32"); returns its digest
/// and whether this call created it.
pub fn convert(store: &Store, files: &[SourceFile], target: &str) -> Result<(Digest, bool), String> {
    let weights: Vec<&SourceFile> = files.iter().filter(|f| f.name.ends_with(".safetensors")).collect();
    if weights.len() != 1 {
        return Err(format!(
            "{} safetensors files were given; models split over several files are not supported yet",
            weights.len()
        ));
    }
    let blob = |f: &SourceFile| -> Result<std::path::PathBuf, String> {
        let d = Digest::parse(&f.digest).map_err(|e| e.to_string())?;
        let p = store.blob_path(&d);
        if !p.exists() {
            return Err(format!("blob \"{}\" not found", f.digest));
        }
        Ok(p)
    };
    let weights_path = blob(weights[0])?;
    let mut texts = Vec::new();
    for f in files.iter().filter(|f| !f.name.ends_with(".safetensors")) {
        let path = blob(f)?;
        if std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) > MAX_TEXT_FILE {
            continue;
        }
        // Binary side files (tokenizer.model, ...) are not needed for the formats converted.
        if let Ok(text) = String::from_utf8(std::fs::read(&path).map_err(|e| e.to_string())?) {
            texts.push((f.name.clone(), text));
        }
    }
    let rt = wollama_runtime::Runtime::shared().map_err(|e| e.to_string())?;
    let plan = rt.plan_conversion(&texts, &weights_path, target).map_err(|e| e.to_string())?;
    let reader = wollama_runtime::ConversionReader::new(plan, &weights_path).map_err(|e| e.to_string())?;
    let written = store.write_blob(reader, None).map_err(|e| format!("writing the converted model: {e}"))?;
    Ok((written.digest, written.created))
}
