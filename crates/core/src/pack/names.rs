//! The one rule for what a safe entry name inside a zip is, shared by the writer and the reader.
//!
//! A name is safe when extracting it anywhere cannot escape the extraction folder on Unix or on
//! Windows: relative, `/`-separated, no `..` component, no backslash, no drive letter, no control
//! characters. The writer refuses to produce unsafe names; the reader refuses zips containing them.

/// Longest name the zip format can store (a 16-bit length field).
const MAX_NAME_BYTES: usize = u16::MAX as usize;

/// Checks `name`, returning why it is unsafe.
pub(crate) fn check_entry_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("the name is empty");
    }
    if name.len() > MAX_NAME_BYTES {
        return Err("the name is longer than 65535 bytes");
    }
    if name.chars().any(char::is_control) {
        return Err("the name contains a control character");
    }
    // Windows extractors treat `\` as a separator, so `..\x` escapes even though it has no `/`.
    if name.contains('\\') {
        return Err("the name contains a backslash");
    }
    if name.starts_with('/') {
        return Err("the name is an absolute path");
    }
    if has_drive_letter(name) {
        return Err("the name starts with a Windows drive letter");
    }
    if name.split('/').any(|part| part == "..") {
        return Err("the name contains a `..` component");
    }
    Ok(())
}

/// `C:` or `c:...`: Windows would resolve it against a drive, outside the extraction folder.
fn has_drive_letter(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

#[cfg(test)]
mod tests {
    use super::check_entry_name;

    #[test]
    fn relative_names_with_folders_are_safe() {
        for ok in [
            "users.csv",
            "2026/fall/users.csv",
            "./users.csv",
            "a..b.csv",
            "..users.csv",
        ] {
            assert_eq!(check_entry_name(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn names_that_escape_the_extraction_folder_are_refused() {
        let cases = [
            ("../etc/passwd", "the name contains a `..` component"),
            ("a/../../b.csv", "the name contains a `..` component"),
            ("a/..", "the name contains a `..` component"),
            ("/etc/passwd", "the name is an absolute path"),
            ("..\\evil.csv", "the name contains a backslash"),
            (
                "C:/Windows/evil.csv",
                "the name starts with a Windows drive letter",
            ),
            ("c:evil.csv", "the name starts with a Windows drive letter"),
            ("a\u{0}b.csv", "the name contains a control character"),
            ("", "the name is empty"),
        ];
        for (name, why) in cases {
            assert_eq!(check_entry_name(name), Err(why), "{name:?}");
        }
    }

    #[test]
    fn a_name_longer_than_the_format_allows_is_refused() {
        let long = "a".repeat(65536);
        assert_eq!(
            check_entry_name(&long),
            Err("the name is longer than 65535 bytes")
        );
        assert_eq!(check_entry_name(&long[..65535]), Ok(()));
    }
}
