//! The MIME structure of a message from BODYSTRUCTURE (RFC 3501 section 7.4.2), with
//! IMAP part numbers (section 6.4.5), owned and flattened for the HTTP layer.
//!
//! Numbering: the body of a single-part message is part `1`; children of a multipart
//! at `P` are `P.1`, `P.2`, ...; the body of a `message/rfc822` part at `P` is `P.1`
//! when single-part, and its children are `P.1`, `P.2`, ... when multipart.

use async_imap::imap_proto::{BodyContentCommon, BodyStructure, ContentEncoding};

/// One MIME part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MimePart {
    /// IMAP part number path; empty for a top-level multipart.
    pub path: Vec<u32>,
    /// Lower-case `type/subtype`.
    pub content_type: String,
    /// Content-Type parameters (names lower-cased, values as sent).
    pub params: Vec<(String, String)>,
    /// Lower-case disposition (`attachment`, `inline`), if any.
    pub disposition: Option<String>,
    /// Content-Disposition parameters.
    pub disposition_params: Vec<(String, String)>,
    /// Content-ID without angle brackets.
    pub content_id: Option<String>,
    /// Lower-case transfer encoding (`base64`, `quoted-printable`, `7bit`, ...).
    pub encoding: String,
    /// Encoded size in octets (0 for multiparts).
    pub size: u32,
    /// True for `multipart/*`.
    pub is_multipart: bool,
    /// True inside an attached `message/rfc822` (not part of this message's own body).
    pub nested: bool,
}

impl MimePart {
    /// The part number as text (`2.1`), empty for a top-level multipart.
    pub fn part_number(&self) -> String {
        self.path
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(".")
    }

    /// A parameter of Content-Type or Content-Disposition, raw.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.disposition_params
            .iter()
            .chain(&self.params)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// True when the part has a file name (`filename` or `name`, in any encoding).
    pub fn has_filename(&self) -> bool {
        self.disposition_params
            .iter()
            .chain(&self.params)
            .any(|(k, _)| k.starts_with("filename") || k == "name" || k.starts_with("name*"))
    }

    /// Whether a mail client would show this part as an attachment (or an inline
    /// image): everything that is not a multipart and not the message's own text.
    pub fn is_attachment(&self) -> bool {
        if self.is_multipart || self.nested {
            return false;
        }
        let text = self.content_type == "text/plain" || self.content_type == "text/html";
        match self.disposition.as_deref() {
            Some("attachment") => true,
            _ => !text || self.has_filename(),
        }
    }
}

fn lower(text: &str) -> String {
    text.to_ascii_lowercase()
}

fn params(
    list: &Option<Vec<(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)>>,
) -> Vec<(String, String)> {
    list.iter()
        .flatten()
        .map(|(k, v)| (lower(k), v.to_string()))
        .collect()
}

fn encoding(enc: &ContentEncoding<'_>) -> String {
    match enc {
        ContentEncoding::SevenBit => "7bit".to_owned(),
        ContentEncoding::EightBit => "8bit".to_owned(),
        ContentEncoding::Binary => "binary".to_owned(),
        ContentEncoding::Base64 => "base64".to_owned(),
        ContentEncoding::QuotedPrintable => "quoted-printable".to_owned(),
        ContentEncoding::Other(other) => lower(other),
    }
}

fn part(path: Vec<u32>, common: &BodyContentCommon<'_>, nested: bool) -> MimePart {
    MimePart {
        path,
        content_type: format!("{}/{}", lower(&common.ty.ty), lower(&common.ty.subtype)),
        params: params(&common.ty.params),
        disposition: common.disposition.as_ref().map(|d| lower(&d.ty)),
        disposition_params: common
            .disposition
            .as_ref()
            .map(|d| params(&d.params))
            .unwrap_or_default(),
        content_id: None,
        encoding: "7bit".to_owned(),
        size: 0,
        is_multipart: false,
        nested,
    }
}

/// Flattens a BODYSTRUCTURE into parts, in document order.
pub fn flatten(structure: &BodyStructure<'_>) -> Vec<MimePart> {
    let mut out = Vec::new();
    match structure {
        BodyStructure::Multipart { .. } => walk(structure, Vec::new(), false, &mut out),
        _ => walk(structure, vec![1], false, &mut out),
    }
    out
}

