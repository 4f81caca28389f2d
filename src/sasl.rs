//! OAuth2 sign-in over SASL, the part IMAP `AUTHENTICATE` and SMTP `AUTH` share:
//! the validated [`AccessToken`], the two mechanisms ([`OAuth2Mechanism`]:
//! OAUTHBEARER of RFC 7628 and Google's and Microsoft's XOAUTH2), which ones this
//! gateway may use ([`Mechanisms`], `IMAP_GATEWAY_AUTH_MECHANISMS`), the initial
//! client response, and the server's JSON error challenge.
//!
//! Knows nothing of IMAP, SMTP or HTTP; `imap::connect` and `smtp` put these bytes on
//! their wires.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The longest access token accepted. Provider tokens are far shorter (Google's about
/// 200 bytes, Microsoft's JWTs 1-3 KB); Dovecot's SASL buffer is 8 KiB in base64.
pub const MAX_ACCESS_TOKEN_LEN: usize = 4096;

/// An OAuth2 access token: RFC 6750 `b64token` characters only (letters, digits and
/// `-._~+/`, then `=` padding), so it can never carry the `\x01` separator of the
/// SASL messages, a space, CR or LF onto a wire.
#[derive(Clone)]
pub struct AccessToken(SecretString);

impl AccessToken {
    /// Checks `text` and wraps it.
    ///
    /// # Errors
    /// A message for the `access_token` field: empty, too long, or a character outside
    /// RFC 6750's `b64token`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("must not be empty".to_owned());
        }
        if text.len() > MAX_ACCESS_TOKEN_LEN {
            return Err(format!("must be at most {MAX_ACCESS_TOKEN_LEN} bytes"));
        }
        let body = text.trim_end_matches('=');
        if body.is_empty()
            || !body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
        {
            return Err(
                "must be an RFC 6750 bearer token (letters, digits and -._~+/ followed by = padding)"
                    .to_owned(),
            );
        }
        Ok(Self(SecretString::from(text.to_owned())))
    }

    /// The token, for sealing into a gateway token and for the SASL exchange only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// A SASL mechanism carrying an OAuth2 access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuth2Mechanism {
    /// RFC 7628.
    OAuthBearer,
    /// The older Google/Microsoft mechanism, still the only one some servers offer.
    XOAuth2,
}

impl OAuth2Mechanism {
    /// The mechanism's name in `AUTH=` capabilities and commands.
    pub fn name(self) -> &'static str {
        match self {
            Self::OAuthBearer => "OAUTHBEARER",
            Self::XOAuth2 => "XOAUTH2",
        }
    }

    /// The client's first (and, on success, only) message. The user name has no
    /// control characters (checked by the caller's type), so `\x01` cannot appear in
    /// it; in OAUTHBEARER's GS2 header `,` and `=` are escaped (RFC 5801).
    pub fn initial_response(self, username: &str, token: &AccessToken) -> SecretString {
        let text = match self {
            Self::OAuthBearer => {
                let escaped = username.replace('=', "=3D").replace(',', "=2C");
                format!("n,a={escaped},\x01auth=Bearer {}\x01\x01", token.expose())
            }
            Self::XOAuth2 => format!("user={username}\x01auth=Bearer {}\x01\x01", token.expose()),
        };
        SecretString::from(text)
    }

    /// What the client answers to the server's error challenge, so that the server
    /// ends the exchange with its failure reply: `%x01` for OAUTHBEARER (RFC 7628
    /// section 3.2.3), an empty response for XOAUTH2.
    pub fn error_acknowledgement(self) -> &'static [u8] {
        match self {
            Self::OAuthBearer => b"\x01",
            Self::XOAuth2 => b"",
        }
    }
}

/// Which sign-in methods the gateway accepts (`IMAP_GATEWAY_AUTH_MECHANISMS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mechanisms {
    /// User name and password (LOGIN, or AUTHENTICATE PLAIN for non-ASCII).
    pub password: bool,
    /// OAuth2 with OAUTHBEARER.
    pub oauthbearer: bool,
    /// OAuth2 with XOAUTH2.
    pub xoauth2: bool,
}

impl Default for Mechanisms {
    fn default() -> Self {
        Self {
            password: true,
            oauthbearer: true,
            xoauth2: true,
        }
    }
}

