//! An envelope address (RFC 5321 `Mailbox`), validated before it reaches the wire.

/// `local@domain` with printable characters only: no spaces, angle brackets, CR, LF
/// or other controls, so it cannot end a command line or add parameters to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EnvelopeAddress(String);

impl EnvelopeAddress {
    /// Validates `address`.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn new(address: &str) -> Result<Self, String> {
        if address.len() > 254 {
            return Err("an address is at most 254 bytes".to_owned());
        }
        if let Some(bad) = address
            .chars()
            .find(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';'))
        {
            return Err(format!("{address:?} contains {bad:?}"));
        }
        match address.rsplit_once('@') {
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
                Ok(Self(address.to_owned()))
            }
            _ => Err(format!(
                "{address:?} is not an address like name@example.org"
            )),
        }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_anything_that_could_change_the_command() {
        assert!(EnvelopeAddress::new("bob@example.org").is_ok());
        for bad in [
            "bob@example.org\r\nRCPT TO:<eve@example.org>",
            "bob@example.org> SIZE=1",
            "bob @example.org",
            "bob",
            "@example.org",
            "bob@",
            "a,b@example.org",
        ] {
            assert!(EnvelopeAddress::new(bad).is_err(), "{bad:?}");
        }
    }
}
