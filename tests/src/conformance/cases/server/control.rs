//! placeholder
use crate::conformance::case::Case;
pub(crate) const CASES: &[Case] = &[];
