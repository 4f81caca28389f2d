//! Configuration: CLI flags and `IMAP_GATEWAY_*` environment variables (clap), parsed
//! and validated once into [`Config`]. Invalid settings are reported in one sentence
//! naming the setting, and the binary exits with code 2.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use secrecy::SecretString;

use crate::auth::TrustedProxies;
use crate::imap::{BackendUrl, Security};
use crate::sasl::Mechanisms;
use crate::smtp::SmtpUrl;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable, coloured when on a terminal.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Command-line flags and environment variables (see README's configuration table).
#[derive(Debug, Parser)]
#[command(
    name = "imap-gateway",
    version,
    about = "A JSON/HTTP API in front of any IMAP server"
)]
pub struct Cli {
    /// Address to listen on for HTTP.
    #[arg(long, env = "IMAP_GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// IMAP backend: imaps://host:993 (TLS), imap://host:143 (STARTTLS, required),
    /// imap://host:143?tls=none (plain; only when explicitly asked for).
    #[arg(
        long,
        env = "IMAP_GATEWAY_IMAP_URL",
        default_value = "imap://127.0.0.1:143"
    )]
    pub imap_url: String,

    /// Extra trusted CA certificate(s) or a self-signed server certificate, in PEM
    /// (for the IMAP and the SMTP server).
    #[arg(long, env = "IMAP_GATEWAY_IMAP_CA_FILE")]
    pub imap_ca_file: Option<PathBuf>,

    /// SMTP submission server for `POST /v1/send`: smtps://host:465 (TLS),
    /// smtp://host:587 (STARTTLS, required), smtp://host:587?tls=none (plain; only
    /// when explicitly asked for). Unset: sending answers 501.
    #[arg(long, env = "IMAP_GATEWAY_SMTP_URL")]
    pub smtp_url: Option<String>,

    /// Bound on connecting to the SMTP server and on each of its replies.
    #[arg(long, env = "IMAP_GATEWAY_SMTP_TIMEOUT", default_value = "60s")]
    pub smtp_timeout: String,

    /// Server secret (at least 32 bytes) that signs tokens and seals credentials.
    #[arg(long, env = "IMAP_GATEWAY_SECRET", hide_env_values = true)]
    pub secret: Option<String>,

    /// File holding the server secret (trailing newline ignored).
    #[arg(long, env = "IMAP_GATEWAY_SECRET_FILE", conflicts_with = "secret")]
    pub secret_file: Option<PathBuf>,

    /// Development mode: generate a random secret when none is configured.
    #[arg(long, env = "IMAP_GATEWAY_DEV")]
    pub dev: bool,

    /// Lifetime of issued tokens (e.g. 1h, 30m); clients may ask for less.
    #[arg(long, env = "IMAP_GATEWAY_TOKEN_TTL", default_value = "1h")]
    pub token_ttl: String,

    /// Pooled IMAP sessions per user.
    #[arg(long, env = "IMAP_GATEWAY_MAX_SESSIONS_PER_USER", default_value_t = 4)]
    pub max_sessions_per_user: usize,

    /// Pooled IMAP sessions across all users.
    #[arg(long, env = "IMAP_GATEWAY_MAX_SESSIONS", default_value_t = 1000)]
    pub max_sessions: usize,

    /// Comma-separated origins allowed by CORS (empty: CORS off; `*`: any origin).
    #[arg(long, env = "IMAP_GATEWAY_CORS_ORIGINS", default_value = "")]
    pub cors_origins: String,

    /// Sign-in methods accepted, comma-separated: `password`, `oauth2` (both OAuth2
    /// mechanisms), `oauthbearer`, `xoauth2`.
    #[arg(
        long,
        env = "IMAP_GATEWAY_AUTH_MECHANISMS",
        default_value = "password,oauth2"
    )]
    pub auth_mechanisms: String,

    /// Accept `Authorization: Basic` (true/false).
    #[arg(long, env = "IMAP_GATEWAY_BASIC_AUTH", default_value_t = true, action = clap::ArgAction::Set)]
    pub basic_auth: bool,

    /// Log format: pretty or json.
    #[arg(
        long,
        env = "IMAP_GATEWAY_LOG_FORMAT",
        value_enum,
        default_value = "pretty"
    )]
    pub log_format: LogFormat,

    /// Timeout for connecting to IMAP (TCP, TLS, greeting).
    #[arg(long, env = "IMAP_GATEWAY_IMAP_CONNECT_TIMEOUT", default_value = "10s")]
    pub imap_connect_timeout: String,

    /// Timeout for one IMAP command, LOGIN included.
    #[arg(long, env = "IMAP_GATEWAY_IMAP_COMMAND_TIMEOUT", default_value = "30s")]
    pub imap_command_timeout: String,

    /// How long a request waits for a free IMAP session before answering 503.
    #[arg(long, env = "IMAP_GATEWAY_POOL_WAIT", default_value = "5s")]
    pub pool_wait: String,

    /// Session pools unused this long are logged out.
    #[arg(long, env = "IMAP_GATEWAY_POOL_IDLE_TTL", default_value = "5m")]
    pub pool_idle_ttl: String,

    /// How long a credential is trusted on the strength of a past login: a pool whose
    /// credential was last proven longer ago logs in afresh before it serves the next
    /// request, so a changed password (and every token sealing the old one) stops
    /// working within this time. Shorter costs one more LOGIN per active user per
    /// interval.
    #[arg(long, env = "IMAP_GATEWAY_CREDENTIAL_RECHECK", default_value = "60s")]
    pub credential_recheck: String,

    /// Longest time a request may take to produce its response headers (a streamed
    /// body, such as an event stream or a download, may take longer); 503 after it.
    #[arg(long, env = "IMAP_GATEWAY_REQUEST_TIMEOUT", default_value = "120s")]
    pub request_timeout: String,

    /// Requests served at once; more are refused at once with 503 and Retry-After.
    #[arg(
        long,
        env = "IMAP_GATEWAY_MAX_CONCURRENT_REQUESTS",
        default_value_t = 1024
    )]
    pub max_concurrent_requests: usize,

    /// On SIGTERM or Ctrl-C, how long in-flight requests may still run before the
    /// gateway stops anyway.
    #[arg(long, env = "IMAP_GATEWAY_SHUTDOWN_TIMEOUT", default_value = "30s")]
    pub shutdown_timeout: String,

    /// `GET /readyz` probes the IMAP (and SMTP) server at most once per this interval
    /// and answers every call in between from the last probe, so anonymous callers
    /// cannot make the gateway open connections at their rate.
    #[arg(long, env = "IMAP_GATEWAY_READINESS_INTERVAL", default_value = "5s")]
    pub readiness_interval: String,

    /// Serve Prometheus metrics at GET /metrics (true/false).
    #[arg(long, env = "IMAP_GATEWAY_METRICS", default_value_t = true, action = clap::ArgAction::Set)]
    pub metrics: bool,

    /// When set, GET /metrics requires `Authorization: Bearer <this token>`.
    #[arg(long, env = "IMAP_GATEWAY_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Interval of keep-alive comments on event streams.
    #[arg(long, env = "IMAP_GATEWAY_SSE_KEEPALIVE", default_value = "25s")]
    pub sse_keepalive: String,

    /// Longest life of one event stream: it then ends, and the client reconnects
    /// with `Last-Event-ID` and misses nothing (EventSource does so by itself).
    #[arg(long, env = "IMAP_GATEWAY_SSE_MAX_DURATION", default_value = "24h")]
    pub sse_max_duration: String,

    /// HTTP connections that do not deliver a request's headers within this time
    /// (slow or idle clients, idle keep-alive connections) are closed.
    #[arg(long, env = "IMAP_GATEWAY_HTTP_HEADER_TIMEOUT", default_value = "30s")]
    pub http_header_timeout: String,

    /// Mailboxes one user may watch at once over event streams (one IDLE session each).
    #[arg(long, env = "IMAP_GATEWAY_MAX_WATCHERS_PER_USER", default_value_t = 4)]
    pub max_watchers_per_user: usize,

    /// Watched mailboxes across all users (IDLE sessions, outside the request pools).
    #[arg(long, env = "IMAP_GATEWAY_MAX_WATCHERS", default_value_t = 500)]
    pub max_watchers: usize,

    /// Failed logins per user name per minute before 429.
    #[arg(
        long,
        env = "IMAP_GATEWAY_LOGIN_FAILURES_PER_USER",
        default_value_t = 5
    )]
    pub login_failures_per_user: u32,

    /// Failed logins per client address per minute before 429.
    #[arg(
        long,
        env = "IMAP_GATEWAY_LOGIN_FAILURES_PER_CLIENT",
        default_value_t = 20
    )]
    pub login_failures_per_client: u32,

    /// Proxies (addresses or networks, comma-separated) whose `X-Forwarded-For` names
    /// the client for login throttling; empty: the header is ignored.
    #[arg(long, env = "IMAP_GATEWAY_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,

    /// Tell the IMAP server, in the IMAP ID sent before LOGIN (RFC 2971,
    /// `x-originating-ip`), the address of the HTTP client whose request opens the
    /// session, so a server that trusts the gateway (Dovecot's `login_trusted_networks`)
    /// applies its login penalties per client.
    #[arg(
        long,
        env = "IMAP_GATEWAY_IMAP_FORWARD_CLIENT_IP",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub imap_forward_client_ip: bool,
}

