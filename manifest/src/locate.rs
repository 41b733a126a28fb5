//! Where a value is in `module.ron`: the semantic checks run on parsed values, which carry
//! no position, so the position is found again in the source, by landmarks.

use crate::error::TextPosition;

/// Finds where a field of a function's entry is in `module.ron` (`field` is `file`,
/// `implements` or `groups`; with `None`, the function's key itself). For tools that
/// report about a function after the manifest parsed (the validator).
pub fn locate_function_field(source: &str, function: &str, field: Option<&str>) -> Option<TextPosition> {
    match field {
        Some(f) => locate(source, &[Anchor::Field("functions"), Anchor::Str(function), Anchor::Field(f)]),
        None => locate(source, &[Anchor::Field("functions"), Anchor::Str(function)]),
    }
}

/// A landmark in the source, searched for in order to locate a value.
#[derive(Clone, Copy)]
pub(crate) enum Anchor<'a> {
    /// A bare field name followed by `:`.
    Field(&'a str),
    /// A string literal with exactly this content.
    Str(&'a str),
}

/// Finds each anchor after the previous one and returns the position of the last.
/// `None` when an anchor is not found (the message still names the field).
pub(crate) fn locate(source: &str, anchors: &[Anchor<'_>]) -> Option<TextPosition> {
    let mut from = 0;
    let mut found = None;
    for anchor in anchors {
        let pos = match *anchor {
            Anchor::Field(name) => find_field(source, from, name)?,
            Anchor::Str(s) => {
                let quoted = format!("{s:?}");
                from + source[from..].find(&quoted)?
            }
        };
        found = Some(pos);
        from = pos + 1;
    }
    found.map(|offset| offset_to_position(source, offset))
}

fn find_field(source: &str, from: usize, name: &str) -> Option<usize> {
    let bytes = source.as_bytes();
    let mut start = from;
    while let Some(rel) = source[start..].find(name) {
        let pos = start + rel;
        let before_ok =
            pos == 0 || !(bytes[pos - 1].is_ascii_alphanumeric() || bytes[pos - 1] == b'_' || bytes[pos - 1] == b'"');
        let after = source[pos + name.len()..].trim_start();
        if before_ok && after.starts_with(':') {
            return Some(pos);
        }
        start = pos + name.len();
    }
    None
}

fn offset_to_position(source: &str, offset: usize) -> TextPosition {
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    TextPosition { line, column }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_finds_nested_values() {
        let src = "(\n  name: \"x/y\",\n  functions: {\n    \"run\": (file: \"bad\"),\n  },\n)";
        let at = locate(src, &[Anchor::Field("functions"), Anchor::Str("run"), Anchor::Field("file")]).unwrap();
        assert_eq!(at, TextPosition { line: 4, column: 13 });
        assert_eq!(locate(src, &[Anchor::Field("nope")]), None);
    }
}
