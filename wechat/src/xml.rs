//! WeChat Pay v2's flat XML documents: `<xml><name>value</name>…</xml>`.
//!
//! WeChat sends values as CDATA or as plain text (numbers often without
//! CDATA), so both are accepted. Everything else XML allows is a way to make
//! two parsers disagree about what was signed, so it is refused: DOCTYPE (and
//! with it entity declarations and the billion-laughs family), nested
//! elements, attributes, duplicate fields, text outside the fields, a second
//! root, non-UTF-8 input and oversized documents.

use quick_xml::events::Event;
use quick_xml::reader::Reader;

/// The largest document accepted by default; the gateway's notification body
/// limit is the same 64 KiB.
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("XML document is {len} bytes, over the {limit}-byte limit")]
    TooLarge { len: usize, limit: usize },
    #[error("XML document is not valid UTF-8 (first bad byte at offset {valid_up_to})")]
    NotUtf8 { valid_up_to: usize },
    #[error("XML declares encoding {0:?}; only UTF-8 is accepted")]
    Encoding(String),
    #[error("XML document is empty")]
    Empty,
    #[error("DOCTYPE and entity declarations are not accepted")]
    Doctype,
    #[error("processing instructions are not accepted")]
    ProcessingInstruction,
    #[error("root element must be <{expected}>, found <{found}>")]
    WrongRoot { expected: String, found: String },
    #[error("element <{element}> carries attributes; WeChat documents have none")]
    Attributes { element: String },
    #[error("field <{field}> contains a nested element <{nested}>")]
    Nested { field: String, nested: String },
    #[error("field <{field}> appears more than once")]
    DuplicateField { field: String },
    #[error("{name:?} is not a valid field name")]
    InvalidFieldName { name: String },
    #[error("field <{field}> contains a character XML cannot carry")]
    InvalidChar { field: String },
    #[error("field <{field}> contains a comment")]
    CommentInField { field: String },
    #[error("text outside any field")]
    UnexpectedText,
    #[error("unknown entity &{0};")]
    UnknownEntity(String),
    #[error("content after the root element")]
    TrailingContent,
    #[error("document ends before the root element is closed")]
    Truncated,
    #[error("malformed XML: {0}")]
    Syntax(String),
}

/// The fields of one flat document, in document order, names unique.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldMap {
    fields: Vec<(String, String)>,
}

impl FieldMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `name`, keeping its position when it already exists.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        let (name, value) = (name.into(), value.into());
        match self.fields.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((name, value)),
        }
        self
    }

    /// Sets `name` only when there is a value; an absent optional field and
    /// an empty one are the same thing to the signature.
    pub fn set_opt(&mut self, name: &str, value: Option<impl Into<String>>) -> &mut Self {
        if let Some(value) = value {
            self.set(name, value);
        }
        self
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        let at = self.fields.iter().position(|(n, _)| n == name)?;
        Some(self.fields.remove(at).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Parses a `<xml>` document of at most [`DEFAULT_MAX_DOCUMENT_BYTES`].
    pub fn from_xml(input: &[u8]) -> Result<Self, XmlError> {
        Self::from_xml_with(input, "xml", DEFAULT_MAX_DOCUMENT_BYTES)
    }

    /// Parses a flat document with the given root element name and size limit
    /// (the decrypted refund notification uses `<root>`).
    pub fn from_xml_with(input: &[u8], root: &str, max_bytes: usize) -> Result<Self, XmlError> {
        if input.len() > max_bytes {
            return Err(XmlError::TooLarge {
                len: input.len(),
                limit: max_bytes,
            });
        }
        let text = std::str::from_utf8(input).map_err(|e| XmlError::NotUtf8 {
            valid_up_to: e.valid_up_to(),
        })?;
        parse(text.strip_prefix('\u{feff}').unwrap_or(text), root)
    }

    /// Encodes as `<xml>` with every value in CDATA.
    pub fn to_xml(&self) -> Result<String, XmlError> {
        self.to_xml_with_root("xml")
    }

    pub fn to_xml_with_root(&self, root: &str) -> Result<String, XmlError> {
        check_name(root)?;
        let mut out = String::with_capacity(
            32 + self
                .fields
                .iter()
                .map(|(n, v)| 2 * n.len() + v.len() + 17)
                .sum::<usize>(),
        );
        out.push('<');
        out.push_str(root);
        out.push('>');
        for (name, value) in &self.fields {
            check_name(name)?;
            if !value.chars().all(is_xml_char) {
                return Err(XmlError::InvalidChar {
                    field: name.clone(),
                });
            }
            out.push('<');
            out.push_str(name);
            out.push('>');
            push_cdata(&mut out, value);
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
        out.push_str("</");
        out.push_str(root);
        out.push('>');
        Ok(out)
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for FieldMap {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut map = FieldMap::new();
        for (n, v) in iter {
            map.set(n, v);
        }
        map
    }
}

/// A CDATA section cannot contain `]]>`; such a value is split across two
/// sections so that the reader concatenates it back byte for byte.
fn push_cdata(out: &mut String, value: &str) {
    out.push_str("<![CDATA[");
    let mut rest = value;
    while let Some(at) = rest.find("]]>") {
        out.push_str(&rest[..at + 2]);
        out.push_str("]]><![CDATA[");
        rest = &rest[at + 2..];
    }
    out.push_str(rest);
    out.push_str("]]>");
}

/// Field names are what WeChat uses: ASCII letters, digits and `_`, not
/// starting with a digit. Anything else (namespaces, dots) is not WeChat's.
fn check_name(name: &str) -> Result<(), XmlError> {
    let ok = name.len() <= 64
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(XmlError::InvalidFieldName {
            name: name.chars().take(64).collect(),
        })
    }
}

/// XML 1.0's `Char` production (Rust's `char` already excludes surrogates).
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{fffe}' && c != '\u{ffff}')
}

fn syntax(e: impl std::fmt::Display) -> XmlError {
    XmlError::Syntax(e.to_string())
}

/// An element's name for an error message (cut short: it is untrusted).
fn name_of(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).chars().take(64).collect()
}

