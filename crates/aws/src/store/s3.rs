//! [`S3Objects`]: the object-store port spoken to S3 — `GetObject` (by version, or with
//! `If-Match` on the event's ETag), `HeadObject`, `ListObjectVersions` of one key (its first
//! page: the newest thousand versions), and one `ListObjectsV2` walk with delimiter `/`, every
//! page followed. Every SDK error becomes a [`FetchError`] in `error::from_sdk`.

use aws_sdk_s3::Client;
use futures_util::StreamExt as _;

use super::download::real_version;
use super::error::{Op, from_sdk};
use super::port::{At, Listed, ObjectBody, ObjectStore, StoreFuture, boxed};

/// The drop bucket in S3.
#[derive(Debug, Clone)]
pub struct S3Objects {
    client: Client,
}

impl S3Objects {
    pub fn new(client: Client) -> Self {
        S3Objects { client }
    }
}

impl ObjectStore for S3Objects {
    fn get<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        at: At<'a>,
        location: &'a str,
    ) -> StoreFuture<'a, ObjectBody> {
        boxed(async move {
            let version = real_version(at.version_id);
            // S3 compares If-Match with the quoted ETag; events carry it bare.
            let if_match = at
                .etag
                .filter(|_| version.is_none())
                .map(|e| format!("\"{}\"", e.trim_matches('"')));
            let out = self
                .client
                .get_object()
                .bucket(bucket)
                .key(key)
                .set_version_id(version.map(str::to_owned))
                .set_if_match(if_match)
                .send()
                .await
                .map_err(|e| from_sdk(e, Op::GetObject, location))?;
            let chunks = futures_util::stream::unfold(out.body, |mut body| async move {
                let chunk = body.next().await?;
                Some((chunk.map_err(|e| e.to_string()), body))
            })
            .boxed();
            Ok(ObjectBody {
                content_length: out.content_length.and_then(|n| u64::try_from(n).ok()),
                version_id: real_version(out.version_id.as_deref()).map(str::to_owned),
                chunks,
            })
        })
    }

    fn head<'a>(&'a self, bucket: &'a str, key: &'a str, location: &'a str) -> StoreFuture<'a, ()> {
        boxed(async move {
            self.client
                .head_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map(drop)
                .map_err(|e| from_sdk(e, Op::GetObject, location))
        })
    }

    fn versions<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        location: &'a str,
    ) -> StoreFuture<'a, Vec<String>> {
        boxed(async move {
            let out = self
                .client
                .list_object_versions()
                .bucket(bucket)
                .prefix(key)
                .send()
                .await
                .map_err(|e| from_sdk(e, Op::ListObjectVersions, location))?;
            Ok(out
                .versions()
                .iter()
                .filter(|v| v.key() == Some(key))
                .filter_map(|v| real_version(v.version_id()).map(str::to_owned))
                .collect())
        })
    }

    fn list<'a>(
        &'a self,
        bucket: &'a str,
        prefix: &'a str,
        location: &'a str,
    ) -> StoreFuture<'a, Vec<Listed>> {
        boxed(async move {
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .delimiter("/")
                .into_paginator()
                .send();
            let mut out = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| from_sdk(e, Op::ListObjectsV2, location))?;
                for obj in page.contents() {
                    let Some(name) = obj.key().and_then(|k| k.strip_prefix(prefix)) else {
                        continue;
                    };
                    out.push(Listed {
                        name: name.to_owned(),
                        size: obj.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                    });
                }
            }
            Ok(out)
        })
    }
}
