//! What a tagged OK carried that callers act on: APPENDUID and COPYUID (UIDPLUS,
//! RFC 4315) and MODIFIED (CONDSTORE, RFC 7162).

use async_imap::imap_proto::rfc4315::UidSetMember;
use async_imap::imap_proto::ResponseCode;

use super::uid::{UidSet, MAX_BULK_UIDS};

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

/// The most UIDs read from one APPENDUID or COPYUID: a command the gateway sends
/// names at most [`MAX_BULK_UIDS`] messages, so an honest answer never reaches it,
/// and a server claiming `1:4294967295` costs a bounded amount of memory (expanded
/// in full it would be 16 GiB).
const MAX_REPORTED_UIDS: usize = 2 * MAX_BULK_UIDS;

/// The UIDs of a UIDPLUS set in the server's order, at most [`MAX_REPORTED_UIDS`].
/// A server's range may be reversed (`5:3` means 3, 4, 5).
fn expand(members: &[UidSetMember]) -> Vec<u32> {
    members
        .iter()
        .flat_map(|member| match member {
            UidSetMember::UidRange(range) => {
                let (a, b) = (*range.start(), *range.end());
                a.min(b)..=a.max(b)
            }
            UidSetMember::Uid(uid) => *uid..=*uid,
        })
        .take(MAX_REPORTED_UIDS)
        .collect()
}

impl Completion {
    pub(crate) fn from_outcome(code: Option<&ResponseCode<'_>>, text: Option<&str>) -> Self {
        let mut completion = Self::default();
        match code {
            Some(ResponseCode::AppendUid(validity, uids)) => {
                completion.append_uid = expand(&uids[..uids.len().min(1)])
                    .first()
                    .map(|uid| (*validity, *uid));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claimed_range_of_every_uid_is_read_only_as_far_as_any_answer_goes() {
        let every = || vec![UidSetMember::UidRange(1..=u32::MAX)];
        let code = ResponseCode::CopyUid(7, every(), every());
        let (validity, pairs) = Completion::from_outcome(Some(&code), None)
            .copy_uid
            .expect("COPYUID is read");
        assert_eq!(validity, 7);
        assert_eq!(pairs.len(), MAX_REPORTED_UIDS);
        assert_eq!(pairs[..2], [(1, 1), (2, 2)]);

        let code = ResponseCode::AppendUid(7, every());
        let completion = Completion::from_outcome(Some(&code), None);
        assert_eq!(completion.append_uid, Some((7, 1)));
    }

    #[test]
    // A server's text: `5:3` parses as the range 5..=3 (RFC 4315: either order).
    #[allow(clippy::reversed_empty_ranges)]
    fn a_reversed_range_pairs_in_ascending_order() {
        let code = ResponseCode::CopyUid(
            9,
            vec![UidSetMember::UidRange(5..=3)],
            vec![UidSetMember::UidRange(10..=12)],
        );
        let pairs = Completion::from_outcome(Some(&code), None).copy_uid;
        assert_eq!(pairs, Some((9, vec![(3, 10), (4, 11), (5, 12)])));
    }
}
