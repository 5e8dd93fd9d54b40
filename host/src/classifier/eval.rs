//! Scoring a matcher the way out-of-scope benchmarks do (Larson et al., 2019): an in-scope query
//! is right only when its intent matches at or above the threshold, an out-of-scope one when
//! the fallback fires.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A benchmark file: `[text, intent]` pairs; the `oos_` splits' intents are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct Dataset {
    pub train: Vec<(String, String)>,
    pub val: Vec<(String, String)>,
    pub test: Vec<(String, String)>,
    pub oos_val: Vec<(String, String)>,
    pub oos_test: Vec<(String, String)>,
}

impl Dataset {
    /// `train` grouped by intent, keeping the first `per_intent` examples of each.
    pub fn intents(&self, per_intent: Option<usize>) -> BTreeMap<String, Vec<String>> {
        let mut intents: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (text, intent) in &self.train {
            let examples = intents.entry(intent.clone()).or_default();
            if per_intent.is_none_or(|limit| examples.len() < limit) {
                examples.push(text.clone());
            }
        }
        intents
    }
}

/// One query's outcome: the intent it should get (`None` out of scope), the best intent the
/// matcher saw and that intent's confidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub expected: Option<String>,
    pub best: Option<String>,
    pub confidence: f64,
}

/// Share of in-scope queries answered by their own intent at `threshold`.
pub fn in_scope_accuracy(scored: &[Scored], threshold: f64) -> f64 {
    share(scored, |s| s.expected.is_some() && s.expected == s.best && s.confidence >= threshold)
}

/// Share of out-of-scope queries for which the fallback fires at `threshold`.
pub fn out_of_scope_recall(scored: &[Scored], threshold: f64) -> f64 {
    share(scored, |s| s.confidence < threshold)
}

fn share(scored: &[Scored], right: impl Fn(&Scored) -> bool) -> f64 {
    if scored.is_empty() {
        return 0.0;
    }
    scored.iter().filter(|s| right(s)).count() as f64 / scored.len() as f64
}

/// Expected calibration error of the confidences on in-scope queries (10 equal-width bins): the
/// mean gap between how confident the matcher was and how often it was right, weighted by bin
/// size. 0 is perfectly calibrated.
pub fn calibration_error(in_scope: &[Scored]) -> f64 {
    let mut bins = [(0usize, 0.0f64, 0usize); 10];
    for scored in in_scope {
        let bin = ((scored.confidence * 10.0) as usize).min(9);
        bins[bin].0 += 1;
        bins[bin].1 += scored.confidence;
        bins[bin].2 += usize::from(scored.expected.is_some() && scored.expected == scored.best);
    }
    let total = in_scope.len().max(1) as f64;
    bins.iter()
        .filter(|(count, _, _)| *count > 0)
        .map(|(count, confidence, right)| {
            let n = *count as f64;
            (n / total) * (confidence / n - *right as f64 / n).abs()
        })
        .sum()
}

/// The highest threshold (by 0.01) at which in-scope accuracy on `in_scope` is at most
/// `points` (in 0..1) below its value with no threshold at all: as many out-of-scope queries
/// caught as can be without turning away more than that share of answerable ones.
pub fn threshold_within(in_scope: &[Scored], points: f64) -> f64 {
    let floor = in_scope_accuracy(in_scope, 0.0) - points;
    (1..100)
        .map(|step| f64::from(step) / 100.0)
        .take_while(|threshold| in_scope_accuracy(in_scope, *threshold) >= floor)
        .last()
        .unwrap_or(0.01)
}

/// The threshold (0.01 to 0.99, by 0.01) with the best harmonic mean of in-scope accuracy on
/// `in_scope` and out-of-scope recall on `out_of_scope`: neither may be bought with the other.
pub fn best_threshold(in_scope: &[Scored], out_of_scope: &[Scored]) -> f64 {
    let mut best = (0.5, -1.0);
    for step in 1..100 {
        let threshold = f64::from(step) / 100.0;
        let (a, r) = (in_scope_accuracy(in_scope, threshold), out_of_scope_recall(out_of_scope, threshold));
        let harmonic = if a + r > 0.0 { 2.0 * a * r / (a + r) } else { 0.0 };
        if harmonic > best.1 {
            best = (threshold, harmonic);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(expected: Option<&str>, best: &str, confidence: f64) -> Scored {
        Scored { expected: expected.map(str::to_owned), best: Some(best.to_owned()), confidence }
    }

    #[test]
    fn scores_as_the_benchmark_says() {
        let in_scope =
            [scored(Some("a"), "a", 0.9), scored(Some("a"), "b", 0.9), scored(Some("b"), "b", 0.2)];
        assert!((in_scope_accuracy(&in_scope, 0.5) - 1.0 / 3.0).abs() < 1e-9);
        assert!((in_scope_accuracy(&in_scope, 0.1) - 2.0 / 3.0).abs() < 1e-9);
        let out = [scored(None, "a", 0.9), scored(None, "a", 0.3)];
        assert!((out_of_scope_recall(&out, 0.5) - 0.5).abs() < 1e-9);
        // 0.3 < t ≤ 0.9 keeps the one right in-scope answer and catches one out-of-scope query.
        let t = best_threshold(&in_scope[..1], &out);
        assert!(t > 0.3 && t <= 0.9, "{t}");
        // Losing the answer at 0.2 costs a third: only thresholds up to 0.2 keep within 10 points.
        assert!((threshold_within(&in_scope, 0.1) - 0.2).abs() < 1e-9);
    }

    #[test]
    fn calibration_is_the_gap_between_confidence_and_accuracy() {
        let right = scored(Some("a"), "a", 0.75);
        let wrong = scored(Some("a"), "b", 0.75);
        // Three in four right at 0.75: calibrated.
        assert!(calibration_error(&[right.clone(), right.clone(), right.clone(), wrong.clone()]) < 1e-9);
        // All wrong at 0.75: off by 0.75.
        assert!((calibration_error(&[wrong.clone(), wrong]) - 0.75).abs() < 1e-9);
    }

    #[test]
    fn few_examples_keep_the_first_ones() {
        let data = Dataset {
            train: vec![("x1".into(), "x".into()), ("y1".into(), "y".into()), ("x2".into(), "x".into())],
            val: vec![],
            test: vec![],
            oos_val: vec![],
            oos_test: vec![],
        };
        assert_eq!(data.intents(Some(1))["x"], vec!["x1".to_string()]);
        assert_eq!(data.intents(None)["x"].len(), 2);
    }
}
