//! Authentication: bearer tokens, Basic credentials, scopes and login throttling.

pub mod client_addr;
pub mod extractor;
pub mod scopes;
pub mod throttle;
pub mod token;

pub use client_addr::{ClientAddr, TrustedProxies};
pub use extractor::{AuthMethod, AuthUser};
pub use scopes::{Scope, Scopes};
pub use throttle::LoginThrottle;
pub use token::{IssuedToken, TokenError, TokenService};
