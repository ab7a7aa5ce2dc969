//! The simulated drop bucket of the cloud world: a versioned object store behind the worker's
//! object-store port. Every put makes a new version (an overwrite keeps the old one readable by
//! its id), a delete leaves a marker, and reads fail by the seed: an answer of 503, or a body
//! that breaks off halfway. All of it answers after a seeded latency on the paused clock.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use canvas_sis::aws::store::port::{StoreFuture, boxed};
use canvas_sis::aws::store::{At, FetchError, Listed, ObjectBody, ObjectStore};
use futures_util::StreamExt as _;
use tokio_util::bytes::Bytes;

use crate::common::trace::Trace;

/// What the bucket does wrong.
#[derive(Debug, Clone, Default)]
pub struct ObjectFaults {
    pub latency: Duration,
    /// Chance that a call answers 503.
    pub p_unavailable: f64,
    /// Chance that a body breaks off after its first half.
    pub p_cut_body: f64,
}

/// One version of a key: its bytes, or a delete marker.
#[derive(Debug, Clone)]
struct Version {
    id: String,
    etag: String,
    body: Option<Vec<u8>>,
}

#[derive(Debug)]
struct Shared {
    /// Versions per key, oldest first.
    keys: Mutex<BTreeMap<String, Vec<Version>>>,
    next: Mutex<u64>,
    faults: Mutex<ObjectFaults>,
    /// Keys under this prefix answer 503 until this moment (an outage of part of the bucket).
    outage: Mutex<Option<(String, tokio::time::Instant)>>,
    rng: Mutex<fastrand::Rng>,
    trace: Trace,
}

/// A put's answer, as the event announcing it carries it.
#[derive(Debug, Clone)]
pub struct Put {
    pub version_id: String,
    pub etag: String,
    pub sequencer: String,
    pub size: u64,
}

/// A versioned bucket (module docs); clones share it.
#[derive(Debug, Clone)]
pub struct SimObjects(Arc<Shared>);

impl SimObjects {
    pub fn new(seed: u64, faults: ObjectFaults, trace: Trace) -> SimObjects {
        SimObjects(Arc::new(Shared {
            keys: Mutex::default(),
            next: Mutex::new(0),
            faults: Mutex::new(faults),
            outage: Mutex::new(None),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            trace,
        }))
    }

    pub fn set_faults(&self, faults: ObjectFaults) {
        *self.0.faults.lock().unwrap() = faults;
    }

    /// From now on for `lasting`, every call on a key under `prefix` answers 503.
    pub fn outage(&self, prefix: &str, lasting: Duration) {
        *self.0.outage.lock().unwrap() =
            Some((prefix.to_owned(), tokio::time::Instant::now() + lasting));
    }

    fn next(&self) -> u64 {
        let mut n = self.0.next.lock().unwrap();
        *n += 1;
        *n
    }

    /// Writes a new version of `key`.
    pub fn put(&self, key: &str, body: &[u8]) -> Put {
        let n = self.next();
        let etag = {
            use sha2::{Digest, Sha256};
            hex::encode(&Sha256::digest(body)[..16])
        };
        self.push(
            key,
            Version {
                id: format!("v{n}"),
                etag: etag.clone(),
                body: Some(body.to_vec()),
            },
        );
        self.0.trace.log(format!("bucket: put {key} as v{n}"));
        Put {
            version_id: format!("v{n}"),
            etag,
            sequencer: format!("{n:016X}"),
            size: body.len() as u64,
        }
    }

    /// Makes `v` the current version of `key`.
    fn push(&self, key: &str, v: Version) {
        let mut keys = self.0.keys.lock().unwrap();
        keys.entry(key.to_owned()).or_default().push(v);
    }

    /// Deletes `key` as S3 does in a versioned bucket: a delete marker becomes its current
    /// version; the older versions stay readable by their ids.
    pub fn delete(&self, key: &str) {
        let n = self.next();
        let marker = Version {
            id: format!("v{n}"),
            etag: String::new(),
            body: None,
        };
        self.push(key, marker);
        self.0
            .trace
            .log(format!("bucket: delete {key} (marker v{n})"));
    }