/// The validated configuration the gateway runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// IMAP backend.
    pub imap_url: BackendUrl,
    /// Extra CA file.
    pub imap_ca_file: Option<PathBuf>,
    /// SMTP submission server, when sending is configured.
    pub smtp_url: Option<SmtpUrl>,
    /// SMTP connect and reply timeout.
    pub smtp_timeout: Duration,
    /// Server secret (>= 32 bytes).
    pub secret: SecretString,
    /// True when the secret was generated (`--dev`).
    pub secret_generated: bool,
    /// Maximum token lifetime.
    pub token_ttl: Duration,
    /// Sessions per user.
    pub max_sessions_per_user: usize,
    /// Sessions overall.
    pub max_sessions: usize,
    /// CORS origins (`["*"]` for any).
    pub cors_origins: Vec<String>,
    /// Sign-in methods accepted (password, OAuth2 mechanisms).
    pub auth_mechanisms: Mechanisms,
    /// Basic auth enabled.
    pub basic_auth: bool,
    /// Log format.
    pub log_format: LogFormat,
    /// IMAP connect timeout.
    pub imap_connect_timeout: Duration,
    /// IMAP command timeout.
    pub imap_command_timeout: Duration,
    /// Pool wait.
    pub pool_wait: Duration,
    /// Pool idle TTL.
    pub pool_idle_ttl: Duration,
    /// How long a past login proves a credential.
    pub credential_recheck: Duration,
    /// Deadline for a response's headers.
    pub request_timeout: Duration,
    /// Requests served at once.
    pub max_concurrent_requests: usize,
    /// Grace period for in-flight requests at shutdown.
    pub shutdown_timeout: Duration,
    /// Least time between two readiness probes.
    pub readiness_interval: Duration,
    /// Serve /metrics.
    pub metrics: bool,
    /// The bearer token /metrics requires, when set.
    pub metrics_token: Option<SecretString>,
    /// SSE keep-alive interval.
    pub sse_keepalive: Duration,
    /// Longest life of one event stream.
    pub sse_max_duration: Duration,
    /// Time a client has to send a request's headers.
    pub http_header_timeout: Duration,
    /// Watched mailboxes per user.
    pub max_watchers_per_user: usize,
    /// Watched mailboxes overall.
    pub max_watchers: usize,
    /// Login failures per user per minute.
    pub login_failures_per_user: u32,
    /// Login failures per client per minute.
    pub login_failures_per_client: u32,
    /// Proxies trusted to name the client in `X-Forwarded-For`.
    pub trusted_proxies: TrustedProxies,
    /// Send the client's address in the IMAP ID before LOGIN.
    pub imap_forward_client_ip: bool,
}

