//! Rebates, spiffs and co-op accrual: programs, periods and the accrual maths. Pure: the
//! workflow (`workflow::rebates`) feeds it sales lines and stores what it returns.

pub mod accrual;
pub mod period;
pub mod program;

pub use accrual::{
    EntryDraft, EntryKind, GroupDelta, GroupFigures, GroupKey, Grouped, OutOfRange, accrue,
    booking_period, group_lines, line_revenue,
};
pub use period::{Period, PeriodKind};
pub use program::{Basis, Eligibility, Program, ProgramTerms, Rule, Tier, TierMode};

#[cfg(test)]
mod tests;