impl Mechanisms {
    /// Parses a comma-separated list of `password`, `oauth2` (both OAuth2 mechanisms),
    /// `oauthbearer` and `xoauth2`.
    ///
    /// # Errors
    /// An unknown or empty entry, or an empty list.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut set = Self {
            password: false,
            oauthbearer: false,
            xoauth2: false,
        };
        for entry in text.split(',').map(str::trim) {
            match entry.to_ascii_lowercase().as_str() {
                "password" => set.password = true,
                "oauth2" => {
                    set.oauthbearer = true;
                    set.xoauth2 = true;
                }
                "oauthbearer" => set.oauthbearer = true,
                "xoauth2" => set.xoauth2 = true,
                other => {
                    return Err(format!(
                        "unknown mechanism {other:?} (use password, oauth2, oauthbearer, xoauth2)"
                    ))
                }
            }
        }
        Ok(set)
    }

    /// True when OAuth2 access tokens are accepted at all.
    pub fn oauth2(self) -> bool {
        self.oauthbearer || self.xoauth2
    }

    /// The mechanism to use with a server that advertises the mechanisms for which
    /// `advertised` is true: OAUTHBEARER, the standard, when both sides have it, else
    /// XOAUTH2.
    pub fn choose(self, advertised: impl Fn(&str) -> bool) -> Option<OAuth2Mechanism> {
        [OAuth2Mechanism::OAuthBearer, OAuth2Mechanism::XOAuth2]
            .into_iter()
            .find(|mechanism| {
                let allowed = match mechanism {
                    OAuth2Mechanism::OAuthBearer => self.oauthbearer,
                    OAuth2Mechanism::XOAuth2 => self.xoauth2,
                };
                allowed && advertised(mechanism.name())
            })
    }
}

impl fmt::Display for Mechanisms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = [
            (self.password, "password"),
            (self.oauthbearer, "oauthbearer"),
            (self.xoauth2, "xoauth2"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        f.write_str(&names.join(","))
    }
}

/// The server's reason for refusing a token: the `status` of the JSON error
/// challenge (RFC 7628 section 3.2.2; `invalid_token`, `insufficient_scope`, or for
/// XOAUTH2 an HTTP-like `401`), when it sent a readable one.
pub fn challenge_status(challenge: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Challenge {
        status: String,
    }
    let status = serde_json::from_slice::<Challenge>(challenge).ok()?.status;
    // Only a short token-like word is kept: it ends up in an error message.
    (status.len() <= 40
        && status
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
    .then_some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_are_b64tokens() {
        for good in [
            "ya29.a0AfB_byC-x~y+z/1",
            "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ4In0.c2ln",
            "abc==",
        ] {
            assert!(AccessToken::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "has space",
            "crlf\r\nA1 LOGOUT",
            "ctrl\x01a",
            "===",
            "a=b",
            "quote\"",
            "ünïcode",
        ] {
            assert!(AccessToken::parse(bad).is_err(), "{bad:?}");
        }
        assert!(AccessToken::parse(&"a".repeat(MAX_ACCESS_TOKEN_LEN + 1)).is_err());
        assert_eq!(
            format!("{:?}", AccessToken::parse("secret-token").unwrap()),
            "AccessToken(<redacted>)"
        );
    }

    #[test]
    fn initial_responses_follow_the_specs() {
        let token = AccessToken::parse("tok").unwrap();
        assert_eq!(
            OAuth2Mechanism::OAuthBearer
                .initial_response("a,b=c@example.org", &token)
                .expose_secret(),
            "n,a=a=2Cb=3Dc@example.org,\x01auth=Bearer tok\x01\x01"
        );
        assert_eq!(
            OAuth2Mechanism::XOAuth2
                .initial_response("alice@example.org", &token)
                .expose_secret(),
            "user=alice@example.org\x01auth=Bearer tok\x01\x01"
        );
    }

    #[test]
    fn mechanisms_parse_and_choose() {
        let all = Mechanisms::parse("password,oauth2").unwrap();
        assert_eq!(all, Mechanisms::default());
        assert_eq!(all.to_string(), "password,oauthbearer,xoauth2");
        let offered = |names: &'static [&'static str]| move |m: &str| names.contains(&m);
        assert_eq!(
            all.choose(offered(&["XOAUTH2", "OAUTHBEARER"])),
            Some(OAuth2Mechanism::OAuthBearer)
        );
        assert_eq!(
            all.choose(offered(&["XOAUTH2"])),
            Some(OAuth2Mechanism::XOAuth2)
        );
        assert_eq!(all.choose(offered(&["PLAIN"])), None);
        let xoauth2_only = Mechanisms::parse("XOAUTH2").unwrap();
        assert!(!xoauth2_only.password);
        assert_eq!(
            xoauth2_only.choose(offered(&["OAUTHBEARER", "XOAUTH2"])),
            Some(OAuth2Mechanism::XOAuth2)
        );
        for bad in ["", "password,", "kerberos", "plain"] {
            assert!(Mechanisms::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reads_error_challenges() {
        assert_eq!(
            challenge_status(br#"{"status":"invalid_token"}"#).as_deref(),
            Some("invalid_token")
        );
        assert_eq!(
            challenge_status(br#"{"status":"401","schemes":"bearer","scope":"mail"}"#).as_deref(),
            Some("401")
        );
        assert_eq!(challenge_status(b"not json"), None);
        assert_eq!(challenge_status(br#"{"status":"x y\r\nz"}"#), None);
    }
}