/// A configuration error: which setting, and why, in one sentence.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {setting}: {reason}")]
pub struct ConfigError {
    /// The environment variable (and flag) at fault.
    pub setting: &'static str,
    /// Why.
    pub reason: String,
}

fn fail(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        setting,
        reason: reason.into(),
    }
}

/// Parses `IMAP_GATEWAY_CORS_ORIGINS`: `*` alone, or comma-separated origins as a
/// browser sends them in `Origin`: `http` or `https`, a host, an optional port, and
/// nothing else (a path, even `/`, a query or user info would never match).
///
/// # Errors
/// The first entry that is not such an origin.
pub fn parse_cors_origins(raw: &str) -> Result<Vec<String>, ConfigError> {
    let origins: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_owned)
        .collect();
    if origins.iter().any(|o| o == "*") {
        if origins.len() > 1 {
            return Err(fail(
                "IMAP_GATEWAY_CORS_ORIGINS",
                "`*` allows every origin; give it alone",
            ));
        }
        return Ok(origins);
    }
    for origin in &origins {
        let authority = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        let valid = authority.is_some_and(|authority| {
            let (host, port) = match authority.strip_prefix('[') {
                // An IPv6 literal: `[::1]` or `[::1]:8080`.
                Some(v6) => match v6.split_once(']') {
                    Some((address, rest)) => (
                        address,
                        rest.strip_prefix(':').or(if rest.is_empty() {
                            None
                        } else {
                            Some("invalid")
                        }),
                    ),
                    None => ("", None),
                },
                None => match authority.split_once(':') {
                    Some((host, port)) => (host, Some(port)),
                    None => (authority, None),
                },
            };
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b))
                && port.is_none_or(|p| p.parse::<u16>().is_ok())
        });
        if !valid {
            return Err(fail(
                "IMAP_GATEWAY_CORS_ORIGINS",
                format!(
                    "{origin:?} is not an origin like https://mail.example.org or http://localhost:5173 (scheme, host and port only, no path or trailing slash)"
                ),
            ));
        }
    }
    Ok(origins)
}

