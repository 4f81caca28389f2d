//! UIDs and UID sets (RFC 3501 section 2.3.1.1, `sequence-set` of UIDs).
//!
//! The API exposes UIDs (with the mailbox's UIDVALIDITY), never sequence numbers:
//! EXPUNGE renumbers sequence numbers under a client's feet.

use std::fmt;
use std::num::NonZeroU32;

use super::types::ValidationError;

/// Most UIDs one bulk request may name.
pub const MAX_BULK_UIDS: usize = 1000;

/// A message UID: a non-zero 32-bit number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uid(NonZeroU32);

impl Uid {
    /// The number.
    pub fn get(self) -> u32 {
        self.0.get()
    }
}

impl TryFrom<u32> for Uid {
    type Error = ValidationError;

    fn try_from(value: u32) -> Result<Self, ValidationError> {
        NonZeroU32::new(value)
            .map(Self)
            .ok_or_else(|| ValidationError::new("uid", "UIDs start at 1"))
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A non-empty set of UIDs as sorted, merged, inclusive ranges (`1:5,7,9:12`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidSet(Vec<(u32, u32)>);

impl UidSet {
    /// The set of the given UIDs.
    ///
    /// # Errors
    /// An empty list.
    pub fn from_uids(uids: impl IntoIterator<Item = Uid>) -> Result<Self, ValidationError> {
        let mut sorted: Vec<u32> = uids.into_iter().map(Uid::get).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for uid in sorted {
            match ranges.last_mut() {
                Some((_, end)) if *end + 1 == uid => *end = uid,
                _ => ranges.push((uid, uid)),
            }
        }
        if ranges.is_empty() {
            return Err(ValidationError::new("uids", "at least one UID is required"));
        }
        Ok(Self(ranges))
    }

    /// One UID.
    pub fn single(uid: Uid) -> Self {
        Self(vec![(uid.get(), uid.get())])
    }

    /// The inclusive range `first:last` (`first <= last`, both non-zero).
    ///
    /// # Errors
    /// A zero bound or `first > last`.
    pub fn range(first: u32, last: u32) -> Result<Self, ValidationError> {
        if first == 0 || first > last {
            return Err(ValidationError::new(
                "uid",
                "a range is first:last with 1 <= first <= last",
            ));
        }
        Ok(Self(vec![(first, last)]))
    }

    /// Parses the query syntax `4`, `1:10`, `3,5,9:12` (no `*`), at most
    /// [`MAX_BULK_UIDS`] comma-separated items.
    ///
    /// # Errors
    /// Anything else.
    pub fn parse(field: &'static str, text: &str) -> Result<Self, ValidationError> {
        let bad = || ValidationError::new(field, "expected UIDs like 7, 1:50 or 3,5,9:12");
        let items: Vec<&str> = text.split(',').collect();
        if items.len() > MAX_BULK_UIDS {
            return Err(ValidationError::new(
                field,
                format!("at most {MAX_BULK_UIDS} items"),
            ));
        }
        let mut ranges = Vec::new();
        for item in items {
            let (first, last) = item.split_once(':').unwrap_or((item, item));
            let first: u32 = first.trim().parse().map_err(|_| bad())?;
            let last: u32 = last.trim().parse().map_err(|_| bad())?;
            let (first, last) = (first.min(last), first.max(last));
            if first == 0 {
                return Err(bad());
            }
            ranges.push((first, last));
        }
        Ok(Self(merged(ranges)))
    }

    /// Parses a sequence set the server sent (ESEARCH `ALL 1:5,9`), however many
    /// items it has; `None` when it is not one.
    pub fn parse_from_server(text: &str) -> Option<Self> {
        let mut ranges = Vec::new();
        for item in text.split(',') {
            let (first, last) = item.split_once(':').unwrap_or((item, item));
            let first: u32 = first.parse().ok()?;
            let last: u32 = last.parse().ok()?;
            let (first, last) = (first.min(last), first.max(last));
            if first == 0 {
                return None;
            }
            ranges.push((first, last));
        }
        Some(Self(merged(ranges)))
    }

    /// Every UID of either set.
    #[must_use]
    pub fn union(&self, other: &Self) -> Self {
        Self(merged(self.0.iter().chain(&other.0).copied().collect()))
    }

    /// True when `uid` is in the set.
    pub fn contains(&self, uid: u32) -> bool {
        self.0
            .iter()
            .any(|(first, last)| (*first..=*last).contains(&uid))
    }

    /// The ranges.
    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.0
    }

    /// Every UID in the set, ascending (`.rev()` for descending).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = u32> + '_ {
        self.0.iter().flat_map(|(first, last)| *first..=*last)
    }

    /// How many UIDs the set holds.
    pub fn len(&self) -> usize {
        self.0
            .iter()
            .map(|(first, last)| (last - first) as usize + 1)
            .sum()
    }

    /// Always false: a set holds at least one UID (clippy asks for the method).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `count` highest UIDs (at least one).
    pub fn newest(&self, count: usize) -> Self {
        let mut left = count.max(1);
        let mut ranges = Vec::new();
        for &(first, last) in self.0.iter().rev() {
            let size = (last - first) as usize + 1;
            if size >= left {
                ranges.push((last - (left as u32 - 1), last));
                break;
            }
            ranges.push((first, last));
            left -= size;
        }
        ranges.reverse();
        Self(ranges)
    }

    /// The `count` lowest UIDs (at least one).
    pub fn oldest(&self, count: usize) -> Self {
        let mut left = count.max(1);
        let mut ranges = Vec::new();
        for &(first, last) in &self.0 {
            let size = (last - first) as usize + 1;
            if size >= left {
                ranges.push((first, first + (left as u32 - 1)));
                break;
            }
            ranges.push((first, last));
            left -= size;
        }
        Self(ranges)
    }

    /// The UIDs below `anchor`, if any.
    pub fn below(&self, anchor: u32) -> Option<Self> {
        let ranges: Vec<(u32, u32)> = self
            .0
            .iter()
            .filter(|(first, _)| *first < anchor)
            .map(|&(first, last)| (first, last.min(anchor - 1)))
            .collect();
        (!ranges.is_empty()).then_some(Self(ranges))
    }

    /// The UIDs at or above `floor`, if any.
    pub fn at_or_above(&self, floor: u32) -> Option<Self> {
        let ranges: Vec<(u32, u32)> = self
            .0
            .iter()
            .filter(|(_, last)| *last >= floor)
            .map(|&(first, last)| (first.max(floor), last))
            .collect();
        (!ranges.is_empty()).then_some(Self(ranges))
    }

    /// The lowest UID.
    pub fn first(&self) -> u32 {
        self.0.first().map_or(0, |(first, _)| *first)
    }

    /// The highest UID.
    pub fn last(&self) -> u32 {
        self.0.last().map_or(0, |(_, last)| *last)
    }
}

/// `ranges` sorted, with overlapping and adjacent ones joined.
fn merged(mut ranges: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    ranges.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::new();
    for (first, last) in ranges {
        match merged.last_mut() {
            Some((_, end)) if first <= end.saturating_add(1) => *end = (*end).max(last),
            _ => merged.push((first, last)),
        }
    }
    merged
}

impl fmt::Display for UidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (first, last)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if first == last {
                write!(f, "{first}")?;
            } else {
                write!(f, "{first}:{last}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uid(n: u32) -> Uid {
        Uid::try_from(n).unwrap()
    }

    #[test]
    fn sets_merge_and_render() {
        let set =
            UidSet::from_uids([uid(9), uid(3), uid(4), uid(5), uid(12), uid(10), uid(4)]).unwrap();
        assert_eq!(set.to_string(), "3:5,9:10,12");
        assert!(set.contains(4) && !set.contains(6));
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![3, 4, 5, 9, 10, 12]);
        assert_eq!(
            UidSet::parse("uid", "5, 1:3,4,10:8").unwrap().to_string(),
            "1:5,8:10"
        );
        assert_eq!(UidSet::single(uid(7)).to_string(), "7");
        assert_eq!(UidSet::range(2, 9).unwrap().to_string(), "2:9");
    }

