//! Canvas pagination (docs/canvas-api.md §6.1): the `Link` header's `rel="next"` URL, taken as
//! opaque.
//!
//! The client follows `next` until it is absent, never builds page URLs itself, and refuses a
//! link to another host (the token would go with it). How many pages it follows is bounded by
//! the client configuration.

use reqwest::header::{HeaderMap, LINK};

/// The `rel="next"` URL of the `Link` header(s), if any.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| find_rel(v, "next"))
}

/// The URL of the first entry of `header` whose `rel` includes `rel`.
///
/// Entries are `<url>; param; param, <url>; ...`. URLs may contain commas and semicolons, so
/// the header is read `<...>` by `<...>` instead of split on commas.
pub fn find_rel(header: &str, rel: &str) -> Option<String> {
    let mut rest = header;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>')?;
        let url = &after[..end];
        let tail = &after[end + 1..];
        let params_end = tail.find('<').unwrap_or(tail.len());
        if has_rel(&tail[..params_end], rel) {
            return Some(url.trim().to_owned());
        }
        rest = &tail[params_end..];
    }
    None
}

fn has_rel(params: &str, rel: &str) -> bool {
    params.split([';', ',']).any(|p| {
        let Some((k, v)) = p.split_once('=') else {
            return false;
        };
        k.trim().eq_ignore_ascii_case("rel")
            && v.trim()
                .trim_matches('"')
                .split_whitespace()
                .any(|r| r.eq_ignore_ascii_case(rel))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_next_among_canvas_links() {
        let h = "<https://c.edu/api/v1/accounts/1/sis_imports?page=1&per_page=10>; rel=\"current\",<https://c.edu/api/v1/accounts/1/sis_imports?page=2&per_page=10>; rel=\"next\",<https://c.edu/api/v1/accounts/1/sis_imports?page=1&per_page=10>; rel=\"first\"";
        assert_eq!(
            find_rel(h, "next").as_deref(),
            Some("https://c.edu/api/v1/accounts/1/sis_imports?page=2&per_page=10")
        );
        assert_eq!(find_rel(h, "last"), None);
    }

    #[test]
    fn urls_with_commas_and_multi_valued_rels() {
        let h =
            "<https://c.edu/x?a=1,2;b>; rel=\"prev\", <https://c.edu/x?a=3,4>; rel=\"next last\"";
        assert_eq!(
            find_rel(h, "next").as_deref(),
            Some("https://c.edu/x?a=3,4")
        );
        assert_eq!(
            find_rel(h, "prev").as_deref(),
            Some("https://c.edu/x?a=1,2;b")
        );
    }

    #[test]
    fn no_next_on_the_last_page() {
        assert_eq!(
            find_rel("<https://c.edu/x?page=3>; rel=\"current\"", "next"),
            None
        );
        assert_eq!(find_rel("", "next"), None);
    }
}
