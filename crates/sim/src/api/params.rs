//! Request parameters the way Rails merges them: query string, then form fields or a JSON body.
//!
//! Canvas reads booleans through `value_to_boolean` ("1", "true", "on", "yes" are true; "0",
//! "false", "off", "no" are false; anything else is nil) and nested keys as `outer[inner]`.

use serde_json::Value;

/// All parameters of one request, in arrival order (later ones win for single values).
#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub fn from_query(query: Option<&str>) -> Self {
        let pairs = query
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Params { pairs }
    }

    pub fn push(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.pairs.push((key.into(), value.into()));
    }

    /// Adds a JSON object's members; nested objects become `outer[inner]` keys, arrays `key[]`.
    pub fn extend_json(&mut self, value: &Value) {
        if let Value::Object(map) = value {
            for (k, v) in map {
                self.push_json(k.clone(), v);
            }
        }
    }

    fn push_json(&mut self, key: String, v: &Value) {
        match v {
            Value::Object(map) => {
                for (k, inner) in map {
                    self.push_json(format!("{key}[{k}]"), inner);
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.push_json(format!("{key}[]"), item);
                }
            }
            Value::String(s) => self.push(key, s.clone()),
            Value::Null => self.push(key, ""),
            other => self.push(key, other.to_string()),
        }
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The last value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Rails' `params.key?`: present at all, even empty, or as the head of a nested key.
    pub fn has(&self, key: &str) -> bool {
        let nested = format!("{key}[");
        self.pairs
            .iter()
            .any(|(k, _)| k == key || k.starts_with(&nested))
    }

    /// Rails' `.present?`: present and not blank.
    pub fn present(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.trim().is_empty())
    }

    /// Every value of `key` and `key[]` (for `workflow_state[]=a&workflow_state[]=b`).
    pub fn all(&self, key: &str) -> Vec<&str> {
        let list = format!("{key}[]");
        self.pairs
            .iter()
            .filter(|(k, _)| *k == key || *k == list)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Canvas's `value_to_boolean`: `Some(true)`, `Some(false)`, or `None` when absent or
    /// unrecognised.
    pub fn boolean(&self, key: &str) -> Option<bool> {
        value_to_boolean(self.get(key)?)
    }

    /// `true` only when `value_to_boolean` says true.
    pub fn truthy(&self, key: &str) -> bool {
        self.boolean(key) == Some(true)
    }

    /// An integer the way ActiveRecord casts one: leading digits, or `None`.
    pub fn integer(&self, key: &str) -> Option<i64> {
        let v = self.get(key)?.trim();
        let end = v
            .char_indices()
            .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && (*c == '-' || *c == '+')))
            .map(|(i, c)| i + c.len_utf8())
            .last()?;
        v[..end].parse().ok()
    }
}

pub fn value_to_boolean(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Some(true),
        "no" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_follow_value_to_boolean() {
        let p = Params::from_query(Some("a=1&b=yes&c=off&d=maybe&e=TRUE"));
        assert_eq!(p.boolean("a"), Some(true));
        assert_eq!(p.boolean("b"), Some(true));
        assert_eq!(p.boolean("c"), Some(false));
        assert_eq!(p.boolean("d"), None);
        assert_eq!(p.boolean("e"), Some(true));
        assert_eq!(p.boolean("zzz"), None);
    }

    #[test]
    fn presence_is_not_truth() {
        let p = Params::from_query(Some("multi_term_batch_mode=false"));
        assert!(p.has("multi_term_batch_mode"));
        assert!(!p.truthy("multi_term_batch_mode"));
    }

    #[test]
    fn json_bodies_become_bracket_keys() {
        let mut p = Params::default();
        p.extend_json(&serde_json::json!({"pre_attachment": {"name": "a.zip", "size": 12}, "workflow_state": ["created", "imported"]}));
        assert_eq!(p.get("pre_attachment[name]"), Some("a.zip"));
        assert_eq!(p.get("pre_attachment[size]"), Some("12"));
        assert!(p.has("pre_attachment"));
        assert_eq!(p.all("workflow_state"), vec!["created", "imported"]);
    }

    #[test]
    fn integers_cast_like_active_record() {
        let p = Params::from_query(Some("a=10&b=abc&c=7x&d=-3"));
        assert_eq!(p.integer("a"), Some(10));
        assert_eq!(p.integer("b"), None);
        assert_eq!(p.integer("c"), Some(7));
        assert_eq!(p.integer("d"), Some(-3));
    }
}
