//! What the SIS and EventBridge do in the cloud world: put a batch in the drop bucket — a folder
//! closed by a manifest (its files maybe late, maybe over an older export's) or by `READY`, or a
//! zip — and send the "Object Created" event of the object that closes it to the FIFO queue.

use std::time::Duration;

use serde_json::json;

use crate::common::COURSES;

use super::cloud::BUCKET;
use super::objects::{Put, SimObjects};
use super::queue::SimQueue;
use super::{TENANT, epoch};

/// The "Object Created" event `id` EventBridge sends for a put of `key`.
pub(super) fn event(id: &str, key: &str, put: &Put) -> String {
    json!({
        "version": "0",
        "id": id,
        "detail-type": "Object Created",
        "source": "aws.s3",
        "time": epoch().to_rfc3339(),
        "detail": {
            "bucket": {"name": BUCKET},
            "object": {
                "key": key,
                "size": put.size,
                "etag": put.etag,
                "version-id": put.version_id,
                "sequencer": put.sequencer,
            },
        },
    })
    .to_string()
}

/// Uploads batch `n` into folder `b<folder>/`, closed by a manifest listing its files (with
/// their sha256 if `digests`), and sends the manifest's event; with `late`, the files come that
/// long after the manifest. Returns the manifest's key and its put.
pub(super) async fn upload(
    objects: &SimObjects,
    queue: &SimQueue,
    (n, folder): (usize, usize),
    users: &str,
    late: Option<Duration>,
    digests: bool,
) -> (String, Put) {
    let listed = |name: &str, body: &str| {
        let sha = {
            use sha2::{Digest, Sha256};
            hex::encode(Sha256::digest(body.as_bytes()))
        };
        if digests {
            json!({"name": name, "sha256": sha})
        } else {
            json!({"name": name})
        }
    };
    let manifest = json!({"files": [listed("users.csv", users), listed("courses.csv", COURSES)]});
    let prefix = format!("{TENANT}/b{folder}/");
    let files = || {
        objects.put(&format!("{prefix}users.csv"), users.as_bytes());
        objects.put(&format!("{prefix}courses.csv"), COURSES.as_bytes());
    };
    if late.is_none() {
        files();
    }
    let key = format!("{prefix}manifest.json");
    let put = objects.put(&key, manifest.to_string().as_bytes());
    let id = format!("event-b{n}");
    queue.send(&event(&id, &key, &put), TENANT, &id);
    if let Some(after) = late {
        tokio::time::sleep(after).await;
        files();
    }
    (key, put)
}

/// Uploads batch `n` as the zip `b<folder>.zip` and sends its event. Returns the zip's key, its
/// put and the sha256 of its bytes.
pub(super) fn upload_zip(
    objects: &SimObjects,
    queue: &SimQueue,
    (n, folder): (usize, usize),
    users: &str,
) -> (String, Put, String) {
    let zip = zip_of(&[("users.csv", users), ("courses.csv", COURSES)]);
    let key = format!("{TENANT}/b{folder}.zip");
    let put = objects.put(&key, &zip);
    let id = format!("event-b{n}");
    queue.send(&event(&id, &key, &put), TENANT, &id);
    let sha = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(&zip))
    };
    (key, put, sha)
}

/// Uploads batch `n` as the folder `b<n>/`, its CSVs, then the `READY` marker whose event is
/// sent. Returns the marker's key and its put.
pub(super) fn upload_ready(
    objects: &SimObjects,
    queue: &SimQueue,
    n: usize,
    users: &str,
) -> (String, Put) {
    let prefix = format!("{TENANT}/b{n}/");
    objects.put(&format!("{prefix}users.csv"), users.as_bytes());
    objects.put(&format!("{prefix}courses.csv"), COURSES.as_bytes());
    let key = format!("{prefix}READY");
    let put = objects.put(&key, b"");
    let id = format!("event-b{n}");
    queue.send(&event(&id, &key, &put), TENANT, &id);
    (key, put)
}

/// A zip of `entries`, with a fixed entry time: the same seed uploads the same bytes.
pub(super) fn zip_of(entries: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write as _;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().last_modified_time(zip::DateTime::default());
    for (name, body) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(body.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}
