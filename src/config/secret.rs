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

    /// How the key is spelled in the file: `password`, `password_env` or `password_file`.
    pub fn key_suffix(&self) -> &'static str {
        match self {
            SecretRef::Inline(_) => "",
            SecretRef::Env(_) => "_env",
            SecretRef::File(_) => "_file",
        }
    }

    /// Reads the secret now. Errors name the variable or file, never the value.
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

/// The forms a secret may come back in when a server echoes a request: as sent (raw),
/// JSON-escaped (a login body; also with non-ASCII as `\u00e9`, as Python writes it),
/// URL-encoded with `%20` or `+` for a space (either hex case). Blanking only the raw form
/// let a password holding `"`, `\`, `@` or a space through.
pub fn echo_forms(secret: &str) -> Vec<String> {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json[1..json.len().saturating_sub(1).max(1)].to_string();
    let json_ascii: String = json
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                c.encode_utf16(&mut [0; 2]).iter().map(|u| format!("\\u{u:04x}")).collect()
            }
        })
        .collect();
    let percent = utf8_percent_encode(secret, UNRESERVED).to_string();
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let lower = |encoded: &str| -> String {
        // `%2F` as `%2f`: only the two hex digits after each `%`.
        let mut out = String::with_capacity(encoded.len());
        let mut hex = 0;
        for c in encoded.chars() {
            if hex > 0 {
                out.push(c.to_ascii_lowercase());
                hex -= 1;
            } else {
                hex = if c == '%' { 2 } else { 0 };
                out.push(c);
            }
        }
        out
    };
    let mut forms = vec![secret.to_string(), json, json_ascii, lower(&percent), percent, lower(&form), form];
    forms.sort();
    forms.dedup();
    forms.retain(|f| !f.is_empty());
    forms
}

/// Basic auth on the wire: base64 of `user:password` (echoed by servers that echo headers).
pub fn basic_auth_form(username: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
}

/// `text` with every form in `forms` blanked to `***` (longest first, so no part of a
/// longer form is left), then cut to `max` characters, then a form cut short at the very
/// end (by the server, or by the cut) blanked too when at least 8 of its characters show.
/// Blanking runs before the cut: a cut first left half a secret that no longer matched.
pub fn blank_secrets(text: &str, forms: &[String], max: usize) -> String {
    let mut ordered: Vec<&String> = forms.iter().filter(|f| !f.is_empty()).collect();
    ordered.sort_by_key(|f| std::cmp::Reverse(f.len()));
    let mut out = text.to_string();
    for form in &ordered {
        if out.contains(form.as_str()) {
            out = out.replace(form.as_str(), "***");
        }
    }
    if let Some((cut, _)) = out.char_indices().nth(max) {
        out.truncate(cut);
    }
    for form in &ordered {
        let ends = (8..form.len()).rev().filter(|k| form.is_char_boundary(*k)).find(|k| out.ends_with(&form[..*k]));
        if let Some(k) = ends {
            out.truncate(out.len() - k);
            out.push_str("***");
            break;
        }
    }
    out
}

/// The certificates of a PEM bundle (an internal CA), each checked to be usable as a root.
pub fn read_ca_file(path: &Path) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("cannot read ca_file {shown}: {e}"))?;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        let certificate = certificate.map_err(|e| format!("ca_file {shown} is not a PEM bundle: {e}"))?;
        roots.add(certificate).map_err(|e| format!("ca_file {shown} holds a certificate that cannot be a CA: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("ca_file {shown} holds no PEM certificate"));
    }
    Ok(roots)
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
    fn every_echoed_form_is_blanked_before_the_cut() {
        let password = "pa ss\"w\\o@rd+é";
        let forms = echo_forms(password);
        let echoes = [
            password.to_string(),
            r#"pa ss\"w\\o@rd+é"#.to_string(),
            r#"pa ss\"w\\o@rd+\u00e9"#.to_string(),
            "pa%20ss%22w%5Co%40rd%2B%C3%A9".to_string(),
            "pa+ss%22w%5Co%40rd%2B%C3%A9".to_string(),
            "pa%20ss%22w%5co%40rd%2b%c3%a9".to_string(),
        ];
        for echo in &echoes {
            let text = format!("login refused for {echo}, try again");
            assert_eq!(blank_secrets(&text, &forms, 200), "login refused for ***, try again", "{echo}");
        }
        // Cut short at the end, by the server or by the cut: blanked all the same.
        let url = "https://hooks.example/services/T000/B000/abcdefghijklmnop".to_string();
        let text = format!("Cannot POST {url}");
        assert_eq!(blank_secrets(&text, std::slice::from_ref(&url), 40), "Cannot POST ***");
        assert_eq!(blank_secrets(&text[..50], std::slice::from_ref(&url), 200), "Cannot POST ***");
        assert_eq!(basic_auth_form("admin", "pw"), "YWRtaW46cHc=");
    }

    #[test]
    fn a_missing_env_var_is_named_without_a_value() {
        let err = SecretRef::Env("TABLESTAT_TEST_SURELY_UNSET".into()).resolve(Path::new(".")).unwrap_err();
        assert!(err.contains("TABLESTAT_TEST_SURELY_UNSET is not set"));
    }
}
