//! Where a request may be redirected: within the origin it was sent to, never to another.
//! One rule for every client (Airflow, dbt Cloud, webhooks); a leaf under `sources`.

use std::fmt;

use url::Url;

/// The redirect rule of every client (Airflow, dbt Cloud, webhooks): followed within the
/// origin it started from, refused to another. A 307/308 re-sends the body, and the Airflow 3
/// login's body is the password; headers may carry a token and a `Referer` the previous URL
/// (a webhook's secret path). Refused with [`CrossOrigin`], which says where it pointed.
pub fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let started = attempt.previous().first().map(Url::origin);
        if started.is_some_and(|origin| origin != attempt.url().origin()) {
            let to = shown_url(attempt.url());
            return attempt.error(CrossOrigin(to));
        }
        if attempt.previous().len() >= 10 {
            return attempt.error("more than 10 redirects");
        }
        attempt.follow()
    })
}

/// A redirect to another origin, not followed: where it pointed (scheme, host, port, path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossOrigin(pub String);

impl fmt::Display for CrossOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "redirected to another origin ({}), not followed", self.0)
    }
}

impl std::error::Error for CrossOrigin {}

/// The refused redirect somewhere in `error`'s causes.
pub fn cross_origin<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e CrossOrigin> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(found) = e.downcast_ref::<CrossOrigin>() {
            return Some(found);
        }
        cause = e.source();
    }
    None
}

/// A URL as shown in a reason: no user, password, query or fragment (they may hold secrets).
fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_redirect_shows_where_without_what_may_be_secret() {
        let url = Url::parse("https://user:pw@evil.example:8443/auth/token?code=s3cret#frag").unwrap();
        assert_eq!(shown_url(&url), "https://evil.example:8443/auth/token");
        assert_eq!(
            CrossOrigin(shown_url(&url)).to_string(),
            "redirected to another origin (https://evil.example:8443/auth/token), not followed"
        );
    }
}
