//! Canvas pagination: `page`/`per_page` in, a `Link` header out (docs/canvas-api.md §6.1).
//!
//! Links come in the order current, next, prev, first, last, each carrying the request's other
//! query parameters (minus `page`, `per_page`, `access_token`, `api_key`) and then
//! `page=N&per_page=M`. The SIS import list has no `last` (Canvas does not count it); the errors
//! endpoints do.

use std::ops::Range;

/// Canvas's default and largest page sizes.
pub const DEFAULT_PER_PAGE: usize = 10;
pub const MAX_PER_PAGE: usize = 100;

/// One page of a list, and the `Link` header that goes with it.
#[derive(Debug, PartialEq)]
pub struct Page {
    pub range: Range<usize>,
    pub link: String,
}

/// Computes the page asked for by `query` over `total` items.
pub fn paginate(total: usize, query: &[(String, String)], url_base: &str, with_last: bool) -> Page {
    let number = |k: &str| {
        query
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .and_then(|(_, v)| v.trim().parse::<usize>().ok())
    };
    let per_page = number("per_page")
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_PER_PAGE)
        .min(MAX_PER_PAGE);
    let page = number("page").filter(|n| *n > 0).unwrap_or(1);
    let start = ((page - 1) * per_page).min(total);
    let end = (start + per_page).min(total);
    let last_page = total.div_ceil(per_page).max(1);

    let kept: Vec<(&str, &str)> = query
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "page" | "per_page" | "access_token" | "api_key"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let url = |p: usize| {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &kept {
            ser.append_pair(k, v);
        }
        ser.append_pair("page", &p.to_string());
        ser.append_pair("per_page", &per_page.to_string());
        format!("{url_base}?{}", ser.finish())
    };
    let mut links = vec![format!("<{}>; rel=\"current\"", url(page))];
    if page < last_page {
        links.push(format!("<{}>; rel=\"next\"", url(page + 1)));
    }
    if page > 1 {
        links.push(format!("<{}>; rel=\"prev\"", url(page - 1)));
    }
    links.push(format!("<{}>; rel=\"first\"", url(1)));
    if with_last {
        links.push(format!("<{}>; rel=\"last\"", url(last_page)));
    }
    Page {
        range: start..end,
        link: links.join(","),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn first_page_has_next_but_no_prev() {
        let p = paginate(25, &q(&[]), "http://x/l", false);
        assert_eq!(p.range, 0..10);
        assert!(
            p.link.contains("page=2&per_page=10>; rel=\"next\""),
            "{}",
            p.link
        );
        assert!(!p.link.contains("rel=\"prev\""));
        assert!(!p.link.contains("rel=\"last\""));
    }

    #[test]
    fn last_page_has_prev_and_no_next_and_keeps_filters() {
        let p = paginate(
            25,
            &q(&[
                ("workflow_state[]", "imported"),
                ("page", "3"),
                ("access_token", "t"),
            ]),
            "http://x/l",
            true,
        );
        assert_eq!(p.range, 20..25);
        assert!(!p.link.contains("rel=\"next\""));
        assert!(
            p.link
                .contains("workflow_state%5B%5D=imported&page=2&per_page=10>; rel=\"prev\""),
            "{}",
            p.link
        );
        assert!(p.link.contains("page=3&per_page=10>; rel=\"last\""));
        assert!(!p.link.contains("access_token"));
    }

    #[test]
    fn per_page_is_capped_at_100() {
        let p = paginate(500, &q(&[("per_page", "1000")]), "http://x/l", false);
        assert_eq!(p.range, 0..100);
    }
}
