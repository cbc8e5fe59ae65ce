//! A span-tracking JSON scanner: strict checking of one record (including duplicate keys, which
//! serde_json silently merges), lenient splitting of a file into records so one bad record does
//! not take the others with it, and whitespace removal that keeps every literal as written.

use std::{collections::HashSet, ops::Range};

/// Deep nesting is refused rather than recursed into, so hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 128;

/// One `"key": value` member of a record object; spans are byte ranges in the record text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Member {
    pub key: String,
    pub key_span: Range<usize>,
    pub value: Range<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum SyntaxKind {
    /// The text ended inside a value.
    Truncated,
    DuplicateKey(String),
    Invalid(String),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SyntaxError {
    pub offset: usize,
    pub kind: SyntaxKind,
}

/// What the top level of a record is.
pub(crate) enum TopLevel {
    Object(Vec<Member>),
    /// Any other JSON value, named ("an array", "a string", ...).
    Other(&'static str),
}

/// Checks that `text` is exactly one JSON value (surrounding whitespace allowed) and returns the
/// members when it is an object.
pub(crate) fn parse_record(text: &str) -> Result<TopLevel, SyntaxError> {
    let mut checker = Checker {
        bytes: text.as_bytes(),
        text,
        pos: 0,
    };
    checker.skip_whitespace();
    let top = match checker.peek() {
        Some(b'{') => TopLevel::Object(checker.object(0)?),
        Some(byte) => {
            let name = match byte {
                b'[' => "an array",
                b'"' => "a string",
                b't' | b'f' => "a boolean",
                b'n' => "null",
                _ => "a number",
            };
            checker.value(0)?;
            TopLevel::Other(name)
        }
        None => return Err(checker.error(SyntaxKind::Truncated)),
    };
    checker.skip_whitespace();
    if checker.pos < text.len() {
        return Err(checker.invalid("unexpected text after the record"));
    }
    Ok(top)
}

struct Checker<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Checker<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn error(&self, kind: SyntaxKind) -> SyntaxError {
        SyntaxError {
            offset: self.pos,
            kind,
        }
    }

    fn invalid(&self, message: impl Into<String>) -> SyntaxError {
        match self.peek() {
            None => self.error(SyntaxKind::Truncated),
            Some(_) => self.error(SyntaxKind::Invalid(message.into())),
        }
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<(), SyntaxError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.invalid(format!("expected {what}")))
        }
    }

    fn value(&mut self, depth: usize) -> Result<(), SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.invalid(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        match self.peek() {
            Some(b'{') => self.object(depth).map(drop),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(drop),
            Some(b't') => self.literal("true"),
            Some(b'f') => self.literal("false"),
            Some(b'n') => self.literal("null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.invalid("expected a JSON value")),
            None => Err(self.error(SyntaxKind::Truncated)),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Vec<Member>, SyntaxError> {
        self.pos += 1;
        let mut members = Vec::new();
        let mut seen = HashSet::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(members);
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.invalid("expected a key string"));
            }
            let key_start = self.pos;
            let escaped = self.string()?;
            let key_span = key_start..self.pos;
            let raw = &self.text[key_span.clone()];
            let key = if escaped {
                serde_json::from_str::<String>(raw).map_err(|error| SyntaxError {
                    offset: key_start,
                    kind: SyntaxKind::Invalid(format!("bad key: {error}")),
                })?
            } else {
                raw[1..raw.len() - 1].to_string()
            };
            if !seen.insert(key.clone()) {
                return Err(SyntaxError {
                    offset: key_start,
                    kind: SyntaxKind::DuplicateKey(key),
                });
            }
            self.skip_whitespace();
            self.expect(b':', "':' after the key")?;
            self.skip_whitespace();
            let value_start = self.pos;
            self.value(depth + 1)?;
            members.push(Member {
                key,
                key_span,
                value: value_start..self.pos,
            });
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(members);
                }
                _ => return Err(self.invalid("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), SyntaxError> {
        self.pos += 1;
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_whitespace();
            self.value(depth + 1)?;
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.invalid("expected ',' or ']'")),
            }
        }
    }

    /// Checks a string literal; returns whether it has escapes.
    fn string(&mut self) -> Result<bool, SyntaxError> {
        self.pos += 1;
        let mut escaped = false;
        loop {
            match self.peek() {
                None => return Err(self.error(SyntaxKind::Truncated)),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(escaped);
                }
                Some(b'\\') => {
                    escaped = true;
                    self.escape()?;
                }
                Some(byte) if byte < 0x20 => {
                    return Err(
                        self.invalid("control character in string (newlines must be escaped)")
                    );
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    /// Checks one escape sequence (at the backslash), including that `\u` escapes of UTF-16
    /// surrogates come in high-low pairs: a lone surrogate is no character, and serde_json
    /// refuses it too.
    fn escape(&mut self) -> Result<(), SyntaxError> {
        let start = self.pos;
        self.pos += 1;
        match self.peek() {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.pos += 1;
                Ok(())
            }
            Some(b'u') => {
                let unit = self.hex_escape(start)?;
                match unit {
                    0xD800..=0xDBFF => {
                        let low_start = self.pos;
                        let low = if self.bytes[self.pos..].starts_with(b"\\u") {
                            self.pos += 1;
                            Some(self.hex_escape(low_start)?)
                        } else {
                            None
                        };
                        match low {
                            Some(0xDC00..=0xDFFF) => Ok(()),
                            _ => Err(SyntaxError {
                                offset: start,
                                kind: SyntaxKind::Invalid(format!(
                                    "invalid escape {}: a high surrogate must be followed by a low surrogate escape (\\udc00 to \\udfff)",
                                    &self.text[start..start + 6]
                                )),
                            }),
                        }
                    }
                    0xDC00..=0xDFFF => Err(SyntaxError {
                        offset: start,
                        kind: SyntaxKind::Invalid(format!(
                            "invalid escape {}: a low surrogate without a high surrogate escape (\\ud800 to \\udbff) before it",
                            &self.text[start..start + 6]
                        )),
                    }),
                    _ => Ok(()),
                }
            }
            None => Err(self.error(SyntaxKind::Truncated)),
            Some(_) => {
                let escape = self.text[start..].chars().take(2).collect::<String>();
                Err(SyntaxError {
                    offset: start,
                    kind: SyntaxKind::Invalid(format!(
                        "invalid escape {escape} (JSON knows \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX)"
                    )),
                })
            }
        }
    }

    /// Reads the four hex digits after `\u` (the position is at the `u`); `start` is the
    /// backslash, where an error points.
    fn hex_escape(&mut self, start: usize) -> Result<u32, SyntaxError> {
        self.pos += 1;
        let mut unit = 0;
        for _ in 0..4 {
            match self.peek() {
                Some(byte) if byte.is_ascii_hexdigit() => {
                    unit = unit * 16 + char::from(byte).to_digit(16).unwrap_or(0);
                    self.pos += 1;
                }
                None => return Err(self.error(SyntaxKind::Truncated)),
                Some(_) => {
                    return Err(SyntaxError {
                        offset: start,
                        kind: SyntaxKind::Invalid(
                            "invalid escape: \\u must be followed by four hex digits".into(),
                        ),
                    });
                }
            }
        }
        Ok(unit)
    }

    fn literal(&mut self, word: &str) -> Result<(), SyntaxError> {
        for expected in word.bytes() {
            match self.peek() {
                Some(byte) if byte == expected => self.pos += 1,
                _ => return Err(self.invalid(format!("expected {word}"))),
            }
        }
        Ok(())
    }

    fn number(&mut self) -> Result<(), SyntaxError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(
                        self.invalid("bad number: a leading 0 must not be followed by digits")
                    );
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.invalid("bad number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.invalid("bad number: no digit after '.'"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.invalid("bad number: no digit in the exponent"));
            }
            self.digits();
        }
        Ok(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }
}

