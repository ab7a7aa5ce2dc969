//! The config file: the documented example parses into what it says; every refusal names the
//! file, the key and what to write; the token never goes in the file; env overrides win.

use std::path::{Path, PathBuf};
use std::time::Duration;

use canvas_sis::canvas::{AccountRef, EnrollmentDropStatus, UserRemoveStatus};
use canvas_sis::config::{Blackout, Config, ConfigError, ConfigSource, OnFailure, TokenSource};

fn no_env(_: &str) -> Option<String> {
    None
}

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/canvas-sis.toml")
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new("/etc/canvas-sis.toml"), &no_env)
}

fn refusal(text: &str) -> (String, String) {
    let e = parse(text).expect_err("this config must be refused");
    (e.key().unwrap_or_default().to_owned(), e.to_string())
}

const ONE: &str = r#"
[tenants.main]
canvas_url = "https://school.instructure.com"
token_env = "CANVAS_TOKEN_MAIN"
"#;

#[test]
fn the_documented_example_parses_into_two_tenants_with_what_it_says() {
    let c = Config::from_file(&example_path(), &no_env).unwrap();
    assert_eq!(c.source, ConfigSource::File(example_path()));
    let names: Vec<&str> = c.tenants.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["main", "sandbox"]);

    let main = c.tenant("main").unwrap();
    assert_eq!(main.canvas_url.as_str(), "https://school.instructure.com/");
    assert_eq!(main.account, AccountRef::Id(1));
    assert_eq!(main.token, TokenSource::Env("CANVAS_TOKEN_MAIN".into()));
    assert_eq!(main.folder.as_deref(), Some("main"));
    assert_eq!(main.s3_prefix.as_deref(), Some("main/"));
    assert_eq!(main.on_failure, OnFailure::Halt);
    assert_eq!(main.quiet_period, Duration::from_secs(60));
    assert_eq!(main.freshness_hours, 26.0);
    assert_eq!(main.import.diffing_data_set.as_deref(), Some("nightly"));
    assert_eq!(
        main.import.diffing_drop_status,
        Some(EnrollmentDropStatus::Inactive)
    );
    assert_eq!(
        main.import.diffing_user_remove_status,
        Some(UserRemoveStatus::Suspended)
    );
    assert_eq!(main.import.change_threshold, Some(10));
    assert!(main.guard.enabled);
    assert_eq!(main.guard.limits("enrollments").max_deleted_percent, 5.0);
    assert_eq!(main.guard.limits("enrollments").max_changed_percent, 50.0);
    assert_eq!(main.guard.limits("users").max_deleted_percent, 10.0);
    assert_eq!(main.blackouts.len(), 2);
    assert!(matches!(main.blackouts[1], Blackout::Range { .. }));

    let sb = c.tenant("sandbox").unwrap();
    assert_eq!(sb.account, AccountRef::SelfAccount, "from [defaults]");
    assert_eq!(
        sb.token,
        TokenSource::File("/run/secrets/canvas-sandbox".into())
    );
    assert_eq!(sb.on_failure, OnFailure::Continue);
    assert_eq!(sb.quiet_period, Duration::from_secs(30));
    assert_eq!(
        sb.import.batch_mode_term.as_deref(),
        Some("sis_term_id:2026FA")
    );
    assert!(!sb.guard.enabled);
    assert_eq!(
        sb.guard.limits("enrollments").max_deleted_percent,
        5.0,
        "kinds merge from [defaults.guard]"
    );
    assert_eq!(
        sb.blackouts.len(),
        1,
        "a tenant's list replaces the default list"
    );
    assert!(
        matches!(
            &sb.blackouts[0],
            Blackout::Weekly { zone: canvas_sis::config::blackout::Zone::Named(z), .. }
                if z.name() == "America/New_York"
        ),
        "an IANA zone: {:?}",
        sb.blackouts[0]
    );
}

