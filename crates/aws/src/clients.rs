//! The AWS clients of the cloud worker (S3, SQS, and SNS for notifications), built once from the
//! environment.
//!
//! Credentials and region come from aws-config's default chain: environment variables, the
//! shared profile, web identity (IRSA), the container provider (ECS task role, EKS Pod Identity)
//! and IMDS. Endpoints follow the SDK's own variables: `AWS_ENDPOINT_URL` for every service, or
//! `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL_SQS` per service (moto, MinIO, LocalStack…).
//!
//! Two settings the SDK would otherwise get wrong for us:
//! - **Path-style S3 addressing** whenever an S3 endpoint is configured: with a host name
//!   endpoint (`http://moto:5000`) virtual-host style would ask DNS for `bucket.moto`.
//! - **Checksums** ([`ChecksumMode`]): the SDK's default (`when_supported`) adds CRC32 headers and
//!   aws-chunked streaming bodies that some S3-compatible stores refuse; `when_required` turns
//!   that off. The SDK's own `AWS_REQUEST_CHECKSUM_CALCULATION` works too when no mode is given.
//!
//! SQS calls get an attempt timeout longer than the 20-second long poll, so a connection that
//! goes silent cannot stall the worker forever.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;

/// How long one SQS attempt may take; must exceed the longest long poll (20 s).
pub const SQS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(35);

/// Whether the S3 client computes and checks request/response checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumMode {
    /// The SDK's default: CRC32 on every upload, checked on every download that has one.
    WhenSupported,
    /// Only where the API demands it: for S3-compatible stores that refuse trailing checksums.
    WhenRequired,
}

/// The S3 and SQS clients of one process.
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
}

/// Builds the clients from the environment. `checksums: None` leaves the SDK's default (and its
/// environment variables) in charge.
pub async fn clients(checksums: Option<ChecksumMode>) -> AwsClients {
    let shared = aws_config::defaults(BehaviorVersion::latest()).load().await;
    AwsClients {
        s3: s3_client(&shared, checksums, s3_endpoint_configured(&env_var)),
        sqs: sqs_client(&shared),
        sns: sns_client(&shared),
    }
}

/// An SNS client alone (folder mode publishes notifications but needs no S3 or SQS).
pub async fn sns_from_env() -> aws_sdk_sns::Client {
    let shared = aws_config::defaults(BehaviorVersion::latest()).load().await;
    sns_client(&shared)
}

/// Notifications must not wait long on SNS: short connect, bounded attempt.
fn sns_client(shared: &aws_config::SdkConfig) -> aws_sdk_sns::Client {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(3100))
        .operation_attempt_timeout(Duration::from_secs(10))
        .build();
    let conf = aws_sdk_sns::config::Builder::from(shared)
        .timeout_config(timeouts)
        .build();
    aws_sdk_sns::Client::from_conf(conf)
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// True when the SDK will send S3 calls to a configured endpoint rather than AWS's own.
pub fn s3_endpoint_configured(env: &dyn Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| env(name).is_some_and(|v| !v.trim().is_empty());
    let ignored = env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    !ignored && (set("AWS_ENDPOINT_URL") || set("AWS_ENDPOINT_URL_S3"))
}

fn s3_client(
    shared: &aws_config::SdkConfig,
    checksums: Option<ChecksumMode>,
    path_style: bool,
) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
    let mut b = aws_sdk_s3::config::Builder::from(shared).force_path_style(path_style);
    match checksums {
        Some(ChecksumMode::WhenRequired) => {
            b = b
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        }
        Some(ChecksumMode::WhenSupported) => {
            b = b
                .request_checksum_calculation(RequestChecksumCalculation::WhenSupported)
                .response_checksum_validation(ResponseChecksumValidation::WhenSupported);
        }
        None => {}
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

fn sqs_client(shared: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(3100))
        .operation_attempt_timeout(SQS_ATTEMPT_TIMEOUT)
        .build();
    let conf = aws_sdk_sqs::config::Builder::from(shared)
        .timeout_config(timeouts)
        .build();
    aws_sdk_sqs::Client::from_conf(conf)
}

/// `s3://bucket/prefix/` split into bucket and key prefix (ending in `/`, or empty).
pub fn parse_s3_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| format!("{url:?} is not an s3:// URL; write s3://bucket/prefix/"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(format!(
            "{url:?} names no bucket; write s3://bucket/prefix/"
        ));
    }
    let mut prefix = prefix.to_owned();
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    Ok((bucket.to_owned(), prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn path_style_follows_a_configured_s3_endpoint() {
        assert!(s3_endpoint_configured(&env_of(&[(
            "AWS_ENDPOINT_URL",
            "http://moto:5000"
        )])));
        assert!(s3_endpoint_configured(&env_of(&[(
            "AWS_ENDPOINT_URL_S3",
            "http://m:1"
        )])));
        assert!(!s3_endpoint_configured(&env_of(&[(
            "AWS_ENDPOINT_URL_SQS",
            "http://m:1"
        )])));
        assert!(!s3_endpoint_configured(&env_of(&[(
            "AWS_ENDPOINT_URL",
            " "
        )])));
        assert!(!s3_endpoint_configured(&env_of(&[
            ("AWS_ENDPOINT_URL", "http://m:1"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
        ])));
    }

    #[test]
    fn s3_urls_split_into_bucket_and_slash_ended_prefix() {
        assert_eq!(
            parse_s3_url("s3://b/canvas-sis").unwrap(),
            ("b".into(), "canvas-sis/".into())
        );
        assert_eq!(
            parse_s3_url("s3://b/a/b/").unwrap(),
            ("b".into(), "a/b/".into())
        );
        assert_eq!(parse_s3_url("s3://b").unwrap(), ("b".into(), String::new()));
        assert!(parse_s3_url("s3:///x").unwrap_err().contains("no bucket"));
        assert!(
            parse_s3_url("https://b/x")
                .unwrap_err()
                .contains("not an s3://")
        );
    }
}
