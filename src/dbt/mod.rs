//! dbt artifacts: typed, lean readers for `manifest.json`, `run_results.json` and
//! `sources.json`, and the index from a table to its tests and upstream sources.
//!
//! Only what the rulebook needs is read; everything else (macros are 80 % of a manifest,
//! compiled SQL) is skipped by serde without being kept. No I/O beyond reading the file
//! handed in; fetching artifacts is the job of `sources`.

mod index;
mod manifest;
mod mapping;
mod run_results;
mod sources_file;

use std::fmt;
use std::path::Path;

pub use index::{ModelInfo, ProjectIndex, SourceInfo, TestInfo, TestKind};
pub use manifest::Manifest;
pub use mapping::default_metric_for;
pub use run_results::{NodeResult, ResultStatus, RunResults};
pub use sources_file::{FreshnessResult, FreshnessStatus, SourcesFile};

/// Which artifact, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    Manifest,
    RunResults,
    Sources,
}

impl ArtifactKind {
    pub fn file_name(self) -> &'static str {
        match self {
            ArtifactKind::Manifest => "manifest.json",
            ArtifactKind::RunResults => "run_results.json",
            ArtifactKind::Sources => "sources.json",
        }
    }

    /// Whether `v12`-style `version` is one this build was not written for.
    fn is_unfamiliar(self, version: &str) -> bool {
        version
            .strip_prefix('v')
            .and_then(|n| n.parse::<u32>().ok())
            .is_none_or(|n| !self.known_versions().contains(&n))
    }

    /// Schema versions this build was written against; others are tried anyway.
    fn known_versions(self) -> std::ops::RangeInclusive<u32> {
        match self {
            ArtifactKind::Manifest => 10..=12,
            ArtifactKind::RunResults => 4..=6,
            ArtifactKind::Sources => 3..=3,
        }
    }
}

/// An artifact that could not be read, with which file, which schema version and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactError {
    pub kind: ArtifactKind,
    pub schema_version: Option<String>,
    pub detail: String,
}

impl fmt::Display for ArtifactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot read dbt {}", self.kind.file_name())?;
        if let Some(v) = &self.schema_version {
            let known = self.kind.known_versions();
            write!(f, " (schema {v}; this tablestat knows v{}–v{})", known.start(), known.end())?;
        }
        write!(f, ": {}", self.detail)
    }
}

impl std::error::Error for ArtifactError {}

/// Parses an artifact from bytes. On failure the error says where in the document it broke.
pub fn parse_artifact<T: serde::de::DeserializeOwned>(kind: ArtifactKind, bytes: &[u8]) -> Result<T, ArtifactError> {
    let first = match serde_json::from_slice::<T>(bytes) {
        Ok(value) => return Ok(value),
        Err(first) => first,
    };
    // Parse again, slowly, only to name the path that failed.
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let path = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) if !e.path().to_string().is_empty() && e.path().to_string() != "." => format!(" at `{}`", e.path()),
        _ => String::new(),
    };
    // Only a document of the wrong shape may be a schema change; one cut short or not JSON
    // is not, and says so.
    let (detail, schema_version) = match first.classify() {
        // A version this build was written for is not the cause: it is not named.
        serde_json::error::Category::Data => {
            (format!("{first}{path}"), schema_version_of(bytes).filter(|v| kind.is_unfamiliar(v)))
        }
        _ if bytes.trim_ascii().is_empty() => ("the file is empty: dbt may still be writing it".to_string(), None),
        serde_json::error::Category::Eof => {
            (format!("the file ends too early ({first}){path}: it is truncated, or dbt is still writing it"), None)
        }
        _ => (format!("not valid JSON ({first}){path}"), None),
    };
    Err(ArtifactError { kind, schema_version, detail })
}

/// The largest artifact read, from dbt Cloud or a `target/` folder: manifests can be
/// hundreds of MB; `/dev/zero` or a runaway file must not eat the jump host's memory.
pub const MAX_ARTIFACT_BYTES: usize = 1024 * 1024 * 1024;