#[test]
fn a_single_tenant_gets_the_documented_defaults_and_may_use_the_inbox_itself() {
    let c = parse(ONE).unwrap();
    let t = &c.tenants[0];
    assert_eq!(t.account, AccountRef::SelfAccount);
    assert_eq!(t.folder, None);
    assert_eq!(t.on_failure, OnFailure::Halt);
    assert_eq!(t.quiet_period, Duration::from_secs(60));
    assert_eq!(t.freshness_hours, 26.0);
    assert!(t.guard.enabled);
    assert_eq!(t.guard.max_deleted_percent, 10.0);
    assert_eq!(t.guard.max_changed_percent, 50.0);
    assert!(t.blackouts.is_empty());
}

#[test]
fn a_file_with_only_defaults_is_one_tenant_named_default() {
    let c = parse("[defaults]\ncanvas_url = \"https://a.test\"\ntoken_file = \"tok\"\n").unwrap();
    assert_eq!(c.tenants.len(), 1);
    assert_eq!(c.tenants[0].name, "default");
    assert_eq!(
        c.tenants[0].token,
        TokenSource::File("/etc/tok".into()),
        "a relative token_file is taken from the config file's folder"
    );
}

#[test]
fn a_token_in_the_file_is_refused_with_why_and_without_echoing_it() {
    let text = format!("{ONE}token = \"s3cr3t-value\"\n");
    let (key, msg) = refusal(&text);
    assert_eq!(key, "tenants.main.token");
    assert!(msg.contains("/etc/canvas-sis.toml"), "{msg}");
    assert!(msg.contains("leak"), "says why: {msg}");
    assert!(
        msg.contains("token_env") && msg.contains("token_file"),
        "says what instead: {msg}"
    );
    assert!(!msg.contains("s3cr3t"), "never echoes the token: {msg}");

    let (key, msg) = refusal("[defaults]\ntoken = \"s3cr3t-value\"\n");
    assert_eq!(key, "defaults.token");
    assert!(!msg.contains("s3cr3t"), "{msg}");
}

#[test]
fn a_syntax_error_gives_line_and_column_but_not_the_line_itself() {
    let text = format!("{ONE}token_file = s3cr3t-unquoted\n");
    let e = parse(&text).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ConfigError::Syntax { line: 5, .. }), "{e:?}");
    assert!(msg.starts_with("/etc/canvas-sis.toml:5:"), "{msg}");
    assert!(!msg.contains("s3cr3t"), "{msg}");
}

#[test]
fn an_unknown_key_is_an_error_naming_it() {
    let e = parse(&format!("{ONE}quiet_period = 5\n")).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("quiet_period"), "{msg}");
    assert!(
        msg.contains("quiet_period_secs"),
        "lists the known keys: {msg}"
    );
    let e = parse(&format!("{ONE}[tenants.main.import]\nskip_delete = true\n")).unwrap_err();
    assert!(e.to_string().contains("skip_delete"), "{e}");
    let e = parse(&format!("{ONE}[tenants.main.guard]\nmax_deleted = 3\n")).unwrap_err();
    assert!(e.to_string().contains("max_deleted"), "{e}");
}

/// Stricter validation is the tenant's explicit choice (issue 14): all warnings, or named rules;
/// a rule name that doesn't exist is refused with the list of those that do.
#[test]
fn strict_validation_is_a_tenant_choice_checked_at_load() {
    use canvas_sis::sis::validate::Strict;
    let c = parse(ONE).unwrap();
    assert_eq!(c.tenant("main").unwrap().validate.strict, Strict::Off);
    let c = parse(&format!("[defaults]\nstrict = true\n{ONE}")).unwrap();
    assert_eq!(c.tenant("main").unwrap().validate.strict, Strict::All);
    let c = parse(&format!(
        "{ONE}strict = [\"bad_date\", \"duplicate_id\"]\ninstitutional_tags = true\n"
    ))
    .unwrap();
    let v = &c.tenant("main").unwrap().validate;
    assert_eq!(v.strict, Strict::Rules(vec!["bad_date", "duplicate_id"]));
    assert!(v.institutional_tags);
    let (key, msg) = refusal(&format!("{ONE}strict = [\"bad_dates\"]\n"));
    assert_eq!(key, "tenants.main.strict");
    assert!(
        msg.contains("\"bad_dates\" is not a validation rule"),
        "{msg}"
    );
    assert!(
        msg.contains("bad_date, date_ignored"),
        "lists the rules: {msg}"
    );
}

