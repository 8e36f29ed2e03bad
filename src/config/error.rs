//! Config errors that point at the file, line and key, and say what to write instead.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::spelling::nearest;

/// A config problem, located in the file when the position is known.
#[derive(Debug)]
pub struct ConfigError {
    pub path: PathBuf,
    /// 1-based line and column.
    pub line_col: Option<(usize, usize)>,
    /// The key as a reader finds it: `[airflow] url`, `[[product]] #2 max_age`.
    pub key: Option<String>,
    pub message: String,
    /// The other problems found in the same file: a config is fixed in one round.
    pub also: Vec<ConfigError>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some((line, col)) = self.line_col {
            write!(f, ":{line}:{col}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {}", bounded(key))?;
        }
        write!(f, ": {}", bounded(&self.message))?;
        for other in &self.also {
            write!(f, "\n{other}")?;
        }
        Ok(())
    }
}

/// Keys and messages quote the file: a runaway line (a megabyte-long key) is cut, so the
/// error stays a line a person reads.
fn bounded(text: &str) -> std::borrow::Cow<'_, str> {
    const MAX: usize = 300;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]).into(),
        None => text.into(),
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error about the file as a whole (cannot read it, no products...).
    pub fn whole_file(path: &Path, message: impl Into<String>) -> ConfigError {
        ConfigError { path: path.to_path_buf(), line_col: None, key: None, message: message.into(), also: Vec::new() }
    }

    /// An error at a byte span of the source.
    pub fn at(path: &Path, source: &str, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        let (line, col) = line_col(source, span.start);
        ConfigError {
            path: path.to_path_buf(),
            line_col: Some((line, col)),
            key: key_at(source, span.start),
            message: message.into(),
            also: Vec::new(),
        }
    }

    /// Every problem found, as one error (the first, with the others after it); `None` when
    /// there were none.
    pub fn all(mut errors: Vec<ConfigError>) -> Option<ConfigError> {
        if errors.is_empty() {
            return None;
        }
        let mut first = errors.remove(0);
        first.also.extend(errors);
        Some(first)
    }

    /// Turns a `toml` parse or type error into one line with location and a suggestion.
    pub fn from_toml(path: &Path, source: &str, error: &toml::de::Error) -> ConfigError {
        let mut message = humanize_toml_message(error.message());
        // An unknown key on a `[header]` line is a table name: say section.
        let on_header = error.span().is_some_and(|span| {
            let start = source[..span.start.min(source.len())].rfind('\n').map_or(0, |i| i + 1);
            source[start..].trim_start().starts_with('[')
        });
        if on_header && message.starts_with("unknown key") {
            message = message.replacen("unknown key", "unknown section", 1).replacen("valid keys", "valid sections", 1);
        }
        match error.span() {
            Some(span) => ConfigError::at(path, source, span, message),
            None => ConfigError::whole_file(path, message),
        }
    }
}

fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The table header and key at `offset`, found by reading the source around it.
fn key_at(source: &str, offset: usize) -> Option<String> {
    let offset = offset.min(source.len());
    let line_start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[offset..].find('\n').map_or(source.len(), |i| offset + i);
    let line = source[line_start..line_end].trim();
    let section = section_before(source, line_start);
    if line.starts_with('[') {
        // The header itself: numbered, for an array's ("[[product]] #3").
        return section_before(source, line_end).or_else(|| Some(line.to_string()));
    }
    let key = line.split_once('=').map(|(k, _)| k.trim().trim_matches('"').to_string()).filter(|k| !k.is_empty());
    match (section, key) {
        (Some(section), Some(key)) => Some(format!("{section} {key}")),
        (None, Some(key)) => Some(key),
        (Some(section), None) => Some(section),
        (None, None) => None,
    }
}

/// The nearest `[table]` or `[[array]]` header above `offset`, numbered for arrays.
fn section_before(source: &str, offset: usize) -> Option<String> {
    let head = &source[..offset];
    let header = head.lines().rev().map(str::trim).find(|l| l.starts_with('['))?;
    let header = header.split('#').next().unwrap_or(header).trim();
    if header.starts_with("[[") {
        let nth = head.lines().filter(|l| l.trim().starts_with(header)).count();
        Some(format!("{header} #{nth}"))
    } else {
        Some(header.to_string())
    }
}

/// toml says "unknown field `urll`, expected one of `url`, `api`"; add the likely fix.
fn humanize_toml_message(message: &str) -> String {
    let joined = message.trim().lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ");
    let message = joined.as_str();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let choices: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let mut text = format!("unknown key `{field}`");
        if let Some(best) = nearest(field, &choices) {
            text.push_str(&format!(": did you mean {best}?"));
        } else if !choices.is_empty() {
            text.push_str(&format!("; valid keys here: {}", choices.join(", ")));
        }
        return text;
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (value, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let choices: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        return format!("`{value}` is not allowed here: write one of {}", choices.join(", "));
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        // `invalid type: string "high", expected f64`: say what to write instead.
        if let Some((found, expected)) = rest.split_once(", expected ") {
            let wanted = match expected.trim() {
                "f64" | "f32" => "a number, e.g. 99.5",
                "i64" | "i32" | "u64" | "u32" | "usize" | "an integer" => "a whole number, e.g. 3",
                "a boolean" => "true or false",
                "a string" => "a quoted string, e.g. \"orders\"",
                "a sequence" => "a list, e.g. [\"a\", \"b\"]",
                other => other,
            };
            return format!("{found} is not allowed here: write {wanted}");
        }
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or(rest);
        return format!("missing key `{field}`: add `{field} = …` to this table");
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_named_with_their_table() {
        let src = "[airflow]\nurl = 1\n\n[[product]]\nid = \"a\"\n[[product]]\nid = \"b\"\nmax_age = \"x\"\n";
        let at = src.find("\"x\"").unwrap();
        assert_eq!(key_at(src, at).as_deref(), Some("[[product]] #2 max_age"));
        assert_eq!(line_col(src, at), (8, 11));
        assert_eq!(key_at(src, src.find('1').unwrap()).as_deref(), Some("[airflow] url"));
    }

    #[test]
    fn unknown_keys_get_a_suggestion() {
        let msg = humanize_toml_message("unknown field `urll`, expected one of `url`, `api`, `auth`");
        assert_eq!(msg, "unknown key `urll`: did you mean `url`?");
        let msg = humanize_toml_message("unknown field `zzzzzz`, expected `url` or `api`");
        assert_eq!(msg, "unknown key `zzzzzz`; valid keys here: url, api");
        let msg = humanize_toml_message("unknown field `taks`, expected one of `id`, `task`, `tags`, `dag`");
        assert_eq!(msg, "unknown key `taks`: did you mean `task` or `tags`?");
        let msg = humanize_toml_message("unknown field `modle`, expected one of `id`, `model`, `metrics`");
        assert_eq!(msg, "unknown key `modle`: did you mean `model`?");
    }
}