fn walk(structure: &BodyStructure<'_>, path: Vec<u32>, nested: bool, out: &mut Vec<MimePart>) {
    match structure {
        BodyStructure::Multipart { common, bodies, .. } => {
            let mut node = part(path.clone(), common, nested);
            node.is_multipart = true;
            out.push(node);
            for (i, body) in bodies.iter().enumerate() {
                let mut child = path.clone();
                child.push(u32::try_from(i + 1).unwrap_or(u32::MAX));
                walk(body, child, nested, out);
            }
        }
        BodyStructure::Message {
            common,
            other,
            body,
            ..
        } => {
            let mut node = part(path.clone(), common, nested);
            node.encoding = encoding(&other.transfer_encoding);
            node.size = other.octets;
            node.content_id = other
                .id
                .as_ref()
                .map(|id| id.trim_matches(['<', '>']).to_owned());
            out.push(node);
            match body.as_ref() {
                BodyStructure::Multipart { bodies, .. } => {
                    for (i, inner) in bodies.iter().enumerate() {
                        let mut child = path.clone();
                        child.push(u32::try_from(i + 1).unwrap_or(u32::MAX));
                        walk(inner, child, true, out);
                    }
                }
                inner => {
                    let mut child = path;
                    child.push(1);
                    walk(inner, child, true, out);
                }
            }
        }
        BodyStructure::Text { common, other, .. } | BodyStructure::Basic { common, other, .. } => {
            let mut node = part(path, common, nested);
            node.encoding = encoding(&other.transfer_encoding);
            node.size = other.octets;
            node.content_id = other
                .id
                .as_ref()
                .map(|id| id.trim_matches(['<', '>']).to_owned());
            out.push(node);
        }
    }
}

/// The message's own text parts: the first `text/plain` and the first `text/html`
/// that are not attachments.
pub fn body_parts(parts: &[MimePart]) -> (Option<&MimePart>, Option<&MimePart>) {
    let own = |kind: &str| {
        parts
            .iter()
            .find(|p| !p.nested && p.content_type == kind && !p.is_attachment())
    };
    (own("text/plain"), own("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_imap::imap_proto::{AttributeValue, Response};

    fn structure_of(fetch: &[u8]) -> Vec<MimePart> {
        let (_, response) = Response::parse(fetch).unwrap();
        let Response::Fetch(_, attributes) = response else {
            panic!("not a FETCH")
        };
        for attribute in attributes {
            if let AttributeValue::BodyStructure(structure) = attribute {
                return flatten(&structure);
            }
        }
        panic!("no BODYSTRUCTURE")
    }

    #[test]
    fn single_part_message_is_part_1() {
        let parts = structure_of(b"* 1 FETCH (BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 12 1 NIL NIL NIL NIL))\r\n");
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].path, vec![1]);
        assert_eq!(parts[0].content_type, "text/plain");
        assert!(!parts[0].is_attachment());
        assert_eq!(body_parts(&parts).0.unwrap().path, vec![1]);
    }

    #[test]
    fn mixed_with_alternative_attachment_and_nested_message() {
        let fetch = b"* 1 FETCH (BODYSTRUCTURE ((\
            (\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 10 1 NIL NIL NIL NIL)\
            (\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 20 1 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"b2\") NIL NIL NIL)\
            (\"application\" \"pdf\" (\"name\" \"a.pdf\") NIL NIL \"base64\" 300 NIL (\"attachment\" (\"filename\" \"a.pdf\")) NIL NIL)\
            (\"image\" \"png\" NIL \"<logo@x>\" NIL \"base64\" 40 NIL (\"inline\" NIL) NIL NIL)\
            (\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 100 (NIL \"inner\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" NIL NIL NIL \"7bit\" 5 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL)\
            \x20\"mixed\" (\"boundary\" \"b1\") NIL NIL NIL))\r\n";
        let parts = structure_of(fetch);
        let numbers: Vec<String> = parts.iter().map(MimePart::part_number).collect();
        assert_eq!(numbers, ["", "1", "1.1", "1.2", "2", "3", "4", "4.1"]);
        let (text, html) = body_parts(&parts);
        assert_eq!(text.unwrap().part_number(), "1.1");
        assert_eq!(html.unwrap().part_number(), "1.2");
        let attachments: Vec<String> = parts
            .iter()
            .filter(|p| p.is_attachment())
            .map(MimePart::part_number)
            .collect();
        assert_eq!(attachments, ["2", "3", "4"]);
        assert_eq!(parts[5].content_id.as_deref(), Some("logo@x"));
        assert_eq!(parts[4].param("filename"), Some("a.pdf"));
        assert!(parts[7].nested && !parts[7].is_attachment());
    }
}
