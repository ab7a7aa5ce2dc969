//! The log of every Canvas API request the simulator received, for tests to inspect.
//!
//! Headers are kept, with credentials redacted, and an `access_token` query parameter is masked:
//! the log is served over `/__sim/requests` and must not leak tokens.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct RecordedRequest {
    pub seq: u64,
    pub at: String,
    pub method: String,
    /// The path as sent (with any `.json` suffix).
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body_size: usize,
    pub body_sha256: String,
    /// Status of the answer, once there is one (`null` for hung or dropped requests).
    pub status: Option<u16>,
}

#[derive(Debug, Default)]
pub struct RequestLog {
    entries: Vec<RecordedRequest>,
}

impl RequestLog {
    pub fn push(&mut self, mut r: RecordedRequest) -> u64 {
        r.seq = self.entries.len() as u64 + 1;
        let seq = r.seq;
        self.entries.push(r);
        seq
    }

    pub fn set_status(&mut self, seq: u64, status: u16) {
        if let Some(r) = seq
            .checked_sub(1)
            .and_then(|i| self.entries.get_mut(i as usize))
        {
            r.status = Some(status);
        }
    }

    pub fn all(&self) -> &[RecordedRequest] {
        &self.entries
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

/// Masks the value of `access_token` (and `api_key`) in a query string.
pub fn mask_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k == "access_token" || k == "api_key" => format!("{k}=[masked]"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A header's value as the log keeps it: credentials become `[redacted]`, so a test can see
/// that one was sent without the log ever holding it.
pub fn logged_header_value(name: &str, value: &[u8]) -> String {
    match name.to_ascii_lowercase().as_str() {
        "authorization" | "cookie" | "proxy-authorization" => "[redacted]".to_owned(),
        _ => String::from_utf8_lossy(value).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_in_queries_are_masked() {
        assert_eq!(
            mask_query("per_page=5&access_token=secret&page=2"),
            "per_page=5&access_token=[masked]&page=2"
        );
    }

    #[test]
    fn credentials_are_redacted_but_their_presence_is_kept() {
        assert_eq!(
            logged_header_value("Authorization", b"Bearer s3cret"),
            "[redacted]"
        );
        assert_eq!(logged_header_value("content-type", b"text/csv"), "text/csv");
    }
}
