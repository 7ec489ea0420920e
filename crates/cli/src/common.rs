//! Loading configs and models, building loops, writing files.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use creative_feedback::stream::PrometheusExporter;
use creative_feedback::{Config, CreativeLoop, LoopBuilder, QualityModel};

use crate::LoopArgs;

/// Reads a TOML config (defaults for absent keys); unknown keys and bad values name the key.
pub fn load_config(path: Option<&Path>) -> Result<Config> {
    let Some(path) = path else {
        return Ok(Config::default());
    };
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let config: Config = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
    config
        .validate()
        .with_context(|| format!("config file {}", path.display()))?;
    Ok(config)
}

/// Reads a model written by `crefl pretrain`.
pub fn load_model(path: &Path) -> Result<QualityModel> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read model file {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a model written by `crefl pretrain` (or it is damaged)",
            path.display()
        )
    })
}

/// The configuration file in use: `--config`, else the `CREFL_CONFIG` environment variable,
/// else `./crefl.toml` when it exists; none means the defaults.
pub fn config_path(args: &LoopArgs) -> Option<PathBuf> {
    args.config
        .clone()
        .or_else(|| std::env::var_os("CREFL_CONFIG").map(PathBuf::from))
        .or_else(|| {
            let local = PathBuf::from("crefl.toml");
            local.is_file().then_some(local)
        })
}

/// The config and, when given, the pre-trained model (`--config`, `--model`). The file used,
/// if any, is named on standard error.
pub fn load(args: &LoopArgs) -> Result<(Config, Option<QualityModel>)> {
    let path = config_path(args);
    if let Some(path) = &path {
        eprintln!("configuration: {}", path.display());
    }
    let config = load_config(path.as_deref())?;
    let model = args.model.as_deref().map(load_model).transpose()?;
    Ok((config, model))
}

/// A loop builder from the config and the pre-trained model, when given.
pub fn builder_from(config: Config, model: Option<QualityModel>) -> LoopBuilder {
    let builder = CreativeLoop::builder(config);
    match model {
        Some(model) => builder.model(model),
        None => builder,
    }
}

/// A loop builder from the shared options.
pub fn builder(args: &LoopArgs) -> Result<LoopBuilder> {
    let (config, model) = load(args)?;
    Ok(builder_from(config, model))
}

/// Writes a file whole, or not at all: a temporary file beside it, then a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("out")
    ));
    let mut file =
        fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// A Prometheus exporter when `--metrics-out` is given.
pub fn metrics_exporter(path: Option<&Path>) -> Result<Option<PrometheusExporter>> {
    path.map(|_| PrometheusExporter::new().context("cannot set up Prometheus metrics"))
        .transpose()
}

/// Records the loop's final metrics and writes the exposition (node_exporter's textfile
/// collector reads this format; the file is replaced atomically).
pub fn write_metrics(
    exporter: Option<&PrometheusExporter>,
    feedback: &CreativeLoop,
    path: Option<&Path>,
) -> Result<()> {
    if let (Some(exporter), Some(path)) = (exporter, path) {
        exporter.record_metrics(&feedback.metrics());
        write_atomic(path, exporter.render().as_bytes())?;
    }
    Ok(())
}

/// `n` things, in the singular for one: "1 exploration", "2 explorations".
pub fn count(n: u64, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}