#[test]
fn every_refusal_names_its_key_and_what_to_write() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "[tenants.main]\ntoken_env = \"T\"\n",
            "tenants.main.canvas_url",
            "canvas_url = \"https://",
        ),
        (
            "[tenants.main]\ncanvas_url = \"ftp://x\"\ntoken_env = \"T\"\n",
            "tenants.main.canvas_url",
            "https://",
        ),
        (
            "[tenants.main]\ncanvas_url = \"https://a.test\"\n",
            "tenants.main.token_env",
            "exactly one of",
        ),
        (
            "[tenants.main]\ncanvas_url = \"https://a.test\"\ntoken_env = \"T\"\ntoken_file = \"/t\"\n",
            "tenants.main.token_env",
            "exactly one of",
        ),
        (
            "[tenants.main]\ncanvas_url = \"https://a.test\"\ntoken_env = \"abc def\"\n",
            "tenants.main.token_env",
            "name, not its value",
        ),
        (
            &format!("{ONE}account = \"root\"\n"),
            "tenants.main.account",
            "sis_account_id:X",
        ),
        (
            &format!("{ONE}folder = \"../up\"\n"),
            "tenants.main.folder",
            "one folder name",
        ),
        (
            &format!("{ONE}on_failure = \"retry\"\n"),
            "tenants.main.on_failure",
            "\"continue\"",
        ),
        (
            &format!("{ONE}quiet_period_secs = 0\n"),
            "tenants.main.quiet_period_secs",
            "1 to 86400",
        ),
        (
            &format!("{ONE}freshness_hours = 0\n"),
            "tenants.main.freshness_hours",
            "above 0",
        ),
        (
            &format!("{ONE}s3_prefix = \"/main\"\n"),
            "tenants.main.s3_prefix",
            "without a leading '/'",
        ),
        (
            &format!("{ONE}[tenants.main.import]\nchange_threshold = 0\n"),
            "tenants.main.import.change_threshold",
            "change_threshold = 10",
        ),
        (
            &format!("{ONE}[tenants.main.import]\ndiffing_drop_status = \"gone\"\n"),
            "tenants.main.import.diffing_drop_status",
            "deleted_last_completed",
        ),
        (
            &format!("{ONE}[tenants.main.guard]\nmax_deleted_percent = 150\n"),
            "tenants.main.guard.max_deleted_percent",
            "0 to 100",
        ),
        (
            &format!("{ONE}[tenants.main.guard.kinds.enrolments]\nmax_deleted_percent = 5\n"),
            "tenants.main.guard.kinds.enrolments",
            "enrollments",
        ),
        (
            &format!(
                "{ONE}blackout = [{{ days = [\"sat\"], from = \"00:00\", to = \"06:00\", tz = \"Europe/Pariss\" }}]\n"
            ),
            "tenants.main.blackout[0].tz",
            "America/Chicago",
        ),
        (
            &format!(
                "{ONE}blackout = [{{ days = [\"caturday\"], from = \"00:00\", to = \"06:00\" }}]\n"
            ),
            "tenants.main.blackout[0].days",
            "sat",
        ),
        (
            &format!("{ONE}blackout = [{{ days = [\"sat\"], from = \"6am\", to = \"07:00\" }}]\n"),
            "tenants.main.blackout[0].from",
            "HH:MM",
        ),
        (
            &format!(
                "{ONE}blackout = [{{ days = [\"sat\"], from = \"06:00\", to = \"06:00\" }}]\n"
            ),
            "tenants.main.blackout[0].to",
            "24:00",
        ),
        (
            &format!(
                "{ONE}blackout = [{{ from = \"2027-01-05T00:00:00Z\", to = \"2026-12-20T00:00:00Z\" }}]\n"
            ),
            "tenants.main.blackout[0].to",
            "RFC 3339",
        ),
        (
            &format!(
                "{ONE}blackout = [{{ from = \"2026-12-20\", to = \"2027-01-05T00:00:00Z\" }}]\n"
            ),
            "tenants.main.blackout[0].from",
            "RFC 3339",
        ),
        (
            "[tenants.\"my tenant\"]\ncanvas_url = \"https://a.test\"\ntoken_env = \"T\"\n",
            "tenants.my tenant",
            "letters, digits",
        ),
        (
            "[defaults]\nfolder = \"x\"\n",
            "defaults.folder",
            "each [tenants.<name>]",
        ),
    ];
    for (text, want_key, want_fix) in cases {
        let (key, msg) = refusal(text);
        assert_eq!(&key, want_key, "for:\n{text}\ngot: {msg}");
        assert!(
            msg.contains(want_fix),
            "for:\n{text}\nthe message should say {want_fix:?}: {msg}"
        );
        assert!(
            msg.starts_with("/etc/canvas-sis.toml: "),
            "names the file: {msg}"
        );
    }
}