fn positive(setting: &'static str, value: usize) -> Result<usize, ConfigError> {
    if value == 0 {
        return Err(fail(setting, "must be at least 1"));
    }
    Ok(value)
}

fn duration(setting: &'static str, raw: &str) -> Result<Duration, ConfigError> {
    let value = humantime::parse_duration(raw.trim()).map_err(|e| {
        fail(
            setting,
            format!("{raw:?} is not a duration like 30s, 5m or 1h ({e})"),
        )
    })?;
    if value.is_zero() {
        return Err(fail(setting, "must be greater than zero"));
    }
    Ok(value)
}

/// The smallest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

impl Cli {
    /// Validates the flags into a [`Config`].
    ///
    /// # Errors
    /// The first invalid setting.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let listen = self.listen.parse().map_err(|_| {
            fail(
                "IMAP_GATEWAY_LISTEN",
                format!("{:?} is not an address like 127.0.0.1:8080", self.listen),
            )
        })?;
        let imap_url: BackendUrl = self
            .imap_url
            .parse()
            .map_err(|e| fail("IMAP_GATEWAY_IMAP_URL", e))?;
        let smtp_url: Option<SmtpUrl> = self
            .smtp_url
            .as_deref()
            .filter(|url| !url.is_empty())
            .map(str::parse)
            .transpose()
            .map_err(|e| fail("IMAP_GATEWAY_SMTP_URL", e))?;
        if let Some(path) = &self.imap_ca_file {
            if !path.is_file() {
                return Err(fail(
                    "IMAP_GATEWAY_IMAP_CA_FILE",
                    format!("{} is not a readable file", path.display()),
                ));
            }
        }
        let (secret, secret_generated) = match (self.secret, self.secret_file) {
            (Some(secret), _) => (secret, false),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    fail("IMAP_GATEWAY_SECRET_FILE", format!("cannot read {}: {e}", path.display()))
                })?;
                (text.trim_end_matches(['\r', '\n']).to_owned(), false)
            }
            (None, None) if self.dev => (generate_secret(), true),
            (None, None) => {
                return Err(fail(
                    "IMAP_GATEWAY_SECRET",
                    "set IMAP_GATEWAY_SECRET or IMAP_GATEWAY_SECRET_FILE (at least 32 bytes), or pass --dev to generate a throw-away one",
                ))
            }
        };
        if secret.len() < MIN_SECRET_BYTES {
            return Err(fail(
                "IMAP_GATEWAY_SECRET",
                format!(
                    "must be at least {MIN_SECRET_BYTES} bytes long (got {})",
                    secret.len()
                ),
            ));
        }
        let token_ttl = duration("IMAP_GATEWAY_TOKEN_TTL", &self.token_ttl)?;
        if self.max_sessions_per_user == 0 {
            return Err(fail(
                "IMAP_GATEWAY_MAX_SESSIONS_PER_USER",
                "must be at least 1",
            ));
        }
        if self.max_sessions < self.max_sessions_per_user {
            return Err(fail(
                "IMAP_GATEWAY_MAX_SESSIONS",
                "must be at least IMAP_GATEWAY_MAX_SESSIONS_PER_USER",
            ));
        }
        let cors_origins = parse_cors_origins(&self.cors_origins)?;
        let metrics_token = self
            .metrics_token
            .filter(|token| !token.is_empty())
            .map(|token| {
                if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
                    Err(fail(
                        "IMAP_GATEWAY_METRICS_TOKEN",
                        "must be at least 16 visible ASCII characters",
                    ))
                } else {
                    Ok(SecretString::from(token))
                }
            })
            .transpose()?;
        if self.login_failures_per_user == 0 || self.login_failures_per_client == 0 {
            return Err(fail(
                "IMAP_GATEWAY_LOGIN_FAILURES_PER_USER",
                "login failure limits must be at least 1",
            ));
        }
        Ok(Config {
            listen,
            imap_url,
            imap_ca_file: self.imap_ca_file,
            smtp_url,
            smtp_timeout: duration("IMAP_GATEWAY_SMTP_TIMEOUT", &self.smtp_timeout)?,
            secret: SecretString::from(secret),
            secret_generated,
            token_ttl,
            max_sessions_per_user: self.max_sessions_per_user,
            max_sessions: self.max_sessions,
            cors_origins,
            metrics_token,
            auth_mechanisms: Mechanisms::parse(&self.auth_mechanisms)
                .map_err(|reason| fail("IMAP_GATEWAY_AUTH_MECHANISMS", reason))?,
            basic_auth: self.basic_auth,
            log_format: self.log_format,
            imap_connect_timeout: duration(
                "IMAP_GATEWAY_IMAP_CONNECT_TIMEOUT",
                &self.imap_connect_timeout,
            )?,
            imap_command_timeout: duration(
                "IMAP_GATEWAY_IMAP_COMMAND_TIMEOUT",
                &self.imap_command_timeout,
            )?,
            pool_wait: duration("IMAP_GATEWAY_POOL_WAIT", &self.pool_wait)?,
            pool_idle_ttl: duration("IMAP_GATEWAY_POOL_IDLE_TTL", &self.pool_idle_ttl)?,
            credential_recheck: duration(
                "IMAP_GATEWAY_CREDENTIAL_RECHECK",
                &self.credential_recheck,
            )?,
            request_timeout: duration("IMAP_GATEWAY_REQUEST_TIMEOUT", &self.request_timeout)?,
            max_concurrent_requests: positive(
                "IMAP_GATEWAY_MAX_CONCURRENT_REQUESTS",
                self.max_concurrent_requests,
            )?,
            shutdown_timeout: duration("IMAP_GATEWAY_SHUTDOWN_TIMEOUT", &self.shutdown_timeout)?,
            readiness_interval: duration(
                "IMAP_GATEWAY_READINESS_INTERVAL",
                &self.readiness_interval,
            )?,
            metrics: self.metrics,
            sse_keepalive: duration("IMAP_GATEWAY_SSE_KEEPALIVE", &self.sse_keepalive)?,
            sse_max_duration: duration("IMAP_GATEWAY_SSE_MAX_DURATION", &self.sse_max_duration)?,
            http_header_timeout: duration(
                "IMAP_GATEWAY_HTTP_HEADER_TIMEOUT",
                &self.http_header_timeout,
            )?,
            max_watchers_per_user: self.max_watchers_per_user,
            max_watchers: self.max_watchers,
            login_failures_per_user: self.login_failures_per_user,
            login_failures_per_client: self.login_failures_per_client,
            trusted_proxies: TrustedProxies::parse(&self.trusted_proxies)
                .map_err(|reason| fail("IMAP_GATEWAY_TRUSTED_PROXIES", reason))?,
            imap_forward_client_ip: self.imap_forward_client_ip,
        })
    }
}

