//! What a tagged OK carried that callers act on: APPENDUID and COPYUID (UIDPLUS,
//! RFC 4315) and MODIFIED (CONDSTORE, RFC 7162).

use async_imap::imap_proto::rfc4315::UidSetMember;
use async_imap::imap_proto::ResponseCode;

use super::uid::UidSet;

/// What a tagged OK carried that callers act on.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Completion {
    /// `[APPENDUID uidvalidity uid]` (UIDPLUS).
    pub append_uid: Option<(u32, u32)>,
    /// `[COPYUID uidvalidity source-uids destination-uids]` (UIDPLUS), paired up.
    pub copy_uid: Option<(u32, Vec<(u32, u32)>)>,
    /// `[MODIFIED set]` (CONDSTORE): UIDs a conditional STORE left alone. imap-proto
    /// does not parse this code, so it is read from the text.
    pub modified: Option<UidSet>,
    /// `[HIGHESTMODSEQ n]` (CONDSTORE): the selected mailbox's mod-sequence as of this
    /// answer, which servers send after reporting expunges.
    pub highest_modseq: Option<u64>,
}

fn expand(members: &[UidSetMember]) -> Vec<u32> {
    members
        .iter()
        .flat_map(|member| match member {
            UidSetMember::UidRange(range) => range.clone().collect::<Vec<u32>>(),
            UidSetMember::Uid(uid) => vec![*uid],
        })
        .collect()
}

impl Completion {
    pub(crate) fn from_outcome(code: Option<&ResponseCode<'_>>, text: Option<&str>) -> Self {
        let mut completion = Self::default();
        match code {
            Some(ResponseCode::AppendUid(validity, uids)) => {
                completion.append_uid = expand(uids).first().map(|uid| (*validity, *uid));
            }
            Some(ResponseCode::CopyUid(validity, from, to)) => {
                let pairs = expand(from).into_iter().zip(expand(to)).collect();
                completion.copy_uid = Some((*validity, pairs));
            }
            Some(ResponseCode::HighestModSeq(modseq)) => completion.highest_modseq = Some(*modseq),
            _ => {}
        }
        if let Some((set, _)) = text
            .and_then(|t| t.trim_start().strip_prefix("[MODIFIED "))
            .and_then(|t| t.split_once(']'))
        {
            completion.modified = UidSet::parse("modified", set).ok();
        }
        completion
    }
}
