//! Workflows: the rules of [`crate::domain`] sequenced with the store ports and messaging, one
//! module per workflow, shared by the functions that serve its triggers.

pub mod claims;
pub mod deals;
pub mod documents;
pub mod held_lines;
pub mod inventory;
pub mod onboarding;
pub mod pos;
pub mod rebates;
