//! Shared helpers for the unit tests' property tests (built only under `cfg(test)`).

use proptest::test_runner::Config;

/// The property-test configuration every unit module uses: the case count from
/// `PROPTEST_CASES` (proptest's default of 256 otherwise, cheap here), and no regression
/// files written into the source tree; a failure prints its shrunk case, which then becomes
/// a regular test.
pub fn proptest_config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}
