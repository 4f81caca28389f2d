//! The messages a bulk operation acts on: explicit UIDs or a filter, resolved to the
//! UIDs that exist in the selected mailbox (at most [`MAX_BULK_UIDS`]).

use super::error::{ImapResultExt as _, MailError, Op};
use crate::imap::search::SearchKey;
use crate::imap::uid::MAX_BULK_UIDS;
use crate::imap::{ImapSession, Uid, UidSet};
use crate::model::message::MessageFilter;

/// Validated targets of a bulk request.
#[derive(Debug, Clone)]
pub struct Targets(Vec<SearchKey>);

impl Targets {
    /// Exactly one of `uids` (1 to [`MAX_BULK_UIDS`]) or `filter`.
    ///
    /// # Errors
    /// 400 for a UID 0 or a malformed filter; 422 for both or neither, or too many
    /// UIDs.
    pub fn parse(uids: Option<&[u32]>, filter: Option<&MessageFilter>) -> Result<Self, MailError> {
        match (uids, filter) {
            (Some(uids), None) => {
                if uids.is_empty() || uids.len() > MAX_BULK_UIDS {
                    return Err(MailError::unacceptable(
                        "uids",
                        format!("give 1 to {MAX_BULK_UIDS} UIDs"),
                    ));
                }
                let uids = uids
                    .iter()
                    .map(|uid| Uid::try_from(*uid))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Self(vec![SearchKey::Uid(UidSet::from_uids(uids)?)]))
            }
            (None, Some(filter)) => Ok(Self(filter.keys()?)),
            _ => Err(MailError::unacceptable(
                "body",
                "give either `uids` or `filter`",
            )),
        }
    }

    /// The targets that exist in the selected mailbox, `None` when none does: the
    /// answer then says exactly what was acted on.
    ///
    /// # Errors
    /// 422 when a filter matches more than [`MAX_BULK_UIDS`]; IMAP failures.
    pub(crate) async fn resolve(
        &self,
        session: &mut ImapSession,
    ) -> Result<Option<UidSet>, MailError> {
        let found = session.search(&self.0).await.during(Op::Search)?;
        let count = found.as_ref().map_or(0, UidSet::len);
        if count > MAX_BULK_UIDS {
            return Err(MailError::unacceptable(
                "filter",
                format!("matches {count} messages; a bulk operation takes at most {MAX_BULK_UIDS}"),
            ));
        }
        Ok(found)
    }
}
