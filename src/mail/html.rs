//! Message HTML made safe to render: ammonia keeps a whitelist of tags and
//! attributes (no scripts, event handlers, forms, frames, `<style>` blocks or
//! `javascript:` URLs), and the filter below decides every URL: links may be
//! `http`, `https` or `mailto`; images load from the message itself (`cid:`,
//! rewritten to the gateway's attachment URL, or `data:image/…`), and from the
//! network only when the caller asks for remote images (blocked by default: they are
//! how senders track who opened a message). Inline `style` survives unless it loads
//! something (`url(`, `@import`, `expression`).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// How to sanitise.
#[derive(Debug, Clone, Default)]
pub struct HtmlPolicy {
    /// Keep `<img src="https://…">` (and `http`).
    pub remote_images: bool,
    /// Content-ID (without angle brackets) → the URL that serves that part.
    pub cid_urls: HashMap<String, String>,
}

/// Sanitised HTML and what was taken out that a reader may want back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeHtml {
    /// The HTML to render.
    pub html: String,
    /// Remote images removed because the policy blocks them.
    pub remote_images_blocked: u32,
}

/// Tags email HTML uses for layout that ammonia's defaults leave out.
const EXTRA_TAGS: &[&str] = &["font", "center"];
/// Layout attributes of email HTML, on any tag.
const EXTRA_ATTRIBUTES: &[&str] = &[
    "style",
    "align",
    "valign",
    "width",
    "height",
    "bgcolor",
    "color",
    "border",
    "cellpadding",
    "cellspacing",
    "face",
    "size",
    "dir",
];

fn loads_something(style: &str) -> bool {
    let lower = style.to_ascii_lowercase();
    [
        "url(",
        "@import",
        "expression",
        "javascript:",
        "behavior",
        "-moz-binding",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

fn scheme(url: &str) -> Option<String> {
    let (scheme, _) = url.trim_start().split_once(':')?;
    scheme
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        .then(|| scheme.to_ascii_lowercase())
}

/// Sanitises `html` under `policy`.
pub fn sanitize(html: &str, policy: &HtmlPolicy) -> SafeHtml {
    let blocked = Arc::new(AtomicU32::new(0));
    let counter = blocked.clone();
    let remote_images = policy.remote_images;
    let cid_urls = policy.cid_urls.clone();
    let mut builder = ammonia::Builder::default();
    builder
        .add_tags(EXTRA_TAGS)
        .add_generic_attributes(EXTRA_ATTRIBUTES)
        .url_schemes(HashSet::from(["http", "https", "mailto", "data", "cid"]))
        .url_relative(ammonia::UrlRelative::PassThrough)
        .link_rel(Some("noopener noreferrer"))
        .attribute_filter(move |element, attribute, value| match attribute {
            "style" => (!loads_something(value)).then_some(Cow::Borrowed(value)),
            "href" => match scheme(value).as_deref() {
                Some("http" | "https" | "mailto") => Some(Cow::Borrowed(value)),
                _ => None,
            },
            "src" if element == "img" => match scheme(value).as_deref() {
                Some("cid") => {
                    let id = value.trim()[4..].trim_matches(['<', '>']);
                    cid_urls.get(id).map(|url| Cow::Owned(url.clone()))
                }
                Some("data") if value.trim()[5..].to_ascii_lowercase().starts_with("image/") => {
                    Some(Cow::Borrowed(value))
                }
                Some("http" | "https") if remote_images => Some(Cow::Borrowed(value)),
                Some("http" | "https") => {
                    counter.fetch_add(1, Ordering::Relaxed);
                    None
                }
                _ => None,
            },
            // Other URL-bearing attributes (`src` elsewhere, `cite`, `longdesc`, …)
            // need nothing from the network to render text.
            "src" | "cite" | "longdesc" | "srcset" | "background" => None,
            _ => Some(Cow::Borrowed(value)),
        });
    let html = builder.clean(html).to_string();
    SafeHtml {
        html,
        remote_images_blocked: blocked.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safe(html: &str) -> SafeHtml {
        sanitize(html, &HtmlPolicy::default())
    }

    #[test]
    fn scripts_handlers_forms_and_javascript_urls_go() {
        let out = safe(
            "<p onclick=\"steal()\">Hi<script>alert(1)</script></p>\
             <img src=x onerror=alert(1)>\
             <a href=\"javascript:alert(1)\">x</a>\
             <form action=\"https://evil.example\"><input name=p></form>\
             <iframe src=\"https://evil.example\"></iframe><style>body{}</style>",
        )
        .html;
        for banned in [
            "script",
            "onclick",
            "onerror",
            "javascript",
            "form",
            "input",
            "iframe",
            "style",
        ] {
            assert!(!out.contains(banned), "{banned} survived: {out}");
        }
        assert!(out.contains("<p>Hi</p>"), "{out}");
    }

    #[test]
    fn remote_images_are_blocked_unless_asked_for() {
        let html = "<img src=\"https://tracker.example/p.gif\" width=\"1\"><img src=\"http://x.example/a.png\">";
        let blocked = safe(html);
        assert!(!blocked.html.contains("tracker"), "{}", blocked.html);
        assert_eq!(blocked.remote_images_blocked, 2);
        let allowed = sanitize(
            html,
            &HtmlPolicy {
                remote_images: true,
                ..HtmlPolicy::default()
            },
        );
        assert!(allowed.html.contains("https://tracker.example/p.gif"));
        assert_eq!(allowed.remote_images_blocked, 0);
        // CSS that loads something is a remote image too.
        let styled = safe("<div style=\"background:url(https://tracker.example/b)\">x</div><p style=\"color: red\">y</p>");
        assert!(!styled.html.contains("tracker"), "{}", styled.html);
        assert!(styled.html.contains("color: red"), "{}", styled.html);
    }

    #[test]
    fn cid_images_point_at_the_gateway_and_links_stay() {
        let policy = HtmlPolicy {
            remote_images: false,
            cid_urls: HashMap::from([(
                "logo@x".to_owned(),
                "/v1/mailboxes/INBOX/messages/5/attachments/2".to_owned(),
            )]),
        };
        let out = sanitize(
            "<img src=\"cid:logo@x\"><img src=\"cid:unknown@x\"><img src=\"data:image/png;base64,AAAA\">\
             <a href=\"https://example.org/\">site</a><a href=\"data:text/html,x\">d</a>",
            &policy,
        )
        .html;
        assert!(
            out.contains("src=\"/v1/mailboxes/INBOX/messages/5/attachments/2\""),
            "{out}"
        );
        assert!(!out.contains("unknown"), "{out}");
        assert!(out.contains("data:image/png"), "{out}");
        assert!(out.contains("href=\"https://example.org/\""), "{out}");
        assert!(out.contains("rel=\"noopener noreferrer\""), "{out}");
        assert!(!out.contains("data:text/html"), "{out}");
    }
}
