//! The trained intent classifier: which intent a message means, with a calibrated probability,
//! learned from a project's examples (TF-IDF features, multinomial logistic regression).

pub mod features;
pub mod train;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod eval_tests;
