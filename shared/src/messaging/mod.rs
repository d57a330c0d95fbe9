//! Messages between functions: the envelope every SQS message carries, the batched publisher,
//! and the batch-consumer helper that reports partial failures.

mod consumer;
mod envelope;
pub mod messages;
mod publisher;

pub use consumer::{RecordError, process_envelopes, process_records};
pub use envelope::{Envelope, EnvelopeError, Message};
pub use publisher::{PublishError, SqsPublisher};