/// Reads an artifact file: a regular file (a FIFO would block the poll forever, a device
/// like `/dev/zero` never ends) of at most [`MAX_ARTIFACT_BYTES`].
pub fn read_artifact<T: serde::de::DeserializeOwned>(kind: ArtifactKind, path: &Path) -> Result<T, ArtifactError> {
    let bytes = read_bounded(path, MAX_ARTIFACT_BYTES).map_err(|detail| ArtifactError {
        kind,
        schema_version: None,
        detail: format!("{}: {detail}", path.display()),
    })?;
    parse_artifact(kind, &bytes)
}

/// A regular file's bytes, at most `max` of them. Checked before opening (symlinks
/// followed), opened without blocking (a FIFO swapped in meanwhile does not wait for a
/// writer), and checked again on the open file.
fn read_bounded(path: &Path, max: usize) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let regular = |meta: &std::fs::Metadata| -> Result<(), String> {
        if meta.is_file() {
            return Ok(());
        }
        let what = if meta.is_dir() { "a folder" } else { "not a regular file (a FIFO, socket or device?)" };
        Err(format!("is {what}: dbt writes plain files there"))
    };
    let too_big = |len: u64| format!("is {len} bytes, more than the {max}-byte limit for a dbt artifact");
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    regular(&meta)?;
    if meta.len() > max as u64 {
        return Err(too_big(meta.len()));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    regular(&meta)?;
    let mut bytes = Vec::with_capacity((meta.len() as usize).min(max));
    file.take(max as u64 + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() > max {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

/// `v12` out of `https://schemas.getdbt.com/dbt/manifest/v12.json`, found near the start.
fn schema_version_of(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(4096)];
    let text = String::from_utf8_lossy(head);
    let at = text.find("dbt_schema_version")?;
    let rest = &text[at..];
    let url_start = rest.find("https://")?;
    let url = &rest[url_start..];
    let url = &url[..url.find('"')?];
    Some(version_from_url(url)?.to_string())
}

fn version_from_url(url: &str) -> Option<&str> {
    url.rsplit('/').next()?.strip_suffix(".json")
}

/// `metadata` shared by the three artifacts.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ArtifactMetadata {
    #[serde(default)]
    pub dbt_schema_version: Option<String>,
    #[serde(default)]
    pub dbt_version: Option<String>,
    #[serde(default)]
    pub generated_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub invocation_id: Option<String>,
    #[serde(default)]
    pub project_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_version_is_found_in_the_header() {
        let doc =
            br#"{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v9.json"}, "nodes": 3}"#;
        let err = parse_artifact::<Manifest>(ArtifactKind::Manifest, doc).unwrap_err();
        assert_eq!(err.schema_version.as_deref(), Some("v9"));
        let text = err.to_string();
        assert!(text.starts_with("cannot read dbt manifest.json (schema v9; this tablestat knows v10–v12)"), "{text}");
        assert!(text.contains("`nodes`"), "{text}");
    }

    #[test]
    fn a_known_version_is_not_blamed_for_a_missing_field() {
        let doc = br#"{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json"}}"#;
        let text = parse_artifact::<RunResults>(ArtifactKind::RunResults, doc).unwrap_err().to_string();
        assert!(text.starts_with("cannot read dbt run_results.json: missing field `results`"), "{text}");
    }

    #[test]
    fn a_cut_short_or_broken_file_is_said_to_be_so_not_blamed_on_its_version() {
        let whole =
            br#"{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"}, "nodes": {}}"#;
        let cases: &[(&[u8], &str)] = &[
            (&whole[..70], "cannot read dbt manifest.json: the file ends too early (EOF while parsing a string"),
            (b"{\"metadata\": {} \"nodes\": {}}", "cannot read dbt manifest.json: not valid JSON (expected `,` or `}`"),
        ];
        for (doc, expected) in cases {
            let text = parse_artifact::<Manifest>(ArtifactKind::Manifest, doc).unwrap_err().to_string();
            assert!(text.starts_with(expected), "{text}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for doc in [&b""[..], b"null", b"[]", b"{\"results\": 5}", b"\xff\xfe", b"{\"metadata\": {}}"] {
            let _ = parse_artifact::<RunResults>(ArtifactKind::RunResults, doc);
            let _ = parse_artifact::<Manifest>(ArtifactKind::Manifest, doc);
            let _ = parse_artifact::<SourcesFile>(ArtifactKind::Sources, doc);
        }
        assert!(parse_artifact::<RunResults>(ArtifactKind::RunResults, b"{").is_err());
    }
}
