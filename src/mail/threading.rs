//! The REFERENCES threading algorithm of RFC 5256, computed by the gateway for
//! servers that do not thread themselves: by Message-ID, References and In-Reply-To
//! (step 1-4), then by base subject (step 5), children ordered by sent date (step 6).
//! It gives the same threads as the servers' own `THREAD=REFERENCES` on the same data
//! (`tests/threads.rs` compares them), in the flat form of [`crate::imap::thread`].

use std::collections::HashMap;

use crate::imap::thread::{Thread, ThreadMember};

/// What threading needs to know of one message.
#[derive(Debug, Clone)]
pub struct ThreadInput {
    /// Its UID.
    pub uid: u32,
    /// Its Message-ID (without angle brackets).
    pub message_id: Option<String>,
    /// Its References, oldest first; its In-Reply-To when it has no References.
    pub references: Vec<String>,
    /// Its Subject, decoded.
    pub subject: String,
    /// Its sent date (the Date header, else INTERNALDATE), seconds since the epoch.
    pub date: i64,
}

#[derive(Debug, Default, Clone)]
struct Container {
    /// Index into the inputs.
    message: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

/// Threads `messages` (in arrival order) by RFC 5256 REFERENCES.
pub fn thread_references(messages: &[ThreadInput]) -> Vec<Thread> {
    let mut containers: Vec<Container> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut container_of = |id: &str, containers: &mut Vec<Container>| -> usize {
        *by_id.entry(id.to_owned()).or_insert_with(|| {
            containers.push(Container::default());
            containers.len() - 1
        })
    };
    // Step 1: link messages and their references.
    for (index, message) in messages.iter().enumerate() {
        let own = match &message.message_id {
            Some(id) => {
                let found = container_of(id, &mut containers);
                if containers[found].message.is_some() {
                    // A duplicate Message-ID: a message of its own.
                    containers.push(Container::default());
                    containers.len() - 1
                } else {
                    found
                }
            }
            None => {
                containers.push(Container::default());
                containers.len() - 1
            }
        };
        containers[own].message = Some(index);
        let refs: Vec<usize> = message
            .references
            .iter()
            .map(|id| container_of(id, &mut containers))
            .collect();
        for pair in refs.windows(2) {
            let (parent, child) = (pair[0], pair[1]);
            if containers[child].parent.is_none() && !reaches(&containers, child, parent) {
                link(&mut containers, parent, child);
            }
        }
        // The message's parent is its last reference (replacing any other).
        if let Some(old) = containers[own].parent.take() {
            containers[old].children.retain(|c| *c != own);
        }
        if let Some(&last) = refs.last() {
            if last != own && !reaches(&containers, own, last) {
                link(&mut containers, last, own);
            }
        }
    }
    // Step 2: the root set.
    let mut roots: Vec<usize> = (0..containers.len())
        .filter(|c| containers[*c].parent.is_none())
        .collect();
    // Step 3: prune dummies.
    roots = prune(&mut containers, &roots, true);
    // Step 6 first for the children, so a dummy's date is its first child's.
    for root in &roots {
        sort_children(&mut containers, messages, *root);
    }
    // Step 4: the root set by date.
    roots.sort_by_key(|root| date_of(&containers, messages, *root));
    // Step 5: group by base subject.
    roots = group_by_subject(&mut containers, messages, roots);
    for root in &roots {
        sort_children(&mut containers, messages, *root);
    }
    roots.sort_by_key(|root| date_of(&containers, messages, *root));
    roots
        .iter()
        .map(|root| flatten(&containers, messages, *root))
        .filter(|thread| !thread.is_empty())
        .collect()
}

fn link(containers: &mut [Container], parent: usize, child: usize) {
    containers[child].parent = Some(parent);
    containers[parent].children.push(child);
}

/// True when `to` is `from` or one of its descendants (a link would close a loop).
fn reaches(containers: &[Container], from: usize, to: usize) -> bool {
    let mut stack = vec![from];
    while let Some(at) = stack.pop() {
        if at == to {
            return true;
        }
        stack.extend(containers[at].children.iter().copied());
    }
    false
}

/// RFC 5256 step 3 over `level`: dummies without children go; a dummy's children
/// take its place, except at the root when there is more than one.
fn prune(containers: &mut Vec<Container>, level: &[usize], at_root: bool) -> Vec<usize> {
    let mut kept = Vec::new();
    for &container in level {
        let children = containers[container].children.clone();
        let pruned = prune(containers, &children, false);
        containers[container].children.clone_from(&pruned);
        for child in &pruned {
            containers[*child].parent = Some(container);
        }
        if containers[container].message.is_some() {
            kept.push(container);
        } else if pruned.is_empty() {
            continue;
        } else if at_root && pruned.len() > 1 {
            kept.push(container);
        } else {
            let parent = containers[container].parent;
            for child in &pruned {
                containers[*child].parent = parent;
            }
            kept.extend(pruned);
        }
    }
    kept
}

/// The sent date of a container: its message's, or its first child's.
fn date_of(containers: &[Container], messages: &[ThreadInput], container: usize) -> (i64, u32) {
    match containers[container].message {
        Some(index) => (messages[index].date, messages[index].uid),
        None => containers[container]
            .children
            .first()
            .map_or((i64::MIN, 0), |child| date_of(containers, messages, *child)),
    }
}

fn sort_children(containers: &mut [Container], messages: &[ThreadInput], container: usize) {
    let mut stack = vec![container];
    while let Some(at) = stack.pop() {
        let mut children = std::mem::take(&mut containers[at].children);
        for child in &children {
            stack.push(*child);
        }
        // Children's own children are sorted when popped; a dummy has no children
        // below the root, so one pass by date is enough here.
        children.sort_by_key(|child| date_of(containers, messages, *child));
        containers[at].children = children;
    }
}

/// RFC 5256 step 5: threads whose first messages share a base subject are merged.
fn group_by_subject(
    containers: &mut Vec<Container>,
    messages: &[ThreadInput],
    roots: Vec<usize>,
) -> Vec<usize> {
    let subject_of = |containers: &[Container], root: usize| -> Option<(String, bool)> {
        let index = match containers[root].message {
            Some(index) => index,
            None => containers[*containers[root].children.first()?].message?,
        };
        let (base, reply) = base_subject(&messages[index].subject);
        (!base.is_empty()).then_some((base, reply))
    };
    let is_reply = |containers: &[Container], root: usize| -> bool {
        containers[root]
            .message
            .is_some_and(|index| base_subject(&messages[index].subject).1)
    };
    let mut table: HashMap<String, usize> = HashMap::new();
    for &root in &roots {
        let Some((subject, _)) = subject_of(containers, root) else {
            continue;
        };
        match table.get(&subject) {
            None => {
                table.insert(subject, root);
            }
            Some(&existing) => {
                let this_dummy = containers[root].message.is_none();
                let existing_dummy = containers[existing].message.is_none();
                if (this_dummy && !existing_dummy)
                    || (!existing_dummy
                        && is_reply(containers, existing)
                        && !is_reply(containers, root))
                {
                    table.insert(subject, root);
                }
            }
        }
    }
    let mut result: Vec<usize> = Vec::new();
    let mut replaced: HashMap<usize, usize> = HashMap::new();
    for &root in &roots {
        let Some((subject, _)) = subject_of(containers, root) else {
            result.push(root);
            continue;
        };
        let entry = table[&subject];
        let entry = *replaced.get(&entry).unwrap_or(&entry);
        if entry == root {
            result.push(root);
            continue;
        }
        let this_dummy = containers[root].message.is_none();
        let entry_dummy = containers[entry].message.is_none();
        if this_dummy && entry_dummy {
            let children = std::mem::take(&mut containers[root].children);
            for child in children {
                link(containers, entry, child);
            }
        } else if entry_dummy {
            link(containers, entry, root);
        } else if this_dummy {
            // The entry goes under this dummy, which takes its place.
            result.retain(|r| *r != entry);
            link(containers, root, entry);
            replaced.insert(table[&subject], root);
            result.push(root);
        } else if !is_reply(containers, entry) && is_reply(containers, root) {
            link(containers, entry, root);
        } else {
            // Both first messages, or both replies: siblings under a new dummy.
            containers.push(Container::default());
            let dummy = containers.len() - 1;
            result.retain(|r| *r != entry);
            link(containers, dummy, entry);
            link(containers, dummy, root);
            replaced.insert(table[&subject], dummy);
            result.push(dummy);
        }
    }
    result
}

/// The messages of the thread under `root`, parents before children.
fn flatten(containers: &[Container], messages: &[ThreadInput], root: usize) -> Thread {
    let mut thread = Vec::new();
    let mut stack = vec![(root, None::<u32>, 0u32)];
    while let Some((at, parent, depth)) = stack.pop() {
        let (own_parent, own_depth) = match containers[at].message {
            Some(index) => {
                let uid = messages[index].uid;
                thread.push(ThreadMember { uid, parent, depth });
                (Some(uid), depth + 1)
            }
            None => (parent, depth),
        };
        for child in containers[at].children.iter().rev() {
            stack.push((*child, own_parent, own_depth));
        }
    }
    thread
}

/// RFC 5256 section 2.1: the base subject (lower-cased for comparison), and whether a
/// reply or forward marker was removed.
pub fn base_subject(subject: &str) -> (String, bool) {
    let mut text: String = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut reply = false;
    loop {
        // (2) trailing "(fwd)".
        loop {
            let trimmed = text.trim_end();
            let lower = trimmed.to_lowercase();
            if lower.ends_with("(fwd)") {
                text = trimmed[..trimmed.len() - 5].trim_end().to_owned();
                reply = true;
            } else {
                text = trimmed.to_owned();
                break;
            }
        }
        // (3)-(5) leaders: blobs, "re:", "fw:", "fwd:".
        loop {
            let before = text.clone();
            let (rest, removed_reply) = strip_leader(&text);
            reply |= removed_reply;
            text = rest;
            // (4) a leading blob, when something remains after it.
            if let Some(after) = strip_blob(&text) {
                if !after.is_empty() {
                    text = after;
                }
            }
            if text == before {
                break;
            }
        }
        // (6) "[fwd: … ]".
        let lower = text.to_lowercase();
        if lower.starts_with("[fwd:") && lower.ends_with(']') {
            text = text[5..text.len() - 1].trim().to_owned();
            reply = true;
            continue;
        }
        break;
    }
    (text.to_lowercase(), reply)
}

/// `[blob] ` at the start: the text after it.
fn strip_blob(text: &str) -> Option<String> {
    let rest = text.strip_prefix('[')?;
    let close = rest.find(']')?;
    if rest[..close].contains('[') {
        return None;
    }
    Some(rest[close + 1..].trim_start().to_owned())
}

/// One `*blob ("re" / "fw" / "fwd") *WSP [blob] ":"` or leading whitespace.
fn strip_leader(text: &str) -> (String, bool) {
    let trimmed = text.trim_start();
    if trimmed.len() != text.len() {
        return (trimmed.to_owned(), false);
    }
    let mut rest = text.to_owned();
    while let Some(after) = strip_blob(&rest) {
        rest = after;
    }
    let lower = rest.to_lowercase();
    let word = ["fwd", "fw", "re"]
        .into_iter()
        .find(|w| lower.starts_with(w));
    let Some(word) = word else {
        return (text.to_owned(), false);
    };
    let mut after = rest[word.len()..].trim_start().to_owned();
    if let Some(blobless) = strip_blob(&after) {
        after = blobless;
    }
    match after.strip_prefix(':') {
        Some(subject) => (subject.to_owned(), true),
        None => (text.to_owned(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(uid: u32, id: &str, refs: &[&str], subject: &str, date: i64) -> ThreadInput {
        ThreadInput {
            uid,
            message_id: Some(id.to_owned()),
            references: refs.iter().map(|r| (*r).to_owned()).collect(),
            subject: subject.to_owned(),
            date,
        }
    }

    fn shape(threads: &[Thread]) -> String {
        crate::imap::thread::describe(threads, false)
    }

    #[test]
    fn base_subjects() {
        for (subject, base, reply) in [
            ("Plans", "plans", false),
            ("Re: Plans", "plans", true),
            ("RE:  re: Plans", "plans", true),
            ("Fwd: Lunch", "lunch", true),
            ("[list] Re: [other] Plans", "plans", true),
            ("Plans (fwd)", "plans", true),
            ("[Fwd: Plans]", "plans", true),
            ("Re[2]: Plans", "plans", true),
            ("[list]", "[list]", false),
            ("Regarding plans", "regarding plans", false),
        ] {
            assert_eq!(base_subject(subject), (base.to_owned(), reply), "{subject}");
        }
    }

    #[test]
    fn the_servers_answer_on_the_known_messages() {
        // The seven messages of `imap::thread`'s known answers, where Dovecot, Cyrus
        // and Courier answer `(1 (2 4)(5))(3 7)(6)`.
        let messages = [
            input(1, "a", &[], "Plans", 100),
            input(2, "b", &["a"], "Re: Plans", 200),
            input(3, "c", &[], "Lunch", 300),
            input(4, "d", &["a", "b"], "Re: Plans", 400),
            input(5, "e", &["a"], "Re: Plans", 500),
            input(6, "f", &["zz"], "Re: Lost", 600),
            input(7, "g", &[], "Fwd: Lunch", 700),
        ];
        assert_eq!(
            shape(&thread_references(&messages)),
            "1:- 2:1 4:2 5:1 | 3:- 7:3 | 6:-"
        );
    }

    #[test]
    fn missing_parents_duplicates_and_loops() {
        let messages = [
            // Two replies to a message that is not there: one thread under a dummy.
            input(1, "x", &["gone"], "Re: Gone", 100),
            input(2, "y", &["gone"], "Re: Gone", 200),
            // A duplicate Message-ID is a message of its own.
            input(3, "x", &[], "Other", 300),
            // References that loop back are ignored.
            input(4, "p", &["q"], "Loop", 400),
            input(5, "q", &["p"], "Loop", 500),
        ];
        let threads = thread_references(&messages);
        let text = shape(&threads);
        assert!(text.starts_with("1:- 2:-"), "{text}");
        assert!(text.contains("3:-"), "{text}");
        let all: usize = threads.iter().map(Vec::len).sum();
        assert_eq!(all, 5, "every message once: {text}");
    }
}
