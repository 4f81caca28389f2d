//! Authentication: bearer tokens, Basic credentials, scopes and login throttling.

pub mod client_addr;
pub mod scopes;
pub mod throttle;
pub mod token;
pub mod user;

pub use client_addr::{ClientAddr, TrustedProxies};
pub use scopes::{Scope, Scopes};
pub use throttle::LoginThrottle;
pub use token::{IssuedToken, TokenError, TokenService, Verified};
pub use user::{AuthMethod, AuthUser, MissingScope};
