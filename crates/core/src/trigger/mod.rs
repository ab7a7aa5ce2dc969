//! Triggers: how work arrives. Each trigger turns arrivals into batches for the one pipeline and
//! holds no stage logic of its own.
//!
//! - [`folder`]: folder mode (`canvas-sis watch DIR`), the scheduled import script of Canvas's
//!   guide: an inbox on the local disk, claimed into `processing/` and archived afterwards.
//!
//! - [`events`]: what a queue message says (S3 notifications, EventBridge "Object Created", the
//!   S3 test event), which keys start a batch, which tenant a key belongs to, and poison messages.
//!
//! - `queue` (in `canvas-sis-aws`): the SQS FIFO worker (`canvas-sis run`): one message at a time, heartbeat,
//!   poison to the dead-letter queue, release on stop or near the 12-hour cap.
//!
//! - `lambda` (in `canvas-sis-aws`): the same work delivered by a Lambda SQS event source (`canvas-sis lambda`):
//!   each invocation's records in order, within its deadline, reporting what must come back.
//!
//! - [`runtime`]: what both need per tenant (settings, its Canvas, the staged pipeline).

pub mod events;
pub mod folder;
pub mod runtime;
