//! Point-of-sale and inventory lines from distributors' files: the canonical line, the mapping
//! profile that translates a distributor's layout into it, and the validation of one record.
//!
//! Everything here is pure: the file formats (encodings, gzip, xlsx) are in [`crate::formats`],
//! the storage and the S3 pipeline in [`crate::workflow::pos`].

mod file;
mod line;
mod profile;
mod validate;
mod values;

pub use file::{FileCounts, FileId, FileStatus, PosFile};
pub use line::{FileKind, HeldUnder, InventoryLine, LineKey, PosLine, Rejection, TransactionType};
pub use profile::{ColumnRef, Field, Layout, LayoutError, MappingProfile, Profile, TextEncoding};
pub use validate::{
    DateWindow, MAX_AHEAD_DAYS, MAX_ID_BYTES, MAX_ID_CHARS, MAX_NAME_BYTES, MAX_NAME_CHARS,
    MAX_UNIT_PRICE, MAX_UNITS, ResellerDirectory, Validator, Verdict,
};
pub use values::{DatePattern, NumberFormat};