impl Config {
    /// A configuration for tests and embedding: everything at its default except the
    /// backend and secret.
    pub fn new(imap_url: BackendUrl, secret: impl Into<String>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            imap_url,
            imap_ca_file: None,
            smtp_url: None,
            smtp_timeout: Duration::from_secs(60),
            secret: SecretString::from(secret.into()),
            secret_generated: false,
            token_ttl: Duration::from_secs(3600),
            max_sessions_per_user: 4,
            max_sessions: 1000,
            cors_origins: Vec::new(),
            auth_mechanisms: Mechanisms::default(),
            basic_auth: true,
            log_format: LogFormat::Pretty,
            imap_connect_timeout: Duration::from_secs(10),
            imap_command_timeout: Duration::from_secs(30),
            pool_wait: Duration::from_secs(5),
            pool_idle_ttl: Duration::from_secs(300),
            credential_recheck: Duration::from_secs(60),
            request_timeout: Duration::from_secs(120),
            max_concurrent_requests: 1024,
            shutdown_timeout: Duration::from_secs(30),
            readiness_interval: Duration::from_secs(5),
            metrics: true,
            metrics_token: None,
            sse_keepalive: Duration::from_secs(25),
            sse_max_duration: Duration::from_secs(24 * 3600),
            http_header_timeout: Duration::from_secs(30),
            max_watchers_per_user: 4,
            max_watchers: 500,
            login_failures_per_user: 5,
            login_failures_per_client: 20,
            trusted_proxies: TrustedProxies::default(),
            imap_forward_client_ip: false,
        }
    }

    /// True when the backend connection is unencrypted.
    pub fn is_plaintext_backend(&self) -> bool {
        self.imap_url.security == Security::Plain
    }
}

