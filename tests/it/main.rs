//! The integration tests: one test binary, one module per area (`cargo test --test it -- AREA::`),
//! sharing the helpers of `common`. One binary links the simulator, the AWS SDK and OpenTelemetry
//! once instead of once per area. Tests share its process: one that measures the whole process
//! or needs separate OS processes re-runs this binary as a child (`common::alone`).

mod common;

mod cli_doctor;
mod cli_import;
mod cli_ops;
mod cli_ops_s3;
mod cli_tools;
mod cli_watch;
mod client_api;
mod client_model;
mod client_options;
mod config_file;
mod conformance;
mod dst;
mod events_parse;
mod folder_claim;
mod folder_ready;
mod invariants_folder;
mod lambda_mode;
mod ledger_local;
mod ledger_s3;
mod moto_route;
mod notify_delivery;
mod notify_watch;
mod notify_worker;
mod pack_read;
mod pack_write;
mod pipeline_operator;
mod pipeline_port;
mod pipeline_staged;
mod s3_fetch;
mod sim_auth;
mod sim_cli;
mod sim_create;
mod sim_engine;
mod sim_faults;
mod sim_json_shape;
mod sim_lifecycle;
mod status_page;
mod telemetry_listener;
mod telemetry_logs;
mod telemetry_otlp;
mod validate_corpus;
mod validate_stats;
mod validate_throughput;
mod worker_cloud;
mod worker_drain;
mod worker_resilience;