#[test]
fn several_tenants_each_need_their_own_folder() {
    let two = "[defaults]\ntoken_env = \"T\"\n\
               [tenants.a]\ncanvas_url = \"https://a.test\"\nfolder = \"a\"\n\
               [tenants.b]\ncanvas_url = \"https://b.test\"\n";
    let (key, msg) = refusal(two);
    assert_eq!(key, "tenants.b.folder");
    assert!(msg.contains("folder = \"b\""), "{msg}");
    let same = two.replace("b.test\"\n", "b.test\"\nfolder = \"A\"\n");
    let (key, msg) = refusal(&same);
    assert_eq!(key, "tenants.b.folder");
    assert!(msg.contains("already the folder of tenant a"), "{msg}");
}

#[test]
fn environment_overrides_win_over_the_file() {
    let env = |k: &str| match k {
        "CANVAS_SIS_MAIN_CANVAS_URL" => Some("https://override.test".to_owned()),
        "CANVAS_SIS_MAIN_TOKEN_FILE" => Some("/run/secrets/other".to_owned()),
        "CANVAS_SIS_MAIN_QUIET_PERIOD_SECS" => Some("5".to_owned()),
        "CANVAS_SIS_MAIN_ON_FAILURE" => Some("continue".to_owned()),
        _ => None,
    };
    let c = Config::from_toml(ONE, Path::new("/etc/c.toml"), &env).unwrap();
    let t = &c.tenants[0];
    assert_eq!(t.canvas_url.as_str(), "https://override.test/");
    assert_eq!(
        t.token,
        TokenSource::File("/run/secrets/other".into()),
        "replaces token_env"
    );
    assert_eq!(t.quiet_period, Duration::from_secs(5));
    assert_eq!(t.on_failure, OnFailure::Continue);

    let bad = |k: &str| (k == "CANVAS_SIS_MAIN_QUIET_PERIOD_SECS").then(|| "soon".to_owned());
    let e = Config::from_toml(ONE, Path::new("/etc/c.toml"), &bad).unwrap_err();
    assert_eq!(e.key(), Some("CANVAS_SIS_MAIN_QUIET_PERIOD_SECS"));
    assert!(e.to_string().starts_with("environment: "), "{e}");
}