/// Where the value starting at `start` ends, matching brackets and skipping strings but not
/// checking anything else (that is [`parse_record`]'s job). `None`: the input ends inside it.
pub(crate) fn skip_value_lenient(bytes: &[u8], start: usize) -> Option<usize> {
    let mut pos = start;
    match bytes.get(pos)? {
        b'{' | b'[' => {
            let mut depth = 0usize;
            loop {
                match bytes.get(pos)? {
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(pos + 1);
                        }
                    }
                    b'"' => pos = skip_string(bytes, pos)? - 1,
                    _ => {}
                }
                pos += 1;
            }
        }
        b'"' => skip_string(bytes, pos),
        _ => {
            while let Some(byte) = bytes.get(pos) {
                if matches!(byte, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                pos += 1;
            }
            Some(pos)
        }
    }
}

/// The spans of the items of a JSON array `text` (already checked by [`parse_record`]).
pub(crate) fn array_items(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let skip_whitespace = |mut pos: usize| {
        while matches!(bytes.get(pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            pos += 1;
        }
        pos
    };
    let mut items = Vec::new();
    let mut pos = skip_whitespace(1);
    while let Some(&byte) = bytes.get(pos) {
        if byte == b']' {
            break;
        }
        let Some(end) = skip_value_lenient(bytes, pos) else {
            break;
        };
        items.push(pos..end);
        pos = skip_whitespace(end);
        if bytes.get(pos) == Some(&b',') {
            pos = skip_whitespace(pos + 1);
        }
    }
    items
}

/// End (one past the closing quote) of the string starting at `start`.
fn skip_string(bytes: &[u8], start: usize) -> Option<usize> {
    let mut pos = start + 1;
    loop {
        match bytes.get(pos)? {
            b'"' => return Some(pos + 1),
            b'\\' => pos += 2,
            _ => pos += 1,
        }
    }
}

/// The record with whitespace outside strings removed: one line, every literal as written.
pub(crate) fn minify(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while pos < bytes.len() {
        match bytes[pos] {
            b' ' | b'\t' | b'\n' | b'\r' => pos += 1,
            b'"' => {
                let end = skip_string(bytes, pos).unwrap_or(bytes.len());
                out.push_str(&text[pos..end]);
                pos = end;
            }
            _ => {
                let next = text[pos..]
                    .find(['"', ' ', '\t', '\n', '\r'])
                    .map_or(bytes.len(), |at| pos + at);
                out.push_str(&text[pos..next]);
                pos = next;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Vec<String> {
        match parse_record(text) {
            Ok(TopLevel::Object(members)) => members.into_iter().map(|member| member.key).collect(),
            _ => panic!("not an object: {text}"),
        }
    }

    #[test]
    fn members_keep_their_order_and_spans() {
        let text = r#" {"b": 1.50, "a" : [1, {"x": null}], "c":"s\"t"} "#;
        let Ok(TopLevel::Object(members)) = parse_record(text) else {
            panic!("object expected")
        };
        assert_eq!(keys(text), ["b", "a", "c"]);
        assert_eq!(&text[members[0].value.clone()], "1.50");
        assert_eq!(&text[members[1].value.clone()], r#"[1, {"x": null}]"#);
        assert_eq!(&text[members[2].value.clone()], r#""s\"t""#);
    }

    #[test]
    fn duplicate_keys_are_found_even_when_escaped_or_nested() {
        let top = parse_record(r#"{"a": 1, "\u0061": 2}"#)
            .err()
            .map(|error| error.kind);
        assert_eq!(top, Some(SyntaxKind::DuplicateKey("a".into())));
        let nested = parse_record(r#"{"p": [{"id": 1, "id": 2}]}"#)
            .err()
            .map(|error| error.kind);
        assert_eq!(nested, Some(SyntaxKind::DuplicateKey("id".into())));
    }

    #[test]
    fn truncation_and_bad_syntax_are_told_apart() {
        for truncated in [r#"{"a": [1, 2"#, r#"{"a": "x"#, "{", r#"{"a": tr"#] {
            let kind = parse_record(truncated).err().map(|error| error.kind);
            assert_eq!(kind, Some(SyntaxKind::Truncated), "{truncated}");
        }
        for invalid in [
            r#"{"a": 01}"#,
            r#"{"a": 1,}"#,
            r#"{"a" 1}"#,
            "{\"a\": \"x\ny\"}",
            r#"{} x"#,
        ] {
            let kind = parse_record(invalid).err().map(|error| error.kind);
            assert!(
                matches!(kind, Some(SyntaxKind::Invalid(_))),
                "{invalid}: {kind:?}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_recursed() {
        let deep = "[".repeat(100_000);
        assert!(parse_record(&deep).is_err());
    }

    #[test]
    fn lenient_skip_matches_brackets_outside_strings() {
        let bytes = br#"{"a": "}]", "b": [1, {}]} , 2"#;
        assert_eq!(skip_value_lenient(bytes, 0), Some(25));
        assert_eq!(skip_value_lenient(br#"{"a": "#, 0), None);
        assert_eq!(skip_value_lenient(b"123, 4", 0), Some(3));
    }

    #[test]
    fn minify_keeps_literals_and_string_whitespace() {
        let text = "{\n  \"a\": 1.000e+3,\n  \"b\": \"x  y\",\n  \"c\": [ true , null ]\n}";
        assert_eq!(minify(text), r#"{"a":1.000e+3,"b":"x  y","c":[true,null]}"#);
    }
}