/// A field's name, checked whole before anything is cut.
fn field_name(raw: &[u8]) -> Result<String, XmlError> {
    let name =
        std::str::from_utf8(raw).map_err(|_| XmlError::InvalidFieldName { name: name_of(raw) })?;
    check_name(name)?;
    Ok(name.to_owned())
}

/// Where the reader stands in the one shape we accept.
enum State {
    BeforeRoot,
    InRoot,
    InField { name: String, value: String },
    AfterRoot,
}

fn parse(text: &str, root: &str) -> Result<FieldMap, XmlError> {
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.expand_empty_elements = true;
    config.check_end_names = true;
    config.trim_text(false);

    let mut map = FieldMap::new();
    let mut state = State::BeforeRoot;
    // The XML declaration may only come first.
    let mut seen_anything = false;
    loop {
        let event = reader.read_event().map_err(syntax)?;
        state = match (state, event) {
            (_, Event::DocType(_)) => return Err(XmlError::Doctype),
            (_, Event::PI(_)) => return Err(XmlError::ProcessingInstruction),
            // A comment inside a value would be invisible to us and maybe
            // not to the next parser; WeChat never sends one.
            (State::InField { name, .. }, Event::Comment(_)) => {
                return Err(XmlError::CommentInField { field: name });
            }
            (s, Event::Comment(_)) => {
                seen_anything = true;
                s
            }
            (State::BeforeRoot, Event::Decl(decl)) if !seen_anything => {
                seen_anything = true;
                if let Some(encoding) = decl.encoding() {
                    let encoding = encoding.map_err(syntax)?;
                    if !encoding.eq_ignore_ascii_case(b"utf-8") {
                        return Err(XmlError::Encoding(name_of(&encoding)));
                    }
                }
                State::BeforeRoot
            }
            (_, Event::Decl(_)) => {
                return Err(syntax("the XML declaration must come first, once"));
            }
            (State::BeforeRoot, Event::Start(e)) => {
                let found = name_of(e.name().as_ref());
                if found != root {
                    return Err(XmlError::WrongRoot {
                        expected: root.to_owned(),
                        found,
                    });
                }
                if e.attributes().next().is_some() {
                    return Err(XmlError::Attributes { element: found });
                }
                State::InRoot
            }
            (State::InRoot, Event::Start(e)) => {
                let name = field_name(e.name().as_ref())?;
                if e.attributes().next().is_some() {
                    return Err(XmlError::Attributes { element: name });
                }
                if map.get(&name).is_some() {
                    return Err(XmlError::DuplicateField { field: name });
                }
                State::InField {
                    name,
                    value: String::new(),
                }
            }
            (State::InField { name, .. }, Event::Start(e)) => {
                return Err(XmlError::Nested {
                    field: name,
                    nested: name_of(e.name().as_ref()),
                });
            }
            (State::InField { name, value }, Event::End(_)) => {
                if !value.chars().all(is_xml_char) {
                    return Err(XmlError::InvalidChar { field: name });
                }
                map.fields.push((name, value));
                State::InRoot
            }
            (State::InRoot, Event::End(_)) => State::AfterRoot,
            (State::InField { name, mut value }, Event::Text(t)) => {
                value.push_str(&t.decode().map_err(syntax)?);
                State::InField { name, value }
            }
            (State::InField { name, mut value }, Event::CData(t)) => {
                value.push_str(&t.decode().map_err(syntax)?);
                State::InField { name, value }
            }
            (State::InField { name, mut value }, Event::GeneralRef(r)) => {
                match r.resolve_char_ref().map_err(syntax)? {
                    Some(c) => value.push(c),
                    None => {
                        let entity = r.decode().map_err(syntax)?;
                        let resolved = quick_xml::escape::resolve_predefined_entity(&entity)
                            .ok_or_else(|| {
                                XmlError::UnknownEntity(entity.chars().take(64).collect())
                            })?;
                        value.push_str(resolved);
                    }
                }
                State::InField { name, value }
            }
            (s @ (State::BeforeRoot | State::InRoot | State::AfterRoot), Event::Text(t)) => {
                seen_anything = true;
                if !t.iter().all(u8::is_ascii_whitespace) {
                    return Err(match s {
                        State::AfterRoot => XmlError::TrailingContent,
                        _ => XmlError::UnexpectedText,
                    });
                }
                s
            }
            (State::AfterRoot, Event::Start(_) | Event::CData(_) | Event::GeneralRef(_)) => {
                return Err(XmlError::TrailingContent);
            }
            (State::BeforeRoot | State::InRoot, Event::CData(_) | Event::GeneralRef(_)) => {
                return Err(XmlError::UnexpectedText);
            }
            (State::AfterRoot, Event::Eof) => return Ok(map),
            (State::BeforeRoot, Event::Eof) => return Err(XmlError::Empty),
            (State::InRoot | State::InField { .. }, Event::Eof) => return Err(XmlError::Truncated),
            // expand_empty_elements turns every Empty into Start + End, and an
            // unmatched End is already a syntax error from the reader.
            (_, Event::Empty(_) | Event::End(_)) => return Err(syntax("unexpected element")),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<FieldMap, XmlError> {
        FieldMap::from_xml(s.as_bytes())
    }

    #[test]
    fn reads_cdata_plain_text_and_empty_fields() {
        let map = parse(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xml>\n  <return_code><![CDATA[SUCCESS]]></return_code>\n  <total_fee>101</total_fee>\n  <attach/>\n  <body>a &amp; b &#x4E2D;</body>\n</xml>\n",
        )
        .unwrap();
        assert_eq!(
            map.iter().collect::<Vec<_>>(),
            vec![
                ("return_code", "SUCCESS"),
                ("total_fee", "101"),
                ("attach", ""),
                ("body", "a & b 中")
            ]
        );
    }

    #[test]
    fn values_keep_their_whitespace() {
        let map = parse("<xml><a><![CDATA[ x ]]></a><b> y\n</b></xml>").unwrap();
        assert_eq!(map.get("a"), Some(" x "));
        assert_eq!(map.get("b"), Some(" y\n"));
    }

    #[test]
    fn encodes_cdata_and_splits_the_terminator() {
        let map: FieldMap = [("a", "x]]>y"), ("b", "<&>"), ("c", "")]
            .into_iter()
            .collect();
        let xml = map.to_xml().unwrap();
        assert_eq!(
            xml,
            "<xml><a><![CDATA[x]]]]><![CDATA[>y]]></a><b><![CDATA[<&>]]></b><c><![CDATA[]]></c></xml>"
        );
        assert_eq!(parse(&xml).unwrap(), map);
    }

    #[test]
    fn refuses_doctype_and_entity_declarations() {
        let laughs = "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]><xml><a>&lol2;</a></xml>";
        assert_eq!(parse(laughs), Err(XmlError::Doctype));
        let xxe = "<!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><xml><a>&x;</a></xml>";
        assert_eq!(parse(xxe), Err(XmlError::Doctype));
    }

    #[test]
    fn refuses_undeclared_entities() {
        assert_eq!(
            parse("<xml><a>&lol;</a></xml>"),
            Err(XmlError::UnknownEntity("lol".into()))
        );
    }

    #[test]
    fn refuses_nested_elements() {
        assert_eq!(
            parse("<xml><a><b>1</b></a></xml>"),
            Err(XmlError::Nested {
                field: "a".into(),
                nested: "b".into()
            })
        );
    }

    #[test]
    fn refuses_duplicate_fields() {
        assert_eq!(
            parse("<xml><total_fee>1</total_fee><total_fee>100</total_fee></xml>"),
            Err(XmlError::DuplicateField {
                field: "total_fee".into()
            })
        );
    }

    #[test]
    fn refuses_a_wrong_root() {
        assert_eq!(
            parse("<root><a>1</a></root>"),
            Err(XmlError::WrongRoot {
                expected: "xml".into(),
                found: "root".into()
            })
        );
        assert!(FieldMap::from_xml_with(b"<root><a>1</a></root>", "root", 100).is_ok());
    }

    #[test]
    fn refuses_non_utf8() {
        assert_eq!(
            FieldMap::from_xml(b"<xml><a>\xff</a></xml>"),
            Err(XmlError::NotUtf8 { valid_up_to: 8 })
        );
        assert_eq!(
            parse("<?xml version=\"1.0\" encoding=\"GBK\"?><xml></xml>"),
            Err(XmlError::Encoding("GBK".into()))
        );
    }

    #[test]
    fn refuses_documents_over_the_limit() {
        let big = format!(
            "<xml><a>{}</a></xml>",
            "x".repeat(DEFAULT_MAX_DOCUMENT_BYTES)
        );
        assert_eq!(
            parse(&big),
            Err(XmlError::TooLarge {
                len: big.len(),
                limit: DEFAULT_MAX_DOCUMENT_BYTES
            })
        );
    }

    #[test]
    fn refuses_everything_else_that_is_not_flat() {
        assert_eq!(parse(""), Err(XmlError::Empty));
        assert_eq!(parse("  \n"), Err(XmlError::Empty));
        assert_eq!(parse("<xml><a>1</a>"), Err(XmlError::Truncated));
        assert_eq!(
            parse("<xml><a>1</a></xml><xml></xml>"),
            Err(XmlError::TrailingContent)
        );
        assert_eq!(parse("<xml></xml>junk"), Err(XmlError::TrailingContent));
        assert_eq!(
            parse("<xml>junk<a>1</a></xml>"),
            Err(XmlError::UnexpectedText)
        );
        assert_eq!(
            parse("<xml id=\"1\"><a>1</a></xml>"),
            Err(XmlError::Attributes {
                element: "xml".into()
            })
        );
        assert_eq!(
            parse("<xml><a x=\"1\">1</a></xml>"),
            Err(XmlError::Attributes {
                element: "a".into()
            })
        );
        assert_eq!(
            parse("<xml><?php x?><a>1</a></xml>"),
            Err(XmlError::ProcessingInstruction)
        );
        assert!(matches!(
            parse("<xml><a>1</b></xml>"),
            Err(XmlError::Syntax(_))
        ));
        assert!(matches!(
            parse("<xml><a:b>1</a:b></xml>"),
            Err(XmlError::InvalidFieldName { .. })
        ));
        assert!(matches!(
            parse("not xml at all"),
            Err(XmlError::UnexpectedText | XmlError::Syntax(_))
        ));
    }

    #[test]
    fn refuses_long_names_whole_not_cut() {
        let long = "a".repeat(70);
        assert!(matches!(
            parse(&format!("<xml><{long}>1</{long}></xml>")),
            Err(XmlError::InvalidFieldName { .. })
        ));
        let at_limit = "a".repeat(64);
        assert!(parse(&format!("<xml><{at_limit}>1</{at_limit}></xml>")).is_ok());
    }

    #[test]
    fn refuses_comments_in_values_and_late_declarations() {
        assert_eq!(
            parse("<xml><total_fee>1<!--x-->00</total_fee></xml>"),
            Err(XmlError::CommentInField {
                field: "total_fee".into()
            })
        );
        assert!(parse("<xml><!-- fine here --><a>1</a></xml>").is_ok());
        assert!(matches!(
            parse("<?xml version=\"1.0\"?><?xml version=\"1.0\"?><xml></xml>"),
            Err(XmlError::Syntax(_))
        ));
        assert!(matches!(
            parse("<!-- c --><?xml version=\"1.0\"?><xml></xml>"),
            Err(XmlError::Syntax(_))
        ));
    }

    #[test]
    fn refuses_characters_xml_cannot_carry() {
        assert_eq!(
            parse("<xml><a>x\u{1}y</a></xml>"),
            Err(XmlError::InvalidChar { field: "a".into() })
        );
        assert!(parse("<xml><a>&#0;</a></xml>").is_err());
    }

    #[test]
    fn encoding_refuses_bad_names_and_characters() {
        let map: FieldMap = [("bad name", "x")].into_iter().collect();
        assert!(matches!(
            map.to_xml(),
            Err(XmlError::InvalidFieldName { .. })
        ));
        let map: FieldMap = [("a", "nul\u{0}")].into_iter().collect();
        assert_eq!(
            map.to_xml(),
            Err(XmlError::InvalidChar { field: "a".into() })
        );
    }

    #[test]
    fn set_keeps_position_and_remove_drops() {
        let mut map = FieldMap::new();
        map.set("a", "1").set("b", "2").set("a", "3");
        assert_eq!(map.iter().collect::<Vec<_>>(), vec![("a", "3"), ("b", "2")]);
        assert_eq!(map.remove("a"), Some("3".into()));
        assert_eq!(map.len(), 1);
    }
}