    #[test]
    fn slices() {
        let set = UidSet::parse("uid", "1:3,7,9:12").unwrap();
        assert_eq!(set.len(), 8);
        assert_eq!(set.last(), 12);
        assert_eq!(set.newest(1).to_string(), "12");
        assert_eq!(set.newest(5).to_string(), "7,9:12");
        assert_eq!(set.newest(6).to_string(), "3,7,9:12");
        assert_eq!(set.newest(100), set);
        assert_eq!(set.oldest(2).to_string(), "1:2");
        assert_eq!(set.oldest(4).to_string(), "1:3,7");
        assert_eq!(set.oldest(100), set);
        assert_eq!(set.below(10).unwrap().to_string(), "1:3,7,9");
        assert_eq!(set.below(7).unwrap().to_string(), "1:3");
        assert_eq!(set.below(1), None);
        assert_eq!(set.at_or_above(8).unwrap().to_string(), "9:12");
        assert_eq!(set.at_or_above(2).unwrap().to_string(), "2:3,7,9:12");
        assert_eq!(set.at_or_above(13), None);
        assert_eq!(
            set.iter().rev().take(3).collect::<Vec<_>>(),
            vec![12, 11, 10]
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert!(Uid::try_from(0).is_err());
        assert!(UidSet::from_uids([]).is_err());
        for bad in [
            "",
            "0",
            "a",
            "1:*",
            "*",
            "1 2",
            "1:2:3",
            "-1",
            "4294967296",
            "1\r\nA DELETE",
        ] {
            assert!(UidSet::parse("uid", bad).is_err(), "{bad:?}");
        }
        let many = (1..=1001)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(",");
        assert!(UidSet::parse("uid", &many).is_err());
    }
}