#[test]
fn without_a_file_one_tenant_comes_from_the_import_variables_and_the_token_is_only_located() {
    let env = |k: &str| match k {
        "CANVAS_BASE_URL" => Some("https://school.instructure.com".to_owned()),
        "CANVAS_ACCOUNT_ID" => Some("sis_account_id:ROOT".to_owned()),
        "CANVAS_TOKEN_FILE" => Some("/nonexistent/token".to_owned()),
        _ => None,
    };
    let c = Config::single_tenant_from(&env).unwrap();
    assert_eq!(c.source, ConfigSource::Environment);
    let t = &c.tenants[0];
    assert_eq!(t.name, "default");
    assert_eq!(t.account, AccountRef::SisAccountId("ROOT".into()));
    // The file does not exist: config still succeeds, because the token is read only on use.
    assert_eq!(t.token, TokenSource::File("/nonexistent/token".into()));
    assert!(t.token.load().is_err());

    let with_token = |k: &str| match k {
        "CANVAS_BASE_URL" => Some("https://a.test".to_owned()),
        "CANVAS_TOKEN" => Some("abc".to_owned()),
        _ => None,
    };
    let c = Config::single_tenant_from(&with_token).unwrap();
    assert_eq!(c.tenants[0].token, TokenSource::Env("CANVAS_TOKEN".into()));
    assert_eq!(c.tenants[0].account, AccountRef::SelfAccount);
}

#[test]
fn without_a_file_missing_or_doubled_variables_are_named() {
    let e = Config::single_tenant_from(&|k: &str| (k == "CANVAS_TOKEN").then(|| "x".into()))
        .unwrap_err();
    assert_eq!(e.key(), Some("CANVAS_BASE_URL"));
    let e = Config::single_tenant_from(&|k: &str| {
        (k == "CANVAS_BASE_URL").then(|| "https://a.test".into())
    })
    .unwrap_err();
    assert_eq!(e.key(), Some("CANVAS_TOKEN"));
    assert!(e.to_string().contains("--config"), "{e}");
    let both = |k: &str| {
        matches!(k, "CANVAS_BASE_URL" | "CANVAS_TOKEN" | "CANVAS_TOKEN_FILE")
            .then(|| "https://a.test".to_owned())
    };
    let e = Config::single_tenant_from(&both).unwrap_err();
    assert_eq!(e.key(), Some("CANVAS_TOKEN_FILE"));
    let bad_account = |k: &str| match k {
        "CANVAS_BASE_URL" => Some("https://a.test".to_owned()),
        "CANVAS_TOKEN" => Some("t".to_owned()),
        "CANVAS_ACCOUNT_ID" => Some("root".to_owned()),
        _ => None,
    };
    let e = Config::single_tenant_from(&bad_account).unwrap_err();
    assert_eq!(e.key(), Some("CANVAS_ACCOUNT_ID"));
}

#[test]
fn a_token_file_is_read_lazily_trimmed_and_never_shown_in_debug() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("token");
    std::fs::write(&f, "  tok-123\n").unwrap();
    let src = TokenSource::File(f);
    let secret = src.load().unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&secret), "tok-123");
    assert!(!format!("{secret:?}").contains("tok-123"));
    let missing = TokenSource::Env("CANVAS_SIS_TEST_SURELY_UNSET_VAR".into())
        .load()
        .unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("CANVAS_SIS_TEST_SURELY_UNSET_VAR"),
        "{missing}"
    );
}

#[test]
fn a_missing_config_file_says_where_it_was_looked_for() {
    let e = Config::from_file(Path::new("/nonexistent/canvas-sis.toml"), &no_env).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("/nonexistent/canvas-sis.toml") && msg.contains("CANVAS_SIS_CONFIG"),
        "{msg}"
    );
}

#[test]
fn cloud_tenants_need_an_s3_prefix_not_a_folder() {
    let c = parse(
        "[defaults]\ncanvas_url = \"https://c.example.edu\"\ntoken_env = \"T\"\n\
         [tenants.a]\ns3_prefix = \"a/\"\n[tenants.b]\ns3_prefix = \"b/\"\n",
    )
    .expect("cloud tenants without folders");
    assert_eq!(c.tenants.len(), 2);
    assert!(c.tenants.iter().all(|t| t.folder.is_none()));
    let (key, message) = refusal(
        "[defaults]\ncanvas_url = \"https://c.example.edu\"\ntoken_env = \"T\"\n\
         [tenants.a]\ns3_prefix = \"a/\"\n[tenants.b]\naccount = \"2\"\n",
    );
    assert_eq!(key, "tenants.b.folder");
    assert!(message.contains("s3_prefix"), "{message}");
}
