//! Facts measured outside this project that several unit tests check their code against, read
//! from `tests/fixtures/` (test builds only). Data, not logic: the code under test stays apart.

/// `(value, raises)`: whether Ruby's `Time.zone.parse` (Ruby 3.1, ActiveSupport 6.1) raises on
/// the value, i.e. whether Canvas says "Bad date format" (`tests/fixtures/ruby_time_zone_parse.tsv`).
/// Both readings of Canvas's dates — the simulator's and the validator's — are tested against it.
pub fn ruby_time_zone_parse_verdicts() -> Vec<(&'static str, bool)> {
    include_str!("../../../tests/fixtures/ruby_time_zone_parse.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| match l.split_once('\t') {
            Some(("raises", v)) => (v, true),
            Some(("reads", v)) => (v, false),
            _ => panic!("a verdict line is raises|reads<TAB>value: {l:?}"),
        })
        .collect()
}