fn generate_secret() -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut bytes = [0u8; 48];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cors_origins_are_origins() {
        use super::parse_cors_origins;
        assert_eq!(parse_cors_origins("").unwrap(), Vec::<String>::new());
        assert_eq!(parse_cors_origins("*").unwrap(), ["*"]);
        assert_eq!(
            parse_cors_origins("https://mail.example.org, http://localhost:5173,http://[::1]:8080")
                .unwrap(),
            [
                "https://mail.example.org",
                "http://localhost:5173",
                "http://[::1]:8080"
            ]
        );
        for bad in [
            "https://mail.example.org/",
            "https://mail.example.org/inbox",
            "mail.example.org",
            "ftp://mail.example.org",
            "https://user@mail.example.org",
            "https://mail.example.org:99999",
            "https://mail.example.org?x=1",
            "*,https://a.example",
            "https://",
        ] {
            let err = parse_cors_origins(bad).unwrap_err();
            assert_eq!(err.setting, "IMAP_GATEWAY_CORS_ORIGINS", "{bad}");
        }
    }

    use super::*;

    fn cli(args: &[&str]) -> Cli {
        let mut full = vec!["imap-gateway"];
        full.extend_from_slice(args);
        Cli::try_parse_from(full).unwrap()
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults_need_only_a_secret() {
        let config = cli(&["--secret", SECRET]).into_config().unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.imap_url.security, Security::StartTls);
        assert_eq!(config.token_ttl, Duration::from_secs(3600));
        assert_eq!(config.max_sessions_per_user, 4);
        assert!(config.basic_auth);
    }

    #[test]
    fn each_bad_setting_is_named() {
        let cases: [(&[&str], &str); 8] = [
            (&[], "IMAP_GATEWAY_SECRET"),
            (&["--secret", "short"], "IMAP_GATEWAY_SECRET"),
            (
                &["--secret", SECRET, "--listen", "nope"],
                "IMAP_GATEWAY_LISTEN",
            ),
            (
                &["--secret", SECRET, "--imap-url", "http://x"],
                "IMAP_GATEWAY_IMAP_URL",
            ),
            (
                &["--secret", SECRET, "--token-ttl", "soon"],
                "IMAP_GATEWAY_TOKEN_TTL",
            ),
            (
                &["--secret", SECRET, "--auth-mechanisms", "password,kerberos"],
                "IMAP_GATEWAY_AUTH_MECHANISMS",
            ),
            (
                &["--secret", SECRET, "--max-sessions-per-user", "0"],
                "IMAP_GATEWAY_MAX_SESSIONS_PER_USER",
            ),
            (
                &["--secret", SECRET, "--max-sessions", "2"],
                "IMAP_GATEWAY_MAX_SESSIONS",
            ),
        ];
        for (args, setting) in cases {
            let err = cli(args).into_config().unwrap_err();
            assert_eq!(err.setting, setting, "{args:?}");
        }
    }

    #[test]
    fn dev_mode_generates_a_secret() {
        let config = cli(&["--dev"]).into_config().unwrap();
        assert!(config.secret_generated);
        assert!(secrecy::ExposeSecret::expose_secret(&config.secret).len() >= MIN_SECRET_BYTES);
    }
}
