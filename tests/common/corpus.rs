//! The MIME corpus seeded for message tests: one message per shape a mail client
//! meets, in UID order (UID = index + 1).

use base64::Engine as _;

/// Bytes of the PDF-like attachment (deterministic, binary, every byte value).
pub fn attachment_bytes(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect()
}

/// Base64 with 76-character lines, as mail does it.
pub fn base64_lines(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .as_bytes()
        .chunks(76)
        .map(|line| format!("{}\r\n", std::str::from_utf8(line).unwrap()))
        .collect()
}

fn message(headers: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = format!(
        "Date: Thu, 26 Nov 2026 09:00:00 +0000\r\nTo: mime@example.org\r\nMIME-Version: 1.0\r\n{headers}\r\n"
    )
    .into_bytes();
    raw.extend_from_slice(body);
    raw
}

fn text(charset: &str, encoding: &str, subject: &str, body: &[u8]) -> Vec<u8> {
    message(
        &format!(
            "From: Sender <sender@example.org>\r\nSubject: {subject}\r\nContent-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: {encoding}\r\n"
        ),
        body,
    )
}

/// The corpus, in UID order.
pub fn mime_corpus() -> Vec<(&'static str, Vec<u8>)> {
    let pdf = attachment_bytes(3000);
    vec![
        // 1
        ("plain", text("utf-8", "7bit", "Plain hello", b"Hello world\r\n")),
        // 2
        (
            "alternative",
            message(
                "From: Alt <alt@example.org>\r\nSubject: Alternative\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n",
                b"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlain part\r\n--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>HTML part</p>\r\n--alt--\r\n",
            ),
        ),
        // 3: RFC 2231 file name
        (
            "mixed",
            message(
                "From: Billing <billing@example.com>\r\nSubject: Invoice attached\r\nContent-Type: multipart/mixed; boundary=\"mix\"\r\n",
                format!(
                    "--mix\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attachment.\r\n--mix\r\nContent-Type: application/pdf; name=\"rates.pdf\"\r\nContent-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rates.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{}--mix--\r\n",
                    base64_lines(&pdf)
                )
                .as_bytes(),
            ),
        ),
        // 4: nested message
        (
            "nested",
            message(
                "From: Forwarder <fwd@example.org>\r\nSubject: Fwd: Inner\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n",
                b"--outer\r\nContent-Type: text/plain\r\n\r\nForwarded below.\r\n--outer\r\nContent-Type: message/rfc822\r\n\r\nFrom: inner@example.org\r\nSubject: Inner\r\nContent-Type: text/plain\r\n\r\nInner body\r\n--outer--\r\n",
            ),
        ),
        // 5: inline image referenced by cid:
        (
            "related",
            message(
                "From: News <news@example.net>\r\nSubject: Inline image\r\nContent-Type: multipart/related; boundary=\"rel\"\r\n",
                format!(
                    "--rel\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<img src=\"cid:logo@example\">\r\n--rel\r\nContent-Type: image/png\r\nContent-ID: <logo@example>\r\nContent-Disposition: inline; filename=\"logo.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}--rel--\r\n",
                    base64_lines(&attachment_bytes(200))
                )
                .as_bytes(),
            ),
        ),
        // 6-10: charsets
        ("latin1", text("iso-8859-1", "quoted-printable", "Latin-1", b"Gr=FC=DFe aus K=F6ln\r\n")),
        ("cp1252", text("windows-1252", "8bit", "Windows-1252", b"\x93Smart quotes\x94 \x96 5 \x80\r\n")),
        ("koi8r", text("koi8-r", "8bit", "KOI8-R", b"\xf0\xd2\xc9\xd7\xc5\xd4\x2c\x20\xcd\xc9\xd2\r\n")),
        ("sjis", text("shift_jis", "8bit", "Shift_JIS", b"\x82\xb1\x82\xf1\x82\xc9\x82\xbf\x82\xcd\x90\xa2\x8a\x45\r\n")),
        ("gb2312", text("gb2312", "8bit", "GB2312", b"\xc4\xe3\xba\xc3\xca\xc0\xbd\xe7\r\n")),
        // 11: RFC 2047 file name
        (
            "rfc2047-filename",
            message(
                "From: Report <report@example.org>\r\nSubject: Report\r\nContent-Type: multipart/mixed; boundary=\"r\"\r\n",
                b"--r\r\nContent-Type: text/plain\r\n\r\nReport.\r\n--r\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"=?UTF-8?B?0J7RgtGH0LXRgi5wZGY=?=\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--r--\r\n",
            ),
        ),
        // 12: malformed: bad base64 and no closing boundary
        (
            "malformed",
            message(
                "From: Broken <broken@example.org>\r\nSubject: Broken\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n",
                b"--b\r\nContent-Type: text/plain\r\n\r\nStill readable.\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"bad.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\naGVs!!bG8=\r\n",
            ),
        ),
        // 13: encoded words in headers
        (
            "encoded-words",
            message(
                "From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.de>\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_Berlin?=\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n",
                "Grüße!\r\n".as_bytes(),
            ),
        ),
    ]
}
