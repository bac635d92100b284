//! What `--model` names: an OpenAI-compatible endpoint (`http://`, `https://`), a
//! GGUF file, or a Hugging Face-style model directory. Anything else is a clear
//! error before any work starts.

use super::EvalError;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A model to evaluate, resolved from its command-line spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// An OpenAI-compatible base URL (e.g. `http://127.0.0.1:8000/v1`).
    Url(String),
    /// A GGUF file (starts with the `GGUF` magic).
    Gguf(PathBuf),
    /// A directory with `config.json` and safetensors weights (a merged model), or
    /// with a GGUF file inside.
    Dir(PathBuf),
}

impl ModelSpec {
    /// Resolves `spec`: a URL by its scheme, else a path that must exist and look
    /// like a model (GGUF magic, or `config.json` plus `*.safetensors`, or a `.gguf`
    /// file in the directory).
    pub fn parse(spec: &str) -> Result<ModelSpec, EvalError> {
        let lower = spec.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Ok(ModelSpec::Url(spec.to_string()));
        }
        let path = PathBuf::from(spec);
        let not = |reason: String| EvalError::NotAModel {
            path: path.clone(),
            reason,
        };
        let meta = std::fs::metadata(&path).map_err(|e| {
            not(format!(
                "{e} (expected a GGUF file, a model directory or an http(s):// URL)"
            ))
        })?;
        if meta.is_file() {
            return if has_gguf_magic(&path).map_err(|e| not(e.to_string()))? {
                Ok(ModelSpec::Gguf(path))
            } else {
                Err(not(
                    "the file is not GGUF (no `GGUF` magic at its start)".into()
                ))
            };
        }
        let entries: Vec<PathBuf> = std::fs::read_dir(&path)
            .map_err(|e| not(e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        let has_ext = |ext: &str| {
            entries
                .iter()
                .any(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case(ext)))
        };
        let has_config = path.join("config.json").is_file();
        if (has_config && has_ext("safetensors")) || has_ext("gguf") {
            return Ok(ModelSpec::Dir(path));
        }
        Err(not(if path.join("adapter_config.json").is_file() {
            "this is a LoRA adapter: pass its base model with --model and this directory \
             with --adapter"
                .into()
        } else if has_config {
            "the directory has config.json but no *.safetensors weights".into()
        } else {
            "the directory has neither config.json + *.safetensors nor a .gguf file".into()
        }))
    }

    /// Whether the model is served over HTTP.
    pub fn is_url(&self) -> bool {
        matches!(self, ModelSpec::Url(_))
    }
}

fn has_gguf_magic(path: &Path) -> std::io::Result<bool> {
    let mut magic = [0u8; 4];
    let mut file = std::fs::File::open(path)?;
    let mut got = 0;
    while got < magic.len() {
        let n = file.read(&mut magic[got..])?;
        if n == 0 {
            return Ok(false);
        }
        got += n;
    }
    Ok(&magic == b"GGUF")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_files_and_dirs() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let d = dir.path();
        assert_eq!(
            ModelSpec::parse("http://127.0.0.1:8000/v1").ok(),
            Some(ModelSpec::Url("http://127.0.0.1:8000/v1".into()))
        );
        let gguf = d.join("m.gguf");
        std::fs::write(&gguf, b"GGUF\x03\x00\x00\x00").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ModelSpec::parse(&gguf.to_string_lossy()).ok(),
            Some(ModelSpec::Gguf(gguf.clone()))
        );
        let text = d.join("notes.txt");
        std::fs::write(&text, b"hello").unwrap_or_else(|e| panic!("{e}"));
        let err = ModelSpec::parse(&text.to_string_lossy()).err();
        assert!(
            matches!(&err, Some(EvalError::NotAModel { reason, .. }) if reason.contains("GGUF")),
            "{err:?}"
        );
        let empty = d.join("empty");
        std::fs::create_dir(&empty).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            ModelSpec::parse(&empty.to_string_lossy()),
            Err(EvalError::NotAModel { .. })
        ));
        assert!(matches!(
            ModelSpec::parse(&d.join("missing").to_string_lossy()),
            Err(EvalError::NotAModel { .. })
        ));
        // The GGUF file inside makes the directory a model directory.
        assert_eq!(
            ModelSpec::parse(&d.to_string_lossy()).ok(),
            Some(ModelSpec::Dir(d.to_path_buf()))
        );
    }
}
