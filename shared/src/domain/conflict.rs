//! Why a request meets a record in another state than it needs: one [`ConflictKind`] with a
//! detail for people. The store, the workflows and the HTTP layer carry the same [`Conflict`],
//! code decides on its kind (never on its text), and a 409's problem `type` names the kind
//! (`https://tributary.dev/problems/conflict/stale-version`).

use std::fmt;

/// What a client does about a conflict differs by kind: that is what the kinds tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConflictKind {
    /// Another writer changed the record since it was read (a failed version or state
    /// condition): read it again and retry.
    StaleVersion,
    /// Something the request needs is held by another: a customer and product protected by
    /// another approved registration, a POS line claimed by another claim, an invitation or a
    /// delivery attempt in use by a concurrent request. Retrying at once does not help.
    LockHeld,
    /// What the request asks for was done already and is done once (decided, revoked,
    /// verified, handed out).
    AlreadyDone,
    /// The id (or the natural key) is taken by another record: a source id in use, an event or
    /// shipment id received before with other contents.
    AlreadyExists,
    /// The record's state does not allow the request (paying a claim not approved, deciding a
    /// decided deal, verifying a document that is not in the bucket).
    InvalidState,
    /// A per-owner limit is reached (subscriptions, document upload links).
    LimitReached,
}

impl ConflictKind {
    pub const ALL: [ConflictKind; 6] = [
        ConflictKind::StaleVersion,
        ConflictKind::LockHeld,
        ConflictKind::AlreadyDone,
        ConflictKind::AlreadyExists,
        ConflictKind::InvalidState,
        ConflictKind::LimitReached,
    ];

    /// The kind's name in problem types: kebab-case.
    pub fn as_str(&self) -> &'static str {
        match self {
            ConflictKind::StaleVersion => "stale-version",
            ConflictKind::LockHeld => "lock-held",
            ConflictKind::AlreadyDone => "already-done",
            ConflictKind::AlreadyExists => "already-exists",
            ConflictKind::InvalidState => "invalid-state",
            ConflictKind::LimitReached => "limit-reached",
        }
    }
}

impl fmt::Display for ConflictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A conflict of a kind, with what people are told (shown as is in a 409's `detail`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct Conflict {
    pub kind: ConflictKind,
    pub detail: String,
}

impl Conflict {
    pub fn new(kind: ConflictKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }

    pub fn stale_version(detail: impl Into<String>) -> Self {
        Self::new(ConflictKind::StaleVersion, detail)
    }

    pub fn lock_held(detail: impl Into<String>) -> Self {
        Self::new(ConflictKind::LockHeld, detail)
    }

    pub fn already_done(detail: impl Into<String>) -> Self {
        Self::new(ConflictKind::AlreadyDone, detail)
    }

    pub fn already_exists(detail: impl Into<String>) -> Self {
        Self::new(ConflictKind::AlreadyExists, detail)
    }

    pub fn invalid_state(detail: impl Into<String>) -> Self {
        Self::new(ConflictKind::InvalidState, detail)
    }

    pub fn limit_reached(detail: impl Into<String>) -> Self {
        Self::new(ConflictKind::LimitReached, detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conflict_reads_as_its_detail_alone() {
        let conflict = Conflict::stale_version("deal d1 changed meanwhile; read it again");
        assert_eq!(
            conflict.to_string(),
            "deal d1 changed meanwhile; read it again"
        );
        assert_eq!(conflict.kind, ConflictKind::StaleVersion);
    }

    #[test]
    fn kinds_have_distinct_kebab_case_names() {
        let names: std::collections::BTreeSet<_> =
            ConflictKind::ALL.iter().map(ConflictKind::as_str).collect();
        assert_eq!(names.len(), ConflictKind::ALL.len());
        for name in names {
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{name}"
            );
        }
        assert_eq!(ConflictKind::LockHeld.to_string(), "lock-held");
    }

    #[test]
    fn each_constructor_gives_its_kind() {
        let made = [
            Conflict::stale_version("x"),
            Conflict::lock_held("x"),
            Conflict::already_done("x"),
            Conflict::already_exists("x"),
            Conflict::invalid_state("x"),
            Conflict::limit_reached("x"),
        ];
        let kinds: Vec<_> = made.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, ConflictKind::ALL);
    }
}
