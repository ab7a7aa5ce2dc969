//! Import options are checked before anything is sent, and written with Canvas's names
//! (docs/canvas-api.md §1.2): contradictory combinations are refused with a message saying what to
//! do.

use canvas_sis::canvas::{
    BatchMode, BatchModeTerm, Diffing, EnrollmentDropStatus, ImportOptions, OptionsError,
    RestoreOptions, Stickiness, UserRemoveStatus,
};

fn q(o: &ImportOptions) -> Vec<(String, String)> {
    o.to_query()
}

fn has(q: &[(String, String)], k: &str, v: &str) -> bool {
    q.iter().any(|(a, b)| a == k && b == v)
}

#[test]
fn defaults_send_nothing_and_validate() {
    let o = ImportOptions::default();
    assert_eq!(o.validate(), Ok(()));
    assert!(
        q(&o).is_empty(),
        "off flags are omitted, not sent as false: {:?}",
        q(&o)
    );
}

#[test]
fn multi_term_batch_mode_is_sent_only_as_true_and_needs_a_threshold() {
    let mut o = ImportOptions {
        batch_mode: Some(BatchMode::MultiTerm),
        ..Default::default()
    };
    assert_eq!(o.validate(), Err(OptionsError::MultiTermWithoutThreshold));
    o.change_threshold = Some(10);
    assert_eq!(o.validate(), Ok(()));
    let qs = q(&o);
    assert!(has(&qs, "multi_term_batch_mode", "true"));
    assert!(has(&qs, "batch_mode", "true"));
    assert!(has(&qs, "change_threshold", "10"));
    let no_multi = q(&ImportOptions::default());
    assert!(!no_multi.iter().any(|(k, _)| k == "multi_term_batch_mode"));
}

#[test]
fn batch_mode_terms_by_id_or_sis_id() {
    let by_id = ImportOptions {
        batch_mode: Some(BatchMode::Term(BatchModeTerm::Id(17))),
        batch_mode_enrollment_drop_status: Some(EnrollmentDropStatus::Inactive),
        ..Default::default()
    };
    assert!(has(&q(&by_id), "batch_mode_term_id", "17"));
    assert!(has(
        &q(&by_id),
        "batch_mode_enrollment_drop_status",
        "inactive"
    ));
    let by_sis = ImportOptions {
        batch_mode: Some(BatchMode::Term(BatchModeTerm::SisId("T2026".into()))),
        ..Default::default()
    };
    assert!(has(&q(&by_sis), "batch_mode_term_id", "sis_term_id:T2026"));
    let empty = ImportOptions {
        batch_mode: Some(BatchMode::Term(BatchModeTerm::SisId(" ".into()))),
        ..Default::default()
    };
    assert_eq!(empty.validate(), Err(OptionsError::EmptyTermSisId));
}

#[test]
fn diffing_with_batch_mode_is_refused_because_canvas_ignores_it() {
    let o = ImportOptions {
        batch_mode: Some(BatchMode::Term(BatchModeTerm::Id(1))),
        diffing: Some(Diffing::new("fall-feed")),
        ..Default::default()
    };
    let e = o.validate().unwrap_err();
    assert!(matches!(e, OptionsError::DiffingWithBatchMode(_)));
    assert!(e.to_string().contains("silently ignores diffing"), "{e}");
}

#[test]
fn diffing_options_use_canvas_names() {
    let o = ImportOptions {
        diffing: Some(Diffing {
            remaster: true,
            drop_status: Some(EnrollmentDropStatus::DeletedLastCompleted),
            user_remove_status: Some(UserRemoveStatus::Suspended),
            row_count_threshold: Some(500),
            ..Diffing::new("fall-feed")
        }),
        change_threshold: Some(20),
        ..Default::default()
    };
    assert_eq!(o.validate(), Ok(()));
    let qs = q(&o);
    assert!(has(&qs, "diffing_data_set_identifier", "fall-feed"));
    assert!(has(&qs, "diffing_remaster_data_set", "true"));
    assert!(has(&qs, "diffing_drop_status", "deleted_last_completed"));
    assert!(has(&qs, "diffing_user_remove_status", "suspended"));
    assert!(has(&qs, "diff_row_count_threshold", "500"));
    let zero = ImportOptions {
        diffing: Some(Diffing {
            row_count_threshold: Some(0),
            ..Diffing::new("x")
        }),
        ..Default::default()
    };
    assert_eq!(
        zero.validate(),
        Err(OptionsError::DiffRowCountThresholdZero)
    );
    let long = ImportOptions {
        diffing: Some(Diffing::new("x".repeat(129))),
        ..Default::default()
    };
    assert_eq!(
        long.validate(),
        Err(OptionsError::DataSetIdentifierLength(129))
    );
}

#[test]
fn stickiness_flags_need_override_and_exclude_each_other() {
    // Adding or clearing stickiness means nothing without overriding it.
    for (add, clear) in [(true, false), (false, true)] {
        let without_override = ImportOptions {
            stickiness: Stickiness {
                add,
                clear,
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            without_override.validate(),
            Err(OptionsError::StickinessWithoutOverride),
            "add {add}, clear {clear}"
        );
    }
    let both = ImportOptions {
        stickiness: Stickiness {
            override_sticky: true,
            add: true,
            clear: true,
        },
        ..Default::default()
    };
    assert_eq!(both.validate(), Err(OptionsError::AddAndClearStickiness));
    let ok = ImportOptions {
        stickiness: Stickiness {
            override_sticky: true,
            clear: true,
            add: false,
        },
        skip_deletes: true,
        update_sis_id_if_login_claimed: true,
        ..Default::default()
    };
    assert_eq!(ok.validate(), Ok(()));
    let qs = q(&ok);
    for k in [
        "override_sis_stickiness",
        "clear_sis_stickiness",
        "skip_deletes",
        "update_sis_id_if_login_claimed",
    ] {
        assert!(has(&qs, k, "true"), "{k} in {qs:?}");
    }
    assert!(!qs.iter().any(|(k, _)| k == "add_sis_stickiness"));
}

#[test]
fn change_threshold_must_be_a_percentage() {
    for bad in [0, 101, 1000] {
        let o = ImportOptions {
            change_threshold: Some(bad),
            ..Default::default()
        };
        assert_eq!(
            o.validate(),
            Err(OptionsError::ChangeThresholdOutOfRange(bad))
        );
    }
    for good in [1, 100] {
        let o = ImportOptions {
            change_threshold: Some(good),
            ..Default::default()
        };
        assert_eq!(o.validate(), Ok(()));
    }
}

#[test]
fn a_drop_status_without_batch_mode_is_refused() {
    let o = ImportOptions {
        batch_mode_enrollment_drop_status: Some(EnrollmentDropStatus::Deleted),
        ..Default::default()
    };
    assert_eq!(o.validate(), Err(OptionsError::DropStatusWithoutBatchMode));
}

#[test]
fn restore_refuses_undelete_only_with_unconclude_only() {
    let r = RestoreOptions {
        undelete_only: true,
        unconclude_only: true,
        batch_mode: false,
    };
    assert_eq!(r.validate(), Err(OptionsError::RestoreBothOnly));
    assert_eq!(RestoreOptions::default().validate(), Ok(()));
}
