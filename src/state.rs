//! [`AppState`]: what every handler shares — configuration, token service, login
//! throttle and the IMAP session pools.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::{AuthMethod, AuthUser, LoginThrottle, TokenService};
use crate::config::Config;
use crate::error::ApiError;
use crate::imap::mailbox_locks::MailboxLocks;
use crate::imap::{
    Backend, Credential, ImapError, PoolSettings, PooledSession, SessionPools, Timeouts, Watchers,
};
use crate::mail::idempotency::SendLedger;
use crate::mail::readiness::Readiness;
use crate::mail::{Op, TokenCodec};
use crate::smtp::SmtpBackend;

/// Shared application state (cheap to clone).
#[derive(Clone, Debug)]
pub struct AppState(Arc<App>);

/// The application behind [`AppState`].
#[derive(Debug)]
pub struct App {
    /// Validated configuration.
    pub config: Config,
    /// Issues and verifies tokens.
    pub tokens: TokenService,
    /// Failed-login throttle.
    pub throttle: LoginThrottle,
    /// Per-identity IMAP session pools.
    pub pools: SessionPools,
    /// The SMTP submission server, when sending is configured.
    pub smtp: Option<SmtpBackend>,
    /// Message-IDs of idempotent sends, and the sends running on this instance.
    pub send_ledger: SendLedger,
    /// Issues and checks list cursors and mailbox state tokens.
    pub tokens_codec: TokenCodec,
    /// IDLE watchers behind the event streams.
    pub watchers: Watchers,
    /// Serialises moves and deletions per (account, mailbox).
    pub removal_locks: MailboxLocks,
    /// The last readiness probe, shared by every `/readyz` call for its interval.
    pub readiness: Readiness,
    /// Flips to true when the gateway shuts down, so endless responses (event
    /// streams) end and graceful shutdown can finish.
    pub shutting_down: tokio::sync::watch::Sender<bool>,
}

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

impl AppState {
    /// Builds the state from a validated configuration. Must run inside a Tokio runtime
    /// (it starts the idle-pool evictor).
    ///
    /// # Errors
    /// The CA file cannot be loaded.
    pub fn build(config: Config) -> anyhow::Result<Self> {
        // Install the metrics recorder before anything records.
        crate::telemetry::metrics();
        let timeouts = Timeouts {
            connect: config.imap_connect_timeout,
            command: config.imap_command_timeout,
        };
        let backend = Backend::new(
            config.imap_url.clone(),
            config.imap_ca_file.as_deref(),
            timeouts,
        )?;
        let backend = Arc::new(
            backend
                .forwarding_client_ip(config.imap_forward_client_ip)
                .with_mechanisms(config.auth_mechanisms),
        );
        // Re-IDLE every 25 minutes: below the 29 after which RFC 2177 lets servers drop it.
        let watchers = Watchers::new(
            backend.clone(),
            config.max_watchers_per_user,
            config.max_watchers,
            Duration::from_secs(25 * 60),
        );
        let pools = SessionPools::new(
            backend,
            PoolSettings {
                per_identity: config.max_sessions_per_user,
                global: config.max_sessions,
                wait: config.pool_wait,
                idle_ttl: config.pool_idle_ttl,
                check_after: Duration::from_secs(5),
                create: config.imap_connect_timeout + config.imap_command_timeout,
                recheck: config.credential_recheck,
            },
        );
        // Every 5 s at most: sessions of an expired access token close soon after.
        pools.spawn_evictor(Duration::from_secs(5).min(config.pool_idle_ttl));
        let tokens = TokenService::new(&config.secret, config.imap_url.to_string());
        let throttle = LoginThrottle::new(
            config.login_failures_per_user,
            config.login_failures_per_client,
        );
        let tokens_codec = TokenCodec::new(&config.secret);
        let send_ledger = SendLedger::new(crate::auth::token::derive_key(
            &config.secret,
            b"idempotent message ids",
        ));
        let smtp = config
            .smtp_url
            .clone()
            .map(|url| {
                SmtpBackend::new(url, config.imap_ca_file.as_deref(), config.smtp_timeout)
                    .map(|smtp| smtp.with_mechanisms(config.auth_mechanisms))
            })
            .transpose()?;
        let readiness = Readiness::new(config.readiness_interval);
        Ok(Self(Arc::new(App {
            config,
            tokens,
            throttle,
            pools,
            smtp,
            send_ledger,
            tokens_codec,
            watchers,
            removal_locks: MailboxLocks::default(),
            readiness,
            shutting_down: tokio::sync::watch::Sender::new(false),
        })))
    }
}

impl App {
    /// Checks out an IMAP session for the caller, logging in if needed.
    ///
    /// Sign-ins with credentials on the request (Basic, the token endpoint) are
    /// throttled: refused with 429 while the user name or client address has too many
    /// recent failures, and counted when the server rejects them. An OAuth2 access
    /// token counts against the client address only: it cannot be guessed, and a
    /// stranger's bad tokens must not lock the user name out.
    ///
    /// # Errors
    /// 429; 401 for a rejected password (`unauthorized`) or access token
    /// (`oauth2-token-rejected`); 502/503/504 for backend trouble.
    pub async fn session(&self, user: &AuthUser) -> Result<PooledSession, ApiError> {
        self.checkout(user, None).await
    }

    /// Like [`Self::session`], but the credential is proven by a login sent now,
    /// never by a warm pool (the token endpoint: a token is issued only on the IMAP
    /// server's word).
    ///
    /// # Errors
    /// As [`Self::session`].
    pub async fn proven_session(&self, user: &AuthUser) -> Result<PooledSession, ApiError> {
        self.checkout(user, Some(std::time::Instant::now())).await
    }

    async fn checkout(
        &self,
        user: &AuthUser,
        proven_since: Option<std::time::Instant>,
    ) -> Result<PooledSession, ApiError> {
        let username = user.identity.username().as_str();
        let oauth2 = matches!(user.identity.credential(), Credential::OAuth2 { .. });
        let throttled = user.method == AuthMethod::Password;
        if throttled {
            let allowed = if oauth2 {
                self.throttle.check_client(user.client)
            } else {
                self.throttle.check(username, user.client)
            };
            if let Err(wait) = allowed {
                return Err(ApiError::TooManyRequests {
                    detail: "too many failed logins; try again later".to_owned(),
                    retry_after: wait,
                });
            }
        }
        // A session opened for this request carries the client's address in its IMAP
        // ID when forwarding is configured.
        let checkout = async {
            match proven_since {
                Some(since) => self.pools.get_proven_since(&user.identity, since).await,
                None => self.pools.get(&user.identity).await,
            }
        };
        match crate::imap::connect::on_behalf_of(user.client, checkout).await {
            Ok(session) => {
                if throttled && !oauth2 {
                    self.throttle.record_success(username);
                }
                Ok(session)
            }
            Err(err) if err.is_auth_failure() => {
                if throttled && oauth2 {
                    self.throttle.record_client_failure(user.client);
                } else if throttled {
                    self.throttle.record_failure(username, user.client);
                }
                tracing::info!(
                    user = username,
                    credential = user.identity.credential().kind(),
                    "IMAP login rejected"
                );
                match err {
                    ImapError::TokenRejected { .. } => Err(ApiError::imap(Op::Login, err)),
                    _ => Err(ApiError::Unauthorized {
                        detail: "the IMAP server rejected the credentials".to_owned(),
                        bearer_error: (user.method == AuthMethod::Bearer)
                            .then_some("invalid_token"),
                    }),
                }
            }
            Err(err) => Err(ApiError::imap(Op::Login, err)),
        }
    }
}
