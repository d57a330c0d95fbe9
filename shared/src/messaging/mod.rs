//! Messages between functions: the envelope every SQS message carries, the batched publisher,
//! the batch-consumer helper that reports partial failures, and the split of long lists into
//! messages within SQS's size limit.

mod consumer;
mod envelope;
pub mod messages;
mod publisher;
mod split;

pub use consumer::{RecordError, process_envelopes, process_records};
pub use envelope::{Envelope, EnvelopeError, Message};
pub use publisher::{PublishError, SqsPublisher};
pub use split::{MAX_MESSAGE_BYTES, ranges_by_size};
