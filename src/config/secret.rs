//! Secrets by reference: an env var or a file, inline only with a warning.

use std::fmt;
use std::path::{Path, PathBuf};

/// A password or token. Its `Debug` and `Display` never show the value, so a secret
/// cannot reach a log line, an error or the screen by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that must send it (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where a secret comes from, as written in the config.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretRef {
    Inline(Secret),
    Env(String),
    File(PathBuf),
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Inline(_) => f.write_str("Inline(***)"),
            SecretRef::Env(var) => write!(f, "Env({var})"),
            SecretRef::File(path) => write!(f, "File({})", path.display()),
        }
    }
}

impl SecretRef {
    /// Picks the one reference among `key`, `key_env` and `key_file`; more than one is an error.
    pub fn from_parts(
        key: &str,
        inline: Option<String>,
        env: Option<String>,
        file: Option<PathBuf>,
    ) -> Result<Option<SecretRef>, String> {
        let given = [inline.is_some(), env.is_some(), file.is_some()];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(format!(
                "give only one of `{key}`, `{key}_env` and `{key}_file` (prefer `{key}_env` or `{key}_file`)"
            ));
        }
        Ok(inline.map(|v| SecretRef::Inline(Secret::new(v))).or(env.map(SecretRef::Env)).or(file.map(SecretRef::File)))
    }

    /// Reads the secret now. Errors name the variable or file, never the value.
    /// How the key is spelled in the file: `password`, `password_env` or `password_file`.
    pub fn key_suffix(&self) -> &'static str {
        match self {
            SecretRef::Inline(_) => "",
            SecretRef::Env(_) => "_env",
            SecretRef::File(_) => "_file",
        }
    }

    pub fn resolve(&self, base_dir: &Path) -> Result<Secret, String> {
        match self {
            SecretRef::Inline(secret) => Ok(secret.clone()),
            SecretRef::Env(var) => match std::env::var(var) {
                Ok(value) if !value.is_empty() => Ok(Secret::new(value)),
                Ok(_) => Err(format!("environment variable {var} is empty: set it to the secret")),
                Err(_) => Err(format!("environment variable {var} is not set: export it before starting tablestat")),
            },
            SecretRef::File(path) => {
                let full = base_dir.join(path);
                let text = std::fs::read_to_string(&full)
                    .map_err(|e| format!("cannot read secret file {}: {e}", full.display()))?;
                let value = text.trim_end_matches(['\n', '\r']).to_string();
                if value.is_empty() {
                    return Err(format!("secret file {} is empty", full.display()));
                }
                Ok(Secret::new(value))
            }
        }
    }

    pub fn is_inline(&self) -> bool {
        matches!(self, SecretRef::Inline(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = Secret::new("hunter2");
        assert!(!format!("{secret:?} {secret}").contains("hunter2"));
        let inline = SecretRef::Inline(secret);
        assert!(!format!("{inline:?}").contains("hunter2"));
    }

    #[test]
    fn only_one_reference_is_allowed() {
        let err = SecretRef::from_parts("token", Some("a".into()), Some("B".into()), None).unwrap_err();
        assert!(err.contains("only one of `token`, `token_env` and `token_file`"));
    }

    #[test]
    fn file_secrets_lose_their_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tok"), "s3cret\n").unwrap();
        let secret = SecretRef::File("tok".into()).resolve(dir.path()).unwrap();
        assert_eq!(secret.expose(), "s3cret");
    }

    #[test]
    fn a_missing_env_var_is_named_without_a_value() {
        let err = SecretRef::Env("TABLESTAT_TEST_SURELY_UNSET".into()).resolve(Path::new(".")).unwrap_err();
        assert!(err.contains("TABLESTAT_TEST_SURELY_UNSET is not set"));
    }
}