    async fn call(&self, op: &str, location: &str) -> Result<ObjectFaults, FetchError> {
        let faults = self.0.faults.lock().unwrap().clone();
        let max = faults.latency.as_millis() as u64;
        if max > 0 {
            let ms = self.0.rng.lock().unwrap().u64(0..=max);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let out = self
            .0
            .outage
            .lock()
            .unwrap()
            .clone()
            .is_some_and(|(prefix, until)| {
                location.starts_with(&format!("s3://drop/{prefix}"))
                    && tokio::time::Instant::now() < until
            });
        if out
            || faults.p_unavailable > 0.0 && self.0.rng.lock().unwrap().f64() < faults.p_unavailable
        {
            self.0
                .trace
                .log(format!("bucket: {op} {location} answers 503"));
            return Err(FetchError::Transient {
                op: "GetObject",
                location: location.to_owned(),
                detail: "ServiceUnavailable (injected)".into(),
            });
        }
        Ok(faults)
    }

    /// The version `at` names of `key`, or its current one while its ETag is `at`'s.
    fn version(&self, key: &str, at: At<'_>, location: &str) -> Result<Version, FetchError> {
        let keys = self.0.keys.lock().unwrap();
        let gone = || FetchError::Gone {
            location: location.to_owned(),
        };
        let versions = keys.get(key).ok_or_else(gone)?;
        let v = match at.version_id.filter(|v| !v.is_empty() && *v != "null") {
            Some(id) => versions.iter().find(|v| v.id == id).ok_or_else(gone)?,
            None => {
                let current = versions
                    .last()
                    .filter(|v| v.body.is_some())
                    .ok_or_else(gone)?;
                if at.etag.is_some_and(|e| e.trim_matches('"') != current.etag) {
                    return Err(FetchError::Overwritten {
                        location: location.to_owned(),
                    });
                }
                current
            }
        };
        if v.body.is_none() {
            return Err(gone());
        }
        Ok(v.clone())
    }
}

impl ObjectStore for SimObjects {
    fn get<'a>(
        &'a self,
        _bucket: &'a str,
        key: &'a str,
        at: At<'a>,
        location: &'a str,
    ) -> StoreFuture<'a, ObjectBody> {
        boxed(async move {
            let faults = self.call("GetObject", location).await?;
            let v = self.version(key, at, location)?;
            let body = Bytes::from(v.body.unwrap_or_default());
            let half = body.len() / 2;
            let cut =
                faults.p_cut_body > 0.0 && self.0.rng.lock().unwrap().f64() < faults.p_cut_body;
            if cut {
                self.0
                    .trace
                    .log(format!("bucket: the body of {location} breaks off"));
            }
            let chunks: Vec<Result<Bytes, String>> = if cut {
                vec![
                    Ok(body.slice(..half)),
                    Err("connection reset (injected)".into()),
                ]
            } else {
                vec![Ok(body.slice(..half)), Ok(body.slice(half..))]
            };
            Ok(ObjectBody {
                content_length: Some(body.len() as u64),
                version_id: Some(v.id),
                chunks: futures_util::stream::iter(chunks).boxed(),
            })
        })
    }

    fn head<'a>(
        &'a self,
        _bucket: &'a str,
        key: &'a str,
        location: &'a str,
    ) -> StoreFuture<'a, ()> {
        boxed(async move {
            self.call("HeadObject", location).await?;
            self.version(key, At::default(), location).map(drop)
        })
    }

    fn versions<'a>(
        &'a self,
        _bucket: &'a str,
        key: &'a str,
        location: &'a str,
    ) -> StoreFuture<'a, Vec<String>> {
        boxed(async move {
            self.call("ListObjectVersions", location).await?;
            let keys = self.0.keys.lock().unwrap();
            Ok(keys
                .get(key)
                .map(|versions| {
                    versions
                        .iter()
                        .rev()
                        .filter(|v| v.body.is_some())
                        .map(|v| v.id.clone())
                        .collect()
                })
                .unwrap_or_default())
        })
    }

    fn list<'a>(
        &'a self,
        _bucket: &'a str,
        prefix: &'a str,
        location: &'a str,
    ) -> StoreFuture<'a, Vec<Listed>> {
        boxed(async move {
            self.call("ListObjectsV2", location).await?;
            let keys = self.0.keys.lock().unwrap();
            Ok(keys
                .iter()
                .filter_map(|(k, versions)| {
                    let name = k.strip_prefix(prefix)?;
                    let current = versions.last()?.body.as_ref()?;
                    (!name.contains('/')).then(|| Listed {
                        name: name.to_owned(),
                        size: current.len() as u64,
                    })
                })
                .collect())
        })
    }
}
